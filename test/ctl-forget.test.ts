/**
 * `gitopperctl forget @HOST...` (issue 16): removes the hosts' certificate pins from
 * known_hosts, says what it removed, keeps every other line byte for byte, sends nothing, and
 * exits 1 naming a host that had no pin. Pinning again after forget against a real TLS agent is
 * in auth-tls.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run } from '../cmd/gitopperctl.js';
import { TlsPins } from '../src/ctl/tls-pins.js';

const FP = (n: number) => Array.from({ length: 32 }, (_, i) => ((n * 7 + i) % 256).toString(16).padStart(2, '0').toUpperCase()).join(':');

/** A HOME with known_hosts holding `text`; the file's path. */
function home(text: string): { home: string; file: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gitopper-forget-'));
  mkdirSync(path.join(dir, '.config', 'gitopper'), { recursive: true, mode: 0o700 });
  const file = path.join(dir, '.config', 'gitopper', 'known_hosts');
  writeFileSync(file, text, { mode: 0o600 });
  return { home: dir, file };
}

/** gitopperctl in-process with `env` only (no key, no ssh-agent: forget needs neither) and a fetch that fails the test. */
async function ctl(env: Record<string, string>, ...args: string[]) {
  let stdout = '';
  let stderr = '';
  const fetch = (() => assert.fail('forget sends nothing')) as unknown as typeof globalThis.fetch;
  const code = await run(args, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, env, fetch });
  return { code, stdout, stderr };
}

const FILE = [
  '# gitopper pins',
  `web1:2222 ${FP(1)}`,
  '',
  `web2:2223 ${FP(2)}`,
  `[::1]:2222 ${FP(3)}`,
  `web1:2223 ${FP(4)}`,
  `gw.example.org:443 ${FP(5)}`,
  '',
].join('\n');

test('forget @web1: removes web1:2222 (the default port) and says so; every other line stays as it was', async () => {
  const h = home(FILE);
  const r = await ctl({ HOME: h.home }, 'forget', '@web1');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.equal(r.stdout, `forgot web1:2222: certificate SHA-256 ${FP(1)} (line 2 of ${h.file})\n`);
  assert.equal(readFileSync(h.file, 'utf8'), FILE.replace(`web1:2222 ${FP(1)}\n`, ''), 'web1:2223 and the comments stay');
  assert.equal(statSync(h.file).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(path.dirname(h.file)), ['known_hosts'], 'no temp file left behind');
  assert.equal(new TlsPins(h.file).lookup('web1:2222'), undefined);
  assert.equal(new TlsPins(h.file).lookup('web1:2223')?.fingerprint, FP(4));
});

test('forget several hosts in their written forms: host:port, [v6], a bare v6 address, an https URL; a race-doubled pin goes too', async () => {
  const h = home(`${FILE}web2:2223 ${FP(6)}\n`);
  const r = await ctl({ HOME: h.home }, 'forget', '@WEB2:2223', '@::1', '@https://gw.example.org/agent');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    [
      `forgot web2:2223: certificate SHA-256 ${FP(2)} (line 4 of ${h.file})`,
      `forgot web2:2223: certificate SHA-256 ${FP(6)} (line 8 of ${h.file})`,
      `forgot [::1]:2222: certificate SHA-256 ${FP(3)} (line 5 of ${h.file})`,
      `forgot gw.example.org:443: certificate SHA-256 ${FP(5)} (line 7 of ${h.file})`,
      '',
    ].join('\n'),
  );
  assert.equal(readFileSync(h.file, 'utf8'), ['# gitopper pins', `web1:2222 ${FP(1)}`, '', `web1:2223 ${FP(4)}`, ''].join('\n'));
});

test('forget a host with no pin: exit 1 naming it and the file, which is left untouched; the others are still forgotten', async () => {
  const h = home(FILE);
  const before = statSync(h.file);
  const none = await ctl({ HOME: h.home }, 'forget', '@web9');
  assert.equal(none.code, 1);
  assert.equal(none.stdout, '');
  assert.equal(none.stderr, `gitopperctl: web9:2222 has no pinned certificate in ${h.file}\n`);
  assert.equal(readFileSync(h.file, 'utf8'), FILE);
  assert.equal(statSync(h.file).mtimeMs, before.mtimeMs, 'not rewritten');

  const mixed = await ctl({ HOME: h.home }, 'forget', '@web9', '@web1:2223');
  assert.equal(mixed.code, 1);
  assert.match(mixed.stdout, /^forgot web1:2223: /);
  assert.equal(new TlsPins(h.file).lookup('web1:2223'), undefined);

  // no known_hosts at all: the same message, and no file is created
  const empty = mkdtempSync(path.join(os.tmpdir(), 'gitopper-forget-'));
  const nofile = await ctl({ HOME: empty }, 'forget', '@web1');
  assert.equal(nofile.code, 1);
  assert.deepEqual(readdirSync(empty), []);
});

test('forget uses $XDG_CONFIG_HOME/gitopper/known_hosts when set', async () => {
  const h = home(FILE);
  const xdg = mkdtempSync(path.join(os.tmpdir(), 'gitopper-xdg-'));
  mkdirSync(path.join(xdg, 'gitopper'));
  writeFileSync(path.join(xdg, 'gitopper', 'known_hosts'), `web1:2222 ${FP(9)}\n`);
  const r = await ctl({ HOME: h.home, XDG_CONFIG_HOME: xdg }, 'forget', '@web1');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`${FP(9)} \\(line 1 of ${xdg}/gitopper/known_hosts\\)`));
  assert.equal(readFileSync(h.file, 'utf8'), FILE, "HOME's file is not touched");
});

test('forget: usage errors exit 2 (no host, an extra word, the same host twice)', async () => {
  const h = home(FILE);
  for (const args of [['forget'], ['forget', '@web1', 'grafana-server'], ['forget', '@web1', '@web1:2222']]) {
    const r = await ctl({ HOME: h.home }, ...args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.stderr, /^gitopperctl: forget: /);
  }
  assert.equal(readFileSync(h.file, 'utf8'), FILE);
});
