/**
 * git's `gpg.ssh.allowedSignersFile`: the ALLOWED SIGNERS format of ssh-keygen(1), read as OpenSSH's
 * sshsig.c reads it (`parse_principals_key_and_options`, `sshsigopt_parse`):
 *
 *   principals [options] keytype base64-key [comment]
 *
 * `principals` is a comma-separated pattern-list (quoted when it holds blanks); `options` a
 * comma-separated list of `cert-authority`, `namespaces="git,…"`, `valid-after="YYYYMMDD[HHMM[SS]][Z]"`,
 * `valid-before="…"` (names case-insensitive; times without `Z`/`UTC` are the host's local time, as
 * mktime(3) reads them). Blank lines and `#` comments are skipped; a line that does not parse is
 * skipped too (ssh-keygen logs it and goes on) and reported in `problems`. Pure: the caller reads the file.
 */
import sshpk from 'sshpk';
import { fingerprintOf } from '../../api/keys.js';
import { VerifyError } from './errors.js';

/** One usable line of an allowed signers file. */
export interface AllowedSigner {
  /** 1-based line number. */
  readonly line: number;
  /** The principals as written (unquoted): the signer's name in verdicts. */
  readonly principals: string;
  /** `SHA256:…` of the line's key (a CA key on `cert-authority` lines). */
  readonly fingerprint: string;
  readonly certAuthority: boolean;
  /** The `namespaces` pattern-list; undefined = any namespace. */
  readonly namespaces?: string;
  readonly validAfter?: Date;
  readonly validBefore?: Date;
}

/** An allowed signers file, parsed: its usable lines and, per skipped line, why. */
export interface AllowedSigners {
  readonly signers: readonly AllowedSigner[];
  readonly problems: readonly { readonly line: number; readonly problem: string }[];
}

/** Parse an allowed signers file's text; never throws (bad lines go to `problems`). */
export function parseAllowedSigners(text: string): AllowedSigners {
  const signers: AllowedSigner[] = [];
  const problems: { line: number; problem: string }[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '').replace(/^[ \t]+/, '');
    if (line === '' || line.startsWith('#')) return;
    try {
      signers.push(parseLine(line, i + 1));
    } catch (err) {
      if (!(err instanceof VerifyError)) throw err;
      problems.push({ line: i + 1, problem: err.message });
    }
  });
  return { signers, problems };
}

/** A key type at the start of a key (ssh-keygen tries to read a key there before it reads options). */
const KEY_TYPE = /^(ssh-|ecdsa-|sk-)/;

function parseLine(line: string, n: number): AllowedSigner {
  const [principals, afterPrincipals] = token(line);
  if (principals === '' || afterPrincipals.trim() === '') throw new VerifyError('invalid line: expected principals, then a key', 'line');
  let rest = afterPrincipals.replace(/^[ \t]+/, '');
  let opts = '';
  if (!KEY_TYPE.test(rest)) {
    [opts, rest] = optionsToken(rest);
    rest = rest.replace(/^[ \t]+/, '');
    if (rest === '') throw new VerifyError('missing key after the options', 'line');
  }
  const [type, b64] = rest.split(/[ \t]+/);
  if (type === undefined || b64 === undefined) throw new VerifyError('invalid key: expected "keytype base64-key"', 'line');
  let key: sshpk.Key;
  try {
    key = sshpk.parseKey(`${type} ${b64}`, 'ssh');
  } catch (err) {
    throw new VerifyError(`invalid key: ${(err as Error).message}`, 'line');
  }
  return { line: n, principals, fingerprint: fingerprintOf(key), ...parseOptions(opts) };
}

/** The first blank-delimited token of `s` (quoted with `"` when it holds blanks, as strdelimw reads it) and the rest. */
function token(s: string): [string, string] {
  if (s.startsWith('"')) {
    const end = s.indexOf('"', 1);
    if (end < 0) throw new VerifyError('unterminated quoted principals', 'line');
    return [s.slice(1, end), s.slice(end + 1)];
  }
  const m = /^[^ \t]*/.exec(s)![0];
  return [m, s.slice(m.length)];
}

/** The options field: up to the first blank outside double quotes (sshkey_advance_past_options). */
function optionsToken(s: string): [string, string] {
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\' && s[i + 1] === '"') i++;
    else if (c === '"') quoted = !quoted;
    else if (!quoted && (c === ' ' || c === '\t')) return [s.slice(0, i), s.slice(i)];
  }
  if (quoted) throw new VerifyError('invalid options: unterminated quote', 'line');
  return [s, ''];
}

type Options = Pick<AllowedSigner, 'certAuthority' | 'namespaces' | 'validAfter' | 'validBefore'>;

/** `cert-authority,namespaces="git",valid-after="20250101"` → options (sshsigopt_parse's rules, its messages). */
function parseOptions(opts: string): Options {
  const out: { certAuthority: boolean; namespaces?: string; validAfter?: Date; validBefore?: Date } = { certAuthority: false };
  let rest = opts;
  while (rest !== '') {
    const m = /^(cert-authority)(?=,|$)|^(namespaces|valid-after|valid-before)="((?:[^"\\]|\\.)*)"/i.exec(rest);
    if (!m) throw new VerifyError(`bad options: unknown key option at "${rest.split(',')[0]}" (known: cert-authority, namespaces, valid-after, valid-before)`, 'line');
    const name = (m[1] ?? m[2]!).toLowerCase();
    const value = (m[3] ?? '').replace(/\\"/g, '"');
    if (name === 'cert-authority') out.certAuthority = true;
    else if (name === 'namespaces') {
      if (out.namespaces !== undefined) throw new VerifyError('bad options: multiple "namespaces" clauses', 'line');
      out.namespaces = value;
    } else {
      const field = name === 'valid-after' ? 'validAfter' : 'validBefore';
      if (out[field] !== undefined) throw new VerifyError(`bad options: multiple "${name}" clauses`, 'line');
      const t = parseAbsoluteTime(value);
      if (t === undefined) throw new VerifyError(`bad options: invalid "${name}" time "${value}" (YYYYMMDD, YYYYMMDDHHMM or YYYYMMDDHHMMSS, Z or UTC for UTC)`, 'line');
      out[field] = t;
    }
    rest = rest.slice(m[0].length);
    if (rest === '') break;
    if (!rest.startsWith(',') || rest === ',') throw new VerifyError('bad options: unknown key option', 'line');
    rest = rest.slice(1);
  }
  if (out.validAfter && out.validBefore && out.validBefore <= out.validAfter) throw new VerifyError('bad options: "valid-before" time is before "valid-after"', 'line');
  return out;
}

/**
 * OpenSSH's `parse_absolute_time` (misc.c): `YYYYMMDD`, `YYYYMMDDHHMM` or `YYYYMMDDHHMMSS`, with a
 * `Z` or `UTC` suffix (any case) for UTC, else the host's local time. Undefined when malformed or
 * not a real date (a 31 February).
 */
export function parseAbsoluteTime(s: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2})?)?(z|utc)?$/i.exec(s);
  if (!m) return undefined;
  const [y, mo, d, h, mi, se] = m.slice(1, 7).map((x) => (x === undefined ? 0 : Number(x))) as [number, number, number, number, number, number];
  const t = m[7] ? new Date(Date.UTC(y, mo - 1, d, h, mi, se)) : new Date(y, mo - 1, d, h, mi, se);
  const back = m[7]
    ? [t.getUTCFullYear(), t.getUTCMonth() + 1, t.getUTCDate(), t.getUTCHours(), t.getUTCMinutes(), t.getUTCSeconds()]
    : [t.getFullYear(), t.getMonth() + 1, t.getDate(), t.getHours(), t.getMinutes(), t.getSeconds()];
  // a field out of range (month 13, 31 February, hour 25) rolls over: refused, as strptime refuses it
  if (back.join() !== [y, mo, d, h, mi, se].join()) return undefined;
  return t;
}

/**
 * OpenSSH's `match_pattern_list` (match.c): `list` is comma-separated patterns with `*` and `?`,
 * each negated by a leading `!`. 1 = a positive pattern matched and no negated one; -1 = a negated
 * pattern matched; 0 = none matched.
 */
export function matchPatternList(s: string, list: string): -1 | 0 | 1 {
  let positive = false;
  for (const raw of list.split(',')) {
    const negated = raw.startsWith('!');
    const pattern = negated ? raw.slice(1) : raw;
    if (!matchPattern(s, pattern)) continue;
    if (negated) return -1;
    positive = true;
  }
  return positive ? 1 : 0;
}

/** `pattern` (`*` any run, `?` one character, else literal) matches all of `s`. */
function matchPattern(s: string, pattern: string): boolean {
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${re}$`, 's').test(s);
}
