/**
 * Deployment windows (ours; docs/trust-and-rollout.md, "Deployment windows"): the `window` key's
 * grammar and when a window is open. `"Mon-Fri 09:00-17:00 Europe/Amsterdam"`: days, a time range
 * and an IANA time zone (absent = the host's zone). Times are wall-clock times in that zone; luxon
 * does the zone and DST arithmetic (a start that falls in a DST gap moves forward with the clock, as
 * luxon normalises it). Pure: no I/O.
 */
import { DateTime, IANAZone } from 'luxon';
import { Problem } from './validate.js';

/** One parsed window. */
export interface DeploymentWindow {
  /** ISO weekdays the window starts on: 1 = Monday … 7 = Sunday. */
  readonly days: ReadonlySet<number>;
  /** Start and end, minutes after local midnight (end 1440 = midnight); end ≤ start: ends the next day. */
  readonly start: number;
  readonly end: number;
  /** IANA zone name, or `system` (the host's zone). */
  readonly zone: string;
}

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const EXAMPLE = 'window = "Mon-Fri 09:00-17:00 Europe/Amsterdam" (days: Mon…Sun, ranges like Mon-Fri or lists like Mon,Wed; or * for every day)';

/** `text` as a window, or a Problem naming what is wrong and the form to use. */
export function parseWindow(text: string): DeploymentWindow | Problem {
  const parts = text.trim().split(/\s+/);
  if (parts.length < 2 || parts.length > 3) return new Problem(`"${text}" is not a deployment window`, `write it as ${EXAMPLE}`);
  const [dayPart, timePart, zonePart] = parts as [string, string, string | undefined];
  const days = parseDays(dayPart);
  if (days instanceof Problem) return days;
  const m = /^(\d{2}):(\d{2})-(\d{2}):(\d{2})$/.exec(timePart);
  const start = m ? minutes(m[1]!, m[2]!) : undefined;
  const end = m ? minutes(m[3]!, m[4]!) : undefined;
  if (start === undefined || end === undefined || start === 1440) return new Problem(`"${timePart}" in "${text}" is not a time range`, 'write HH:MM-HH:MM in 24-hour time, e.g. 09:00-17:00 (22:00-02:00 runs past midnight; 24:00 is midnight at the end)');
  if (start === end) return new Problem(`"${timePart}" in "${text}" is an empty time range`, 'make the end differ from the start (a window that is always open is the same as no window: remove the key)');
  const zone = zonePart ?? 'system';
  if (zonePart !== undefined && !IANAZone.isValidZone(zonePart)) return new Problem(`"${zonePart}" in "${text}" is not a time zone`, 'use an IANA zone name such as Europe/Amsterdam, America/New_York or UTC (or leave it out for the host\'s zone)');
  return { days, start, end, zone };
}

/** `windows` (already valid, see {@link parseWindow}) open at `at`? An empty list is always open. */
export function isOpen(windows: readonly string[], at: Date): boolean {
  return windows.length === 0 || windows.some((w) => openIn(parsed(w), at));
}

/**
 * When the first of `windows` opens next after `at` (within the coming 8 days), or undefined when
 * none does (never, for valid windows) or `windows` is empty.
 */
export function nextOpening(windows: readonly string[], at: Date): Date | undefined {
  let best: number | undefined;
  for (const text of windows) {
    const w = parsed(text);
    const here = DateTime.fromJSDate(at, { zone: w.zone }).startOf('day');
    for (let d = 0; d <= 8; d++) {
      const day = here.plus({ days: d });
      if (!w.days.has(day.weekday)) continue;
      const start = day.set({ hour: Math.floor(w.start / 60), minute: w.start % 60 }).toMillis();
      if (start > at.getTime() && (best === undefined || start < best)) best = start;
    }
  }
  return best === undefined ? undefined : new Date(best);
}

function openIn(w: DeploymentWindow, at: Date): boolean {
  const now = DateTime.fromJSDate(at, { zone: w.zone });
  // a window that started yesterday may run past midnight into today
  for (const day of [now.startOf('day'), now.startOf('day').minus({ days: 1 })]) {
    if (!w.days.has(day.weekday)) continue;
    const start = day.set({ hour: Math.floor(w.start / 60), minute: w.start % 60 });
    const endDay = w.end <= w.start ? day.plus({ days: 1 }) : day;
    const end = w.end === 1440 ? endDay.plus({ days: 1 }) : endDay.set({ hour: Math.floor(w.end / 60), minute: w.end % 60 });
    if (now >= start && now < end) return true;
  }
  return false;
}

function parsed(text: string): DeploymentWindow {
  const w = parseWindow(text);
  if (w instanceof Problem) throw new Error(`invalid deployment window "${text}": ${w.problem}`);
  return w;
}

function minutes(h: string, m: string): number | undefined {
  const hh = Number(h);
  const mm = Number(m);
  if (hh > 24 || mm > 59 || (hh === 24 && mm !== 0)) return undefined;
  return hh * 60 + mm;
}

function parseDays(text: string): ReadonlySet<number> | Problem {
  if (text === '*') return new Set([1, 2, 3, 4, 5, 6, 7]);
  const days = new Set<number>();
  for (const item of text.toLowerCase().split(',')) {
    const [from, to, extra] = item.split('-');
    const a = DAYS.indexOf(from ?? '');
    const b = to === undefined ? a : DAYS.indexOf(to);
    if (a < 0 || b < 0 || extra !== undefined) return new Problem(`"${text}" is not a list of days`, `write ${EXAMPLE}`);
    // a range may wrap past Sunday: Fri-Mon
    for (let d = a; ; d = (d + 1) % 7) {
      days.add(d + 1);
      if (d === b) break;
    }
  }
  return days;
}
