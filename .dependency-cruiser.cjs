/**
 * The layers of gitopper's source, as import rules (docs/architecture.md draws them):
 *
 *   cmd → daemon → http, ctl, telemetry → core → config, ports ← adapters
 *   api (the REST contract) and upstream (the upstream model) are leaves anyone above may use;
 *   errors (the one error base and its catalogue of codes) is the leaf below them all: every layer may use it.
 *
 * A folder never imports one above it; the core imports no I/O library. Checked by
 * test/architecture.test.ts (part of `npm test`); by hand: `npx depcruise src cmd`.
 * Rule format: dependency-cruiser's "forbidden" rules (its doc: rules-reference.md).
 */

/** A path pattern for src/<folder>/, one of `names`. */
const src = (...names) => `^src/(${names.join('|')})/`;

/** Node built-ins and npm packages that do I/O: never imported by the core. */
const IO = [
  '^(node:)?(fs|fs/promises|child_process|net|http|https|http2|tls|dgram|dns|os|cluster|worker_threads|stream|readline|process)$',
  '^(isomorphic-git|dbus-next|express|chokidar|pino|pino-pretty|prom-client|ssh2|selfsigned|cli-table3|write-file-atomic|p-retry)(/|$)',
];

/** One forbidden rule: modules matching `from` must not import modules matching `to`. */
const never = (name, comment, from, to) => ({ name, comment, severity: 'error', from: { path: from }, to: { path: to } });

module.exports = {
  forbidden: [
    { name: 'no-circular', comment: 'Modules that import each other in a loop.', severity: 'error', from: {}, to: { circular: true } },
    never('src-not-cmd', 'cmd/ is the top: only entry points (argv, signals, exit codes) live there.', '^src/', '^cmd/'),
    never('daemon-down-only', 'The composition root is imported by cmd/ alone.', src('core', 'config', 'ports', 'adapters', 'http', 'ctl', 'telemetry', 'api', 'upstream', 'errors'), src('daemon')),
    never('http-ctl-telemetry-not-each-other', 'The server, the client and telemetry are siblings: none imports another.', src('http'), src('ctl', 'telemetry')),
    never('ctl-is-a-client', 'The client knows the REST contract (api/), not the daemon.', src('ctl'), src('http', 'telemetry', 'core', 'adapters', 'ports', 'config')),
    never('telemetry-not-servers', 'Telemetry observes the core; it serves nothing.', src('telemetry'), src('http', 'ctl')),
    never('core-not-above', 'The core imports no layer above it.', src('core'), src('http', 'ctl', 'telemetry', 'adapters')),
    { ...never('core-no-io', 'The core does no I/O: it talks to git, mounts, systemd and clocks through src/ports/.', src('core'), IO[0]), to: { dependencyTypes: ['core'], path: IO[0] } },
    never('core-no-io-packages', 'The core does no I/O: no git, D-Bus, HTTP, watcher, log or metrics library.', src('core'), IO[1]),
    never('adapters-below-core', 'Adapters implement ports; they import no core, server, client or telemetry code.', '^src/adapters/', src('core', 'http', 'ctl', 'telemetry')),
    never('config-is-pure', 'Config parsing imports only itself, the upstream model, the error base and its TOML parser.', src('config'), '^src/(?!config/|upstream/|errors/)'),
    never('config-no-io', 'Config parsing does no I/O but reading the file (config/file.ts).', '^src/config/(?!file\\.ts$)', IO[0]),
    never('ports-are-interfaces', 'Ports import only config types and each other.', '^src/ports', '^src/(?!ports|config/|upstream/|errors/)'),
    never('leaves-are-leaves', 'The REST contract and the upstream model import nothing of ours but the error base.', src('api', 'upstream'), '^src/(?!api/|upstream/|errors/)'),
    never('errors-import-nothing', 'The error base and its catalogue import nothing of ours: every layer may import them.', src('errors'), '^src/(?!errors/)'),
    never('errors-no-io', 'The error base does no I/O.', src('errors'), IO[0]),
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|test|bench)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
