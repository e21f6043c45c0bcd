/**
 * The upstream model (src/upstream/upstream.ts): each kind and its refusals, normalisation, store names
 * that must never change, redaction, webhook matching; and, as properties, that config validation
 * accepts exactly the upstreams the model parses and that no credential survives redaction.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ConfigError, parseConfig } from '../src/config/config.js';
import { checkUpstream } from '../src/config/validate.js';
import {
  UpstreamError, normalizeUpstream, parseUpstream, redactUpstream, sameWebhookRepository, storeName, upstreamKind, webhookKey,
  type UpstreamFault,
} from '../src/upstream/upstream.js';

/** The fault `value` is refused with (asserts it is refused, as an UpstreamError with code UPSTREAM). */
function faultOf(value: string): UpstreamFault['reason'] {
  try {
    parseUpstream(value);
  } catch (err) {
    assert.ok(err instanceof UpstreamError, value);
    assert.equal(err.code, 'UPSTREAM');
    assert.ok(err.message.startsWith(`upstream "${redactUpstream(value)}": `), err.message);
    return err.fault!.reason;
  }
  assert.fail(`${JSON.stringify(value)} was accepted`);
}

test('http(s): the URL as written, credentials refused', () => {
  for (const u of ['https://github.com/miekg/gitopper-config', 'http://127.0.0.1:8080/r.git', 'HTTPS://git.example.org:8443/a/b.git?x=1']) {
    assert.deepEqual(parseUpstream(u), { kind: 'http', url: u });
    assert.equal(upstreamKind(u), 'http');
  }
  assert.equal(faultOf('https://alice:s3cret@git.example.org/x'), 'credentials');
  assert.equal(faultOf('https://ghp_t0ken@git.example.org/x'), 'credentials');
  assert.equal(faultOf('https://'), 'invalid-url');
  // the git adapter's reading: a bootstrap -U URL never went through config validation
  const boot = 'https://deploy:t0ken@git.example.org/ops/config.git';
  assert.deepEqual(parseUpstream(boot, { httpCredentials: true }), { kind: 'http', url: boot });
  assert.equal(faultOf('ssh://git:pw@h/r'), 'ssh-password');
  assert.throws(() => parseUpstream('ssh://git:pw@h/r', { httpCredentials: true }), UpstreamError, 'http(s) only');
});

test('ssh: ssh://, git+ssh://, ssh+git:// and scp-like forms; hostile users, hosts and ports refused', () => {
  assert.deepEqual(parseUpstream('ssh://git@example.org:2222/ops/config.git'), { kind: 'ssh', user: 'git', host: 'example.org', port: 2222, path: '/ops/config.git' });
  assert.deepEqual(parseUpstream('ssh+git://h/r.git'), { kind: 'ssh', user: undefined, host: 'h', port: undefined, path: '/r.git' });
  assert.deepEqual(parseUpstream('git@example.org:ops/config.git'), { kind: 'ssh', user: 'git', host: 'example.org', port: undefined, path: 'ops/config.git' });
  assert.deepEqual(parseUpstream('deploy@[::1]:srv/r.git'), { kind: 'ssh', user: 'deploy', host: '::1', port: undefined, path: 'srv/r.git' });
  assert.deepEqual(parseUpstream('ssh://h/~git/r.git'), { kind: 'ssh', user: undefined, host: 'h', port: undefined, path: '~git/r.git' }, 'git-clone(1): /~user is home-relative');
  assert.deepEqual(parseUpstream('ssh://h/with%20space.git'), { kind: 'ssh', user: undefined, host: 'h', port: undefined, path: '/with space.git' });
  for (const u of ['ssh://h/r', 'git+ssh://h/r', 'h:r', 'git@h:/r']) assert.equal(upstreamKind(u), 'ssh', u);
  const refused: [string, UpstreamFault['reason']][] = [
    ['ssh://git:pw@h/r.git', 'ssh-password'],
    ['-l@host:r', 'ssh-user'],
    ['ssh://-oProxyCommand=x/r', 'ssh-host'],
    ['-oProxyCommand=x:r', 'ssh-host'],
    ['ssh:///r', 'ssh-host'],
    ['ssh://h:0/r', 'port'],
    ['host:', 'no-path'],
    ['ssh://h/~', 'no-path'],
    ['h:/~', 'no-path'],
    ['ssh://h/%zz', 'invalid-escape'],
    ['ssh://h/a%0Ab', 'path-control-character'],
  ];
  for (const [u, reason] of refused) assert.equal(faultOf(u), reason, u);
});

test('local: absolute paths and file:// on this host, normalised; relative paths, other hosts and the root refused', () => {
  assert.deepEqual(parseUpstream('/srv/git//config.git/'), { kind: 'local', path: '/srv/git/config.git' });
  assert.deepEqual(parseUpstream('file:///srv/git/config.git'), { kind: 'local', path: '/srv/git/config.git' });
  assert.deepEqual(parseUpstream('file://localhost/srv/x'), { kind: 'local', path: '/srv/x' });
  assert.deepEqual(parseUpstream('/srv/a:b'), { kind: 'local', path: '/srv/a:b' }, 'a slash before the colon: a path (git-clone(1))');
  for (const u of ['/srv/r', 'file:///srv/r']) assert.equal(upstreamKind(u), 'local', u);
  const refused: [string, UpstreamFault['reason']][] = [
    ['./repo', 'relative-path'], ['repo.git', 'relative-path'], ['file://otherhost/srv/x', 'file-host'],
    ['/', 'root'], ['//', 'root'], ['/srv/..', 'root'], ['file:///', 'root'], ['/srv/a\nb', 'control-character'],
  ];
  for (const [u, reason] of refused) assert.equal(faultOf(u), reason, u);
});

test('other schemes, git:// among them, have no kind and are refused', () => {
  for (const u of ['git://example.org/r.git', 'ftp://h/r', 'rsync://h/r']) {
    assert.equal(upstreamKind(u), undefined, u);
    assert.equal(faultOf(u), 'unsupported-scheme', u);
  }
  assert.equal(upstreamKind('repo.git'), undefined);
});

test('normalisation: one string per repository, whichever form names it', () => {
  const same = (a: string, b: string) => assert.equal(normalizeUpstream(parseUpstream(a)), normalizeUpstream(parseUpstream(b)), `${a} = ${b}`);
  same('ssh://git@h/srv/r.git', 'git@h:/srv/r.git');
  same('ssh://git@h/srv/r.git', 'ssh://git@h:22/srv/r.git');
  same('git+ssh://git@h/~/r.git', 'ssh://git@h:22/~/r.git');
  same('/srv/r.git/', 'file:///srv/r.git');
  same('/srv/./x/../r.git', 'file://localhost/srv/r.git');
  assert.equal(normalizeUpstream(parseUpstream('https://h/r.git')), 'https://h/r.git', 'http(s): as written');
  assert.equal(normalizeUpstream(parseUpstream('deploy@[::1]:r')), 'ssh://deploy@[::1]:22:r');
  const distinct = ['git@h:r.git', 'git@h:/r.git', 'other@h:r.git', 'ssh://git@h:2222/r.git', '/r.git', 'https://h/r.git', 'https://h/r'];
  assert.equal(new Set(distinct.map((u) => normalizeUpstream(parseUpstream(u)))).size, distinct.length);
});

test('store names are stable: existing <state-dir>/upstreams/<name>.git directories must keep being found', () => {
  const known: [string, string][] = [
    ['https://github.com/miekg/gitopper-config', 'github.com_miekg_gitopper-config-844c16476fce.git'],
    ['git@git.example.org:ops/config.git', 'git.example.org_ops_config-12295254acbb.git'],
    ['ssh://git@git.example.org:2222/ops/config.git', 'git.example.org_2222_ops_config-e9f6e1b5b3f8.git'],
    ['/srv/git/config.git', 'local_srv_git_config-9cc429b22ccf.git'],
    ['ssh://git@[::1]/srv/r.git', '1_srv_r-4ebae821e032.git'],
    ['https://deploy:t0ken@git.example.org/ops/config.git', 'git.example.org_ops_config-3b45f36bfbdc.git'],
  ];
  for (const [u, name] of known) assert.equal(storeName(u), name, u);
  assert.equal(storeName('file:///srv/git/config.git/'), storeName('/srv/git/config.git'));
  assert.equal(storeName('ssh://git@git.example.org/ops/config.git'), storeName('ssh://git@git.example.org:22/ops/config.git'));
  assert.throws(() => storeName('git://h/r'), UpstreamError);
});

test('redaction: URL userinfo and scp-like passwords masked, everything else as written', () => {
  const cases: [string, string][] = [
    ['https://alice:s3cret@h/r', 'https://***@h/r'],
    ['https://ghp_t0ken@h/r', 'https://***@h/r'],
    ['https://u:p@ss@h/r', 'https://***@h/r'],
    ['ssh://git:pw@h/r', 'ssh://***@h/r'],
    ['ssh://git@h/r', 'ssh://***@h/r'],
    ['git:pw@h:r', 'git:***@h:r'],
    ['https://h:99999/x@y', 'https://***@y'],
    ['git@h:r.git', 'git@h:r.git'],
    ['h:r@v.git', 'h:r@v.git'],
    ['https://h/r@v.git', 'https://h/r@v.git'],
    ['/srv/a@b:c', '/srv/a@b:c'],
  ];
  for (const [u, shown] of cases) assert.equal(redactUpstream(u), shown, u);
});

const MARK = 'Zq9';
/** Secrets as people write them into a URL: printable ASCII (and a few others), never `/`, `?` or `#`, which end a URL's authority. */
const secret = fc.string({ unit: fc.constantFrom(...'abcXYZ019_-.~!$&\'()*+,;=:@%[] "<>\\^`{|}é€'.split('')), maxLength: 12 }).map((s) => MARK + s);

test('property: no password or token survives redaction, the parser\'s errors or config validation\'s problems', () => {
  const forms = [
    (s: string) => `https://alice:${s}@git.example.org/ops/config.git`,
    (s: string) => `https://${s}@git.example.org/ops/config.git`,
    (s: string) => `http://x-access-token:${s}@127.0.0.1:8080/r.git`,
    (s: string) => `ssh://git:${s}@git.example.org:2222/r.git`,
    (s: string) => `git+ssh://git:${s}@[::1]/r.git`,
    (s: string) => `git://git:${s}@h/r.git`,
    (s: string) => `ftp://u:${s}@h/r`,
  ];
  fc.assert(fc.property(secret, fc.nat(forms.length - 1), (s, i) => {
    const u = forms[i]!(s);
    assert.ok(!redactUpstream(u).includes(MARK), redactUpstream(u));
    assert.throws(() => parseUpstream(u), (err: unknown) => err instanceof UpstreamError && !err.message.includes(MARK), u);
    const p = checkUpstream(u);
    assert.ok(typeof p !== 'string' && !p.problem.includes(MARK) && !p.fix.includes(MARK), u);
  }), { numRuns: 2000 });
  // scp-like: git reads `user@host:path`; a password there can hold neither `@` nor `/`
  fc.assert(fc.property(secret.filter((s) => !/[@/]/.test(s)), (s) => {
    const u = `git:${s}@git.example.org:ops/config.git`;
    assert.ok(!redactUpstream(u).includes(MARK), redactUpstream(u));
    assert.throws(() => parseUpstream(u), (err: unknown) => err instanceof UpstreamError && !err.message.includes(MARK), u);
    const p = checkUpstream(u);
    assert.ok(typeof p !== 'string' && !p.problem.includes(MARK), u);
  }), { numRuns: 1000 });
});

test('webhook match: a repository matches itself in https, ssh and scp-like forms, never another one', () => {
  const forms = [
    'https://git.example.org/ops/config', 'https://git.example.org/ops/config.git', 'http://Git.Example.org/ops/config/',
    'ssh://git@git.example.org/ops/config.git', 'ssh://git@git.example.org:22/ops/config.git', 'git@git.example.org:ops/config.git',
    'https://user:pw@git.example.org:443/ops/config.git',
  ];
  for (const a of forms) for (const b of forms) assert.ok(sameWebhookRepository(a, b), `${a} ~ ${b}`);
  for (const other of ['https://git.example.org/ops/other', 'git@git.example.org:ops/config2.git', 'https://git.example.net/ops/config', 'ssh://git@git.example.org:2222/ops/config.git', 'git@git.example.org:other/config.git']) {
    assert.ok(!sameWebhookRepository(other, forms[0]!), other);
  }
  assert.equal(webhookKey('git@git.example.org:ops/config.git'), 'git.example.org/ops/config');
});

/** `s` as a TOML basic string (JSON's escapes are TOML's, but TOML wants DEL escaped too). */
function tomlString(s: string): string {
  return JSON.stringify(s).replace(/\x7f/g, '\\u007f');
}

/** What config validation says about a service whose upstream is `u`: accepted (the value kept) or refused at `upstream`. */
function configAccepts(u: string): boolean {
  const text = `[global]\nkeys = [{ path = "/k.pub" }]\nmount = "/srv"\n\n[[services]]\nmachine = "web1"\nservice = "caddy"\nupstream = ${tomlString(u)}\n`;
  try {
    const spec = parseConfig(text, '/etc/gitopper/config.toml');
    assert.equal(spec.services[0]!.upstream, u, 'kept as written');
    return true;
  } catch (err) {
    assert.ok(err instanceof ConfigError && err.data.key === 'upstream', `${JSON.stringify(u)}: ${(err as Error).message}`);
    return false;
  }
}

test('property: config validation accepts an upstream exactly when the model parses it (and of the kind the model reads)', () => {
  const part = <T>(xs: readonly T[]) => fc.constantFrom(...xs);
  const shaped = fc.tuple(
    part(['https://', 'http://', 'HTTP://', 'ssh://', 'git+ssh://', 'ssh+git://', 'file://', 'git://', 'ftp://', '', '', '/']),
    part(['', '', 'git@', 'u:p@', '-l@', 'a%2Db@', '@', 'x:@']),
    part(['h', 'git.example.org', '[::1]', '-oX', '', 'localhost', 'h:22', 'h:0', 'h:2222', 'h:']),
    part(['/', '', ':', '//', '/~', ':/']),
    part(['r.git', '~git/r', '~', '', '.', '..', '%zz', '%0a', '%20', 'a b', 'x/../..', '/', 'r.git/', '%7E', 'a@b']),
  ).map((xs) => xs.join(''));
  const loose = fc.string({ unit: fc.constantFrom(...'ab:/@[]~%.-2 #?\n\x7f'.split('')), minLength: 1, maxLength: 14 });
  fc.assert(fc.property(fc.oneof(shaped, loose).filter((u) => u !== ''), (u) => {
    let parsed: ReturnType<typeof parseUpstream> | undefined;
    try {
      parsed = parseUpstream(u);
    } catch (err) {
      assert.ok(err instanceof UpstreamError && err.fault !== undefined, u);
    }
    assert.equal(configAccepts(u), parsed !== undefined, JSON.stringify(u));
    if (parsed !== undefined) assert.equal(upstreamKind(u), parsed.kind, u);
  }), { numRuns: 1500 });
});
