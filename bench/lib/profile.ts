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
  /**
   * Like byModule, but node internals (fs, zlib, crypto, buffers) are charged to the nearest caller
   * frame of a package or of gitopper: "isomorphic-git" then includes the file reads and hashing it asks for.
   */
  byCaller: { module: string; ms: number; share: number }[];
  topFunctions: { fn: string; module: string; ms: number; share: number }[];
}

function moduleOf(url: string, fn: string): string {
  if (fn === '(idle)') return '(idle)';
  if (fn === '(garbage collector)') return '(gc)';
  if (fn === '(program)') return '(program)';
  if (fn === '(root)') return '(root)';
  if (url.includes('/isomorphic-git/')) return 'isomorphic-git';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  if (url.includes('/dist/src/')) return 'gitopper src';
  if (url.includes('/dist/bench/') || url.includes('/dist/test/')) return 'bench/rig';
  if (url.startsWith('node:') || url === '') return 'node internals/native';
  return url;
}

const short = (url: string) => url.replace(/^.*node_modules\//, '').replace(/^.*\/dist\//, 'dist/');

/** Summarise `file` (self time only: async stacks make inclusive time meaningless). */
export function summarize(file: string): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const callers = new Map<string, number>();
  const self = new Map<number, number>();
  // samples under the in-process inspector session itself (its `post`/`dispatch`, e.g. serialising
  // the profile at Profiler.stop) are the measurement's own cost: left out
  const underInspector = (id: number): boolean => {
    for (let q: number | undefined = id; q !== undefined; q = parent.get(q)) if (byId.get(q)!.callFrame.url.startsWith('node:inspector')) return true;
    return false;
  };
  for (let i = 0; i < p.samples.length; i++) {
    if (underInspector(p.samples[i]!)) continue;
    self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000);
  }
  let total = 0;
  let idle = 0;
  const mods = new Map<string, number>();
  const fns = new Map<string, { module: string; ms: number }>();
  for (const [id, ms] of self) {
    const n = byId.get(id)!;
    const f = n.callFrame;
    total += ms;
    const mod = moduleOf(f.url, f.functionName);
    if (mod === '(idle)') idle += ms;
    mods.set(mod, (mods.get(mod) ?? 0) + ms);
    let caller = mod;
    for (let q = parent.get(id); caller === 'node internals/native' && q !== undefined; q = parent.get(q)) {
      const cf = byId.get(q)!.callFrame;
      caller = moduleOf(cf.url, cf.functionName);
      if (caller === '(program)' || caller === '(root)') caller = 'node internals/native';
    }
    callers.set(caller, (callers.get(caller) ?? 0) + ms);
    const key = `${f.functionName || '(anonymous)'} ${short(f.url)}:${f.lineNumber + 1}`;
    const cur = fns.get(key) ?? { module: mod, ms: 0 };
    cur.ms += ms;
    fns.set(key, cur);
  }
  const busy = total - idle;
  const share = (ms: number) => Math.round((ms / busy) * 1000) / 10;
  return {
    totalMs: Math.round(total),
    busyMs: Math.round(busy),
    byModule: [...mods].filter(([m]) => m !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, 8).map(([module, ms]) => ({ module, ms: Math.round(ms), share: share(ms) })),
    byCaller: [...callers].filter(([m]) => m !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, 8).map(([module, ms]) => ({ module, ms: Math.round(ms), share: share(ms) })),
    topFunctions: [...fns].filter(([, v]) => v.module !== '(idle)').sort((a, b) => b[1].ms - a[1].ms).slice(0, 12).map(([fn, v]) => ({ fn, module: v.module, ms: Math.round(v.ms), share: share(v.ms) })),
  };
}
