#!/usr/bin/env node
/**
 * gitopperctl: argv + environment → signing key, TLS trust → client(s) → table or JSON → exit code
 * (docs/gitopperctl.md, "Exit codes"). Exit 0 when every host's request succeeded, 1 when one or more hosts gave a
 * server or connection error (the answering hosts' table on stdout, one message per failing host
 * on stderr), a `do freeze|unfreeze|rollback` left the service BROKEN or DIFF (its table on stdout,
 * one line on stderr), or there is no usable key, 2 on a usage error (usage on stderr, nothing sent).
 * `--help` prints the usage on stdout and exits 0, `--version` prints `gitopperctl <version>`
 * (package.json's) and exits 0. `forget @HOST...` only edits the pin file (known_hosts) (exit 1 when a host had
 * no pin). `status @HOST...` exits 1 unless every service of every host is OK. A bad hosts file
 * (the `@NAME` groups) is a usage error (exit 2).
 *
 * Environment: SSH_AUTH_SOCK (ssh-agent, without -i), GITOPPER_KEY_PASSPHRASE (for a protected
 * -i key when there is no terminal), HOME / XDG_CONFIG_HOME (the pin file known_hosts, the hosts file),
 * GITOPPER_HOSTS (the hosts file, unless --hosts).
 */
import { readFileSync, realpathSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Client, fetchTransport, type Transport } from '../src/ctl/client.js';
import { describeError, execute, forget, parseCommand, USAGE, UsageError, type ForgetCommand, type HostCommand } from '../src/ctl/commands.js';
import { fleetExit, fleetJson, fleetTable, gatherFleet } from '../src/ctl/fleet.js';
import { groupResolver, HostsFileError } from '../src/ctl/hosts.js';
import { IdentityError, loadSigners } from '../src/ctl/identity.js';
import { pinFile, TlsPins } from '../src/ctl/tls-pins.js';
import type { RequestSigner } from '../src/ctl/signer.js';
import { tlsTransport } from '../src/ctl/transport.js';

/** Where {@link run} writes, and what it talks through (tests inject `fetch`, `env` and `now`). */
export interface CtlIO {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  /** Send through this fetch instead of gitopperctl's transport (no certificate pinning; tests). */
  readonly fetch?: typeof fetch;
  /** The environment; default process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Asks for a key's passphrase on the terminal; undefined when there is none. */
  readonly ask?: (prompt: string) => Promise<string | undefined>;
  /** The clock for the SINCE/AGO columns; default the current time. */
  readonly now?: () => Date;
}

/** This package's version, from the package.json two directories above the built file (`dist/cmd/` → the package root). */
export function version(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/** The transport of `cmd`: pinned or CA-verified TLS (or io.fetch in tests). Throws IdentityError for an unreadable --ca. */
function transportOf(cmd: HostCommand, io: CtlIO, env: Readonly<Record<string, string | undefined>>): Transport {
  if (io.fetch !== undefined) return fetchTransport(io.fetch);
  let ca: string | undefined;
  if (cmd.ca !== undefined) {
    try {
      ca = readFileSync(cmd.ca, 'utf8');
    } catch (err) {
      throw new IdentityError(`cannot read --ca ${cmd.ca}: ${(err as Error).message}`);
    }
  }
  const pins = new TlsPins(pinFile(env, os.homedir()));
  const onPin = (host: string, fp: string, file: string) => io.stderr.write(`gitopperctl: ${host}: first connection, certificate SHA-256 ${fp} pinned in ${file}\n`);
  return tlsTransport({ pins, onPin, ...(ca === undefined ? {} : { ca }) });
}

/**
 * `forget @HOST...`: one stdout line per removed pin, one stderr line per host that had none;
 * exit 0 when every host had a pin, 1 otherwise (or when the pin file cannot be rewritten).
 */
function forgetPins(cmd: ForgetCommand, io: CtlIO, env: Readonly<Record<string, string | undefined>>): number {
  const pins = new TlsPins(pinFile(env, os.homedir()));
  let results;
  try {
    results = forget(cmd, pins);
  } catch (err) {
    io.stderr.write(`gitopperctl: cannot rewrite ${pins.file}: ${(err as Error).message}\n`);
    return 1;
  }
  let code = 0;
  for (const { hostPort, removed } of results) {
    for (const pin of removed) io.stdout.write(`forgot ${hostPort}: certificate SHA-256 ${pin.fingerprint} (line ${pin.line} of ${pins.file})\n`);
    if (removed.length === 0) {
      io.stderr.write(`gitopperctl: ${hostPort} has no pinned certificate in ${pins.file}\n`);
      code = 1;
    }
  }
  return code;
}

/**
 * Runs one gitopperctl command line (`args` = argv without node and the script) and returns the
 * exit code: 0 ok, 1 server/connection error on any host, a write that left a service BROKEN or
 * DIFF, or (`status`) a service that is not OK, 2 usage error (also a bad hosts file). Never
 * throws for those.
 */
export async function run(args: string[], io: CtlIO): Promise<number> {
  const env = io.env ?? process.env;
  let cmd;
  try {
    cmd = parseCommand(args, groupResolver(env, os.homedir()));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    // a bad hosts file says what to fix on which line; the usage text would only bury that
    io.stderr.write(`gitopperctl: ${err.message}\n${err instanceof HostsFileError ? '' : `${USAGE}\n`}`);
    return 2;
  }
  if (cmd.kind === 'help') {
    io.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (cmd.kind === 'version') {
    io.stdout.write(`gitopperctl ${version()}\n`);
    return 0;
  }
  if (cmd.kind === 'forget') return forgetPins(cmd, io, env);
  let signers: RequestSigner[];
  let transport: Transport;
  try {
    transport = transportOf(cmd, io, env);
    const passphrase = env.GITOPPER_KEY_PASSPHRASE;
    signers = await loadSigners({
      ...(cmd.identity === undefined ? {} : { identity: cmd.identity }),
      ...(env.SSH_AUTH_SOCK === undefined ? {} : { agentSocket: env.SSH_AUTH_SOCK }),
      ...(passphrase === undefined ? {} : { passphrase }),
      ...(io.ask === undefined ? {} : { ask: io.ask }),
    });
  } catch (err) {
    if (!(err instanceof IdentityError)) throw err;
    io.stderr.write(`gitopperctl: ${err.message}\n`);
    return 1;
  }
  const clientFor = (base: string) => new Client(base, { transport, signers });
  if (cmd.kind === 'status') {
    const fleet = await gatherFleet(cmd, clientFor);
    io.stdout.write(cmd.json ? fleetJson(fleet) : fleetTable(fleet, io.now?.() ?? new Date()));
    return fleetExit(fleet);
  }
  const { stdout, failures, unhealthy } = await execute(cmd, clientFor, io.now?.() ?? new Date());
  io.stdout.write(stdout);
  const several = cmd.targets.length > 1;
  for (const { host, error } of failures) io.stderr.write(`gitopperctl: ${several ? `${host}: ` : ''}${describeError(error)}\n`);
  for (const u of unhealthy) {
    io.stderr.write(`gitopperctl: ${several ? `${u.host}: ` : ''}${u.service} is ${u.state} after do ${cmd.kind}${u.stateinfo ? `: ${u.stateinfo}` : ''}\n`);
  }
  return failures.length === 0 && unhealthy.length === 0 ? 0 : 1;
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

/** Reads a line from the terminal without echo (for a passphrase); undefined when stdin is not a terminal. */
function askOnTerminal(prompt: string): Promise<string | undefined> {
  const stdin = process.stdin;
  if (!stdin.isTTY) return Promise.resolve(undefined);
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.resume();
  return new Promise((resolve) => {
    let text = '';
    const done = (value: string | undefined) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      resolve(value);
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done(text);
        if (ch === '\u0003' || ch === '\u0004') return done(undefined);
        if (ch === '\u007f' || ch === '\b') text = text.slice(0, -1);
        else text += ch;
      }
    };
    stdin.on('data', onData);
  });
}

if (isMain()) {
  run(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, ask: askOnTerminal }).then(
    (code) => (process.exitCode = code),
    (err: unknown) => {
      process.stderr.write(`gitopperctl: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
