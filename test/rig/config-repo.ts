/**
 * Test rig: the "gitopper-config" repository, generated. A bare repository whose `main` holds a small
 * but realistic history of host configuration, written for gitopper's tests (no third-party content):
 *
 * - 24 commits on `main` (23 with one parent, one merge of a side line), fixed author, committer and
 *   dates, so every run, on every machine, gives the same commit ids;
 * - services in top-level directories: `grafana/etc` + `grafana/dashboards` (the links of the
 *   `grafana-server` service in the repository's own `gitopper/config.toml`), `prometheus/etc`,
 *   `docker-compose/caddy/docker-compose.yml` (a single file, for a template unit);
 * - `gitopper/config.toml` (a valid gitopper config, listing `keys/ops_ed25519.pub`) and
 *   `gitopper/keys/ops_ed25519.pub` (an OpenSSH ed25519 public key): the self-bootstrap directory;
 * - `grafana/etc/grafana.ini` changed by many commits (lines added and removed again, so older
 *   commits are real rollback targets), `crapdir/crap.md` (a stray directory no service links),
 *   a rename (`config.toml` → `gitopper/config.toml`), an empty commit and a `README.md`.
 *
 * It is written by one `git fast-import` (four git processes in all, 0.1–0.2 s on a busy 2-core
 * machine: as fast as cloning a bundle), so tests may make a fresh one per test instead of sharing one.
 */
import { git, GIT_ENV } from './repo.js';

/** Number of commits reachable from `main` in a repository made by {@link makeConfigRepo}. */
export const CONFIG_REPO_COMMITS = 24;

/** Host name (`machine`) of the `grafana-server` service in the repository's `gitopper/config.toml`. */
export const CONFIG_REPO_GRAFANA_HOST = 'grafana.example.net';

/** Author and committer of every generated commit: the rig's identity. */
const WHO = `${GIT_ENV.GIT_AUTHOR_NAME} <${GIT_ENV.GIT_AUTHOR_EMAIL}>`;
/** Time of the first commit: 2024-03-04 09:00:00 UTC, in seconds since the epoch. */
const START = Date.UTC(2024, 2, 4, 9, 0, 0) / 1000;
/** Seconds between two consecutive commits (5 h 17 min). */
const STEP = 5 * 3600 + 17 * 60;

/** One commit of the generated history. */
interface Step {
  /** The commit message (one line). */
  readonly subject: string;
  /** Files written (path → full content). */
  readonly write?: Readonly<Record<string, string>>;
  /** A file moved unchanged (`[from, to]`): git sees a rename. */
  readonly rename?: readonly [string, string];
  /** Index (in {@link HISTORY}) of the first parent; default: the step before. */
  readonly from?: number;
  /** Index of a second parent: the tree is the three-way merge of both parents' trees, then this step's changes. */
  readonly merge?: number;
}

const INI = '[server]\nhttp_port = 3000\n';
const CRAP = 'Scratch notes. No service links crapdir/, so a change here must not reload anything.\n';
const PROM = `global:
  scrape_interval: 15s
  evaluation_interval: 15s

scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ['127.0.0.1:9090']
`;
const PROM_GITOPPER = `${PROM}
  - job_name: gitopper
    static_configs:
      - targets: ['127.0.0.1:9222']
`;
const GRAFANA_SERVICE = `
[[services]]
machine = "${CONFIG_REPO_GRAFANA_HOST}"
service = "grafana-server"   # the systemd unit
user = "grafana"
package = "grafana"
action = "reload"
dirs = [
    { local = "/etc/grafana", link = "grafana/etc" },
    { local = "/var/lib/grafana/dashboards", link = "grafana/dashboards" },
]
`;
const GLOBAL = `[global]
upstream = "https://git.example.net/ops/gitopper-config.git"
mount = "/var/lib/gitopper"   # checkouts go to <mount>/<service>
`;
const KEYS = `keys = [
    { path = "keys/ops_ed25519.pub" },
]
`;
const CONFIG_V1 = `# Read by gitopper on every host; a host manages the services whose machine is its name.\n${GLOBAL}${GRAFANA_SERVICE}`;
const CONFIG_V2 = `# Read by gitopper on every host; a host manages the services whose machine is its name.\n${GLOBAL}${KEYS}${GRAFANA_SERVICE}`;
const CONFIG_V3 = `# gitopper's own config, checked out by every host (-U … -D gitopper).
# A host manages the services whose machine is its name.
${GLOBAL}${KEYS}${GRAFANA_SERVICE}`;
const CONFIG_V4 = CONFIG_V3.replace('action = "reload"\n', 'action = "restart"           # grafana does not reload its ini\nbranch = "main"\nmount = "/srv/grafana"       # its checkout lives apart\n');

/** The history, oldest first. Indices are used by `from` / `merge`. */
const HISTORY: readonly Step[] = [
  /* 0 */ { subject: 'README: what lives here', write: { 'README.md': '# gitopper-config\n\nConfiguration of a few hosts, deployed by gitopper: one top-level directory per service.\n' } },
  /* 1 */ { subject: 'grafana: server settings and a first dashboard', write: { 'grafana/etc/grafana.ini': INI, 'grafana/dashboards/dash.json': '{\n  "title": "Host overview",\n  "panels": []\n}\n' } },
  /* 2 */ { subject: 'crapdir: scratch notes', write: { 'crapdir/crap.md': CRAP } },
  /* 3 */ { subject: 'crapdir: another note', write: { 'crapdir/crap.md': `${CRAP}- try a second dashboard\n` } },
  /* 4 */ { subject: 'grafana: log to the console', write: { 'grafana/etc/grafana.ini': `${INI}\n[log]\nmode = console\n` } },
  /* 5 */ { subject: 'grafana: default logging again', write: { 'grafana/etc/grafana.ini': INI } },
  /* 6 */ { subject: 'grafana: no anonymous access', write: { 'grafana/etc/grafana.ini': `${INI}\n[auth.anonymous]\nenabled = false\n` } },
  /* 7 */ { subject: 'grafana: anonymous access is off by default anyway', write: { 'grafana/etc/grafana.ini': INI } },
  /* 8 */ { subject: 'grafana: a domain name', write: { 'grafana/etc/grafana.ini': `${INI}domain = ${CONFIG_REPO_GRAFANA_HOST}\n` } },
  /* 9 */ { subject: 'crapdir: retention question', write: { 'crapdir/crap.md': `${CRAP}- try a second dashboard\n- ask about prometheus retention\n` } },
  /* 10 */ { subject: 'grafana: no domain after all', write: { 'grafana/etc/grafana.ini': INI } },
  /* 11 */ { subject: 'grafana: root url', write: { 'grafana/etc/grafana.ini': `${INI}root_url = https://${CONFIG_REPO_GRAFANA_HOST}/\n` } },
  /* 12 */ { subject: 'crapdir: one more note', write: { 'crapdir/crap.md': `${CRAP}- try a second dashboard\n- ask about prometheus retention\n- tidy this file up\n` } },
  /* 13 */ { subject: 'gitopper: a config for the hosts', write: { 'config.toml': CONFIG_V1 } },
  /* 14 */ { subject: 'gitopper: move the config into gitopper/', rename: ['config.toml', 'gitopper/config.toml'] },
  /* 15 */ { subject: 'keys: the ops key follows in the next commit' },
  /* 16 */ { subject: 'gitopper: the ops key, listed in the config', write: { 'gitopper/config.toml': CONFIG_V2, 'gitopper/keys/ops_ed25519.pub': 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHRCOmsSn/uAv7diIASs8Imw89KqDLNLe4ZXXECX7Rk2 ops@config.example.net\n' } },
  /* 17 */ { subject: 'gitopper: say how hosts get this config', write: { 'gitopper/config.toml': CONFIG_V3 } },
  /* 18 */ { subject: 'prometheus: scrape itself', write: { 'prometheus/etc/prometheus.yml': PROM } },
  /* 19 */ { subject: "prometheus: scrape gitopper's metrics too", write: { 'prometheus/etc/prometheus.yml': PROM_GITOPPER } },
  /* 20 */ { subject: 'gitopper: grafana-server restarts and keeps its checkout apart', write: { 'gitopper/config.toml': CONFIG_V4 } },
  /* 21 */ { subject: 'docker-compose: a caddy stack', from: 20, write: { 'docker-compose/caddy/docker-compose.yml': '# caddy in front of grafana (docker-compose@caddy.service)\nservices:\n  caddy:\n    image: caddy:2\n' } },
  /* 22 */ { subject: 'prometheus: say who manages this file', from: 20, write: { 'prometheus/etc/prometheus.yml': `# Deployed by gitopper from gitopper-config; edits made on the host are reverted.\n${PROM_GITOPPER}` } },
  /* 23 */ { subject: "Merge branch 'caddy'", from: 22, merge: 21 },
];

/** `data` command of a fast-import stream: byte count, then the bytes. */
function data(text: string): string {
  return `data ${Buffer.byteLength(text)}\n${text}\n`;
}

/**
 * The `git fast-import` stream of {@link HISTORY}: every commit lists its whole tree (`deleteall`
 * then one inline `M` per file), so trees are exactly the computed states and git finds renames itself.
 * A merge's tree is the three-way merge of its parents' trees over their newest common ancestor.
 * Throws when a step is inconsistent (renaming a missing file, a merge whose parents both changed a
 * file differently).
 */
function fastImportStream(): string {
  const trees: Map<string, string>[] = [];
  /** Per step: the indices of itself and every ancestor. */
  const ancestors: Set<number>[] = [];
  let out = '';
  HISTORY.forEach((step, i) => {
    const from = step.from ?? i - 1;
    const tree = new Map(from >= 0 ? trees[from] : []);
    if (step.merge !== undefined) {
      // three-way: the newest common ancestor is the base (indices are in topological order)
      const base = trees[Math.max(...[...ancestors[from]!].filter((a) => ancestors[step.merge!]!.has(a)))]!;
      const theirs = trees[step.merge]!;
      for (const p of new Set([...tree.keys(), ...theirs.keys()])) {
        const [b, o, t] = [base.get(p), tree.get(p), theirs.get(p)];
        if (o === t || t === b) continue;
        if (o !== b) throw new Error(`config-repo: merge step ${i} conflicts on ${p}`);
        if (t === undefined) tree.delete(p);
        else tree.set(p, t);
      }
    }
    if (step.rename) {
      const [a, b] = step.rename;
      const content = tree.get(a);
      if (content === undefined) throw new Error(`config-repo: step ${i} renames missing ${a}`);
      tree.delete(a);
      tree.set(b, content);
    }
    for (const [p, content] of Object.entries(step.write ?? {})) tree.set(p, content);
    trees.push(tree);
    ancestors.push(new Set([i, ...(from >= 0 ? ancestors[from]! : []), ...(step.merge !== undefined ? ancestors[step.merge]! : [])]));
    const when = `${START + i * STEP} +0000`;
    out += `commit refs/heads/main\nmark :${i + 1}\nauthor ${WHO} ${when}\ncommitter ${WHO} ${when}\n${data(step.subject + '\n')}`;
    if (from >= 0) out += `from :${from + 1}\n`;
    if (step.merge !== undefined) out += `merge :${step.merge + 1}\n`;
    out += 'deleteall\n';
    for (const p of [...tree.keys()].sort()) out += `M 100644 inline ${p}\n${data(tree.get(p)!)}`;
    out += '\n';
  });
  return out;
}

/**
 * Makes a bare repository at `dest` (must not exist, or be an empty directory) holding the generated
 * gitopper-config history on `main` (see the module comment) in one pack, with `HEAD` → `main`, no
 * remote, `http.receivepack` on (the rig's HTTP server then accepts pushes) and `uploadpack.allowFilter` on (partial fetches, as GitHub serves them). Every call gives the same commit ids.
 * Resolves with the sha of the tip of `main`; rejects with the rig's `GitError` when git fails.
 */
export async function makeConfigRepo(dest: string): Promise<string> {
  await git(['init', '--quiet', '--bare', '--initial-branch=main', dest]);
  await git(['config', 'http.receivepack', 'true'], { cwd: dest });
  // as GitHub and GitLab: `filter` is served, so the agent's fetches are partial (`--filter=blob:none`)
  await git(['config', 'uploadpack.allowFilter', 'true'], { cwd: dest });
  // unpackLimit 0: the objects stay in one pack (not loose), as a clone from a server leaves them
  await git(['-c', 'fastimport.unpackLimit=0', 'fast-import', '--quiet', '--date-format=raw'], { cwd: dest, input: fastImportStream() });
  return (await git(['rev-parse', 'refs/heads/main'], { cwd: dest })).trim();
}
