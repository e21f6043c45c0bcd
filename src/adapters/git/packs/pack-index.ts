/**
 * A pack index (`.idx`, version 2) read in place: lookups search the file's own bytes, so no string
 * nor map entry is made per object (isomorphic-git's `GitPackIndex.fromIdx` makes both).
 *
 * Layout (git's Documentation/gitformat-pack.txt, "Version 2 pack-*.idx files"), all integers big-endian:
 *   magic `\377tOc`, version 2                                   8 bytes
 *   fanout: 256 × uint32, entry b = number of names whose first byte ≤ b   1024 bytes
 *   names: N × 20-byte SHA-1, sorted
 *   CRC32s: N × uint32 (of each object's packed bytes; not used here)
 *   offsets: N × uint32; with the high bit set, the low 31 bits index the next table
 *   large offsets: M × uint64 (objects at ≥ 2 GiB in the pack)
 *   pack checksum (SHA-1 of the .pack, its trailer), index checksum (SHA-1 of all the above)
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { PACK_FIX, PackError } from './errors.js';

const MAGIC = 0xff744f63;
const HEADER = 8;
const FANOUT = 256 * 4;
const TRAILER = 40;
const OID = /^[0-9a-fA-F]{40}$/;

/** One 20-byte name to compare with; lookups are synchronous, so one buffer serves them all. */
const key = Buffer.alloc(20);

/** A parsed `.idx` v2 file; see the module doc for the format and its source. */
export class PackIndex {
  /** Number of objects in the pack. */
  readonly count: number;
  /** SHA-1 of the `.pack` file (its trailer) as recorded in the index, 40 lowercase hex digits. */
  readonly packChecksum: string;
  private readonly names: number;
  private readonly offsets32: number;
  private readonly offsets64: number;
  private readonly largeCount: number;
  private sorted: Float64Array | undefined;

  private constructor(private readonly buf: Buffer, private readonly file: string) {
    const n = buf.readUInt32BE(HEADER + FANOUT - 4);
    this.count = n;
    this.names = HEADER + FANOUT;
    this.offsets32 = this.names + 24 * n; // after names (20 n) and CRCs (4 n)
    this.offsets64 = this.offsets32 + 4 * n;
    this.largeCount = (buf.length - TRAILER - this.offsets64) / 8;
    this.packChecksum = buf.toString('hex', buf.length - TRAILER, buf.length - 20);
  }

  /**
   * Parse `buf`, the whole content of the `.idx` file `file` (named in errors only). Checks the magic,
   * the version, that the fanout never decreases, that the tables fit the file exactly and the
   * index's own SHA-1 trailer (so a damaged offset cannot point a read at another object).
   * @throws PackError for anything else than a valid version 2 index
   */
  static parse(buf: Buffer, file: string): PackIndex {
    const bad = (why: string) => new PackError(`pack index ${file} is not a valid version 2 .idx (${why}); ${PACK_FIX}`, { file });
    if (buf.length < HEADER + FANOUT + TRAILER) throw bad(`${buf.length} bytes is too short`);
    if (buf.readUInt32BE(0) !== MAGIC) throw bad('no idx v2 magic');
    if (buf.readUInt32BE(4) !== 2) throw bad(`version ${buf.readUInt32BE(4)}`);
    for (let b = 1, prev = buf.readUInt32BE(HEADER); b < 256; b++) {
      const cur = buf.readUInt32BE(HEADER + 4 * b);
      if (cur < prev) throw bad(`fanout decreases at ${b}`);
      prev = cur;
    }
    const n = buf.readUInt32BE(HEADER + FANOUT - 4);
    const rest = buf.length - (HEADER + FANOUT + 28 * n + TRAILER);
    if (rest < 0 || rest % 8 !== 0) throw bad(`${buf.length} bytes does not fit ${n} objects`);
    const sum = createHash('sha1').update(buf.subarray(0, buf.length - 20)).digest();
    if (!sum.equals(buf.subarray(buf.length - 20))) throw bad('index checksum mismatch');
    return new PackIndex(buf, file);
  }

  /** Read and {@link parse} the `.idx` at `file`. @throws PackError, or the fs error (ENOENT…) */
  static async read(file: string): Promise<PackIndex> {
    return PackIndex.parse(await fs.promises.readFile(file), file);
  }

  /** {@link read}, synchronously (for the pack reader, whose `slice` must be synchronous). */
  static readSync(file: string): PackIndex {
    return PackIndex.parse(fs.readFileSync(file), file);
  }

  /** Size of the parsed `.idx` in bytes (what this object holds in memory, plus {@link endOf}'s table). */
  get bytes(): number {
    return this.buf.length + (this.sorted ? this.sorted.byteLength : 0);
  }

  /** True when the object `oid` (40 hex digits, any case) is in the pack; false for anything else. */
  has(oid: string): boolean {
    return this.position(oid) >= 0;
  }

  /**
   * Byte offset of the object `oid` in the `.pack` (its header's first byte), or undefined when the
   * pack does not hold it. Offsets ≥ 2 GiB come from the large offset table (exact up to 2^53).
   * @throws PackError when a large offset points outside its table
   */
  offsetOf(oid: string): number | undefined {
    const i = this.position(oid);
    return i < 0 ? undefined : this.offsetAt(i);
  }

  /**
   * Where the object starting at byte `offset` of the pack ends (exclusive): the next object's offset,
   * or `packSize − 20` (the pack's SHA-1 trailer) for the last one. Undefined when no object of the
   * index starts at `offset`. The first call sorts all offsets once (8 bytes per object).
   * @param packSize size of the `.pack` file in bytes
   */
  endOf(offset: number, packSize: number): number | undefined {
    const s = (this.sorted ??= this.sortedOffsets());
    let lo = 0;
    let hi = s.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const v = s[mid]!;
      if (v === offset) return mid + 1 < s.length ? s[mid + 1]! : packSize - 20;
      if (v < offset) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  /** Index of `oid` among the sorted names, or −1: a binary search within its fanout bucket. */
  private position(oid: string): number {
    if (!OID.test(oid)) return -1;
    key.write(oid, 'hex');
    const first = key[0]!;
    let lo = first === 0 ? 0 : this.buf.readUInt32BE(HEADER + 4 * (first - 1));
    let hi = this.buf.readUInt32BE(HEADER + 4 * first) - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const at = this.names + 20 * mid;
      const c = this.buf.compare(key, 0, 20, at, at + 20);
      if (c === 0) return mid;
      if (c < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** Offset of the i-th object (in name order). */
  private offsetAt(i: number): number {
    const v = this.buf.readUInt32BE(this.offsets32 + 4 * i);
    if ((v & 0x80000000) === 0) return v;
    const j = v & 0x7fffffff;
    if (j >= this.largeCount) throw new PackError(`pack index ${this.file}: large offset ${j} outside its table of ${this.largeCount}; ${PACK_FIX}`, { file: this.file });
    const at = this.offsets64 + 8 * j;
    return this.buf.readUInt32BE(at) * 2 ** 32 + this.buf.readUInt32BE(at + 4);
  }

  /** Every object's offset, ascending. */
  private sortedOffsets(): Float64Array {
    const s = new Float64Array(this.count);
    for (let i = 0; i < this.count; i++) s[i] = this.offsetAt(i);
    return s.sort();
  }
}
