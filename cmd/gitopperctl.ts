#!/usr/bin/env node
/**
 * gitopperctl: argv → client(s) → table or JSON → exit code (DESIGN.md §3). Exit 0 when every
 * host's request succeeded, 1 when one or more hosts gave a server or connection error (the
 * answering hosts' table on stdout, one message per failing host on stderr), 2 on a usage error
 * (usage on stderr, nothing sent). `--help` prints the usage on stdout and exits 0.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Client } from '../src/client.js';
import { describeError, execute, parseCommand, USAGE, UsageError } from '../src/ctl.js';

/** Where {@link run} writes, and what it talks through (tests inject `fetch` and `now`). */
export interface CtlIO {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  readonly fetch?: typeof fetch;
  /** The clock for the SINCE/AGO columns; default the current time. */
  readonly now?: () => Date;
}

/**
 * Runs one gitopperctl command line (`args` = argv without node and the script) and returns the
 * exit code: 0 ok, 1 server/connection error on any host, 2 usage error. Never throws for those.
 */
export async function run(args: string[], io: CtlIO): Promise<number> {
  let cmd;
  try {
    cmd = parseCommand(args);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.stderr.write(`gitopperctl: ${err.message}\n${USAGE}\n`);
    return 2;
  }
  if (cmd.kind === 'help') {
    io.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const opts = io.fetch === undefined ? {} : { fetch: io.fetch };
  const { stdout, failures } = await execute(cmd, (base) => new Client(base, opts), io.now?.() ?? new Date());
  io.stdout.write(stdout);
  const several = cmd.targets.length > 1;
  for (const { host, error } of failures) io.stderr.write(`gitopperctl: ${several ? `${host}: ` : ''}${describeError(error)}\n`);
  return failures.length === 0 ? 0 : 1;
}

function isMain(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  run(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr }).then(
    (code) => (process.exitCode = code),
    (err: unknown) => {
      process.stderr.write(`gitopperctl: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
