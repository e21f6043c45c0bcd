import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { run } from '../cmd/gitopperctl.js';
import { Client, ClientError } from '../src/ctl/client.js';
import { age, parseTarget, table, UsageError } from '../src/ctl/commands.js';
import { createApiApp } from '../src/http/app.js';
import { COMMITS, FakeControl } from './fakes/control.js';
import { keyDir, keyFile, makeKey, testAuth } from './fakes/keys.js';
import { freePort } from './rig/ports.js';

type After = { after: (fn: () => Promise<void>) => void };

// gitopperctl signs with this key (-i); the test servers list it read-write
const dir = keyDir();
const operator = makeKey(dir, 'operator', 'ed25519', { comment: 'miek@limos' });
const authorized = keyFile(dir, 'authorized_keys', [operator]);

/** The API over `control` on loopback, plain HTTP; its host as `http://127.0.0.1:port`. */
async function listen(t: After, control: FakeControl): Promise<string> {
  const server: Server = await new Promise((resolve) => {
    const s = createApiApp(control, { auth: testAuth(authorized) }).listen(0, '127.0.0.1', () => resolve(s));
  });
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

// 2h3m after the fake services last changed (Fri, 18 Nov 2022 09:14:52 UTC).
const now = () => new Date('2022-11-18T11:17:52Z');

/** Runs gitopperctl in-process with the fixed clock: exit code, stdout, stderr and stdout's lines. */
async function ctl(...args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await run(['-i', operator.file, ...args], { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, now, env: {} });
  return { code, stdout, stderr, lines: stdout.trimEnd().split('\n') };
}

/** A FakeControl behind a real server, its host (`http://127.0.0.1:port`), `@host`, and {@link ctl}. */
async function rig(t: After) {
  const control = new FakeControl();
  const host = await listen(t, control);
  return { control, host, at: `@${host}`, ctl };
}

/** Every row has a value starting exactly under each named header column, two blanks before it; no line ends in a blank. */
function assertAligned(lines: string[], cols: string[]): void {
  for (const col of cols) {
    const x = lines[0]!.indexOf(`  ${col}`) + 2;
    assert.ok(x > 1, `header has ${col}: ${lines[0]}`);
    for (const line of lines.slice(1)) {
      assert.match(line.slice(x - 2, x), /^ {2}$/, `column ${col} starts after two blanks: ${line}`);
      assert.notEqual(line[x], ' ', `column ${col} has a value at the header's offset: ${line}`);
    }
  }
  for (const line of lines) assert.equal(line, line.trimEnd(), `no trailing blanks: ${JSON.stringify(line)}`);
}

const cells = (line: string) => line.trim().split(/\s+/);

test('@HOST: host, host:port, IPv6 and URLs become base URLs; default port 2222; junk is a usage error', () => {
  assert.equal(parseTarget('@web1'), 'https://web1:2222');
  assert.equal(parseTarget('@web1:8080'), 'https://web1:8080');
  assert.equal(parseTarget('@[::1]:9000'), 'https://[::1]:9000');
  assert.equal(parseTarget('@::1'), 'https://[::1]:2222');
  assert.equal(parseTarget('@https://gw.example.org/agent/'), 'https://gw.example.org/agent');
  assert.equal(parseTarget('@http://127.0.0.1:2222'), 'http://127.0.0.1:2222');
  for (const bad of ['web1', '@', '@web1:http', '@web1:99999', '@we b']) assert.throws(() => parseTarget(bad), UsageError, bad);
});

test('age is compact and gitopper-like', () => {
  assert.equal(age(0), '0s');
  assert.equal(age(-5000), '0s', 'clock skew never shows a negative age');
  assert.equal(age(45_999), '45s');
  assert.equal(age((3 * 60 + 12) * 1000), '3m12s');
  assert.equal(age((2 * 3600 + 3 * 60 + 59) * 1000), '2h3m');
  assert.equal(age((4 * 86400 + 2 * 3600) * 1000), '4d2h');
});

test('list machines: table headed "# MACHINE ACTUAL", aliases l m', async (t) => {
  const { at, ctl } = await rig(t);
  for (const args of [['list', 'machines', at], ['l', 'm', at], ['ls', 'machine', at]]) {
    const r = await ctl(...args);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.lines.map(cells), [
      ['#', 'MACHINE', 'ACTUAL'],
      ['0', 'grafana.example.org', 'limos'],
      ['1', 'prom.example.org', 'limos'],
    ]);
  }
});

test('list service: "# SERVICE HASH STATE INFO SINCE", aligned columns, relative SINCE', async (t) => {
  const { at, ctl } = await rig(t);
  const r = await ctl('list', 'service', at);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    [
      '#  SERVICE             HASH      STATE  INFO  SINCE',
      '0  grafana-server      606eb576  OK           2h3m',
      '1  prometheus          606eb576  OK           2h3m',
      '2  node-exporter@eth0  606eb576  OK           2h3m',
      '',
    ].join('\n'),
  );
  assert.deepEqual(cells(r.lines[1]!), ['0', 'grafana-server', '606eb576', 'OK', '2h3m']);
  assertAligned(r.lines, ['SERVICE', 'HASH', 'STATE', 'SINCE']);
  const one = await ctl('ls', 's', at, 'node-exporter@eth0');
  assert.equal(one.lines.length, 2);
  assert.equal(cells(one.lines[1]!)[1], 'node-exporter@eth0');
});

test('table: borderless, two blanks apart, wide characters line up, control characters never break a row', () => {
  assert.equal(table(['#', 'A', 'B'], [['0', '日本', 'x'], ['1', 'ab', '']]), '#  A     B\n0  日本  x\n1  ab\n');
  assert.equal(
    table(['#', 'INFO', 'SINCE'], [['0', 'line one\nline two\t\u001b[31mred', '1s']]),
    `#  ${'INFO'.padEnd(26)}  SINCE\n0  line one line two  [31mred  1s\n`,
  );
  assert.equal(table(['#', 'MACHINE'], []), '#  MACHINE\n');
});

test('-m prints the server JSON with gitopper field names', async (t) => {
  const { at, ctl } = await rig(t);
  const r = await ctl('-m', 'list', 'service', at, 'grafana-server');
  assert.equal(r.code, 0, r.stderr);
  const body = JSON.parse(r.stdout);
  assert.equal(body.services.length, 1);
  assert.equal(body.services[0].hash, '606eb576');
  assert.equal(body.services[0].change, 'Fri, 18 Nov 2022 09:14:52 UTC');
  const m = await ctl('list', 'machines', at, '-m');
  assert.deepEqual(JSON.parse(m.stdout).machines[0], { machine: 'grafana.example.org', actual: 'limos' });
});

test('do freeze --reason, unfreeze, rollback and pull change the agent and print the result', async (t) => {
  const { at, ctl, control } = await rig(t);
  const f = await ctl('do', 'freeze', at, 'grafana-server', '--reason', 'db migration');
  assert.equal(f.code, 0, f.stderr);
  assert.equal(control.svc.get('grafana-server')?.state, 'FREEZE');
  assert.equal(control.svc.get('grafana-server')?.info, 'db migration');
  assert.match(f.lines[1]!, /grafana-server\s+606eb576\s+FREEZE\s+db migration\s+0s$/);
  const u = await ctl('d', 'u', at, 'grafana-server');
  assert.equal(u.code, 0, u.stderr);
  assert.equal(control.svc.get('grafana-server')?.state, 'OK');
  const r = await ctl('d', 'r', at, 'grafana-server', COMMITS[1]!.slice(0, 8));
  assert.equal(r.code, 0, r.stderr);
  assert.equal(control.svc.get('grafana-server')?.commit, COMMITS[1]);
  assert.match(r.lines[1]!, /8df1b3db\s+FREEZE\s+ROLLBACK: 8df1b3db/);
  const all = await ctl('do', 'pull', at);
  assert.equal(all.code, 0, all.stderr);
  assert.equal(all.stdout, 'pull accepted: all services\n');
  const one = await ctl('d', 'p', at, 'prometheus');
  assert.equal(one.stdout, 'pull accepted: prometheus\n');
  assert.deepEqual(control.pulls.map((p) => p.name), [undefined, 'prometheus']);
});

test('list history prints the deployments newest first', async (t) => {
  const { at, ctl } = await rig(t);
  const r = await ctl('list', 'history', at, 'grafana-server');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(cells(r.lines[0]!), ['#', 'HASH', 'STATE', 'INFO', 'TRIGGER', 'BY', 'TOOK', 'AGO']);
  assert.deepEqual(cells(r.lines[1]!), ['0', '606eb576', 'OK', 'pull', 'local', '1.3s', '2h2m'], '2h2m59.75s truncates (the fake\'s history says by "local")');
  assert.match(r.lines[2]!, /8df1b3db\s+BROKEN\s+reload failed\s+poll\s+-\s+0\.5s\s+1d3h$/);
});

test('usage errors exit 2 with the usage on stderr and send nothing', async () => {
  let fetched = 0;
  const fetch = (async () => {
    fetched++;
    throw new Error('must not be called');
  }) as unknown as typeof globalThis.fetch;
  const cases = [
    [],
    ['list'],
    ['list', 'machines'],
    ['list', 'machines', 'web1'],
    ['list', 'machines', '@web1', 'extra'],
    ['list', 'machines', '@web1', '@web2', 'extra'],
    ['list', 'machines', '@web1', '@web1:2222'],
    ['list', 'machines', '@web1', '@'],
    ['history', '@web1'],
    ['h', 'grafana-server'],
    ['h', '@web1', 'grafana-server', 'extra'],
    ['list', 'freeze', '@web1'],
    ['frobnicate', 'machines', '@web1'],
    ['do', 'freeze', '@web1'],
    ['do', 'rollback', '@web1', 'grafana-server'],
    ['do', 'pull', '@web1', 'a', 'b'],
    ['list', 'service', '@web1', ''],
    ['do', 'pull', '@web1', '--reason', 'why'],
    ['--bogus', 'list', 'machines', '@web1'],
    ['-i'],
  ];
  for (const args of cases) {
    let stdout = '';
    let stderr = '';
    const code = await run(args, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, fetch });
    assert.equal(code, 2, args.join(' '));
    assert.match(stderr, /^gitopperctl: .+\nusage: gitopperctl/, args.join(' '));
    assert.equal(stdout, '');
  }
  assert.equal(fetched, 0);
  let help = '';
  assert.equal(await run(['--help'], { stdout: { write: (s: string) => (help += s) }, stderr: { write: () => {} } }), 0);
  assert.match(help, /^usage: gitopperctl \[-i KEY\] \[-m\]/);
});

test('server errors exit 1 with the server message; an unreadable -i key exits 1 before sending', async (t) => {
  const { at, ctl, control } = await rig(t);
  const unknown = await ctl('list', 'service', at, 'nope');
  assert.equal(unknown.code, 1);
  assert.equal(unknown.stdout, '');
  assert.equal(unknown.stderr, 'gitopperctl: service "nope" is not managed on this host (HTTP 404 UNKNOWN_SERVICE)\n');
  const conflict = await ctl('do', 'unfreeze', at, 'grafana-server');
  assert.equal(conflict.code, 1);
  assert.match(conflict.stderr, /not frozen \(HTTP 409 CONFLICT\)/);
  const badHash = await ctl('do', 'rollback', at, 'grafana-server', 'xyz');
  assert.equal(badHash.code, 1);
  assert.match(badHash.stderr, /hexadecimal digits \(HTTP 400 BAD_REQUEST\)/);
  const calls = control.calls.length;
  let stderr = '';
  const noKey = await run(['-i', '/nonexistent/id_ed25519', 'list', 'machines', at], { stdout: { write: () => {} }, stderr: { write: (s: string) => (stderr += s) }, env: {} });
  assert.equal(noKey, 1);
  assert.match(stderr, /^gitopperctl: cannot read key \/nonexistent\/id_ed25519: .*ENOENT/);
  assert.equal(control.calls.length, calls, 'nothing was sent');
  stderr = '';
  assert.equal(await run(['list', 'machines', at], { stdout: { write: () => {} }, stderr: { write: (s: string) => (stderr += s) }, env: {} }), 1);
  assert.match(stderr, /no key to sign with: give -i KEYFILE, or start ssh-agent/);
});

test('a refused connection exits 1 naming the URL; the client reports status 0 CONNECTION', async () => {
  const port = await freePort();
  const client = new Client(`http://127.0.0.1:${port}`);
  await assert.rejects(client.listMachines(), (err: unknown) => err instanceof ClientError && err.status === 0 && err.code === 'CONNECTION');
  let stderr = '';
  const code = await run(['-i', operator.file, 'list', 'machines', `@http://127.0.0.1:${port}`], { stdout: { write: () => {} }, stderr: { write: (s: string) => (stderr += s) }, env: {} });
  assert.equal(code, 1);
  assert.match(stderr, new RegExp(`^gitopperctl: GET http://127\\.0\\.0\\.1:${port}/list/machine: .*ECONNREFUSED`));
});

test('the client turns a non-JSON error page into a ClientError with the HTTP status', async () => {
  const fetch = (async () => new Response('<html>bad gateway</html>', { status: 502, statusText: 'Bad Gateway' })) as typeof globalThis.fetch;
  const client = new Client('http://gw.example.org/', { fetch });
  await assert.rejects(client.pull(), (err: unknown) => err instanceof ClientError && err.status === 502 && err.code === 'HTTP_502' && err.message === 'POST http://gw.example.org/do/pull: HTTP 502 Bad Gateway');
  const ok = (async () => new Response('not json', { status: 200 })) as typeof globalThis.fetch;
  await assert.rejects(new Client('http://x', { fetch: ok }).listMachines(), (err: unknown) => err instanceof ClientError && err.code === 'BAD_RESPONSE');
});

test('several @HOSTs: one table with a HOST column, rows numbered per host, requests to each', async (t) => {
  const a = await rig(t);
  const b = await rig(t);
  b.control.svc.delete('node-exporter@eth0');
  const r = await ctl('list', 'service', a.at, b.at);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.deepEqual(r.lines.map(cells), [
    ['HOST', '#', 'SERVICE', 'HASH', 'STATE', 'INFO', 'SINCE'],
    [a.host, '0', 'grafana-server', '606eb576', 'OK', '2h3m'],
    [a.host, '1', 'prometheus', '606eb576', 'OK', '2h3m'],
    [a.host, '2', 'node-exporter@eth0', '606eb576', 'OK', '2h3m'],
    [b.host, '0', 'grafana-server', '606eb576', 'OK', '2h3m'],
    [b.host, '1', 'prometheus', '606eb576', 'OK', '2h3m'],
  ]);
  assertAligned(r.lines, ['#', 'SERVICE', 'HASH', 'STATE', 'SINCE']);

  const m = await ctl('l', 'm', a.at, b.at);
  assert.deepEqual(m.lines.map(cells)[0], ['HOST', '#', 'MACHINE', 'ACTUAL']);
  assert.equal(m.lines.length, 5);

  // the hosts may stand anywhere; every host gets the change
  const f = await ctl('do', 'freeze', a.at, 'grafana-server', b.at, '--reason', 'db migration');
  assert.equal(f.code, 0, f.stderr);
  for (const { control } of [a, b]) assert.equal(control.svc.get('grafana-server')?.info, 'db migration');
  assert.match(f.lines[2]!, new RegExp(`^${b.host}\\s+0\\s+grafana-server\\s+606eb576\\s+FREEZE\\s+db migration\\s+0s$`));

  const p = await ctl('d', 'p', a.at, b.at);
  assert.equal(p.code, 0, p.stderr);
  assert.deepEqual(p.lines.map(cells), [['HOST', 'PULL'], [a.host, 'accepted:', 'all', 'services'], [b.host, 'accepted:', 'all', 'services']]);
  for (const { control } of [a, b]) assert.deepEqual(control.pulls.map((x) => x.name), [undefined]);

  // a server error on one host: the other's rows, one message naming the failing host, exit 1
  const one = await ctl('ls', 's', a.at, b.at, 'node-exporter@eth0');
  assert.equal(one.code, 1);
  assert.deepEqual(one.lines.map(cells), [['HOST', '#', 'SERVICE', 'HASH', 'STATE', 'INFO', 'SINCE'], [a.host, '0', 'node-exporter@eth0', '606eb576', 'OK', '2h3m']]);
  assert.equal(one.stderr, `gitopperctl: ${b.host}: service "node-exporter@eth0" is not managed on this host (HTTP 404 UNKNOWN_SERVICE)\n`);
});

test('several @HOSTs, one down: the table of the others, one stderr line per failing host, exit 1', async (t) => {
  const a = await rig(t);
  const down = `http://127.0.0.1:${await freePort()}`;
  const r = await ctl('list', 'machines', `@${down}`, a.at);
  assert.equal(r.code, 1);
  assert.deepEqual(r.lines.map(cells), [
    ['HOST', '#', 'MACHINE', 'ACTUAL'],
    [a.host, '0', 'grafana.example.org', 'limos'],
    [a.host, '1', 'prom.example.org', 'limos'],
  ]);
  assert.match(r.stderr, new RegExp(`^gitopperctl: ${down}: GET ${down}/list/machine: .*ECONNREFUSED.*\\n$`));

  const down2 = `http://127.0.0.1:${await freePort()}`;
  const none = await ctl('list', 'machines', `@${down}`, `@${down2}`);
  assert.equal(none.code, 1);
  assert.equal(none.stdout, '', 'nothing answered, nothing printed');
  assert.deepEqual(none.stderr.trimEnd().split('\n').map((l) => l.split(': ')[1]), [down, down2]);
});

test('-m with several @HOSTs prints one JSON object keyed by host as written; one host keeps the raw answer', async (t) => {
  const a = await rig(t);
  const b = await rig(t);
  b.control.svc.delete('prometheus');
  const r = await ctl('-m', 'list', 'service', b.at, a.at);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.lines.length, 1);
  const body = JSON.parse(r.stdout) as Record<string, { services: { service: string }[] }>;
  assert.deepEqual(Object.keys(body), [b.host, a.host], 'in the order written');
  assert.deepEqual(body[a.host]!.services.map((s) => s.service), ['grafana-server', 'prometheus', 'node-exporter@eth0']);
  assert.deepEqual(body[b.host]!.services.map((s) => s.service), ['grafana-server', 'node-exporter@eth0']);
  const single = await ctl('-m', 'list', 'service', a.at);
  assert.deepEqual(JSON.parse(single.stdout), body[a.host]);
  const pull = await ctl('--json', 'do', 'pull', a.at, b.at, 'grafana-server');
  assert.deepEqual(JSON.parse(pull.stdout), { [a.host]: { accepted: true, service: 'grafana-server' }, [b.host]: { accepted: true, service: 'grafana-server' } });
});

test('several @HOSTs are asked concurrently', { timeout: 5000 }, async () => {
  let started = 0;
  let release!: () => void;
  const all = new Promise<void>((resolve) => (release = resolve));
  const fetch = (async (url: string | URL | Request) => {
    if (++started === 3) release();
    await all; // asked one after the other, the first request would never end
    return Response.json({ machines: [{ machine: new URL(String(url)).hostname, actual: 'x' }] });
  }) as typeof globalThis.fetch;
  let stdout = '';
  const code = await run(['-i', operator.file, 'l', 'm', '@web1', '@web2:2223', '@[::1]'], { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: () => {} }, fetch, env: {} });
  assert.equal(code, 0);
  assert.equal(stdout, ['HOST       #  MACHINE  ACTUAL', 'web1       0  web1     x', 'web2:2223  0  web2     x', '[::1]      0  [::1]    x', ''].join('\n'));
});

test('history (h) is a top-level alias of list history', async (t) => {
  const { at, ctl } = await rig(t);
  const listed = await ctl('list', 'history', at, 'grafana-server');
  for (const verb of ['history', 'h']) {
    const r = await ctl(verb, at, 'grafana-server');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, listed.stdout);
  }
  const b = await rig(t);
  const two = await ctl('h', at, b.at, 'grafana-server');
  assert.deepEqual(two.lines.map(cells)[0], ['HOST', '#', 'HASH', 'STATE', 'INFO', 'TRIGGER', 'BY', 'TOOK', 'AGO']);
  assert.equal(two.lines.length, 5);
  const missing = await ctl('h', at);
  assert.equal(missing.code, 2);
});

test('the built binary prints the table and exits 0; a usage error exits 2', async (t) => {
  const bin = fileURLToPath(new URL('../cmd/gitopperctl.js', import.meta.url));
  const exec = promisify(execFile);
  const { at } = await rig(t);
  const { stdout, stderr } = await exec(process.execPath, [bin, '-i', operator.file, 'list', 'machines', at]);
  assert.equal(stderr, '');
  assert.equal(stdout, ['#  MACHINE              ACTUAL', '0  grafana.example.org  limos', '1  prom.example.org     limos', ''].join('\n'));
  await assert.rejects(exec(process.execPath, [bin, 'list', 'machines']), (err: { code?: unknown; stdout?: string; stderr?: string }) => {
    assert.equal(err.code, 2);
    assert.equal(err.stdout, '');
    assert.match(err.stderr ?? '', /^gitopperctl: list machines: missing @HOST\nusage: gitopperctl /);
    return true;
  });
});
