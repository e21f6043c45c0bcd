/**
 * The signature of a notification, as GitHub signs its webhooks and as this agent verifies the ones it
 * receives (`src/http/webhook/push.ts`): `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`
 * (GitHub docs, "Validating webhook deliveries"; HMAC: RFC 2104, SHA-256: FIPS 180-4). Plus the headers
 * a receiver dedupes and routes on. Node's crypto; the secret is read from its file at each send.
 */
import { createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';

/** The header GitHub signs with, and the receiver checks. */
export const SIGNATURE_HEADER = 'X-Hub-Signature-256';
/** The event's `id` (a UUID), the same in every attempt: receivers dedupe on it (like `X-GitHub-Delivery`). */
export const DELIVERY_HEADER = 'X-Gitopper-Delivery';
/** The event's name (`applied`, `BROKEN`, …), like `X-GitHub-Event`. */
export const EVENT_HEADER = 'X-Gitopper-Event';
/** When the event happened (RFC 3339), also in the signed body as `time`. */
export const TIMESTAMP_HEADER = 'X-Gitopper-Timestamp';

/** `sha256=<64 lower-case hex>`: HMAC-SHA256 of the UTF-8 `body` keyed with the UTF-8 `secret`. */
export function signature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

/**
 * The secret in `file`: its content without surrounding whitespace (as `hook_secret_file` is read).
 * Rejects with the file system's error when it cannot be read, and with an Error when it is empty.
 */
export async function readSecret(file: string): Promise<string> {
  const secret = (await readFile(file, 'utf8')).trim();
  if (secret === '') throw new Error(`secret file ${file} is empty`);
  return secret;
}
