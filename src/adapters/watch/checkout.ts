/**
 * Watches services' checked-out link paths with chokidar so local edits (drift) are noticed at
 * once, not only at the next poll. Edits made through a bind-mount target are seen too (same
 * inode). The agent's own checkouts fire events as well; the drift check that follows finds
 * nothing and changes nothing.
 */
import { watch, type FSWatcher } from 'chokidar';

/** One service's watched paths (absolute). */
export interface WatchEntry {
  readonly service: string;
  readonly paths: readonly string[];
}

/** Watches the checkouts of all services; calls `onChange(service)` debounced per service. */
export class CheckoutWatcher {
  private watcher: FSWatcher | undefined;
  private owners = new Map<string, string>();
  private readonly timers = new Map<string, NodeJS.Timeout>();

  /**
   * @param onChange called at most once per `debounceMs` (default 500 ms) quiet period per service
   * @param onError told about watcher errors
   */
  constructor(private readonly onChange: (service: string) => void, private readonly onError: (err: unknown) => void, private readonly debounceMs = 500) {}

  /**
   * Watch exactly these entries from now on (paths no longer listed are unwatched). The first call
   * resolves once the initial scan is done (edits from then on are seen); later calls at once.
   */
  set(entries: readonly WatchEntry[]): Promise<void> {
    const next = new Map<string, string>();
    for (const e of entries) for (const p of e.paths) next.set(p, e.service);
    const gone = [...this.owners.keys()].filter((p) => !next.has(p));
    const added = [...next.keys()].filter((p) => !this.owners.has(p));
    this.owners = next;
    if (!this.watcher) {
      const w = watch(added, { ignoreInitial: true, ignored: (p) => p.split('/').includes('.git') });
      this.watcher = w;
      w.on('all', (_event, p) => this.fire(p)).on('error', this.onError);
      return new Promise((resolve) => w.once('ready', () => resolve()));
    }
    if (gone.length > 0) this.watcher.unwatch(gone);
    if (added.length > 0) this.watcher.add(added);
    return Promise.resolve();
  }

  /** Stop watching. */
  async close(): Promise<void> {
    for (const t of this.timers.values()) clearTimeout(t);
    await this.watcher?.close();
  }

  private fire(p: string): void {
    let service: string | undefined;
    let best = -1;
    for (const [root, owner] of this.owners) {
      if ((p === root || p.startsWith(`${root}/`)) && root.length > best) {
        service = owner;
        best = root.length;
      }
    }
    if (service === undefined) return;
    const s = service;
    clearTimeout(this.timers.get(s));
    this.timers.set(s, setTimeout(() => {
      this.timers.delete(s);
      this.onChange(s);
    }, this.debounceMs));
  }
}
