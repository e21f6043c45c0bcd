/**
 * The transport keys `token_file`, `ssh_key` and `known_hosts` (ours; docs/upstreams.md), for `config.ts`:
 * read from `[global]` and services, inherited only where they fit the upstream, resolved against the
 * config file, and refused where they do not fit. Pure.
 */
import type { At } from './error.js';
import { optString, orInherit } from './fields.js';
import { upstreamKind } from '../upstream/upstream.js';
import { checkSshFile, checkTransportKeys, resolveFromConfig, type Fields } from './validate.js';

/** The transport keys of `[global]` or of a service; undefined = not set. */
export interface TransportKeys {
  /** File holding an https token. */
  readonly tokenFile: string | undefined;
  /** Private deploy key for SSH upstreams. */
  readonly sshKey?: string | undefined;
  /** The only known_hosts file trusted for SSH upstreams. */
  readonly knownHosts?: string | undefined;
}

/** `[global]`'s transport keys as written ("" = unset). */
export function globalTransportKeys(g: Fields, at: At): TransportKeys {
  return {
    tokenFile: orInherit(optString(g, 'token_file', at), '') || undefined,
    sshKey: orInherit(optString(g, 'ssh_key', at), '') || undefined,
    knownHosts: orInherit(optString(g, 'known_hosts', at), '') || undefined,
  };
}

/**
 * `token_file`, `ssh_key` and `known_hosts` of a service whose upstream (after inheritance) is `upstream`:
 * its own values, else `[global]`'s, but a value inherited from `[global]` only when it fits the upstream's
 * kind (token_file: https; ssh_key, known_hosts: SSH). A service's own misfit is refused by {@link checkTransportFit}.
 */
export function serviceTransportKeys(s: Fields, at: At, upstream: string, global: TransportKeys): TransportKeys {
  const kind = upstreamKind(upstream);
  const pick = (own: string | undefined, inherited: string | undefined, fits: boolean) => orInherit(own, fits ? inherited ?? '' : '') || undefined;
  return {
    tokenFile: pick(optString(s, 'token_file', at), global.tokenFile, kind === undefined || kind === 'http'),
    sshKey: pick(optString(s, 'ssh_key', at), global.sshKey, kind === undefined || kind === 'ssh'),
    knownHosts: pick(optString(s, 'known_hosts', at), global.knownHosts, kind === undefined || kind === 'ssh'),
  };
}

/**
 * `keys` with their paths resolved against the config `file`'s directory; `ssh_key` and `known_hosts`
 * must not hold characters ssh misreads (thrown at `at`).
 */
export function resolveTransportKeys(keys: TransportKeys, file: string, at: At): TransportKeys {
  return {
    tokenFile: keys.tokenFile === undefined ? undefined : resolveFromConfig(file, keys.tokenFile),
    sshKey: keys.sshKey === undefined ? undefined : at.check('ssh_key', checkSshFile(resolveFromConfig(file, keys.sshKey))),
    knownHosts: keys.knownHosts === undefined ? undefined : at.check('known_hosts', checkSshFile(resolveFromConfig(file, keys.knownHosts))),
  };
}

/** Throws at `at` when one of `keys` does not fit `upstream`'s kind (see `checkTransportKeys`). */
export function checkTransportFit(upstream: string, keys: TransportKeys, at: At): void {
  const misfit = checkTransportKeys(upstream, keys);
  if (misfit) at.fail(misfit.key, misfit.problem, misfit.fix);
}
