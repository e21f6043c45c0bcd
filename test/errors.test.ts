/**
 * The one error catalogue (src/errors/gitopper-error.ts) and its one HTTP table (src/http/errors.ts):
 * every code that can reach HTTP has a status, anything else is 500 INTERNAL, and every error class
 * declared in src/ and cmd/ (found by reading the source, then imported) extends GitopperError.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ERROR_CODES, GitopperError, isHttpCode, type ErrorCode } from '../src/errors/gitopper-error.js';
import { HTTP_STATUS, HttpError, mapError } from '../src/http/errors.js';
import { BadRequestError, ConflictError, UnknownServiceError } from '../src/core/errors.js';
import { AuthError } from '../src/http/auth.js';
import { TooManyFailuresError } from '../src/http/ratelimit.js';
import { WebhookError } from '../src/http/webhook/push.js';
import { ConfigError } from '../src/config/error.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Every .ts file below `dir` (relative to ROOT). */
async function sources(dir: string): Promise<string[]> {
  const entries = await readdir(path.join(ROOT, dir), { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile() && e.name.endsWith('.ts')).map((e) => path.relative(ROOT, path.join(e.parentPath, e.name)));
}

/** `class X … extends Y` declarations of the source whose name or base name ends in `Error`. */
async function errorClasses(): Promise<{ file: string; name: string; exported: boolean }[]> {
  const found: { file: string; name: string; exported: boolean }[] = [];
  for (const file of [...(await sources('src')), ...(await sources('cmd'))]) {
    const text = await readFile(path.join(ROOT, file), 'utf8');
    for (const m of text.matchAll(/^(export )?(?:abstract )?class (\w+)(?:<[^>{]*(?:<[^>]*>[^>{]*)*>)? extends (\w+)/gm)) {
      if (/Error$/.test(m[2]!) || /Error$/.test(m[3]!)) found.push({ file, name: m[2]!, exported: m[1] !== undefined });
    }
  }
  return found;
}

test('every error class of src/ and cmd/ extends GitopperError', async () => {
  const classes = await errorClasses();
  assert.ok(classes.length >= 31, `the scan found the error classes (${classes.map((c) => c.name).join(', ')})`);
  for (const c of classes) {
    assert.ok(c.exported, `${c.file}: class ${c.name} is exported (so it can be checked)`);
    const mod = (await import(pathToFileURL(path.join(ROOT, 'dist', c.file.replace(/\.ts$/, '.js'))).href)) as Record<string, unknown>;
    const cls = mod[c.name] as { prototype: unknown } | undefined;
    assert.equal(typeof cls, 'function', `${c.file} exports ${c.name}`);
    if (cls === GitopperError) continue;
    assert.ok(cls!.prototype instanceof GitopperError, `${c.file}: ${c.name} extends GitopperError`);
  }
});

test('every literal code of an error class is in the catalogue, SCREAMING_SNAKE', async () => {
  for (const file of [...(await sources('src')), ...(await sources('cmd'))]) {
    const text = await readFile(path.join(ROOT, file), 'utf8');
    for (const m of text.matchAll(/readonly code(?::[^=]*)? = '([^']*)'/g)) {
      assert.ok(Object.hasOwn(ERROR_CODES, m[1]!), `${file}: code ${m[1]} is in ERROR_CODES`);
    }
  }
  for (const code of Object.keys(ERROR_CODES)) assert.match(code, /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/);
});

test('every code that reaches HTTP has a status; the table has no other code', () => {
  const http = (Object.keys(ERROR_CODES) as ErrorCode[]).filter((c) => ERROR_CODES[c] === 'http');
  assert.deepEqual(Object.keys(HTTP_STATUS).sort(), [...http].sort());
  for (const code of http) {
    const status = (HTTP_STATUS as Record<string, number>)[code];
    assert.ok(Number.isInteger(status) && status! >= 200 && status! <= 599, `${code} → ${status}`);
    assert.ok(isHttpCode(code));
  }
  assert.equal(isHttpCode('CONFIG'), false);
  assert.equal(isHttpCode('toString'), false);
});

test('an unknown error is 500 INTERNAL (logged); an error with a local code too', () => {
  const internal = { status: 500, body: { error: { code: 'INTERNAL', message: 'internal error; see the agent log' } }, internal: true };
  assert.deepEqual(mapError(new Error('boom')), internal);
  assert.deepEqual(mapError('a string'), internal);
  assert.deepEqual(mapError(undefined), internal);
  assert.deepEqual(mapError(new ConfigError('bad', { file: 'x.toml' })), internal);
});

test('coded errors get their status from the one table, with code and message as thrown', () => {
  const cases: [GitopperError, number][] = [
    [new UnknownServiceError('x'), 404],
    [new BadRequestError('no'), 400],
    [new ConflictError('no'), 409],
    [new HttpError('NOT_FOUND', 'no route'), 404],
    [new HttpError('METHOD_NOT_ALLOWED', 'no'), 405],
    [new HttpError('UNSUPPORTED_MEDIA_TYPE', 'no'), 415],
    [new HttpError('BUSY', 'no'), 503],
    [new AuthError('UNKNOWN_KEY', 'who?'), 401],
    [new AuthError('READ_ONLY_KEY', 'no', 'SHA256:x'), 403],
    [new TooManyFailuresError(5, '192.0.2.1'), 429],
    [new WebhookError('UNAUTHORIZED', 'no'), 401],
    [new WebhookError('BAD_REQUEST', 'no'), 400],
  ];
  for (const [err, status] of cases) {
    assert.deepEqual(mapError(err), { status, body: { error: { code: err.code, message: err.message } }, internal: false }, err.code);
    if (err instanceof HttpError) assert.equal(err.status, status);
  }
  assert.deepEqual(new TooManyFailuresError(5, '192.0.2.1').data, { retryAfter: 5, address: '192.0.2.1' });
  assert.deepEqual(new AuthError('READ_ONLY_KEY', 'no', 'SHA256:x').data, { fingerprint: 'SHA256:x' });
});

test('an error without data has data {} that is not its own (logs and prints as before)', () => {
  const err = new HttpError('NOT_FOUND', 'no route');
  assert.deepEqual(err.data, {});
  assert.equal(Object.hasOwn(err, 'data'), false);
  assert.equal(err.name, 'Error', 'the base sets no name');
  assert.equal(new UnknownServiceError('x').data.service, 'x');
});
