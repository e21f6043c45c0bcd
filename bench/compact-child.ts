/**
 * Fix 6 of docs/performance.md, as measured: a fresh store (one full fetch, one pack) of
 * `URL BRANCH` made at `DIR` in a short-lived process, for ProposedGit to swap its packs in.
 *   node dist/bench/compact-child.js URL BRANCH DIR
 */
import fs from 'node:fs';
import git from 'isomorphic-git';
import http from 'isomorphic-git/http/node';

const [url, branch, gitdir] = process.argv.slice(2) as [string, string, string];
await git.init({ fs, gitdir, bare: true, defaultBranch: branch });
await git.addRemote({ fs, gitdir, remote: 'origin', url, force: true });
const r = await git.fetch({ fs, http, gitdir, url, ref: branch, singleBranch: true, tags: false });
if (!r.fetchHead) throw new Error(`branch ${branch} not found`);
await git.writeRef({ fs, gitdir, ref: `refs/heads/${branch}`, value: r.fetchHead, force: true });
process.stdout.write(`${r.fetchHead}\n`);
