/**
 * A pack received from the upstream, written into a store's `objects/pack` without holding it whole
 * in memory while it arrives: streamed to a temporary directory `objects/pack/.incoming-<pid>-<n>/`
 * while its SHA-1 is computed, the trailer checked (git's Documentation/gitformat-pack.txt: header
 * `PACK`, version 2 or 3, object count; the last 20 bytes are the SHA-1 of everything before), then
 * indexed with isomorphic-git's `indexPack` (which reads the pack whole: filtered packs and blob
 * batches are small) and moved into place: `pack-<sha>.promisor` (git's format: one `<oid> <ref>`
 * line per ref fetched, empty for a lazy fetch of objects), then the `.pack`, then the `.idx`, each by
 * rename, as `atomicPackFs` in `../fetch.ts` does (readers list `*.idx`: a killed write leaves no
 * index pointing at a partial pack). A pack of 0 objects is checked and dropped.
 */
import { createHash, type Hash } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, writeFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import git from 'isomorphic-git';
import { isoFs } from '../iso-fs.js';

let seq = 0;

/** What {@link PackWriter.finish} installed. */
export interface InstalledPack {
  /** `pack-<sha>` (without extension), or undefined for an empty pack (nothing installed). */
  readonly name: string | undefined;
  /** Object ids the pack holds. */
  readonly oids: readonly string[];
  /** Size of the pack file, bytes. */
  readonly bytes: number;
}

/** One incoming pack of a store; {@link write} its data in order, then {@link finish} or {@link abort}. */
export class PackWriter {
  private readonly hash: Hash = createHash('sha1');
  private tail: Buffer = Buffer.alloc(0);
  private head: Buffer = Buffer.alloc(0);
  private bytes = 0;

  private constructor(private readonly gitdir: string, private readonly tmp: string, private readonly file: FileHandle) {}

  /** Start a pack for the store `gitdir` (its `objects/pack` is made when missing). */
  static async open(gitdir: string): Promise<PackWriter> {
    const packDir = path.join(gitdir, 'objects', 'pack');
    await mkdir(packDir, { recursive: true });
    await removeStale(packDir);
    const tmp = path.join(packDir, `.incoming-${process.pid}-${++seq}`);
    await mkdir(tmp, { recursive: true });
    return new PackWriter(gitdir, tmp, await open(path.join(tmp, 'incoming'), 'w', 0o444));
  }

  /** Append pack data (a `PackSink`). */
  write = async (chunk: Buffer): Promise<void> => {
    if (this.head.length < 12) this.head = Buffer.concat([this.head, chunk.subarray(0, 12 - this.head.length)]);
    // everything but the last 20 bytes goes into the checksum
    const all = this.tail.length === 0 ? chunk : Buffer.concat([this.tail, chunk]);
    const cut = Math.max(0, all.length - 20);
    if (cut > 0) this.hash.update(all.subarray(0, cut));
    this.tail = Buffer.from(all.subarray(cut));
    this.bytes += chunk.length;
    await this.file.write(chunk);
  };

  /**
   * Check the pack and install it with its index and a `.promisor` file holding `promisor`.
   * @throws Error when the pack is truncated, not a pack, or its checksum does not match
   */
  async finish(promisor: string): Promise<InstalledPack> {
    try {
      await this.file.close();
      if (this.head.length < 12 || this.head.toString('latin1', 0, 4) !== 'PACK' || this.tail.length < 20) throw new Error(`the upstream sent no valid pack (${this.bytes} bytes)`);
      const version = this.head.readUInt32BE(4);
      if (version !== 2 && version !== 3) throw new Error(`the upstream sent a pack of unknown version ${version}`);
      const sha = this.hash.digest('hex');
      if (sha !== this.tail.toString('hex')) throw new Error(`the upstream sent a corrupt pack (checksum ${this.tail.toString('hex')}, computed ${sha})`);
      if (this.head.readUInt32BE(8) === 0) return { name: undefined, oids: [], bytes: this.bytes };
      const name = `pack-${sha}`;
      await rename(path.join(this.tmp, 'incoming'), path.join(this.tmp, `${name}.pack`));
      const { oids } = await git.indexPack({ fs: isoFs, dir: this.tmp, gitdir: this.gitdir, filepath: `${name}.pack`, cache: {} });
      const packDir = path.dirname(this.tmp);
      await writeFile(path.join(packDir, `${name}.promisor`), promisor, { mode: 0o444 });
      await rename(path.join(this.tmp, `${name}.pack`), path.join(packDir, `${name}.pack`));
      await rename(path.join(this.tmp, `${name}.idx`), path.join(packDir, `${name}.idx`));
      return { name, oids, bytes: this.bytes };
    } finally {
      await rm(this.tmp, { recursive: true, force: true });
    }
  }

  /** Drop what was received. Never throws. */
  async abort(): Promise<void> {
    await this.file.close().catch(() => undefined);
    await rm(this.tmp, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** Remove `.incoming-<pid>-<n>` directories of processes that no longer run (a fetch killed mid-way). Never throws. */
async function removeStale(packDir: string): Promise<void> {
  for (const name of await readdir(packDir).catch(() => [] as string[])) {
    const pid = Number(/^\.incoming-(\d+)-\d+$/.exec(name)?.[1]);
    if (!Number.isInteger(pid) || pid === process.pid || alive(pid)) continue;
    await rm(path.join(packDir, name), { recursive: true, force: true }).catch(() => undefined);
  }
}

/** True when a process `pid` runs (or exists under another user: EPERM). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
