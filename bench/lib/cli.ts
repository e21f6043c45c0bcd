/**
 * gitopper's own mechanism, the git CLI, as miekg/gitopper runs it (gitcmd/git.go):
 * first setup per service `git clone --filter=blob:none --no-checkout --sparse URL DIR`,
 * `git sparse-checkout set DIRS…`, `git checkout`; then each pass per service `git stash`,
 * `git fetch`, `git diff --name-only HEAD origin/BRANCH -- DIRS…`, `git merge origin/BRANCH`,
 * `git rev-parse HEAD`. One full clone (partial, sparse) per service.
 */
import { git } from './util.js';

/** First setup of one service's checkout at `dir`. */
export async function cliSetup(url: string, dir: string, links: readonly string[]): Promise<void> {
  await git(['clone', '--quiet', '--filter=blob:none', '--no-checkout', '--sparse', url, dir]);
  await git(['sparse-checkout', 'set', ...links], { cwd: dir });
  await git(['checkout', '--quiet'], { cwd: dir });
}

/** One pass of one service; resolves with the changed paths under its links and the new HEAD. */
export async function cliPass(dir: string, links: readonly string[], branch = 'main'): Promise<{ changed: string[]; head: string }> {
  await git(['stash'], { cwd: dir });
  await git(['fetch', '--quiet'], { cwd: dir });
  const changed = (await git(['diff', '--name-only', 'HEAD', `origin/${branch}`, '--', ...links], { cwd: dir })).split('\n').filter(Boolean);
  await git(['merge', '--quiet', `origin/${branch}`], { cwd: dir });
  const head = (await git(['rev-parse', 'HEAD'], { cwd: dir })).trim();
  return { changed, head };
}
