#!/usr/bin/env node
/**
 * gitopper daemon entry: argv → options (`--help`: usage on stdout, exit 0; `--version`: the
 * version, exit 0; `--check`: the config checked, exit 0 valid / 1 not, nothing started), then the daemon's
 * stages (src/daemon/): load (state dir, self-bootstrap, config) → build (adapters, agent,
 * servers) → start (listen, readiness, live config) → wait (signals). Exit codes: 0 after
 * SIGINT/SIGTERM, 2 after SIGHUP so systemd's Restart=on-failure restarts it with the new config,
 * 1 on a fatal error with a message on stderr. gitopper's contract (docs/daemon.md, "Signals and
 * exit codes").
 */
import { fileURLToPath } from 'node:url';
import { build, version } from '../src/daemon/build.js';
import { checkConfig } from '../src/daemon/check.js';
import type { Running } from '../src/daemon/daemon.js';
import { StartupError } from '../src/daemon/startup-error.js';
import { FlagError, parseDaemonFlags, usage, type DaemonOptions } from '../src/daemon/flags.js';
import { load } from '../src/daemon/load.js';
import { idle, start } from '../src/daemon/start.js';
import { isJournalStream } from '../src/telemetry/log.js';

/** Exits 1 with `message` on stderr; under systemd with stderr to the journal at priority err (`<3>`, sd-daemon(3)). */
function fatal(message: string): never {
  const prefix = isJournalStream(process.env.JOURNAL_STREAM, 2) ? '<3>' : '';
  process.stderr.write(`${prefix}gitopper: ${message.replaceAll('\n', `\n${prefix}`)}\n`);
  process.exit(1);
}

/** The options of argv; a bad command line is fatal. */
function options(): DaemonOptions {
  try {
    return parseDaemonFlags(process.argv.slice(2));
  } catch (err) {
    if (err instanceof FlagError) fatal(err.message);
    throw err;
  }
}

/** Stage 4: on SIGINT or SIGTERM stop and exit 0; on SIGHUP stop and exit 2 (each signal once). */
function wait(running: Running): void {
  const stop = (signal: NodeJS.Signals, code: number) => void running.stop(signal, code).then(() => process.exit(code));
  process.once('SIGINT', () => stop('SIGINT', 0));
  process.once('SIGTERM', () => stop('SIGTERM', 0));
  process.once('SIGHUP', () => stop('SIGHUP', 2));
}

/**
 * `--check`: every problem as `gitopper: <message>` on stderr (the daemon's fatal format), each warning
 * as `gitopper: warning: <message>`, the summary on stdout; exit 0 when valid, 1 when not.
 */
async function check(opts: DaemonOptions): Promise<never> {
  const report = await checkConfig(opts);
  for (const e of report.errors) process.stderr.write(`gitopper: ${e}\n`);
  for (const w of report.warnings) process.stderr.write(`gitopper: warning: ${w}\n`);
  process.stdout.write(`${report.summary}\n`);
  process.exit(report.ok ? 0 : 1);
}

async function main(): Promise<void> {
  const opts = options();
  if (opts.help) {
    process.stdout.write(`${usage(fileURLToPath(new URL('../../docs', import.meta.url)))}\n`);
    return;
  }
  if (opts.version) {
    process.stdout.write(`gitopper ${version()}\n`);
    return;
  }
  if (opts.check) return check(opts);
  const loaded = await load(opts, process.env);
  if (loaded.config.services.length === 0) return idle(loaded);
  wait(await start(await build(loaded), fatal));
}

main().catch((err: unknown) => fatal(err instanceof StartupError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)));
