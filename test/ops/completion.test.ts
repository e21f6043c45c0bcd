/**
 * config/completion/gitopperctl.bash: bash loads it, and completion driven as bash drives it
 * (COMP_LINE, COMP_POINT, COMP_WORDS, COMP_CWORD) gives the commands, options, @HOSTs from the
 * hosts file, and service names from `gitopperctl list service @HOST` (a fake on PATH) only when
 * the host's certificate is already pinned.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { missingPackage } from '../rig/system-packages.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const SCRIPT = path.join(repo, 'config', 'completion', 'gitopperctl.bash');
const noBash = missingPackage('bash', 'bash');

/** A home with a hosts file and a fake gitopperctl that logs its arguments and prints a table. */
function sandbox(): { dir: string; env: NodeJS.ProcessEnv; calls: () => string[] } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gitopper-completion-'));
  const cfg = path.join(dir, 'config', 'gitopper');
  mkdirSync(cfg, { recursive: true });
  writeFileSync(path.join(cfg, 'hosts'), '# my hosts\nweb1   # the first\nweb2\n\ndbs: db1 db2\n');
  writeFileSync(path.join(cfg, 'known_hosts'), '# pins\nweb1:2222 5D:F1:AA\n');
  const bin = path.join(dir, 'bin');
  mkdirSync(bin);
  const log = path.join(dir, 'calls');
  writeFileSync(path.join(bin, 'gitopperctl'), `#!/bin/sh\necho "$*" >> '${log}'\nprintf '%s\\n' '#  SERVICE         HASH      STATE   INFO  SINCE' '0  grafana-server  606eb576  OK            2h3m' '1  prometheus      606eb576  FREEZE  db    4d2h'\n`);
  chmodSync(path.join(bin, 'gitopperctl'), 0o755);
  const env = { PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`, HOME: dir, XDG_CONFIG_HOME: path.join(dir, 'config') };
  return { dir, env, calls: () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []) };
}

/** COMPREPLY for the command line `line` (cursor at its end), completed as bash would. */
function complete(env: NodeJS.ProcessEnv, line: string): string[] {
  const script = `source '${SCRIPT}'
COMP_LINE=$1; COMP_POINT=\${#1}
read -r -a COMP_WORDS <<<"$1"; [[ $1 == *' ' ]] && COMP_WORDS+=('')
COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); COMPREPLY=()
_gitopperctl gitopperctl "\${COMP_WORDS[COMP_CWORD]}" "\${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\\n' "\${COMPREPLY[@]}"`;
  const r = spawnSync('bash', ['--norc', '--noprofile', '-c', script, 'bash', line], { encoding: 'utf8', env, timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '', 'completion is silent');
  return r.stdout.split('\n').filter((s) => s !== '').sort();
}

test('bash loads the completion for gitopperctl and gitopperctl-rest', { skip: noBash }, () => {
  const r = spawnSync('bash', ['--norc', '--noprofile', '-c', `source '${SCRIPT}' && complete -p gitopperctl gitopperctl-rest`], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'complete -F _gitopperctl gitopperctl\ncomplete -F _gitopperctl gitopperctl-rest\n');
});

test('commands, subcommands and options complete', { skip: noBash }, () => {
  const { dir, env } = sandbox();
  try {
    assert.deepEqual(complete(env, 'gitopperctl '), ['do', 'forget', 'history', 'list']);
    assert.deepEqual(complete(env, 'gitopperctl li'), ['list']);
    assert.deepEqual(complete(env, 'gitopperctl -m list '), ['history', 'machines', 'service']);
    assert.deepEqual(complete(env, 'gitopperctl ls '), ['history', 'machines', 'service']);
    assert.deepEqual(complete(env, 'gitopperctl do '), ['freeze', 'pull', 'rollback', 'unfreeze']);
    assert.deepEqual(complete(env, 'gitopperctl d u'), ['unfreeze']);
    assert.deepEqual(complete(env, 'gitopperctl --'), ['--ca', '--help', '--identity', '--json']);
    assert.deepEqual(complete(env, 'gitopperctl do freeze @web1 grafana-server --r'), ['--reason']);
    assert.deepEqual(complete(env, 'gitopperctl do pull @web1 --r'), [], '--reason is for freeze only');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('@HOST words come from the hosts file (group names and known hosts, # comments), without it nothing', { skip: noBash }, () => {
  const { dir, env } = sandbox();
  try {
    // bash breaks words at '@': it replaces only what follows it, so the candidates lose the '@'
    assert.deepEqual(complete(env, 'gitopperctl ls s @'), ['dbs', 'web1', 'web2']);
    assert.deepEqual(complete(env, 'gitopperctl ls s @we'), ['web1', 'web2']);
    assert.deepEqual(complete(env, 'gitopperctl do freeze '), ['@dbs', '@web1', '@web2'], 'a host is due first');
    rmSync(path.join(dir, 'config', 'gitopper', 'hosts'));
    assert.deepEqual(complete(env, 'gitopperctl ls s @'), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('services come from list service @HOST, only for a pinned host, and never for a HASH', { skip: noBash }, () => {
  const { dir, env, calls } = sandbox();
  try {
    assert.deepEqual(complete(env, 'gitopperctl do freeze @web1 '), ['grafana-server', 'prometheus']);
    assert.deepEqual(complete(env, 'gitopperctl -i /k/id h @web1 pro'), ['prometheus']);
    assert.deepEqual(calls(), ['list service @web1', '-i /k/id list service @web1'], 'the key given on the line is used');
    assert.deepEqual(complete(env, 'gitopperctl do rollback @web1 grafana-server '), [], 'no service where the HASH goes');
    assert.deepEqual(complete(env, 'gitopperctl list machines @web1 '), []);
    assert.deepEqual(complete(env, 'gitopperctl do freeze @web2 '), [], 'web2 has no pinned certificate');
    assert.equal(calls().length, 2, 'no request to an unpinned host');
    assert.deepEqual(complete(env, 'gitopperctl --ca /ca.pem do freeze @web2 '), ['grafana-server', 'prometheus'], '--ca: nothing is pinned');
    writeFileSync(path.join(dir, 'bin', 'gitopperctl'), '#!/bin/sh\necho "gitopperctl: web1: connect ECONNREFUSED" >&2\nexit 1\n');
    assert.deepEqual(complete(env, 'gitopperctl do freeze @web1 '), [], 'a failing agent: no candidates, no noise');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
