/** list: virsh's table of domains, or names / UUIDs one a line. */
import {
  type Domain,
  domainStateName,
  VIR_CONNECT_LIST_DOMAINS as L,
  STATE_TEXT,
} from '@qvirt/core/hypervisor';
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
function compare(a: Domain, b: Domain): number {
  if (a.id === -1 && b.id === -1) return a.name.toLowerCase().localeCompare(b.name.toLowerCase());
  if (a.id !== -1 && b.id !== -1) return a.id - b.id;
  return a.id !== -1 ? -1 : 1;
}

/** cmdList's virConnectListAllDomains flags for its options. */
export function listFlags(opts: ParsedOpts): number {
  const states: Array<[string, number]> = [
    ['state-running', L.RUNNING],
    ['state-paused', L.PAUSED],
    ['state-shutoff', L.SHUTOFF],
    ['state-other', L.OTHER],
  ];
  let flags = 0;
  for (const [name, bit] of states) if (opts[name]) flags |= bit;
  if (opts.inactive) flags |= L.INACTIVE;
  else if (!opts.all && flags === 0) flags |= L.ACTIVE;
  if (opts.persistent) flags |= L.PERSISTENT;
  if (opts.transient) flags |= L.TRANSIENT;
  if (opts.autostart) flags |= L.AUTOSTART;
  if (opts['no-autostart']) flags |= L.NO_AUTOSTART;
  if (opts['with-snapshot']) flags |= L.HAS_SNAPSHOT;
  if (opts['without-snapshot']) flags |= L.NO_SNAPSHOT;
  if (opts['with-managed-save']) flags |= L.MANAGEDSAVE;
  if (opts['without-managed-save']) flags |= L.NO_MANAGEDSAVE;
  return flags;
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
    flag('with-managed-save', 'list domains with managed save state'),
    flag('without-managed-save', 'list domains without managed save'),
    flag('uuid', "list uuid's only"),
    flag('name', 'list domain names only'),
    flag('id', 'list domain IDs only'),
    flag('table', 'list table (default)'),
    flag('managed-save', 'mark inactive domains with managed save state'),
  ],
  async run(session, opts) {
    await withDriver(session, async (driver) => {
      const doms = (await driver.connectListAllDomains(listFlags(opts))).sort(compare);
      let out: string;
      if (opts.table || (!opts.uuid && !opts.name && !opts.id)) {
        out = formatTable(
          ['Id', 'Name', 'State'],
          await Promise.all(
            doms.map(async (d) => {
              const { state } = await driver.domainGetState(d, 0);
              // --managed-save: an inactive domain with an image shows as "saved"
              const saved =
                opts['managed-save'] === true &&
                d.id === -1 &&
                (await driver.domainHasManagedSaveImage(d, 0)) > 0;
              return [
                d.id === -1 ? '-' : String(d.id),
                d.name,
                saved ? 'saved' : STATE_TEXT[domainStateName(state)],
              ];
            }),
          ),
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
