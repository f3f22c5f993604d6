/**
 * snapshot-create-as, snapshot-list, snapshot-current, snapshot-dumpxml, snapshot-revert,
 * snapshot-delete: virsh's snapshot commands (virsh-snapshot.c) for internal snapshots.
 */
import type { DomainSnapshot } from '@qvirt/core/hypervisor';
import type { CommandDef, OptDef } from '../command.js';
import {
  type Connection,
  DOMAIN_OPT,
  lookupDomain,
  print,
  reporting,
  withDriver,
} from '../driver-connection.js';
import { formatTable } from './list.js';

const bool = (name: string, help: string): OptDef => ({ name, type: 'bool', help });
const SNAP: OptDef = { name: 'snapshotname', type: 'data', required: true, help: 'snapshot name' };

const escapeXml = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&apos;');

/** strftime's "%Y-%m-%d %H:%M:%S %z" in local time, as virsh prints creation times. */
function creationTime(epoch: number): string {
  const d = new Date(epoch * 1000);
  const p = (n: number) => String(n).padStart(2, '0');
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())} ${sign}${p(Math.floor(Math.abs(off) / 60))}${p(Math.abs(off) % 60)}`;
}

async function snapshotOf(driver: Connection, domain: string, name: string): Promise<DomainSnapshot> {
  const dom = await lookupDomain(driver, domain);
  return driver.domainSnapshotLookupByName(dom, name, 0);
}

export const snapshotCreateAsCommand: CommandDef = {
  name: 'snapshot-create-as',
  help: 'Create a snapshot from a set of args',
  desc: 'Create a snapshot (disk and RAM) from arguments',
  options: [
    DOMAIN_OPT,
    { name: 'name', type: 'data', help: 'name of snapshot' },
    { name: 'description', type: 'data', help: 'description of snapshot' },
    bool('print-xml', 'print XML document rather than create'),
    bool('no-metadata', 'take snapshot but create no metadata'),
    bool('halt', 'halt domain after snapshot is created'),
    bool('atomic', 'require atomic operation'),
  ],
  async run(session, opts) {
    const xml = `<domainsnapshot>\n${opts.name ? `  <name>${escapeXml(opts.name as string)}</name>\n` : ''}${opts.description ? `  <description>${escapeXml(opts.description as string)}</description>\n` : ''}</domainsnapshot>\n`;
    if (opts['print-xml']) {
      print(session.io, xml);
      return;
    }
    const flags = (opts['no-metadata'] ? 1 << 2 : 0) | (opts.halt ? 1 << 3 : 0) | (opts.atomic ? 1 << 7 : 0);
    await withDriver(session, async (driver) => {
      const dom = await lookupDomain(driver, opts.domain as string);
      const snap = await driver.domainSnapshotCreateXML(dom, xml, flags);
      print(session.io, `Domain snapshot ${snap.name} created`);
    });
  },
};

export const snapshotListCommand: CommandDef = {
  name: 'snapshot-list',
  help: 'List snapshots for a domain',
  desc: 'Snapshot List',
  options: [
    DOMAIN_OPT,
    bool('parent', 'add a column showing parent snapshot'),
    bool('roots', 'list only snapshots without parents'),
    bool('name', 'list snapshot names only'),
  ],
  async run(session, opts) {
    await withDriver(session, async (driver) => {
      const dom = await lookupDomain(driver, opts.domain as string);
      const snaps = await driver.domainListAllSnapshots(dom, opts.roots ? 1 : 0);
      const rows = await Promise.all(
        snaps.map(async (s) => {
          const xml = await driver.domainSnapshotGetXMLDesc(s, 0);
          const time = Number(/<creationTime>(\d+)<\/creationTime>/.exec(xml)?.[1] ?? 0);
          const state = /<state>([^<]*)<\/state>/.exec(xml)?.[1] ?? '';
          const parent = /<parent>\s*<name>([^<]*)<\/name>/.exec(xml)?.[1] ?? '';
          return { name: s.name, time, state, parent };
        }),
      );
      // virshSnapSorter: by name
      rows.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      if (opts.name) {
        print(session.io, rows.map((r) => `${r.name}\n`).join(''));
        return;
      }
      const header = ['Name', 'Creation Time', 'State', ...(opts.parent ? ['Parent'] : [])];
      print(
        session.io,
        formatTable(
          header,
          rows.map((r) => [r.name, creationTime(r.time), r.state, ...(opts.parent ? [r.parent] : [])]),
        ),
      );
    });
  },
};

export const snapshotCurrentCommand: CommandDef = {
  name: 'snapshot-current',
  help: 'Get or set the current snapshot',
  desc: 'Get or set the current snapshot',
  options: [DOMAIN_OPT, bool('name', 'list the name, rather than the full xml')],
  async run(session, opts) {
    await withDriver(session, async (driver) => {
      const dom = await lookupDomain(driver, opts.domain as string);
      const cur = await driver.domainSnapshotCurrent(dom, 0);
      print(session.io, opts.name ? cur.name : await driver.domainSnapshotGetXMLDesc(cur, 0));
    });
  },
};

export const snapshotDumpxmlCommand: CommandDef = {
  name: 'snapshot-dumpxml',
  help: 'Dump XML for a domain snapshot',
  desc: 'Snapshot Dump XML',
  options: [DOMAIN_OPT, SNAP, bool('security-info', 'include security sensitive information in XML dump')],
  async run(session, opts) {
    await withDriver(session, async (driver) => {
      const snap = await snapshotOf(driver, opts.domain as string, opts.snapshotname as string);
      print(session.io, await driver.domainSnapshotGetXMLDesc(snap, opts['security-info'] ? 1 : 0));
    });
  },
};

export const snapshotRevertCommand: CommandDef = {
  name: 'snapshot-revert',
  help: 'Revert a domain to a snapshot',
  desc: 'Revert domain to snapshot',
  options: [
    DOMAIN_OPT,
    { name: 'snapshotname', type: 'data', help: 'snapshot name' },
    bool('current', 'revert to current snapshot'),
    bool('running', 'after reverting, change state to running'),
    bool('paused', 'after reverting, change state to paused'),
    bool('force', 'try harder on risky reverts'),
  ],
  async run(session, opts) {
    const flags = (opts.running ? 1 : 0) | (opts.paused ? 2 : 0) | (opts.force ? 4 : 0);
    await withDriver(session, async (driver) => {
      const dom = await lookupDomain(driver, opts.domain as string);
      const snap = opts.current
        ? await driver.domainSnapshotCurrent(dom, 0)
        : await driver.domainSnapshotLookupByName(dom, (opts.snapshotname as string) ?? '', 0);
      await driver.domainRevertToSnapshot(snap, flags);
      print(session.io, `Domain snapshot ${snap.name} reverted\n`);
    });
  },
};

export const snapshotDeleteCommand: CommandDef = {
  name: 'snapshot-delete',
  help: 'Delete a domain snapshot',
  desc: 'Snapshot Delete',
  options: [
    DOMAIN_OPT,
    { name: 'snapshotname', type: 'data', help: 'snapshot name' },
    bool('current', 'delete current snapshot'),
    bool('children', 'delete snapshot and all children'),
    bool('children-only', 'delete children but not snapshot'),
    bool('metadata', 'delete only libvirt metadata, leaving snapshot contents behind'),
  ],
  async run(session, opts) {
    const flags = (opts.children ? 1 : 0) | (opts.metadata ? 2 : 0) | (opts['children-only'] ? 4 : 0);
    await withDriver(session, async (driver) => {
      const dom = await lookupDomain(driver, opts.domain as string);
      const snap = opts.current
        ? await driver.domainSnapshotCurrent(dom, 0)
        : await driver.domainSnapshotLookupByName(dom, (opts.snapshotname as string) ?? '', 0);
      await reporting(session.io, `Failed to delete snapshot ${snap.name}`, () =>
        driver.domainSnapshotDelete(snap, flags),
      );
      print(
        session.io,
        opts['children-only']
          ? `Domain snapshot ${snap.name} children deleted\n`
          : `Domain snapshot ${snap.name} deleted\n`,
      );
    });
  },
};

export const SNAPSHOT_COMMANDS: CommandDef[] = [
  snapshotCreateAsCommand,
  snapshotCurrentCommand,
  snapshotDeleteCommand,
  snapshotDumpxmlCommand,
  snapshotListCommand,
  snapshotRevertCommand,
];
