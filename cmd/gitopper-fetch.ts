/**
 * The short-lived child of `IsoGit` that makes fetches downloading a whole history (a store's first
 * fetch of a branch, compaction) so the daemon never holds the pack: src/adapters/git/fetch-child.ts.
 * Started by `fork` with no arguments; not for people.
 *
 * Protocol: one `FetchRequest` arrives over the IPC channel; one `FetchReply` goes back; then exit 0
 * (the reply says whether the fetch worked). Exit 1 for a malformed request, exit 2 when the parent
 * goes away before the work is done (the IPC channel closes), so an orphan never keeps fetching.
 */
import { isFetchRequest, serveFetchRequest } from '../src/adapters/git/fetch-child.js';

if (!process.send) {
  process.stderr.write('gitopper-fetch: started without an IPC channel; it is run by the gitopper daemon only\n');
  process.exit(1);
}
process.once('disconnect', () => process.exit(2));
process.once('message', (msg: unknown) => {
  if (!isFetchRequest(msg)) {
    process.stderr.write('gitopper-fetch: malformed request\n');
    process.exit(1);
  }
  void serveFetchRequest(msg).then((reply) => {
    process.removeAllListeners('disconnect');
    process.send!(reply, () => process.exit(0));
  });
});
