/**
 * The daemon's command line: gitopper's flags with their defaults and meaning (docs/daemon.md, "Flags"),
 * plus ours (`--user`, `--state-dir`, `--tls-cert`, `--tls-key`, `--insecure-http`, `--check`, `--version`/`-v`,
 * `--log-format`, `--help`). Parsed with node's `util.parseArgs`.
 * Pure: argv in, options out; `cmd/gitopper.ts` supplies argv and acts on errors.
 */
import { parseArgs } from 'node:util';
import { parseDuration } from '../config/duration.js';
import { isLoopback, splitAddr as splitListenAddr } from '../http/listen-address.js';
import { GitopperError } from '../errors/gitopper-error.js';
import { LOG_FORMATS, type LogFormat } from '../telemetry/log.js';

/** Parsed daemon options. Durations in seconds; addresses as `host:port` (`:port` = all interfaces). */
export interface DaemonOptions {
  readonly help: boolean;
  /** `--version`/`-v`: print `gitopper <version>` and exit 0. */
  readonly version: boolean;
  /** `--check`: check the config (every problem, warnings, a summary) and exit 0/1; nothing is started. */
  readonly check: boolean;
  /** `--log-format`: `json`, `pretty`, or `auto` (pretty on a terminal, the default). */
  readonly logFormat: LogFormat;
  /** Names this host answers to (`-h`, repeatable, comma-separated); the real hostname is added by the caller. */
  readonly hosts: readonly string[];
  readonly config: string;
  readonly metric: string;
  readonly api: string;
  readonly debug: boolean;
  readonly restart: boolean;
  readonly root: boolean;
  readonly durationSeconds: number;
  /** `--verify-every N`: a full pass every Nth poll that finds the upstream tip unchanged (default 10; 1 = every poll). */
  readonly verifyEvery: number;
  /** `--store-retention DUR`: an object store no configured service uses is removed after this many seconds unused (default 7 days). */
  readonly storeRetentionSeconds: number;
  /** `--fetch-timeout DUR`: a fetch request with no response, or no body bytes, for this many seconds fails (default 60). */
  readonly fetchTimeoutSeconds: number;
  readonly upstream: string;
  readonly directory: string;
  readonly branch: string;
  readonly mount: string;
  readonly pull: boolean;
  /** Talk to a systemd user manager on the session bus instead of the system bus. */
  readonly user: boolean;
  readonly stateDir: string;
  /** `--tls-cert`/`--tls-key`: serve the API with this certificate and key (PEM); both or neither. */
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  /** `--insecure-http`: serve the API over plain HTTP; only with a loopback `-s` address. */
  readonly insecureHttp: boolean;
}

/** Thrown for a bad command line; the message says what to fix. */
export class FlagError extends GitopperError {
  readonly code = 'FLAGS';
}

/**
 * Usage text for `--help`. `docsDir` is the absolute path of the package's `docs/` directory as
 * installed (package.json `files` ships it beside `dist/`: after `npm install -g` it is
 * `$(npm root -g)/gitopper/docs`); `cmd/gitopper.ts` passes the one next to the running program, so the
 * path named always exists.
 */
export function usage(docsDir: string): string {
  return `Usage: gitopper -c CONFIG [flags]

Keeps services' files equal to a git repository (sparse checkouts + bind mounts) and
tells systemd over D-Bus when they change. Flags, states, logs, exit codes:
${docsDir.replace(/\/+$/, '')}/daemon.md (all docs: ${docsDir.replace(/\/+$/, '')}/)

  -c, --config FILE      config file (required unless -U); relative to the checkout with -U
  -h, --hosts NAME       act as this host too (repeatable, comma-separated); the hostname is always included
  -t, --duration DUR     pull interval, Go syntax (default 5m); jittered in [d, 1.5d)
  -m, --metric ADDR      Prometheus /metrics address (default :9222)
  -s, --api ADDR         REST API address (default :2222)
  -d, --debug            debug logging
  -o, --root BOOL        require running as root (default true)
  -r, --restart          watch the config file and apply changes live (invalid ones are refused)
  -U, --upstream URL     self-bootstrap: repository holding the config
  -D, --directory DIR    self-bootstrap: directory in that repository (default gitopper)
  -B, --branch NAME      self-bootstrap: branch (default main)
  -M, --mount DIR        self-bootstrap: where to check it out
  -P, --pull             self-bootstrap: pull the config repository before starting
      --verify-every N   polls that find the upstream tip unchanged skip services that are OK
                         at it; every Nth such poll re-checks everything (default 10; 1 = always)
      --store-retention DUR
                         remove an object store that no configured service uses after it was
                         unused this long, unless a service's history needs it (default 168h)
      --fetch-timeout DUR
                         a fetch request that receives nothing for this long fails (default 60s)
      --user             use the session bus of a systemd user manager (tests, demos)
      --state-dir DIR    where object stores and state live (default /var/lib/gitopper)
      --tls-cert FILE    serve the API with this certificate (PEM); without it a self-signed
                         one is made once and kept in <state-dir>/tls/
      --tls-key FILE     the key of --tls-cert (PEM)
      --insecure-http    serve the API over plain HTTP: loopback -s addresses only (tests, a
                         local reverse proxy that does TLS)
      --log-format FMT   json, pretty or auto (default: pretty when stdout is a terminal, else json)
      --check            check the config (-c, or the checked-out one with -U) and exit: every
                         problem and warning, then a summary; exit 0 valid, 1 not. Starts nothing
  -v, --version          print gitopper's version and exit
      --help             this text (-h is --hosts, as in gitopper)`;
}

/** Seconds of a Go-syntax duration flag; FlagError naming `flag` when it does not parse. */
function durationFlag(text: string, flag: string): number {
  try {
    return parseDuration(text);
  } catch (err) {
    throw new FlagError(`${flag}: ${(err as Error).message}`);
  }
}

/**
 * `-h`/`--hosts` given without a name (last, or followed by another flag: `gitopper -h`,
 * `gitopper -h --help`): a FlagError that says `-h` is gitopper's hosts flag and `--help` is help,
 * instead of parseArgs's "argument missing" / "argument is ambiguous". `-h` is hosts, as in gitopper.
 */
function checkHostsHasValue(argv: readonly string[]): void {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return;
    if (a !== '-h' && a !== '--hosts') continue;
    const next = argv[i + 1];
    if (next === undefined || next.startsWith('-')) {
      throw new FlagError(`${a} is -h/--hosts NAME, as in gitopper: act as host NAME too, so it needs a name (-h web1,web2). For help use --help`);
    }
    i++;
  }
}

/** Parse daemon argv (without node and script). Throws FlagError. */
export function parseDaemonFlags(argv: readonly string[]): DaemonOptions {
  checkHostsHasValue(argv);
  let v;
  try {
    v = parseArgs({
      args: normaliseBoolFlag(argv, ['-o', '--root']),
      allowPositionals: false,
      strict: true,
      options: {
        help: { type: 'boolean' },
        hosts: { type: 'string', short: 'h', multiple: true },
        config: { type: 'string', short: 'c' },
        metric: { type: 'string', short: 'm' },
        api: { type: 'string', short: 's' },
        debug: { type: 'boolean', short: 'd' },
        restart: { type: 'boolean', short: 'r' },
        root: { type: 'string', short: 'o' },
        duration: { type: 'string', short: 't' },
        upstream: { type: 'string', short: 'U' },
        directory: { type: 'string', short: 'D' },
        branch: { type: 'string', short: 'B' },
        mount: { type: 'string', short: 'M' },
        pull: { type: 'boolean', short: 'P' },
        user: { type: 'boolean' },
        'verify-every': { type: 'string' },
        'store-retention': { type: 'string' },
        'fetch-timeout': { type: 'string' },
        'state-dir': { type: 'string' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        'insecure-http': { type: 'boolean' },
        check: { type: 'boolean' },
        version: { type: 'boolean', short: 'v' },
        'log-format': { type: 'string' },
      },
    }).values;
  } catch (err) {
    throw new FlagError(`${(err as Error).message} (see --help)`);
  }
  const durationText = v.duration ?? '5m';
  let durationSeconds: number;
  try {
    durationSeconds = parseDuration(durationText);
  } catch (err) {
    throw new FlagError(`-t/--duration: ${(err as Error).message}`);
  }
  if (durationSeconds < 1) throw new FlagError(`-t/--duration ${durationText} is below 1s: use 1s or more`);
  const verifyText = v['verify-every'] ?? '10';
  if (!/^[1-9][0-9]{0,5}$/.test(verifyText)) throw new FlagError(`--verify-every ${verifyText}: give a whole number of polls from 1 (every poll is a full pass) to 999999`);
  const storeRetentionSeconds = durationFlag(v['store-retention'] ?? '168h', '--store-retention');
  const fetchTimeoutSeconds = durationFlag(v['fetch-timeout'] ?? '60s', '--fetch-timeout');
  if (fetchTimeoutSeconds < 1) throw new FlagError(`--fetch-timeout ${v['fetch-timeout']} is below 1s: use 1s or more`);
  const root = parseBool(v.root ?? 'true', '-o/--root');
  const help = v.help ?? false;
  const version = v.version ?? false;
  const logFormat = v['log-format'] ?? 'auto';
  if (!(LOG_FORMATS as readonly string[]).includes(logFormat)) throw new FlagError(`--log-format ${logFormat}: use json, pretty or auto (pretty on a terminal, json elsewhere)`);
  if (!help && !version && !v.config && !v.upstream) throw new FlagError('-c/--config is required: gitopper -c /etc/gitopper/config.toml');
  const api = checkAddr(v.api ?? ':2222', '-s/--api');
  if ((v['tls-cert'] === undefined) !== (v['tls-key'] === undefined)) throw new FlagError('--tls-cert and --tls-key go together: give both, or neither for a self-signed certificate');
  const insecureHttp = v['insecure-http'] ?? false;
  if (insecureHttp && v['tls-cert'] !== undefined) throw new FlagError('--insecure-http serves plain HTTP: it cannot go with --tls-cert/--tls-key');
  if (insecureHttp && !isLoopback(splitAddr(api).host)) {
    throw new FlagError(`--insecure-http serves the API unencrypted and is allowed on loopback only, not on "${api}": use -s 127.0.0.1:${splitAddr(api).port} (or drop --insecure-http for HTTPS)`);
  }
  return {
    help,
    version,
    check: v.check ?? false,
    logFormat: logFormat as LogFormat,
    hosts: (v.hosts ?? []).flatMap((h) => h.split(',')).map((h) => h.trim()).filter((h) => h !== ''),
    config: v.config ?? '',
    metric: checkAddr(v.metric ?? ':9222', '-m/--metric'),
    api,
    debug: v.debug ?? false,
    restart: v.restart ?? false,
    root,
    durationSeconds,
    verifyEvery: Number(verifyText),
    storeRetentionSeconds,
    fetchTimeoutSeconds,
    upstream: v.upstream ?? '',
    directory: v.directory ?? 'gitopper',
    branch: v.branch ?? 'main',
    mount: v.mount ?? '',
    pull: v.pull ?? false,
    user: v.user ?? false,
    stateDir: v['state-dir'] ?? '/var/lib/gitopper',
    ...(v['tls-cert'] === undefined ? {} : { tlsCert: v['tls-cert'] }),
    ...(v['tls-key'] === undefined ? {} : { tlsKey: v['tls-key'] }),
    insecureHttp,
  };
}

/**
 * Split a listen address `host:port` (`:port` = all interfaces; `[::1]:port` for IPv6) as
 * `src/http/listen-address.ts` does, for flag checks. Throws FlagError with its message.
 */
export function splitAddr(addr: string): { host: string; port: number } {
  try {
    return splitListenAddr(addr);
  } catch (err) {
    throw new FlagError((err as Error).message);
  }
}

function checkAddr(addr: string, flag: string): string {
  try {
    splitAddr(addr);
  } catch (err) {
    throw new FlagError(`${flag}: ${(err as Error).message}`);
  }
  return addr;
}

/**
 * Go's flag package writes booleans as `-o`, `-o=false` or `-o false` is NOT Go syntax but is
 * common; turn all into `--root=VALUE` so parseArgs sees one form.
 */
function normaliseBoolFlag(argv: readonly string[], names: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const name = names.find((n) => a === n || a.startsWith(`${n}=`));
    if (!name) {
      out.push(a);
      continue;
    }
    if (a.includes('=')) out.push(`${names[names.length - 1]}=${a.slice(a.indexOf('=') + 1)}`);
    else if (/^(true|false|1|0|t|f)$/i.test(argv[i + 1] ?? '')) out.push(`${names[names.length - 1]}=${argv[++i]}`);
    else out.push(`${names[names.length - 1]}=true`);
  }
  return out;
}

function parseBool(text: string, flag: string): boolean {
  if (/^(true|1|t|yes)$/i.test(text)) return true;
  if (/^(false|0|f|no)$/i.test(text)) return false;
  throw new FlagError(`${flag} takes true or false, not "${text}"`);
}
