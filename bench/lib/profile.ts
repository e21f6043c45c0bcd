/**
 * Summaries of V8 CPU profiles (`node --cpu-prof`): self time per function and per module
 * (isomorphic-git, pako/sha, gitopper src, node internals, GC, idle), as shares of the sampled time.
 */
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileSummary {
  totalMs: number;
  /** Busy (non-idle) ms. */
  busyMs: number;
  byModule: { module: string; ms: number; share: number }[];
  topFunctions: { fn: string; module: string; ms: number; share: number }[];
  /** Inclusive time of selected isomorphic-git entry points (share of busy time). */
  inclusive: { fn: string; ms: number; share: number }[];
}

function moduleOf(url: string, fn: string): string {
  if (fn === '(idle)') return '(idle)';
  if (fn === '(garbage collector)') return '(gc)';
  if (fn === '(program)') return '(program)';
  if (url.includes('/isomorphic-git/')) return 'isomorphic-git';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  if (url.includes('/dist/src/')) return 'gitopper src';
  if (url.includes('/dist/bench/') || url.includes('/dist/test/')) return 'bench/rig';
  if (url.startsWith('node:') || url === '') return 'node internals/native';
  return url;
}

const short = (url: string) => url.replace(/^.*node_modules\//, '').replace(/^.*\/dist\//, 'dist/');

/** Summarise `file`; `entries` are function names whose inclusive time to report (e.g. `_fetch`, `readObject`). */
export function summarize(file: string, entries: readonly string[] = []): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000);
  let total = 0;
  let idle = 0;
  const mods = new Map<string, number>();
  const fns = new Map<string, { module: string; ms: number }>();
  const incl = new Map<string, number>();
  for (const [id, ms] of self) {
    const n = byId.get(id)!;
    const f = n.callFrame;
    total += ms;
    const mod = moduleOf(f.url, f.functionName);
    if (mod === '(idle)') idle += ms;
    mods.set(mod, (mods.get(mod) ?? 0) + ms);
    const key = `${f.functionName || '(anonymous)'} ${short(f.url)}:${f.lineNumber + 1}`;
    const cur = fns.get(key) ?? { module: mod, ms: 0 };
    cur.ms += ms;
    fns.set(key, cur);
    // inclusive: credit each named entry once per sample stack
    const seen = new Set<string>();
    for (let q: number | undefined = id; q !== undefined; q = parent.get(q)) {
      const name = byId.get(q)!.callFrame.functionName;
      if (entries.includes(name) && !seen.has(name)) {
        seen.add(name);
        incl.set(name, (incl.get(name) ?? 0) + ms);
      }
    }
  }
  const busy = total - idle;
  const share = (ms: number) => Math.round((ms / busy) * 1000) / 10;
  return {
    totalMs: Math.round(total),
    busyMs: Math.round(busy),
    byModule: [...mods].filter(([m]) => m !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, 8).map(([module, ms]) => ({ module, ms: Math.round(ms), share: share(ms) })),
    topFunctions: [...fns].filter(([, v]) => v.module !== '(idle)').sort((a, b) => b[1].ms - a[1].ms).slice(0, 12).map(([fn, v]) => ({ fn, module: v.module, ms: Math.round(v.ms), share: share(v.ms) })),
    inclusive: entries.map((fn) => ({ fn, ms: Math.round(incl.get(fn) ?? 0), share: share(incl.get(fn) ?? 0) })),
  };
}
