/**
 * How the daemon's start fails: the error that ends it before it runs, and which errors are the
 * config's own (they name the file, the key and the fix, and are shown as they are).
 */
import { BootstrapError } from '../core/bootstrap.js';
import { ConfigError } from '../config/config.js';
import { ConfigReadError } from '../config/file.js';
import { GitopperError } from '../errors/gitopper-error.js';

/**
 * A problem that ends the daemon before it runs (exit 1): the message is the whole text
 * `cmd/gitopper.ts` prints as `gitopper: <message>` on stderr.
 */
export class StartupError extends GitopperError {
  readonly code = 'STARTUP';
}

/** The message of a config problem (ConfigError, ConfigReadError, BootstrapError: they name file, key and fix), else undefined. */
export function configProblem(err: unknown): string | undefined {
  return err instanceof ConfigError || err instanceof ConfigReadError || err instanceof BootstrapError ? err.message : undefined;
}
