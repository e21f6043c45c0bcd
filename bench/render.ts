/**
 * Rewrites docs/performance.md from a results file without measuring again (the page of a full run
 * is a pure function of its results and of the previous results file):
 *   node dist/bench/render.js bench/results/<date>.json
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { renderReport, type BenchResults, type Previous } from './lib/report.js';
import { ROOT } from './lib/util.js';

const file = process.argv[2];
if (!file) throw new Error('usage: node dist/bench/render.js bench/results/<date>.json');
const results = JSON.parse(await readFile(path.resolve(file), 'utf8')) as BenchResults;
if (results.quick) throw new Error(`${file} is a quick run: not for docs/performance.md`);
let prev: Previous;
if (results.previousFile) {
  prev = { file: results.previousFile, data: JSON.parse(await readFile(path.join(ROOT, results.previousFile), 'utf8')) };
}
await writeFile(path.join(ROOT, 'docs', 'performance.md'), renderReport(results, path.relative(ROOT, path.resolve(file)), prev));
process.stderr.write(`render: docs/performance.md from ${file}${prev ? ` (before: ${prev.file})` : ''}\n`);
