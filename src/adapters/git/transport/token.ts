/**
 * Credentials of an http(s) upstream from its `token_file` (docs/config.md), read at each fetch so a
 * rotated token needs no restart. Used by isomorphic-git's fetch (`../fetch.ts`, through `onAuth`)
 * and by the protocol-v2 client (`../partial/connect.ts`, as a Basic header).
 */
import { readFile } from 'node:fs/promises';

/**
 * Credentials from a token file, read at each fetch so rotation needs no restart.
 * `user:password` → Basic with both; a bare token → username = token (GitHub/Gitea convention).
 * @throws Error when the file is empty, or fs's error (naming the file) when it cannot be read.
 */
export async function readToken(file: string): Promise<{ username: string; password?: string }> {
  const text = (await readFile(file, 'utf8')).trim();
  if (text === '') throw new Error(`token_file ${file} is empty`);
  const i = text.indexOf(':');
  return i > 0 ? { username: text.slice(0, i), password: text.slice(i + 1) } : { username: text, password: 'x-oauth-basic' };
}
