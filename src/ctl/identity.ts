/**
 * Which key gitopperctl signs with, as ssh chooses: the private key file of `-i` (decrypted with
 * a passphrase asked on the terminal or given in GITOPPER_KEY_PASSPHRASE), else every usable
 * identity of the running ssh-agent (SSH_AUTH_SOCK). `cmd/gitopperctl.ts` supplies the
 * environment and the terminal; this file only reads the key file and talks to the agent.
 */
import { readFile } from 'node:fs/promises';
import { KeyError, KeyPassphraseError, parsePrivateKey, type PrivateKeyInfo } from '../api/keys.js';
import { agentSigners, keySigner, type RequestSigner } from './signer.js';
import { GitopperError } from '../errors/gitopper-error.js';

/** No key to sign with, or one that cannot be used; the message says what to do. */
export class IdentityError extends GitopperError {
  readonly code = 'IDENTITY';
}

/** Where the key comes from. */
export interface IdentityOptions {
  /** `-i KEYFILE`. */
  readonly identity?: string;
  /** `SSH_AUTH_SOCK`. */
  readonly agentSocket?: string;
  /** `GITOPPER_KEY_PASSPHRASE`. */
  readonly passphrase?: string;
  /** Asks for a passphrase on the terminal (undefined when there is none). */
  readonly ask?: (prompt: string) => Promise<string | undefined>;
}

/** The private key of `file`, asking for its passphrase when it has one (3 tries on a terminal). Throws IdentityError. */
export async function loadKeyFile(file: string, opts: Pick<IdentityOptions, 'passphrase' | 'ask'>): Promise<PrivateKeyInfo> {
  let data: Buffer;
  try {
    data = await readFile(file);
  } catch (err) {
    throw new IdentityError(`cannot read key ${file}: ${(err as Error).message}`);
  }
  try {
    return parsePrivateKey(data, file);
  } catch (err) {
    if (!(err instanceof KeyPassphraseError)) throw new IdentityError(`${(err as Error).message}`);
  }
  if (opts.passphrase !== undefined) {
    try {
      return parsePrivateKey(data, file, opts.passphrase);
    } catch (err) {
      throw new IdentityError(err instanceof KeyPassphraseError ? `wrong passphrase for ${file} in GITOPPER_KEY_PASSPHRASE` : (err as Error).message);
    }
  }
  for (let tries = 0; tries < 3; tries++) {
    const pass = await opts.ask?.(`Enter passphrase for key '${file}': `);
    if (pass === undefined) break;
    try {
      return parsePrivateKey(data, file, pass);
    } catch (err) {
      if (!(err instanceof KeyPassphraseError)) throw new IdentityError((err as Error).message);
    }
  }
  throw new IdentityError(`${file} is protected by a passphrase: run on a terminal to be asked, set GITOPPER_KEY_PASSPHRASE, or add the key to ssh-agent (ssh-add ${file})`);
}

/**
 * The signers to try, in order: the `-i` key alone, else the agent's usable identities. Throws
 * IdentityError when there is none.
 */
export async function loadSigners(opts: IdentityOptions): Promise<RequestSigner[]> {
  if (opts.identity !== undefined) {
    try {
      return [keySigner(await loadKeyFile(opts.identity, opts), opts.identity)];
    } catch (err) {
      if (err instanceof KeyError) throw new IdentityError(`${opts.identity}: ${err.message}`);
      throw err;
    }
  }
  if (opts.agentSocket === undefined || opts.agentSocket === '') {
    throw new IdentityError('no key to sign with: give -i KEYFILE, or start ssh-agent and add your key (ssh-add); SSH_AUTH_SOCK is not set');
  }
  let signers: RequestSigner[];
  try {
    signers = await agentSigners(opts.agentSocket);
  } catch (err) {
    throw new IdentityError(`cannot use ssh-agent at ${opts.agentSocket}: ${(err as Error).message}`);
  }
  if (signers.length === 0) throw new IdentityError('ssh-agent holds no ed25519, ecdsa (P-256/P-384) or rsa (≥ 2048 bits) key: add one with ssh-add, or give -i KEYFILE');
  return signers;
}
