/**
 * The allowed signers file parser (src/adapters/verify/allowed-signers.ts) against ssh-keygen(1)'s
 * ALLOWED SIGNERS rules and OpenSSH's parse_absolute_time / match_pattern_list. Pure logic.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { matchPatternList, parseAbsoluteTime, parseAllowedSigners } from '../src/adapters/verify/allowed-signers.js';

const ED = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDO0VQD9TIdICZLWFWwtf7s8/aENve8twGTEmNV0myh5';

test('a plain line, options, a quoted principals list, comments and blank lines', () => {
  const { signers, problems } = parseAllowedSigners([
    '# comment',
    '',
    `a@example.org ${ED}`,
    `  "b@example.org,c d@example.org" Namespaces="git,file",VALID-AFTER="20250101",valid-before="20300101Z" ${ED} laptop`,
    `*@ops.example.org cert-authority ${ED}`,
  ].join('\r\n'));
  assert.deepEqual(problems, []);
  assert.equal(signers.length, 3);
  assert.deepEqual({ ...signers[0]!, fingerprint: 'x' }, { line: 3, principals: 'a@example.org', fingerprint: 'x', certAuthority: false });
  assert.match(signers[0]!.fingerprint, /^SHA256:[A-Za-z0-9+/]{43}$/);
  assert.equal(signers[1]!.principals, 'b@example.org,c d@example.org');
  assert.equal(signers[1]!.namespaces, 'git,file');
  assert.equal(signers[1]!.validAfter!.getTime(), new Date(2025, 0, 1).getTime(), 'no Z: local time');
  assert.equal(signers[1]!.validBefore!.toISOString(), '2030-01-01T00:00:00.000Z');
  assert.equal(signers[2]!.certAuthority, true);
});

test('bad lines are skipped with the reason, good ones kept', () => {
  const { signers, problems } = parseAllowedSigners([
    'lonely@example.org',
    `a@example.org frobnicate ${ED}`,
    `a@example.org namespaces="git",namespaces="file" ${ED}`,
    `a@example.org valid-after="20250231" ${ED}`,
    `a@example.org valid-after="20260101Z",valid-before="20250101Z" ${ED}`,
    `a@example.org namespaces="git ${ED}`,
    'a@example.org ssh-ed25519 !!notbase64',
    `ok@example.org ${ED}`,
  ].join('\n'));
  assert.deepEqual(signers.map((s) => s.principals), ['ok@example.org']);
  assert.deepEqual(problems.map((p) => p.line), [1, 2, 3, 4, 5, 6, 7]);
  assert.match(problems[0]!.problem, /invalid line/);
  assert.match(problems[1]!.problem, /unknown key option at "frobnicate"/);
  assert.match(problems[2]!.problem, /multiple "namespaces" clauses/);
  assert.match(problems[3]!.problem, /invalid "valid-after" time "20250231"/);
  assert.match(problems[4]!.problem, /"valid-before" time is before "valid-after"/);
  assert.match(problems[5]!.problem, /unterminated quote/);
  assert.match(problems[6]!.problem, /invalid key/);
});

test('parse_absolute_time: the three lengths, Z or UTC for UTC, else local; malformed refused', () => {
  assert.equal(parseAbsoluteTime('20270101Z')!.toISOString(), '2027-01-01T00:00:00.000Z');
  assert.equal(parseAbsoluteTime('202701021304utc')!.toISOString(), '2027-01-02T13:04:00.000Z');
  assert.equal(parseAbsoluteTime('20270102130405Z')!.toISOString(), '2027-01-02T13:04:05.000Z');
  assert.equal(parseAbsoluteTime('20270102130405')!.getTime(), new Date(2027, 0, 2, 13, 4, 5).getTime());
  for (const bad of ['2027', '2027010', '202701011', '20271301', '20270100Z', '20270101250000', 'x0270101', '20270101ZZ', '']) {
    assert.equal(parseAbsoluteTime(bad), undefined, bad);
  }
});

test('match_pattern_list: wildcards, negation wins, no match is 0', () => {
  assert.equal(matchPatternList('git', 'git'), 1);
  assert.equal(matchPatternList('git', 'file,g*'), 1);
  assert.equal(matchPatternList('git', 'g?t'), 1);
  assert.equal(matchPatternList('git', 'file,email'), 0);
  assert.equal(matchPatternList('git', '*,!git'), -1);
  assert.equal(matchPatternList('git', '!file'), 0);
  assert.equal(matchPatternList('g.t', 'g?t'), 1);
  assert.equal(matchPatternList('gxt', 'g.t'), 0, 'a dot is literal');
});
