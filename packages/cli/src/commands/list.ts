/** list: virsh's table of domains, or names / UUIDs one a line. */
import type { DomainSummary } from '@qvirt/driver';
import type { CommandDef, ParsedOpts } from '../command.js';
import { print, withDriver } from '../driver-connection.js';

/** vshTable: ` cell` per column, padded to the widest cell plus two; a dashed line of widths+3. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    `${cells.map((c, i) => (i < cells.length - 1 ? ` ${c.padEnd(widths[i]! + 2)}` : ` ${c}`)).join('')}\n`;
  const dashes = `${'-'.repeat(widths.reduce((sum, w) => sum + w + 3, 0))}\n`;
  return line(header) + dashes + rows.map(line).join('');
}

/** virshDomainSorter: running ones by id, then the others by name (case-insensitive). */
function compare(a: DomainSummary, b: DomainSummary): number {
  if (a.id === -1 && b.id === -1) return a.name.toLowerCase().localeCompare(b.name.toLowerCase());
  if (a.id !== -1 && b.id !== -1) return a.id - b.id;
  return a.id !== -1 ? -1 : 1;
}

function selected(
  dom: DomainSummary,
  opts: ParsedOpts,
  isActiveState: (s: DomainSummary['state']) => boolean,
): boolean {
  const active = isActiveState(dom.state);
  const stateFilters = ['state-running', 'state-paused', 'state-shutoff', 'state-other'].filter(
    (f) => opts[f],
  );
  if (opts.inactive && active) return false;
  if (!opts.all && !opts.inactive && stateFilters.length === 0 && !active) return false;
  if (stateFilters.length > 0) {
    const kind =
      dom.state === 'running'
        ? 'state-running'
        : dom.state === 'paused'
          ? 'state-paused'
          : dom.state === 'shutoff'
            ? 'state-shutoff'
            : 'state-other';
    if (!stateFilters.includes(kind)) return false;
  }
  if (opts.persistent && !opts.transient && !dom.persistent) return false;
  if (opts.transient && !opts.persistent && dom.persistent) return false;
  if (opts.autostart && !opts['no-autostart'] && !dom.autostart) return false;
  if (opts['no-autostart'] && !opts.autostart && dom.autostart) return false;
  return true;
}

const flag = (name: string, help: string) => ({ name, type: 'bool' as const, help });

export const listCommand: CommandDef = {
  name: 'list',
  help: 'list domains',
  desc: 'Returns list of domains.',
  options: [
    flag('inactive', 'list inactive domains'),
    flag('all', 'list inactive & active domains'),
    flag('transient', 'list transient domains'),
    flag('persistent', 'list persistent domains'),
    flag('with-snapshot', 'list domains with existing snapshot'),
    flag('without-snapshot', 'list domains without a snapshot'),
    flag('state-running', 'list domains in running state'),
    flag('state-paused', 'list domains in paused state'),
    flag('state-shutoff', 'list domains in shutoff state'),
    flag('state-other', 'list domains in other states'),
    flag('autostart', 'list domains with autostart enabled'),
    flag('no-autostart', 'list domains with autostart disabled'),
    flag('uuid', "list uuid's only"),
    flag('name', 'list domain names only'),
    flag('id', 'list domain IDs only'),
    flag('table', 'list table (default)'),
  ],
  async run(session, opts) {
    // loaded here, not at the top: every other command would load the whole driver with it
    const { isActiveState, STATE_TEXT } = await import('@qvirt/driver');
    await withDriver(session, async (driver) => {
      const doms = (await driver.listDomains()).filter((d) => selected(d, opts, isActiveState)).sort(compare);
      let out: string;
      if (opts.table || (!opts.uuid && !opts.name && !opts.id)) {
        out = formatTable(
          ['Id', 'Name', 'State'],
          doms.map((d) => [d.id === -1 ? '-' : String(d.id), d.name, STATE_TEXT[d.state]]),
        );
      } else if (opts.uuid && opts.name) {
        out = doms.map((d) => `${d.uuid.padEnd(36)}  ${d.name.padEnd(30)}\n`).join('');
      } else if (opts.uuid) out = doms.map((d) => `${d.uuid}\n`).join('');
      else if (opts.name) out = doms.map((d) => `${d.name}\n`).join('');
      else
        out = doms
          .filter((d) => d.id !== -1)
          .map((d) => `${d.id}\n`)
          .join('');
      print(session.io, out);
    });
  },
};
