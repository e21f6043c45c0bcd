/** Deployment windows (src/config/window.ts): grammar, open/closed, next opening, midnight and DST. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isOpen, nextOpening, parseWindow } from '../src/config/window.js';
import { Problem } from '../src/config/validate.js';

const at = (iso: string) => new Date(iso);

test('parseWindow reads days, lists, wrapping ranges, times and zones; bad forms are Problems with a fix', () => {
  const w = parseWindow('Mon-Fri 09:00-17:00 Europe/Amsterdam');
  assert.ok(!(w instanceof Problem));
  assert.deepEqual([...w.days], [1, 2, 3, 4, 5]);
  assert.deepEqual([w.start, w.end, w.zone], [540, 1020, 'Europe/Amsterdam']);
  const wrap = parseWindow('fri-mon,wed 22:00-02:00');
  assert.ok(!(wrap instanceof Problem));
  assert.deepEqual([...wrap.days].sort(), [1, 3, 5, 6, 7]);
  assert.equal(wrap.zone, 'system');
  for (const bad of ['Mon-Fri', 'Mon-Fri 9-17', 'Funday 09:00-17:00', 'Mon 09:00-09:00', 'Mon 09:00-25:00', 'Mon 09:00-17:00 Mars/Base', 'Mon-Tue-Wed 09:00-10:00']) {
    const p = parseWindow(bad);
    assert.ok(p instanceof Problem, bad);
    assert.ok(p.fix.length > 0);
  }
});

test('isOpen: inside, at the edges, outside, on other days, and past midnight', () => {
  const w = ['Mon-Fri 09:00-17:00 UTC'];
  assert.equal(isOpen(w, at('2026-12-07T09:00:00Z')), true, 'opens at the start (Monday)');
  assert.equal(isOpen(w, at('2026-12-07T16:59:59Z')), true);
  assert.equal(isOpen(w, at('2026-12-07T17:00:00Z')), false, 'closed at the end');
  assert.equal(isOpen(w, at('2026-12-05T12:00:00Z')), false, 'Saturday');
  const night = ['Fri 22:00-02:00 UTC'];
  assert.equal(isOpen(night, at('2026-12-05T01:30:00Z')), true, 'Friday night runs into Saturday');
  assert.equal(isOpen(night, at('2026-12-06T01:30:00Z')), false, 'but Saturday night is not Friday');
  assert.equal(isOpen(['Sat 00:00-24:00 UTC'], at('2026-12-05T23:59:00Z')), true, '24:00 is the end of the day');
  assert.equal(isOpen([], at('2026-12-05T23:59:00Z')), true, 'no window: always open');
  assert.equal(isOpen(['Mon 09:00-10:00 UTC', 'Sat 11:00-12:00 UTC'], at('2026-12-05T11:30:00Z')), true, 'any window of a list');
});

test('wall-clock times follow the zone across DST (luxon): 09:00 Amsterdam is 08:00Z in winter, 07:00Z in summer', () => {
  const w = ['Mon-Fri 09:00-17:00 Europe/Amsterdam'];
  assert.equal(isOpen(w, at('2026-12-07T08:00:00Z')), true);
  assert.equal(isOpen(w, at('2026-12-07T07:59:00Z')), false);
  assert.equal(isOpen(w, at('2026-07-06T07:00:00Z')), true);
  // the week of the change to summer time (Sunday 29 March 2026): Friday before and Monday after
  assert.equal(nextOpening(w, at('2026-03-27T17:00:00Z'))?.toISOString(), '2026-03-30T07:00:00.000Z');
});

test('nextOpening: the first start after now, across weekends and lists', () => {
  assert.equal(nextOpening(['Mon-Fri 09:00-17:00 UTC'], at('2026-12-05T10:00:00Z'))?.toISOString(), '2026-12-07T09:00:00.000Z');
  assert.equal(nextOpening(['Mon-Fri 09:00-17:00 UTC'], at('2026-12-07T08:00:00Z'))?.toISOString(), '2026-12-07T09:00:00.000Z');
  assert.equal(nextOpening(['Mon 09:00-10:00 UTC', 'Sun 20:00-21:00 UTC'], at('2026-12-05T10:00:00Z'))?.toISOString(), '2026-12-06T20:00:00.000Z');
  assert.equal(nextOpening([], at('2026-12-05T10:00:00Z')), undefined);
});
