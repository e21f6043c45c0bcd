/**
 * Runs one bench section in its own process (so its memory and CPU are its own):
 *   node dist/bench/section.js NAME ARGS.json RESULT.json
 */
import { readFile, writeFile } from 'node:fs/promises';
import { daemonSection } from './sections/daemon.js';
import { idleSection } from './sections/idle.js';
import { scaleSection } from './sections/scale.js';
import { setupSection } from './sections/setup.js';
import { steadySection } from './sections/steady.js';

const [name, argsFile, outFile] = process.argv.slice(2);
const args = JSON.parse(await readFile(argsFile!, 'utf8'));
const sections: Record<string, (a: never) => Promise<unknown>> = {
  setup: setupSection,
  idle: idleSection,
  steady: steadySection,
  daemon: daemonSection,
  scale: scaleSection,
};
const f = sections[name!];
if (!f) throw new Error(`unknown section ${name}`);
const result = await f(args as never);
await writeFile(outFile!, JSON.stringify(result, null, 1));
process.exit(0);
