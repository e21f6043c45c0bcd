/**
 * The keys allowed to use the API: the OpenSSH public keys in the authorized_keys-format files of
 * `[global].keys` (each `{ path, ro }`), looked up by fingerprint. Like sshd's authorized_keys,
 * the files are read again when they change (checked at most once a second, on use), so adding or
 * revoking a key needs no restart. The list of files is not read here: the daemon pushes the one
 * of each config it accepts into a {@link KeyList} (a refused config keeps the last good list).
 */
import { readFile, stat } from 'node:fs/promises';
import type { KeyObject } from 'node:crypto';
import type { KeySpec } from '../config/config.js';
import { parseAuthorizedKeys, type SigAlg } from '../api/keys.js';

/** Who a verified key is. */
export interface Principal {
  /** `SHA256:…` */
  readonly fingerprint: string;
  /** The comment of the key's line in the key file ("" when none). */
  readonly comment: string;
  /** Read-only: listed only with `ro = true`. */
  readonly ro: boolean;
  readonly algs: readonly SigAlg[];
  readonly key: KeyObject;
  /** What history and logs record: `"<fingerprint> <comment>"` (just the fingerprint without a comment). */
  readonly by: string;
}

/** Where the key list comes from: asked at each (at most once a second) check. */
export interface KeySource {
  /** The `[global].keys` entries in force now (absolute paths). Must not throw. */
  current(): readonly KeySpec[];
}

/** A fixed key list (tests). */
export function fixedKeys(specs: readonly KeySpec[]): KeySource {
  return { current: () => specs };
}

/**
 * The key list the daemon pushes: `[global].keys` of the config it accepted last. A key ring
 * over it takes a new list at its next check (on use, at most once a second).
 */
export class KeyList implements KeySource {
  /** @param specs the key list of the config accepted at start */
  constructor(private specs: readonly KeySpec[]) {}

  /** The list last {@link set}. */
  current(): readonly KeySpec[] {
    return this.specs;
  }

  /** Take the key list of a newly accepted config. */
  set(specs: readonly KeySpec[]): void {
    this.specs = specs;
  }
}

/** What the key ring tells its owner (to be logged). */
export type KeyRingNotice = (msg: string, data: Record<string, unknown>) => void;

const stamp = (p: string) => stat(p).then((s) => `${s.ino}:${s.size}:${s.mtimeMs}`, () => 'absent');

/** The keys of a {@link KeySource}, indexed by fingerprint. */
export class KeyRing {
  private byFingerprint = new Map<string, Principal>();
  private stamps = '';
  private checked = -Infinity;
  private loading: Promise<void> | undefined;

  /**
   * @param source the key list, asked at each check
   * @param notice told about unreadable files, refused lines, duplicate keys and reloads
   * @param now the clock for the once-a-second check (ms)
   */
  constructor(private readonly source: KeySource, private readonly notice: KeyRingNotice = () => {}, private readonly now: () => number = Date.now) {}

  /** The principal of `fingerprint`, or undefined for a key not listed. Never throws. */
  async lookup(fingerprint: string): Promise<Principal | undefined> {
    await this.refresh();
    return this.byFingerprint.get(fingerprint);
  }

  /** Every usable key, for `size` checks and startup logs. */
  async all(): Promise<Principal[]> {
    await this.refresh();
    return [...this.byFingerprint.values()];
  }

  /** Reload when the key list or a key file changed (checked at most once a second unless `force`). Never throws. */
  async refresh(force = false): Promise<void> {
    if (!force && this.now() - this.checked < 1000) return;
    this.checked = this.now();
    this.loading ??= this.reload().finally(() => (this.loading = undefined));
    await this.loading;
  }

  private async reload(): Promise<void> {
    const specs = this.source.current();
    const keyStamps = (await Promise.all(specs.map((s) => stamp(s.path)))).join(',');
    const all = `${specs.map((s) => `${s.path}:${s.ro}`).join(',')}|${keyStamps}`;
    if (all === this.stamps) return;
    this.stamps = all;
    this.byFingerprint = await this.load(specs);
    this.notice('keys loaded', { keys: [...this.byFingerprint.values()].map((p) => ({ fingerprint: p.fingerprint, comment: p.comment, ro: p.ro })) });
  }

  private async load(specs: readonly KeySpec[]): Promise<Map<string, Principal>> {
    const out = new Map<string, Principal>();
    for (const spec of specs) {
      let text: string;
      try {
        text = await readFile(spec.path, 'utf8');
      } catch (err) {
        this.notice('cannot read key file: its keys are not allowed in', { file: spec.path, err: (err as Error).message });
        continue;
      }
      const { keys, problems } = parseAuthorizedKeys(text);
      for (const p of problems) this.notice('key refused', { file: spec.path, line: p.line, problem: p.problem });
      for (const k of keys) {
        const seen = out.get(k.fingerprint);
        // listed twice: read-only wins (the stricter listing), the first comment stays
        if (seen && seen.ro !== spec.ro) this.notice('key listed both read-only and read-write: it is read-only', { fingerprint: k.fingerprint, file: spec.path });
        const ro = spec.ro || (seen?.ro ?? false);
        const comment = seen?.comment ?? k.comment;
        out.set(k.fingerprint, { fingerprint: k.fingerprint, comment, ro, algs: k.algs, key: k.key, by: comment === '' ? k.fingerprint : `${k.fingerprint} ${comment}` });
      }
    }
    return out;
  }
}
