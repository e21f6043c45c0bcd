/**
 * Parser for `/proc/self/mountinfo` (proc(5), "/proc/pid/mountinfo"). Pure: text in, entries out.
 */

/** One mountinfo line. */
export interface MountEntry {
  readonly id: number;
  readonly parent: number;
  /** `major:minor` of the filesystem. */
  readonly device: string;
  /** Path inside the filesystem that forms the mount's root (a bind mount's source). */
  readonly root: string;
  /** Where it is mounted. */
  readonly mountPoint: string;
  readonly fsType: string;
  readonly source: string;
}

/** Undo mountinfo's octal escapes (`\040` space, `\011` tab, `\012` newline, `\134` backslash). */
export function unescapeMountPath(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Parse mountinfo text; malformed lines are skipped. Order is kept (later entries stack on earlier ones). */
export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-', 6);
    if (f.length < 10 || sep < 0) continue;
    out.push({
      id: Number(f[0]),
      parent: Number(f[1]),
      device: f[2]!,
      root: unescapeMountPath(f[3]!),
      mountPoint: unescapeMountPath(f[4]!),
      fsType: f[sep + 1] ?? '',
      source: unescapeMountPath(f[sep + 2] ?? ''),
    });
  }
  return out;
}

/** The topmost mount whose mount point is exactly `p`, or undefined. */
export function mountAt(entries: readonly MountEntry[], p: string): MountEntry | undefined {
  let found: MountEntry | undefined;
  for (const e of entries) if (e.mountPoint === p) found = e;
  return found;
}

/** The mount that contains path `p` (longest mount-point prefix, topmost), or undefined. */
export function mountContaining(entries: readonly MountEntry[], p: string): MountEntry | undefined {
  let best: MountEntry | undefined;
  for (const e of entries) {
    const mp = e.mountPoint;
    const inside = p === mp || mp === '/' || p.startsWith(`${mp}/`);
    if (inside && (!best || mp.length >= best.mountPoint.length)) best = e;
  }
  return best;
}

/**
 * The mountinfo `root` a bind mount of `source` would show: the path of `source` inside its
 * filesystem. `source` must be a real path (symlinks resolved).
 */
export function expectedBindRoot(entries: readonly MountEntry[], source: string): { device: string; root: string } | undefined {
  const m = mountContaining(entries, source);
  if (!m) return undefined;
  const rel = m.mountPoint === '/' ? source : source.slice(m.mountPoint.length);
  const root = (m.root === '/' ? '' : m.root) + rel;
  return { device: m.device, root: root === '' ? '/' : root };
}
