/**
 * Man pages gitopper(8) and gitopperctl(8), built from docs/man/*.8.md by `npm run build`: man(1)
 * renders them with the expected sections and groff has no warning; every long flag the programs'
 * --help names is in the page; package.json installs them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { missingPackage } from '../rig/system-packages.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const PAGES = { gitopper: 'dist/cmd/gitopper.js', gitopperctl: 'dist/cmd/gitopperctl.js' } as const;
const noMan = missingPackage('man-db', 'man') || missingPackage('groff-base', 'groff');
const env = { ...process.env, LC_ALL: 'C.UTF-8', MANWIDTH: '80', MAN_KEEP_FORMATTING: '', MANPAGER: 'cat', PAGER: 'cat' };

/** groff's warnings (all of them, -ww) for a page; '' when there are none. */
function groffWarnings(file: string): string {
  const r = spawnSync('groff', ['-man', '-t', '-Tutf8', '-ww', '-z', file], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  return r.stderr.trim();
}

test('package.json installs the built pages (man, files)', () => {
  const pkg = JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8')) as { man: string[]; files: string[]; scripts: Record<string, string> };
  assert.deepEqual(pkg.man, ['dist/man/gitopper.8', 'dist/man/gitopperctl.8']);
  assert.ok(pkg.files.includes('dist/man'));
  assert.match(pkg.scripts.build!, /build-man/);
  for (const m of pkg.man) assert.ok(existsSync(path.join(repo, m)), `${m} is built`);
});

for (const [name, program] of Object.entries(PAGES)) {
  const page = path.join(repo, 'dist', 'man', `${name}.8`);

  test(`man -l renders ${name}(8) with its sections and without warnings`, { skip: noMan }, () => {
    assert.equal(groffWarnings(page), '', 'groff -ww warns');
    const r = spawnSync('man', ['--warnings=w', '-l', page], { encoding: 'utf8', env, timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr.trim(), '', 'man warns');
    const text = r.stdout.replace(/.\x08/g, '');
    assert.match(text.split('\n')[0]!, new RegExp(`^${name.toUpperCase()}\\(8\\)\\s+System Manager's Manual\\s+${name.toUpperCase()}\\(8\\)$`));
    const sections = text.split('\n').filter((l) => /^[A-Z][A-Z ]+$/.test(l));
    for (const s of ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'OPTIONS', 'FILES', 'EXIT STATUS', 'SEE ALSO']) assert.ok(sections.includes(s), `section ${s} in ${sections.join(', ')}`);
    assert.match(text, new RegExp(`^NAME\\n\\s+${name} - \\S`, 'm'));
  });

  test(`every long flag of ${name} --help is in ${name}(8)`, () => {
    const help = spawnSync(process.execPath, [path.join(repo, program), '--help'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(help.status, 0, help.stderr);
    const flags = [...new Set(help.stdout.match(/--[a-z][a-z-]+/g) ?? [])];
    assert.ok(flags.length >= 4, flags.join(' '));
    const source = readFileSync(path.join(repo, 'docs', 'man', `${name}.8.md`), 'utf8');
    for (const f of flags) assert.ok(source.includes(`\`${f}\``), `${f} is documented in docs/man/${name}.8.md`);
  });
}

test('the warning check bites: groff warns on an unknown macro', { skip: noMan }, () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gitopper-man-'));
  try {
    const bad = path.join(dir, 'bad.8');
    writeFileSync(bad, readFileSync(path.join(repo, 'dist', 'man', 'gitopper.8'), 'utf8').replace('.SH DESCRIPTION', '.XX DESCRIPTION'));
    assert.notEqual(groffWarnings(bad), '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
