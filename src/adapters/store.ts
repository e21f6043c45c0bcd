/**
 * StateStore as a JSON file (`<state-dir>/state.json`), written atomically: temp file in the same
 * directory, fsync, rename, fsync of the directory (so a crash or power loss leaves the old or
 * the new file, never a torn one). A corrupt or unreadable file is kept aside as
 * `state.json.corrupt-<unix ms>` and reported; it is never silently reset or overwritten.
 */
import { open, readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import type { PersistedState, StateStore } from '../ports.js';

/** File-backed {@link StateStore}. */
export class FileStateStore implements StateStore {
  /**
   * @param file absolute path of the state file
   * @param onNotice told about a corrupt file and where it was kept
   */
  constructor(readonly file: string, private readonly onNotice: (msg: string, data: object) => void = () => {}) {}

  async load(): Promise<PersistedState | undefined> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    try {
      const parsed = JSON.parse(text) as PersistedState;
      if (parsed?.version !== 1 || typeof parsed.services !== 'object' || parsed.services === null) throw new Error('not a gitopper state file (version 1)');
      return parsed;
    } catch (err) {
      const aside = `${this.file}.corrupt-${Date.now()}`;
      await rename(this.file, aside);
      this.onNotice('state file is corrupt: kept aside, starting without saved freezes and history', { file: this.file, keptAt: aside, err: (err as Error).message });
      return undefined;
    }
  }

  async save(state: PersistedState): Promise<void> {
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
