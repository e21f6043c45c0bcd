/**
 * Listen addresses as the daemon's `-s`/`-m` flags write them (gitopper's Go syntax, as
 * `net.Listen` takes them): `host:port`, `:port` for all interfaces, `[v6]:port`; and which hosts
 * are loopback (where `--insecure-http` may serve, and which names a signed target URI may use).
 */
import { GitopperError } from '../errors/gitopper-error.js';

/** A listen address that does not parse; the message names it and the accepted forms. */
export class AddressError extends GitopperError {
  readonly code = 'ADDRESS';
}

/**
 * True for a loopback host: `localhost`, 127.0.0.0/8 (RFC 1122 §3.2.1.3), `::1` (RFC 4291 §2.5.3),
 * an IPv4-mapped 127.x (`::ffff:127.…`); brackets and case are ignored. An empty host means all
 * interfaces: false.
 */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || /^::ffff:127\./.test(h);
}

/**
 * Split `host:port` (`:port` = all interfaces, host ""; `[::1]:port` for IPv6, host without the
 * brackets). The port is 0–65535 (0: any free port). Throws AddressError.
 */
export function splitAddr(addr: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]*)\]|([^:]*)):(\d{1,5})$/.exec(addr);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new AddressError(`bad address "${addr}": use host:port or :port`);
  return { host: m[1] ?? m[2] ?? '', port };
}
