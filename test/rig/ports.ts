/**
 * Ports for tests: a TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then
 * released), for a server a test starts next, or for a connection that must be refused.
 */
import net from 'node:net';

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}
