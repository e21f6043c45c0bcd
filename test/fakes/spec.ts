/** Builds ServiceSpec values for unit tests without going through TOML. */
import type { ServiceSpec } from '../../src/config/config.js';

/** A grafana-like service; override any field. */
export function spec(over: Partial<ServiceSpec> = {}): ServiceSpec {
  return {
    index: 0,
    machine: 'localhost',
    service: 'grafana-server',
    action: 'reload',
    user: 'grafana',
    package: '',
    upstream: 'http://127.0.0.1:1/repo',
    branch: 'main',
    mount: '/srv/gitopper',
    dirs: [{ local: '/etc/grafana', link: 'grafana/etc', file: false }],
    tokenFile: undefined,
    drift: 'report',
    ...over,
  };
}
