/**
 * gitopperctl's tables: one {@link Sheet} (header and rows) per server answer, and {@link table}, which
 * prints columns the way gitopper does (no borders, two spaces apart). Ages as gitopper's SINCE column.
 */
import Table from 'cli-table3';
import { parseChange, type ListHistory, type ListMachines, type ListServices, type PullAccepted } from '../api/wire.js';

/** A relative age like gitopper's SINCE column: `45s`, `3m12s`, `2h3m`, `4d2h` (never negative). */
export function age(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const [d, h, m, sec] = [Math.floor(s / 86400), Math.floor((s % 86400) / 3600), Math.floor((s % 3600) / 60), s % 60];
  if (d > 0) return `${d}d${h}h`;
  if (h > 0) return `${h}h${m}m`;
  if (m > 0) return `${m}m${sec}s`;
  return `${sec}s`;
}

/** A table before printing: header cells and one row of cells per item. */
export interface Sheet {
  readonly header: string[];
  readonly rows: string[][];
}

/** cli-table3 without borders: columns two spaces apart, no padding, no colours. */
const BORDERLESS = {
  chars: {
    top: '', 'top-mid': '', 'top-left': '', 'top-right': '',
    bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
    left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '',
    middle: '  ',
  },
  style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0 },
};

/** Control characters (newlines, tabs, terminal escapes) from the server become blanks: one line per row. */
const cell = (text: string): string => text.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');

/**
 * Columns padded to their widest cell (display width, so wide characters line up), two spaces
 * apart, no trailing blanks; one line per row. Drawn by cli-table3 without borders.
 */
export function table(header: string[], rows: string[][]): string {
  const t = new Table({ head: header.map(cell), ...BORDERLESS });
  t.push(...rows.map((r) => header.map((_, i) => cell(r[i] ?? ''))));
  return t.toString().split('\n').map((line) => line.trimEnd()).join('\n') + '\n';
}

/** `# MACHINE ACTUAL`, rows numbered from 0 as gitopper does. */
export function machineSheet(body: ListMachines): Sheet {
  return { header: ['#', 'MACHINE', 'ACTUAL'], rows: body.machines.map((m, i) => [String(i), m.machine, m.actual]) };
}

/** `# SERVICE HASH STATE INFO SINCE`; SINCE is the age of `change` at `now` (raw when unparseable). */
export function serviceSheet(body: ListServices, now: Date): Sheet {
  const since = (change: string) => {
    const t = parseChange(change);
    return t === undefined ? change : age(now.getTime() - t.getTime());
  };
  const rows = body.services.map((s, i) => [String(i), s.service, s.hash, s.state, s.stateinfo, since(s.change)]);
  return { header: ['#', 'SERVICE', 'HASH', 'STATE', 'INFO', 'SINCE'], rows };
}

/** `# HASH STATE INFO TRIGGER BY TOOK AGO`, newest first as served. */
export function historySheet(body: ListHistory, now: Date): Sheet {
  const rows = body.history.map((h, i) => {
    const ago = Date.parse(h.time);
    return [String(i), h.hash, h.state, h.stateinfo, h.trigger, h.by ?? '-', `${h.seconds.toFixed(1)}s`, Number.isNaN(ago) ? h.time : age(now.getTime() - ago)];
  });
  return { header: ['#', 'HASH', 'STATE', 'INFO', 'TRIGGER', 'BY', 'TOOK', 'AGO'], rows };
}

/** `PULL` with one row `accepted: SERVICE` (or `all services`); the several-host form of `do pull`. */
export function pullSheet(body: PullAccepted, service: string | undefined): Sheet {
  return { header: ['PULL'], rows: [[`accepted: ${service ?? body.service ?? 'all services'}`]] };
}

/** The `list machines` table of one host. */
export function machineTable(body: ListMachines): string {
  const { header, rows } = machineSheet(body);
  return table(header, rows);
}

/** The `list service` table of one host (also printed by freeze, unfreeze and rollback). */
export function serviceTable(body: ListServices, now: Date): string {
  const { header, rows } = serviceSheet(body, now);
  return table(header, rows);
}

/** The `list history` table of one host. */
export function historyTable(body: ListHistory, now: Date): string {
  const { header, rows } = historySheet(body, now);
  return table(header, rows);
}
