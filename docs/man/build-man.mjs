#!/usr/bin/env node
// Builds the man pages: docs/man/NAME.SECTION.md -> dist/man/NAME.SECTION (roff), with marked-man.
// Run by `npm run build` after tsc; package.json "man" lists the results, so `npm install -g`
// installs them. The date in the header is SOURCE_DATE_EPOCH when set (reproducible builds), else
// today; the version is package.json's.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Marked } from 'marked';
import markedMan from 'marked-man';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const out = path.join(root, 'dist', 'man');
const { version } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));

mkdirSync(out, { recursive: true });
for (const file of readdirSync(here).filter((f) => /^[\w-]+\.\d\.md$/.test(f)).sort()) {
  const marked = new Marked(markedMan);
  marked.setOptions({ manVersion: `gitopper ${version}`, manual: "System Manager's Manual", breaks: false });
  const roff = marked.parse(readFileSync(path.join(here, file), 'utf8'));
  const target = path.join(out, file.slice(0, -'.md'.length));
  writeFileSync(target, roff.endsWith('\n') ? roff : `${roff}\n`);
}
