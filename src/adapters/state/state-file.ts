/**
 * StateStore as a JSON file (`<state-dir>/state.json`, mode 0600), written atomically: temp file
 * in the same directory, fsync, rename, fsync of the directory (so a crash or power loss leaves the
 * old or the new file, never a torn one, and a save that returned is on disk). Not with
 * `write-file-atomic`: it hooks SIGTERM/SIGINT/SIGHUP (signal-exit) while a write is in progress and
 * re-raises the signal after the daemon's own handler ran, so a stop during a save killed the daemon
 * by the signal instead of the clean stop with exit 0 (or 2 after SIGHUP) of docs/daemon.md; nor
 * does it fsync the directory. A corrupt or unreadable file — one that does not parse, or whose
 * fields do not have the shapes of {@link PersistedState} (a wrong type, a date that does not parse)
 * — is kept aside as `state.json.corrupt-<unix ms>` and reported; it is never silently reset or
 * overwritten.
 *
 * A save that fails (read-only or full file system) throws to the caller, which logs it, and the
 * store keeps trying to write the last state it was given every {@link FileStateStoreOptions.retryMs}
 * (`p-retry`, a constant delay) until a write succeeds or a newer save replaces it: a freeze made
 * while the directory was read-only is on disk once it is writable again, without waiting for the
 * next change.
 */
import { open, readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pRetry from 'p-retry';
import type { PersistedState, StateStore } from '../../ports/state-store.js';

/** Options of {@link FileStateStore}. */
export interface FileStateStoreOptions {
  /** Milliseconds between tries to write the last state after a failed save (default 5000). */
  readonly retryMs?: number;
  /** Told after every write of the file (saves and retries) whether it succeeded; must not throw. */
  readonly onWrite?: (ok: boolean) => void;
}

/** File-backed {@link StateStore}. */
export class FileStateStore implements StateStore {
  private readonly retryMs: number;
  private readonly onWrite: (ok: boolean) => void;
  /** Every write of the file, one after the other (the temp file name is per process). */
  private writing: Promise<void> = Promise.resolve();
  /** Stops the background retries of an older state when a newer save comes. */
  private retrying: AbortController | undefined;
  /** Writes that failed since the last one that succeeded. */
  private failures = 0;

  /**
   * @param file absolute path of the state file
   * @param onNotice told about a corrupt file and where it was kept, and when a save succeeds again
   *   after failures (`failures`: how many writes failed meanwhile)
   * @param options see {@link FileStateStoreOptions}
   */
  constructor(readonly file: string, private readonly onNotice: (msg: string, data: object) => void = () => {}, options: FileStateStoreOptions = {}) {
    this.retryMs = options.retryMs ?? 5000;
    this.onWrite = options.onWrite ?? (() => {});
  }

  /** The saved state; undefined when there is no file, or when it was corrupt (then kept aside, see the file comment). */
  async load(): Promise<PersistedState | undefined> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    try {
      return checkState(JSON.parse(text));
    } catch (err) {
      const aside = `${this.file}.corrupt-${Date.now()}`;
      await rename(this.file, aside);
      this.onNotice('state file is corrupt: kept aside, starting without saved freezes and history', { file: this.file, keptAt: aside, err: (err as Error).message });
      return undefined;
    }
  }

  /** Write `state` (see the file comment); on failure throws fs's error and keeps retrying in the background. */
  async save(state: PersistedState): Promise<void> {
    this.retrying?.abort();
    this.retrying = undefined;
    try {
      await this.write(state);
    } catch (err) {
      this.retryLater(state);
      throw err;
    }
  }

  /**
   * Write `state` again every {@link retryMs} (the first time {@link retryMs} after the failed save)
   * until a write succeeds or a newer save aborts it; the timers do not keep the process alive.
   */
  private retryLater(state: PersistedState): void {
    const stop = new AbortController();
    this.retrying = stop;
    const every = { signal: stop.signal, ref: false };
    void sleep(this.retryMs, undefined, every)
      .then(() => pRetry(() => this.write(state), { retries: Infinity, factor: 1, minTimeout: this.retryMs, unref: true, signal: stop.signal }))
      .catch(() => undefined); // stopped by a newer save (which retries itself if it fails)
  }

  /** One atomic write, after any write in progress. */
  private write(state: PersistedState): Promise<void> {
    const next = this.writing.then(async () => {
      try {
        await this.writeNow(state);
      } catch (err) {
        this.failures++;
        this.onWrite(false);
        throw err;
      }
      this.onWrite(true);
      if (this.failures > 0) {
        this.onNotice('state file saved again', { file: this.file, failures: this.failures });
        this.failures = 0;
      }
    });
    this.writing = next.catch(() => undefined);
    return next;
  }

  /** The file replaced: temp file (per process), fsync, rename, fsync of the directory. */
  private async writeNow(state: PersistedState): Promise<void> {
    const dir = path.dirname(this.file);
    const tmp = `${this.file}.tmp-${process.pid}`;
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(`${JSON.stringify(state, null, 1)}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.file);
    const dh = await open(dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  }
}

/**
 * `value` as a {@link PersistedState}, checked field by field (types, and that every date parses).
 * @throws Error naming the first field that is wrong, e.g. `services["grafana"].history is not an array`
 */
export function checkState(value: unknown): PersistedState {
  const bad = (where: string, what: string): never => {
    throw new Error(`${where} ${what}`);
  };
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const str = (o: Record<string, unknown>, k: string, where: string, optional = false) => {
    if (optional && o[k] === undefined) return;
    if (typeof o[k] !== 'string') bad(`${where}.${k}`, 'is not a string');
  };
  const date = (o: Record<string, unknown>, k: string, where: string) => {
    str(o, k, where);
    if (Number.isNaN(new Date(o[k] as string).getTime())) bad(`${where}.${k}`, 'is not a date');
  };
  if (!isObj(value) || value.version !== 1 || !isObj(value.services)) return bad('the file', 'is not a gitopper state file (version 1)');
  for (const [name, s] of Object.entries(value.services)) {
    const at = `services[${JSON.stringify(name)}]`;
    if (!isObj(s)) bad(at, 'is not an object');
    const svc = s as Record<string, unknown>;
    for (const k of ['state', 'info', 'since', 'commit']) str(svc, k, at);
    str(svc, 'lastGood', at, true);
    if (svc.frozen !== undefined && svc.frozen !== null) {
      if (!isObj(svc.frozen)) bad(`${at}.frozen`, 'is not an object');
      const f = svc.frozen as Record<string, unknown>;
      str(f, 'by', `${at}.frozen`);
      date(f, 'at', `${at}.frozen`);
      str(f, 'reason', `${at}.frozen`);
      str(f, 'rollback', `${at}.frozen`, true);
      if (f.auto !== undefined) {
        const a = f.auto;
        if (!isObj(a) || (a.mode !== 'freeze' && a.mode !== 'retry-next-commit') || typeof a.bad !== 'string') bad(`${at}.frozen.auto`, 'is not {mode: "freeze"|"retry-next-commit", bad: string}');
      }
    }
    if (!Array.isArray(svc.history)) bad(`${at}.history`, 'is not an array');
    (svc.history as unknown[]).forEach((h, i) => {
      const row = `${at}.history[${i}]`;
      if (!isObj(h)) bad(row, 'is not an object');
      const r = h as Record<string, unknown>;
      for (const k of ['commit', 'trigger', 'state', 'info']) str(r, k, row);
      date(r, 'time', row);
      if (typeof r.seconds !== 'number') bad(`${row}.seconds`, 'is not a number');
      str(r, 'by', row, true);
    });
  }
  return value as unknown as PersistedState;
}
