/**
 * Logging with pino: JSON lines on stdout, one child logger per component and per service
 * (fields `component` and `service`), as journald and log shippers expect.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

/** The root logger: level `debug` when `debug` is true (gitopper `-d`), else `info`. */
export function createLogger(debug: boolean, destination: NodeJS.WritableStream = process.stdout): Logger {
  return pino({ level: debug ? 'debug' : 'info', base: { pid: process.pid } }, destination);
}
