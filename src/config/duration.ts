/**
 * Go's duration syntax (`time.ParseDuration`): a sequence of decimal numbers with units
 * `ns us µs ms s m h`, e.g. `90s`, `5m`, `1h30m`, `1.5h`. gitopper's `-t` takes it.
 */

const UNIT_SECONDS: Readonly<Record<string, number>> = { ns: 1e-9, us: 1e-6, µs: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };

/** Parse a Go duration into seconds. Throws Error naming the input on bad syntax or a negative value. */
export function parseDuration(text: string): number {
  const s = text.trim();
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) break;
    total += Number(m[1]) * UNIT_SECONDS[m[2]!]!;
    pos = re.lastIndex;
  }
  if (pos === 0 || pos !== s.length) throw new Error(`invalid duration "${text}": use Go syntax such as 90s, 5m or 1h30m`);
  return total;
}
