#!/usr/bin/env node
// Builds gitopper_<version>_all.deb (`npm run deb`, after `npm run build`):
//
//   node config/debian/build-deb.mjs [--out DIR]      (default DIR: dist/)
//
// Stages the tree below in a temporary directory and packs it with `dpkg-deb --build
// --root-owner-group` (every file root:root, no fakeroot needed); prints the .deb's path.
//
//   /usr/lib/gitopper/        package.json, dist/cmd, dist/src, docs/*.md, node_modules (production)
//   /usr/bin/gitopper, gitopperctl (+ gitopperctl-rest)   wrappers running /usr/bin/node
//   /usr/lib/systemd/system/gitopper.service              systemd/gitopper.service, docs paths of the .deb
//   /usr/share/man/man8/gitopper.8.gz, gitopperctl.8.gz   from dist/man (npm run build)
//   /usr/share/bash-completion/completions/gitopperctl    config/completion/gitopperctl.bash
//   /usr/share/doc/gitopper/                              copyright (LICENSE), examples/ (config, alerts, dashboard)
//
// node_modules: `npm ci --omit=dev --omit=optional --ignore-scripts` in the staged
// /usr/lib/gitopper, from package.json and package-lock.json. That is exactly the lockfile's
// production tree, whatever the build machine's own node_modules holds (dev tools, packages built
// for its CPU); without optional dependencies and install scripts no native addon is built, so the
// package is right for every architecture ("all"). --prefer-offline takes the packages from npm's
// cache, which the `npm ci` of the build already filled: no network when nothing changed.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const outIndex = process.argv.indexOf('--out');
const outDir = path.resolve(outIndex > 0 ? process.argv[outIndex + 1] : path.join(root, 'dist'));
const { version } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const LIB = 'usr/lib/gitopper';

for (const need of ['dist/cmd/gitopper.js', 'dist/man/gitopper.8']) {
  if (!existsSync(path.join(root, need))) throw new Error(`${need} is missing: run npm run build first`);
}

process.umask(0o022); // the modes in the package are the ones set here, not the builder's umask
const stage = mkdtempSync(path.join(os.tmpdir(), 'gitopper-deb-'));
chmodSync(stage, 0o755); // the package's ./ entry
const at = (p) => path.join(stage, p);
/** Copy repository file `from` to staged `to` with `mode`. */
function put(from, to, mode = 0o644) {
  mkdirSync(path.dirname(at(to)), { recursive: true });
  copyFileSync(path.join(root, from), at(to));
  chmodSync(at(to), mode);
}
/** Write `text` to staged `to` with `mode`. */
function write(to, text, mode = 0o644) {
  mkdirSync(path.dirname(at(to)), { recursive: true });
  writeFileSync(at(to), text);
  chmodSync(at(to), mode);
}
/** Every regular file below staged `dir`, relative to the stage. */
function files(dir) {
  const out = [];
  for (const e of readdirSync(at(dir), { withFileTypes: true })) {
    const rel = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...files(rel));
    else if (e.isFile()) out.push(rel);
  }
  return out;
}

try {
  // the program, its docs (gitopper --help names <package>/docs) and its production dependencies
  put('package.json', `${LIB}/package.json`);
  put('package-lock.json', `${LIB}/package-lock.json`);
  for (const d of ['dist/cmd', 'dist/src']) cpSync(path.join(root, d), at(`${LIB}/${d}`), { recursive: true });
  for (const f of readdirSync(path.join(root, 'docs')).filter((f) => f.endsWith('.md'))) put(`docs/${f}`, `${LIB}/docs/${f}`);
  execFileSync('npm', ['ci', '--omit=dev', '--omit=optional', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: at(LIB), stdio: ['ignore', 'ignore', 'inherit'] });
  rmSync(at(`${LIB}/package-lock.json`));
  rmSync(at(`${LIB}/node_modules/.package-lock.json`), { force: true });

  put('config/debian/gitopper', 'usr/bin/gitopper', 0o755);
  put('config/debian/gitopperctl', 'usr/bin/gitopperctl', 0o755);
  symlinkSync('gitopperctl', at('usr/bin/gitopperctl-rest'));

  const unit = readFileSync(path.join(root, 'systemd/gitopper.service'), 'utf8').replaceAll('/usr/lib/node_modules/gitopper/', `/${LIB}/`);
  write('usr/lib/systemd/system/gitopper.service', unit);

  for (const page of ['gitopper.8', 'gitopperctl.8']) write(`usr/share/man/man8/${page}.gz`, gzipSync(readFileSync(path.join(root, 'dist/man', page)), { level: 9 }));
  put('config/completion/gitopperctl.bash', 'usr/share/bash-completion/completions/gitopperctl');
  symlinkSync('gitopperctl', at('usr/share/bash-completion/completions/gitopperctl-rest'));
  write('usr/share/doc/gitopper/copyright', `gitopper\nLicense: Apache-2.0\n\n${readFileSync(path.join(root, 'LICENSE'), 'utf8')}`);
  put('config/config.toml', 'usr/share/doc/gitopper/examples/config.toml');
  put('config/alerts.yml', 'usr/share/doc/gitopper/examples/alerts.yml');
  put('config/grafana-dashboard.json', 'usr/share/doc/gitopper/examples/grafana-dashboard.json');

  // control files: every payload file's md5, conffiles for whatever lies under /etc (nothing today)
  const payload = files('usr').concat(existsSync(at('etc')) ? files('etc') : []).sort();
  const kib = Math.ceil(payload.reduce((n, f) => n + lstatSync(at(f)).size, 0) / 1024);
  write('DEBIAN/control', readFileSync(path.join(here, 'control'), 'utf8').replace('@VERSION@', version).replace('@INSTALLED_SIZE@', String(kib)));
  for (const s of ['postinst', 'prerm', 'postrm']) put(`config/debian/${s}`, `DEBIAN/${s}`, 0o755);
  write('DEBIAN/md5sums', payload.map((f) => `${createHash('md5').update(readFileSync(at(f))).digest('hex')}  ${f}\n`).join(''));
  const conffiles = payload.filter((f) => f.startsWith('etc/')).map((f) => `/${f}\n`).join('');
  if (conffiles) write('DEBIAN/conffiles', conffiles);

  mkdirSync(outDir, { recursive: true });
  const deb = path.join(outDir, `gitopper_${version}_all.deb`);
  execFileSync('dpkg-deb', ['--build', '--root-owner-group', '-Zxz', stage, deb], { stdio: ['ignore', 'ignore', 'inherit'] });
  process.stdout.write(`${deb}\n`);
} finally {
  rmSync(stage, { recursive: true, force: true });
}
