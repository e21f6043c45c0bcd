/**
 * Self-bootstrap (gitopper's `-U -D -B -M -P`): the agent checks out directory `-D` of repository
 * `-U` (branch `-B`) into `<-M>/gitopper`, reads its config from there, and manages that checkout
 * as the service `gitopper` (gitopper(8), "Bootstrapping"). No I/O imports: it runs over the ports.
 */
import type { ServiceSpec } from '../config/config.js';
import { checkoutOf, reconcile, type ReconcileDeps } from './reconcile.js';
import { GitopperError } from '../errors/gitopper-error.js';
import { redactUpstream } from '../upstream/upstream.js';

/** The bootstrap flags. */
export interface BootstrapOptions {
  readonly upstream: string;
  readonly branch: string;
  /** Directory holding the checkout (`-M`); the checkout is `<mount>/gitopper`. */
  readonly mount: string;
  /** Repository directory to check out (`-D`), e.g. `gitopper`. */
  readonly directory: string;
  /** This host's name (the self-service's `machine`). */
  readonly machine: string;
}

/** Thrown when the bootstrap checkout cannot be made. */
export class BootstrapError extends GitopperError {
  readonly code = 'BOOTSTRAP';
}

/** The service `gitopper` managing the agent's own config checkout: no mounts, no systemd action. */
export function selfService(o: BootstrapOptions): ServiceSpec {
  return {
    index: -1,
    machine: o.machine,
    service: 'gitopper',
    action: '',
    user: '',
    package: '',
    upstream: o.upstream,
    branch: o.branch,
    mount: o.mount,
    dirs: [],
    tokenFile: undefined,
    links: [o.directory.replace(/^\/+|\/+$/g, '')],
    drift: 'revert',
  };
}

/** `<mount>/gitopper/<directory>/<config>`: where the config is read from. */
export function bootstrapConfigPath(o: BootstrapOptions, config: string): string {
  return `${checkoutOf(selfService(o)).dir}/${o.directory.replace(/^\/+|\/+$/g, '')}/${config}`;
}

/**
 * Make the self checkout: when it exists and `pull` is false, use it as it is (a host can start
 * offline); otherwise fetch and check out the branch tip. Throws BootstrapError with the reason.
 */
export async function bootstrap(o: BootstrapOptions, pull: boolean, deps: ReconcileDeps): Promise<void> {
  const spec = selfService(o);
  const co = checkoutOf(spec);
  const deployed = await deps.git.deployed(co).catch(() => undefined);
  if (deployed !== undefined && !pull) return;
  let tip: string;
  try {
    tip = await deps.git.fetch(co);
  } catch (err) {
    if (deployed !== undefined) return; // -P but upstream unreachable: keep the checkout we have
    throw new BootstrapError(`fetching ${o.branch} from ${redactUpstream(o.upstream)}: ${(err as Error).message}`);
  }
  const out = await reconcile(spec, tip, { pendingAction: false }, deps);
  if (out.state !== 'OK') throw new BootstrapError(`checking out ${o.directory} of ${redactUpstream(o.upstream)}: ${out.info}`);
}
