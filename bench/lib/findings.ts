/**
 * The "Findings and recommended fixes" section of docs/performance.md, with the run's numbers.
 * Each finding says whether `src/` had the fix when the bench ran (BenchResults.src, found by
 * reading the source) — the "ours" rows measure exactly that code.
 */
import type { IdleRow } from '../sections/idle.js';
import { apiNote, bytes, f0, f1, mib, ms, ratio, steadyStats, type BenchResults } from './report.js';

export function findings(r: BenchResults): string {
  const idle = r.idle?.rows ?? [];
  const row = (n: number, v: IdleRow['variant']) => idle.find((x) => x.services === n && x.variant === v);
  const o1 = row(1, 'ours');
  const p1 = row(1, 'proposed');
  const maxN = Math.max(...idle.map((x) => x.services), 0);
  const oN = row(maxN, 'ours');
  const pN = row(maxN, 'proposed');
  const cli1 = row(1, 'cli');
  const med = r.setup?.find((x) => x.repo === 'medium');
  const large = r.setup?.find((x) => x.repo === 'large');
  const st = r.steady ?? [];
  const so = st.find((s) => s.adapter === 'ours');
  const sp = st.find((s) => s.adapter === 'proposed' && !s.setupInChild);
  const sc = st.find((s) => s.adapter === 'proposed' && s.setupInChild);
  const d = r.daemon;
  const src = r.src;
  const lp = (k: string) => {
    const x = d?.push[k];
    return x && 'p95' in x ? x : undefined;
  };
  const p95 = (k: string) => (lp(k) ? ms(lp(k)!.p95) : '–');
  const status = (fixed: boolean | undefined) => (fixed === undefined ? '' : fixed ? '*In `src/` now.*' : '*Open.*');
  const fetchFixed = src?.fetchShortcut === true && (o1?.bytesPerPass ?? Infinity) < 64 * 1024;
  const perSvc = pN ? (pN.wallMs.median - (pN.fetchMs?.median ?? 0)) / maxN : NaN;
  const idxOurs = r.idle?.profiles[`ours-${maxN}`]?.topFunctions.find((t) => t.fn.startsWith('fromIdx'));
  const out: string[] = [];

  out.push(`## Findings and recommended fixes

Each fix was measured in this run through the **proposed** rows (\`bench/lib/proposed-git.ts\` overrides the adapter's methods; the process-level memory fixes through the steady-state variant that names them). Each says whether \`src/adapters/git.ts\` had it when the bench ran (found by reading the source); the **ours** rows measure exactly that code.
`);

  out.push(`1. **Idle fetch: never download what the store has.** ${status(fetchFixed)} isomorphic-git takes its fetch "haves" from \`ref\` (\`GitRefManager.expand('main')\` tries \`refs/heads/main\`, never \`refs/remotes/origin/main\`, where \`git.fetch\` leaves the tip) and has no "already up to date" shortcut: without a local \`refs/heads/<branch>\`, every pass downloads the whole history again and re-indexes it in JS, and every changed fetch adds a whole extra pack. Fix in \`IsoGit.fetch\`: keep \`refs/heads/<branch>\` in the store at the fetched tip (\`git.writeRef\`), and ask \`git.listServerRefs({ prefix: 'refs/heads/<branch>', protocolVersion: 1 })\` (one \`GET info/refs\`) first, returning at once when the advertised tip is the stored one. ${
    fetchFixed
      ? `Measured on the code as it is: ${f1(o1!.requestsPerPass)} request and ${bytes(o1!.bytesPerPass)} per nothing-new pass, fetch ${ms(o1!.fetchMs?.median ?? NaN)}; push → applied p95 ${p95('ours /do/pull')} with \`/do/pull\`, ${p95('ours /hook')} with \`/hook\`; the store ${so ? `${ratio(so.store.bytes, so.store.freshIsoBytes)} a fresh clone after ${so.commits} commits` : '–'}.`
      : `Measured: ours ${o1 ? `${f1(o1.requestsPerPass)} requests and ${bytes(o1.bytesPerPass)} per nothing-new pass, fetch ${ms(o1.fetchMs?.median ?? NaN)}` : '–'}, store ${so ? `${so.store.packs} packs = ${ratio(so.store.bytes, so.store.freshIsoBytes)} a fresh clone after ${so.commits} commits` : '–'}, \`/do/pull\` p95 ${p95('ours /do/pull')}${d?.daemonPeakRssMiB['ours /do/pull + /hook'] !== undefined ? `, daemon peak RSS ${mib(d.daemonPeakRssMiB['ours /do/pull + /hook']!)} after 40 pulls` : ''}; proposed ${p1 ? `${f1(p1.requestsPerPass)} request, ${bytes(p1.bytesPerPass)}, fetch ${ms(p1.fetchMs?.median ?? NaN)}` : '–'}, pulled p95 ${p95('proposed pull')}.`
  } For SSH/local upstreams (\`openPipe\`) the shortcut needs the pipe transport to answer the \`info/refs\` request; the \`refs/heads/<branch>\` half applies to them as is.
`);

  out.push(`2. **Read objects through the store, not through each checkout.** ${status(src?.storeReads)} Checkouts reach the store through \`<checkout>/.git/objects\` (a symlink), and isomorphic-git keys its pack cache by the \`.idx\` file's path (\`readObjectPacked\` → \`readPackIndex\` with \`<gitdir>/objects/pack/<pack>.idx\`), so one \`pass.cache\` holds N parsed copies of the same \`.idx\` and N whole copies of the \`.pack\` for N services. Fix: \`gitdir: this.storeOf(co.upstream)\` for every object read that needs no work tree (\`deployed\`'s \`readCommit\`, \`changedPaths\`/\`entryAt\`/\`readTreeOid\`/\`listTree\`, \`kindChanges\`, \`restore\`'s \`readBlob\`).
`);

  out.push(`3. **Drift without \`statusMatrix\`.** ${status(src ? !src.driftStatusMatrix : undefined)} \`IsoGit.drift\` runs every pass, and \`statusMatrix\`'s TREE walker reads the deployed tree through the checkout's path: fix 2 cannot reach inside it, so each service still parses the store's \`.idx\` and loads its \`.pack\` once per pass${idxOurs ? ` (\`fromIdx\` alone is ${f1(idxOurs.share)}% of ours' CPU at ${maxN} services)` : ''}. Fix: \`git.walk({ fs, dir: co.dir, gitdir: <checkout>/.git, trees: [STAGE(), WORKDIR()], map })\` pruned to the links (\`map\` returns \`null\` outside them; stats against the index, hashes only files whose stat changed, reads no object), compared with the deployed tree listed from the store (\`entryAt\`/\`listTree\` with the store's gitdir): the paths whose work-tree oid differs or that exist on one side only. \`ProposedGit.drift\` is a working version. Measured per nothing-new pass at ${maxN} services: ours ${oN ? `${ms(oN.wallMs.median)} wall, ${ms(oN.cpuMs.median)} CPU` : '–'}; proposed ${pN ? `${ms(pN.wallMs.median)}, ${ms(pN.cpuMs.median)}` : '–'}${o1 && p1 ? `; at 1 service ${ms(o1.wallMs.median)} → ${ms(p1.wallMs.median)} (CLI ${cli1 ? ms(cli1.wallMs.median) : '–'})` : ''}.
`);

  out.push(`4. **A nothing-new pass should not touch each service.** ${status(oN && cli1 ? oN.wallMs.median <= cli1.wallMs.median : undefined)} Even with fixes 1–3, ${maxN} services cost ${pN && cli1 ? `${ms(pN.wallMs.median)} against ${ms(cli1.wallMs.median)} for the CLI's one service` : '–'}: ${pN ? ms(pN.fetchMs?.median ?? NaN) : '–'} of fetch and ~${f1(perSvc)} ms per service of local work (\`prepare\`: mkdir/lstat/readlink; \`deployed\`: resolveRef + readCommit; \`drift\`: the walk; \`BindMounter.ensure\`: realpaths, stats and a parse of /proc/self/mountinfo; and isomorphic-git tries a loose object file and lists \`objects/pack\` on every object read: the \`openFileHandle\`/\`readdir\`/\`lstat\` lines of the profile). Fix (in the core, so not measured here): in \`Tracker.pass\` (\`src/tracker.ts\`), when the fetched tip equals the previous successful pass's tip, skip \`reconcile\` for the services whose last outcome was OK at that tip with no \`pendingAction\`/\`forceCheckout\`/\`refused\`, leave drift to the chokidar watcher (\`checkDrift\`), and run the full pass every Nth poll (say 10) as the safety net gitopper's per-pass \`git stash\` was. The pass then costs the fetch alone, ${pN ? ms(pN.fetchMs?.median ?? NaN) : '–'} here.
`);

  out.push(`5. **First setup holds the whole history in memory, and the process keeps it.** *Open; bounded by isomorphic-git.* There is no partial clone (${med ? `${bytes(med.bytes.ours)} against the CLI's ${bytes(med.bytes.cli)} on the medium repo` : ''}); \`_fetch\` collects the whole pack into one Buffer (\`Buffer.from(await collect(response.packfile))\`), writes it and indexes it in JS (\`GitPackIndex.fromPack\`: pako \`inflate\` of every object plus SHA-1, see the profile above), and the first object read loads the whole \`.pack\` again (\`readObjectPacked\`). Peak RSS is a multiple of the pack: ${large ? `${mib(large.ours.peakMiB.median)} for the ${f1(r.repos.find((x) => x.name === 'large')?.packMiB ?? NaN)} MiB large pack, ` : ''}${med ? `${mib(med.ours.peakMiB.median)} for the medium one (Node with the modules loaded is ~${f0(med.ours.baseMiB.median)} MiB of it)` : ''}. No \`git.fetch\` option streams the pack to disk, so within the mandated library the peak is bounded by the pack size (~5–6× it): the medium-repo setup targets (< 120 MB, wall ≤ 3× the CLI) cannot be met by the setup itself. What we can change is where the peak lands: (a) make a store's first fetch (no \`refs/heads/<branch>\` yet) in a short-lived child process (\`child_process.fork\` of a small script calling \`IsoGit.fetch\`), so the daemon never holds the pack nor keeps an allocator high-water mark from it; (b) run the daemon with \`--max-semi-space-size=2\` (\`systemd/gitopper.service\` \`ExecStart\`, or \`NODE_OPTIONS\`), which bounds V8's young generation that the per-pass \`.idx\`/\`.pack\` reads churn through. Measured in §4, RSS after the first setup and over the last 100 passes (median): fixes 1–3 alone ${sp ? `${mib(sp.rssAfterSetupMiB)} and ${mib(steadyStats(sp).rssLast100.median)}` : '–'}; with (a), (b) and compaction (6) ${sc ? `${mib(sc.rssAfterSetupMiB)} and ${mib(steadyStats(sc).rssLast100.median)} (peak ${mib(sc.peakRssMiB)})` : '–'}. The heap after GC stays ~${sc ? f0(sc.gcHeapEndMiB) : '–'} MiB: no leak (post-GC heap ${sc ? f1(steadyStats(sc).gcHeapSlope * 1024) : '–'} KiB per 100 passes); what remains above it is V8 heap growth between collections and allocator slack from the per-pass pack reads, which fix 4 removes.
`);

  out.push(`6. **Compact the store's packs.** ${status(src?.compaction)} With fix 1 every changed fetch adds one small pack; isomorphic-git never repacks, and every object read lists \`objects/pack\` and loads every \`.idx\` into the pass cache, so passes slow down and allocate more as packs pile up (${sp ? `fixes 1–3 alone: ${sp.store.packs} packs after ${sp.commits} commits, pass ${ms(sp.passWallMs.first100.median)} in the first 100 passes and ${ms(sp.passWallMs.last100.median)} in the last 100` : '–'}). Fix in \`IsoGit.fetch\`, under the store lock: above 16 packs, fetch a fresh one-pack store into \`<store>.compact\` in a child process (as 5a), \`rename\` its \`.pack\` then its \`.idx\` into \`objects/pack\`, then delete the old \`.idx\` then \`.pack\` files (a reader always finds complete pairs); \`ProposedGit.compact()\` does exactly this. Measured: ${sc ? `${sc.compactions} compactions in ${sc.passesDone} passes, ${sc.store.packs} packs at the end, pass ${ms(sc.passWallMs.first100.median)} / ${ms(sc.passWallMs.last100.median)} (first / last 100), store ${ratio(sc.store.bytes, sc.store.freshIsoBytes)} a fresh clone` : '–'}. On a large repository each compaction is a full fetch (§3), so use a higher threshold there, or write one pack of the reachable objects with \`git.packObjects\` instead.
`);

  out.push(apiNote(d));
  return out.join('\n');
}
