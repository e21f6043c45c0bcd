/**
 * What `npm pack` ships (issue 16): the LICENSE (Apache License 2.0, as package.json says), and the
 * docs next to the programs, so the path `gitopper --help` names (`<package>/docs/daemon.md`, found
 * from `dist/cmd/gitopper.js`) exists in an installed copy.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const packed = (): string[] => {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 60_000 });
  return (JSON.parse(out) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path);
};

test('the package ships LICENSE with the Apache License 2.0 text, the license package.json names', () => {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { license: string };
  assert.equal(pkg.license, 'Apache-2.0');
  const text = readFileSync('LICENSE', 'utf8');
  assert.match(text, /^\s+Apache License\n\s+Version 2\.0, January 2004\n/);
  assert.match(text, /TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION/);
  assert.match(text, /END OF TERMS AND CONDITIONS/);
  const files = packed();
  assert.ok(files.includes('LICENSE'), files.join(' '));
});

test('the docs --help names are in the package, beside the program that names them', () => {
  const files = packed();
  for (const f of ['dist/cmd/gitopper.js', 'docs/daemon.md', 'docs/api.md', 'docs/install.md']) assert.ok(files.includes(f), `${f} is packed`);
});
