/**
 * virsh's snapshot commands (virsh-snapshot.c): snapshot-create, snapshot-create-as,
 * snapshot-edit, snapshot-current, snapshot-info, snapshot-list, snapshot-dumpxml,
 * snapshot-parent, snapshot-revert, snapshot-delete, with virsh's messages and layouts.
 */
import { VirError } from '@qvirt/core/errors';
import type { Domain, DomainSnapshot } from '@qvirt/core/hypervisor';
import {
  type CommandDef,
  CommandFailed,
  type OptDef,
  optionList,
  type ParsedOpts,
  readFileArg,
} from '../command.js';
import {
  type Connection,
  DOMAIN_OPT,
  lookupDomain,
  print,
  reporting,
  withDriver,
} from '../driver-connection.js';
import { editLoop } from './edit-file.js';
import { formatTable } from './list.js';

const bool = (name: string, help: string): OptDef => ({ name, type: 'bool', help });
const SNAP: OptDef = { name: 'snapshotname', type: 'data', required: true, help: 'snapshot name' };
const SNAP_OPT: OptDef = { name: 'snapshotname', type: 'data', help: 'snapshot name' };

/** virDomainSnapshotCreateFlags. */
const C = {
  REDEFINE: 1 << 0,
  CURRENT: 1 << 1,
  NO_METADATA: 1 << 2,
  HALT: 1 << 3,
  DISK_ONLY: 1 << 4,
  REUSE_EXT: 1 << 5,
  QUIESCE: 1 << 6,
  ATOMIC: 1 << 7,
  LIVE: 1 << 8,
  VALIDATE: 1 << 9,
} as const;
/** virDomainSnapshotListFlags. */
const L = {
  ROOTS: 1 << 0,
  DESCENDANTS: 1 << 0,
  METADATA: 1 << 1,
  LEAVES: 1 << 2,
  NO_LEAVES: 1 << 3,
  NO_METADATA: 1 << 4,
  INACTIVE: 1 << 5,
  ACTIVE: 1 << 6,
  DISK_ONLY: 1 << 7,
  INTERNAL: 1 << 8,
  EXTERNAL: 1 << 9,
  TOPOLOGICAL: 1 << 10,
} as const;
const XML_SECURE = 1;

const usage = (msg: string) => new VirError('INVALID_ARG', 'none', msg);

/** virBufferEscapeString. */
const escapeXml = (s: string) =>
  s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/'/g, '&apos;')
    .replace(/"/g, '&quot;');

/** g_date_time_format(local, "%Y-%m-%d %H:%M:%S %z"), as virsh prints creation times. */
function creationTime(epoch: number): string {
  const d = new Date(epoch * 1000);
  const p = (n: number) => String(n).padStart(2, '0');
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())} ${sign}${p(Math.floor(Math.abs(off) / 60))}${p(Math.abs(off) % 60)}`;
}

const xpathText = (xml: string, re: RegExp) => re.exec(xml)?.[1];
const parentOf = (xml: string) => xpathText(xml, /<parent>\s*<name>([^<]*)<\/name>/);

/** virshLookupSnapshot: `--ARG name` or `--current`. */
async function lookupSnapshot(
  driver: Connection,
  dom: Domain,
  opts: ParsedOpts,
  arg: string,
  exclusive: boolean,
): Promise<DomainSnapshot> {
  const name = opts[arg] as string | undefined;
  if (exclusive && opts.current && name) throw usage(`--${arg} and --current are mutually exclusive`);
  if (name !== undefined) return driver.domainSnapshotLookupByName(dom, name, 0);
  if (opts.current) return driver.domainSnapshotCurrent(dom, 0);
  throw usage(`--${arg} or --current is required`);
}

/** virshSnapshotCreate: the create, and its message. */
async function create(
  session: Parameters<CommandDef['run']>[0],
  driver: Connection,
  dom: Domain,
  xml: string,
  flags: number,
  from?: string,
): Promise<void> {
  const snap = await driver.domainSnapshotCreateXML(dom, xml, flags);
  print(
    session.io,
    from ? `Domain snapshot ${snap.name} created from '${from}'` : `Domain snapshot ${snap.name} created`,
  );
}

const CREATE_FLAGS: Array<[string, number, string]> = [
  ['no-metadata', C.NO_METADATA, 'take snapshot but create no metadata'],
  ['halt', C.HALT, 'halt domain after snapshot is created'],
  ['disk-only', C.DISK_ONLY, 'capture disk state but not vm state'],
  ['reuse-external', C.REUSE_EXT, 'reuse any existing external files'],
  ['quiesce', C.QUIESCE, "quiesce guest's file systems"],
  ['atomic', C.ATOMIC, 'require atomic operation'],
  ['live', C.LIVE, 'take a live snapshot'],
  ['validate', C.VALIDATE, 'validate the XML against the schema'],
];
const createFlags = (opts: ParsedOpts) => CREATE_FLAGS.reduce((f, [o, bit]) => (opts[o] ? f | bit : f), 0);

export const snapshotCreateCommand: CommandDef = {
  name: 'snapshot-create',
  help: 'Create a snapshot from XML',
  desc: 'Create a snapshot (disk and RAM) from XML',
  options: [
    DOMAIN_OPT,
    { name: 'xmlfile', type: 'data', help: 'domain snapshot XML' },
    bool('redefine', 'redefine metadata for existing snapshot'),
    bool('current', 'with redefine, set current snapshot'),
    ...CREATE_FLAGS.map(([o, , help]) => bool(o, help)),
  ],
  async run(session, opts) {
    const flags = createFlags(opts) | (opts.redefine ? C.REDEFINE : 0) | (opts.current ? C.CURRENT : 0);
    await withDriver(session, async (driver) => {
      const dom = await lookupDomain(driver, opts.domain as string);
      const from = opts.xmlfile as string | undefined;
      const xml = from === undefined ? '<domainsnapshot/>' : await readFileArg(from);
      await create(session, driver, dom, xml, flags, from);
    });
  },
};

/** virshParseSnapshotMemspec. */
function memspecXml(str: string): string {
  let snapshot: string | undefined;
  let file: string | undefined;
  for (const w of splitSpec(str)) {
    if (snapshot === undefined && w.startsWith('snapshot=')) snapshot = w.slice(9);
    else if (file === undefined && w.startsWith('file=')) file = w.slice(5);
    else if (file === undefined && w.startsWith('/')) file = w;
    else throw usage(`unable to parse memspec: ${str}`);
  }
  return `<memory${snapshot !== undefined ? ` snapshot='${escapeXml(snapshot)}'` : ''}${file !== undefined ? ` file='${escapeXml(file)}'` : ''}/>\n`;
}

/** virshParseSnapshotDiskspec: the `<disk>` lines (children indented by two). */
function diskspecLines(str: string, io: { err(t: string): void }): string[] {
  const bad = () => usage(`unable to parse diskspec: ${str}`);
  const [name, ...rest] = splitSpec(str);
  if (!name) throw bad();
  const f: Record<string, string> = {};
  for (const w of rest) {
    const key = ['snapshot', 'driver', 'stype', 'file'].find(
      (k) => w.startsWith(`${k}=`) && f[k] === undefined,
    );
    if (!key) throw bad();
    f[key] = w.slice(key.length + 1);
  }
  let open = `<disk name='${escapeXml(name)}'`;
  if (f.snapshot) open += ` snapshot='${f.snapshot}'`;
  if (f.stype) {
    if (f.stype !== 'block' && f.stype !== 'file') {
      io.err(`error: Unknown storage type: '${f.stype}'\n`);
      throw bad();
    }
    open += ` type='${f.stype}'`;
  }
  if (!f.driver && !f.file) return [`${open}/>`];
  const lines = [`${open}>`];
  if (f.driver) lines.push(`  <driver type='${f.driver}'/>`);
  if (f.file) lines.push(`  <source ${f.stype === 'block' ? 'dev' : 'file'}='${escapeXml(f.file)}'/>`);
  lines.push('</disk>');
  return lines;
}

/** vshStringToArray: comma-separated, `,,` for a literal comma. */
function splitSpec(str: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < str.length; i++) {
    if (str[i] === ',' && str[i + 1] === ',') {
      cur += ',';
      i++;
    } else if (str[i] === ',') {
      out.push(cur);
      cur = '';
    } else cur += str[i];
  }
  out.push(cur);
  return out;
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
    ...CREATE_FLAGS.map(([o, , help]) => bool(o, help)),
    { name: 'memspec', type: 'data', help: 'memory attributes: [file=]name[,snapshot=type]' },
    {
      name: 'diskspec',
      type: 'data',
      multiple: true,
      help: 'disk attributes: disk[,snapshot=type][,driver=type][,stype=type][,file=name]',
    },
  ],
  async run(session, opts) {
    const flags = createFlags(opts);
    let xml = '<domainsnapshot>\n';
    if (opts.name !== undefined) xml += `  <name>${escapeXml(opts.name as string)}</name>\n`;
    if (opts.description !== undefined)
      xml += `  <description>${escapeXml(opts.description as string)}</description>\n`;
    if (opts.memspec !== undefined) xml += `  ${memspecXml(opts.memspec as string)}`;
    const disks = optionList(opts, 'diskspec');
    if (disks.length) {
      xml += '  <disks>\n';
      for (const d of disks) for (const l of diskspecLines(d, session.io)) xml += `    ${l}\n`;
      xml += '  </disks>\n';
    }
    xml += '</domainsnapshot>\n';
    if (opts['print-xml']) {
      print(session.io, `${xml}\n`);
      return;
    }
    await withDriver(session, async (driver) => {
      const dom = await lookupDomain(driver, opts.domain as string);
      await create(session, driver, dom, xml, flags);
    });
  },
};

export const snapshotEditCommand: CommandDef = {
  name: 'snapshot-edit',
  help: 'edit XML for a snapshot',
  desc: 'Edit the domain snapshot XML for a named snapshot',
  options: [
    DOMAIN_OPT,
    SNAP_OPT,
    bool('current', 'also set edited snapshot as current'),
    bool('rename', 'allow renaming an existing snapshot'),
    bool('clone', 'allow cloning to new name'),
  ],
  async run(session, opts) {
    if (opts.rename && opts.clone) throw usage('Options --rename and --clone are mutually exclusive');
    let defineFlags = C.REDEFINE;
    if (opts.current && opts.snapshotname !== undefined) defineFlags |= C.CURRENT;
    await withDriver(session, async (driver) => {
      const dom = await lookupDomain(driver, opts.domain as string);
      const snap = await lookupSnapshot(driver, dom, opts, 'snapshotname', false);
      const name = snap.name;
      /** The edit and define; false when it failed after saying why. */
      const edit = async (): Promise<boolean> => {
        const edited = await editLoop(
          session,
          () => driver.domainSnapshotGetXMLDesc(snap, XML_SECURE),
          () => {
            if (defineFlags & C.CURRENT) return undefined;
            session.io.out(`Snapshot ${name} XML configuration not changed.\n\n`);
            return null;
          },
          (doc) =>
            driver.domainSnapshotCreateXML(
              dom,
              doc,
              doc.includes('<state>disk-snapshot</state>') ? defineFlags | C.DISK_ONLY : defineFlags,
            ),
        );
        if (edited === null) return true;
        if (!edited) return false;
        if (edited.name === name) print(session.io, `Snapshot ${name} edited.\n`);
        else if (opts.clone) print(session.io, `Snapshot ${name} cloned to ${edited.name}.\n`);
        else {
          await driver.domainSnapshotDelete(opts.rename ? snap : edited, 2);
          if (!opts.rename) {
            session.io.err(`error: Must use --rename or --clone to change ${name} to ${edited.name}\n`);
            return false;
          }
        }
        return true;
      };
      let ok = false;
      try {
        ok = await edit();
      } finally {
        if (!ok) session.io.err(`error: Failed to update ${name}\n`);
      }
      if (!ok) {
        // vshCommandRun's blank line, after the errors
        session.io.out('\n');
        throw new CommandFailed();
      }
    });
  },
};

export const snapshotCurrentCommand: CommandDef = {
  name: 'snapshot-current',
  help: 'Get or set the current snapshot',
  desc: 'Get or set the current snapshot',
  options: [
    DOMAIN_OPT,
    bool('name', 'list the name, rather than the full xml'),
    bool('security-info', 'include security sensitive information in XML dump'),
    { name: 'snapshotname', type: 'data', help: 'name of existing snapshot to make current' },
  ],
  async run(session, opts) {
    if (opts.name && opts.snapshotname !== undefined)
      throw usage('Options --name and --snapshotname are mutually exclusive');
    await withDriver(session, async (driver) => {
      const dom = await lookupDomain(driver, opts.domain as string);
      if (opts.snapshotname !== undefined) {
        const name = opts.snapshotname as string;
        const snap = await driver.domainSnapshotLookupByName(dom, name, 0);
        const xml = await driver.domainSnapshotGetXMLDesc(snap, XML_SECURE);
        let flags = C.REDEFINE | C.CURRENT;
        if (xml.includes('<state>disk-snapshot</state>')) flags |= C.DISK_ONLY;
        await driver.domainSnapshotCreateXML(dom, xml, flags);
        print(session.io, `Snapshot ${name} set as current`);
        return;
      }
      if (!(await driver.domainHasCurrentSnapshot(dom, 0)))
        throw new VirError('NO_DOMAIN_SNAPSHOT', 'none', `domain '${opts.domain}' has no current snapshot`);
      const cur = await driver.domainSnapshotCurrent(dom, 0);
      print(
        session.io,
        opts.name
          ? cur.name
          : await driver.domainSnapshotGetXMLDesc(cur, opts['security-info'] ? XML_SECURE : 0),
      );
    });
  },
};

export const snapshotInfoCommand: CommandDef = {
  name: 'snapshot-info',
  help: 'snapshot information',
  desc: 'Returns basic information about a snapshot.',
  options: [DOMAIN_OPT, SNAP_OPT, bool('current', 'info on current snapshot')],
  async run(session, opts) {
    await withDriver(session, async (driver) => {
      const dom = await lookupDomain(driver, opts.domain as string);
      const snap = await lookupSnapshot(driver, dom, opts, 'snapshotname', true);
      const row = (k: string, v: string | number) => `${k.padEnd(15)} ${v}\n`;
      let out = row('Name:', snap.name) + row('Domain:', dom.name);
      const current = await driver.domainSnapshotIsCurrent(snap, 0).catch(() => 0);
      out += row('Current:', current > 0 ? 'yes' : 'no');
      const xml = await driver.domainSnapshotGetXMLDesc(snap, 0);
      const state = xpathText(xml, /<state>([^<]*)<\/state>/) ?? '';
      out += row('State:', state);
      const external = /<memory\b/.test(xml)
        ? /<memory snapshot='external'|<disk [^>]*snapshot='external'/.test(xml)
        : state === 'disk-snapshot';
      out += row('Location:', external ? 'external' : 'internal');
      out += row('Parent:', parentOf(xml) ?? '-');
      out += row('Children:', await driver.domainSnapshotNumChildren(snap, 0));
      out += row('Descendants:', await driver.domainSnapshotNumChildren(snap, L.DESCENDANTS));
      out += row('Metadata:', (await driver.domainSnapshotHasMetadata(snap, 0)) ? 'yes' : 'no');
      print(session.io, out);
    });
  },
};

/** vshTreePrint: each root with its descendants, `+- ` and `|` as virsh draws them. */
function treeLines(items: Array<{ name: string; parent: string | undefined }>): string {
  let out = '';
  const walk = (i: number, last: number, root: boolean, indent: string) => {
    const item = items[i]!;
    out += `${indent}${root ? '' : '+- '}${item.name}\n`;
    let ind = indent;
    if (!root) ind += `${i === last ? ' ' : '|'} `;
    let nextLast = -1;
    items.forEach((c, j) => {
      if (c.parent === item.name) nextLast = j;
    });
    if (nextLast !== -1) out += `${ind}  |\n`;
    items.forEach((c, j) => {
      if (c.parent === item.name) walk(j, nextLast, false, `${ind}  `);
    });
    if (nextLast === -1 && i === last) out += `${ind}\n`;
  };
  items.forEach((it, i) => {
    if (it.parent === undefined) walk(i, i, true, '');
  });
  return out;
}

export const snapshotListCommand: CommandDef = {
  name: 'snapshot-list',
  help: 'List snapshots for a domain',
  desc: 'Snapshot List',
  options: [
    DOMAIN_OPT,
    bool('parent', 'add a column showing parent snapshot'),
    bool('roots', 'list only snapshots without parents'),
    bool('leaves', 'list only snapshots without children'),
    bool('no-leaves', 'list only snapshots that are not leaves (with children)'),
    bool('metadata', 'list only snapshots that have metadata that would prevent undefine'),
    bool('no-metadata', 'list only snapshots that have no metadata managed by libvirt'),
    bool('inactive', 'filter by snapshots taken while inactive'),
    bool('active', 'filter by snapshots taken while active (full system snapshots)'),
    bool('disk-only', 'filter by disk-only snapshots'),
    bool('internal', 'filter by internal snapshots'),
    bool('external', 'filter by external snapshots'),
    bool('tree', 'list snapshots in a tree'),
    { name: 'from', type: 'data', help: 'limit list to children of given snapshot' },
    bool('current', 'limit list to children of current snapshot'),
    bool('descendants', 'with --from, list all descendants'),
    bool('name', 'list snapshot names only'),
    bool('topological', 'sort list topologically rather than by name'),
  ],
  async run(session, opts) {
    const tree = !!opts.tree;
    const from = opts.from !== undefined;
    const excl = (a: string, b: string, va: unknown, vb: unknown) => {
      if (va && vb) throw usage(`Options --${a} and --${b} are mutually exclusive`);
    };
    excl('tree', 'name', tree, opts.name);
    excl('parent', 'roots', opts.parent, opts.roots);
    excl('parent', 'tree', opts.parent, tree);
    excl('roots', 'tree', opts.roots, tree);
    excl('roots', 'from', opts.roots, from);
    excl('roots', 'current', opts.roots, opts.current);
    let flags = 0;
    const filters: Array<[string, number]> = [
      ['leaves', L.LEAVES],
      ['no-leaves', L.NO_LEAVES],
      ['inactive', L.INACTIVE],
      ['active', L.ACTIVE],
      ['disk-only', L.DISK_ONLY],
      ['internal', L.INTERNAL],
      ['external', L.EXTERNAL],
    ];
    for (const [o, bit] of filters) {
      if (!opts[o]) continue;
      if (tree) throw usage(`--${o} and --tree are mutually exclusive`);
      flags |= bit;
    }
    if (opts.topological) flags |= L.TOPOLOGICAL;
    if (opts.roots) flags |= L.ROOTS;
    if (opts.metadata) flags |= L.METADATA;
    if (opts['no-metadata']) flags |= L.NO_METADATA;
    if (opts.descendants) {
      if (!from && !opts.current) throw usage('--descendants requires either --from or --current');
      flags |= L.DESCENDANTS;
    }
    await withDriver(session, async (driver) => {
      const dom = await lookupDomain(driver, opts.domain as string);
      const start = from || opts.current ? await lookupSnapshot(driver, dom, opts, 'from', true) : undefined;
      const snaps = start
        ? await driver.domainSnapshotListAllChildren(start, flags)
        : await driver.domainListAllSnapshots(dom, flags);
      const rows = await Promise.all(
        snaps.map(async (s) => {
          const xml = await driver.domainSnapshotGetXMLDesc(s, 0);
          return {
            name: s.name,
            time: Number(xpathText(xml, /<creationTime>(-?\d+)<\/creationTime>/) ?? 0),
            state: xpathText(xml, /<state>([^<]*)<\/state>/) ?? '',
            parent: parentOf(xml),
          };
        }),
      );
      if (tree && start) rows.push({ name: start.name, time: 0, state: '', parent: undefined });
      if (!(flags & L.TOPOLOGICAL))
        // virshSnapSorter: vshStrcasecmp, ASCII case folded
        rows.sort((a, b) => {
          const x = a.name.replace(/[A-Z]/g, (c) => c.toLowerCase());
          const y = b.name.replace(/[A-Z]/g, (c) => c.toLowerCase());
          return x < y ? -1 : x > y ? 1 : 0;
        });
      if (tree) {
        print(session.io, treeLines(rows));
        return;
      }
      if (opts.name) {
        print(session.io, rows.map((r) => `${r.name}\n`).join(''));
        return;
      }
      const header = ['Name', 'Creation Time', 'State', ...(opts.parent ? ['Parent'] : [])];
      print(
        session.io,
        formatTable(
          header,
          rows.map((r) => [r.name, creationTime(r.time), r.state, ...(opts.parent ? [r.parent ?? ''] : [])]),
        ),
      );
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
      const dom = await lookupDomain(driver, opts.domain as string);
      const snap = await driver.domainSnapshotLookupByName(dom, opts.snapshotname as string, 0);
      print(session.io, await driver.domainSnapshotGetXMLDesc(snap, opts['security-info'] ? XML_SECURE : 0));
    });
  },
};

export const snapshotParentCommand: CommandDef = {
  name: 'snapshot-parent',
  help: 'Get the name of the parent of a snapshot',
  desc: "Extract the snapshot's parent, if any",
  options: [
    DOMAIN_OPT,
    { name: 'snapshotname', type: 'data', help: 'find parent of snapshot name' },
    bool('current', 'find parent of current snapshot'),
  ],
  async run(session, opts) {
    await withDriver(session, async (driver) => {
      const dom = await lookupDomain(driver, opts.domain as string);
      const snap = await lookupSnapshot(driver, dom, opts, 'snapshotname', true);
      const parent = await driver.domainSnapshotGetParent(snap, 0).catch((err: VirError) => {
        if (err.code === 'NO_DOMAIN_SNAPSHOT') return undefined;
        throw err;
      });
      if (!parent) throw new VirError('NO_DOMAIN_SNAPSHOT', 'none', `snapshot '${snap.name}' has no parent`);
      print(session.io, parent.name);
    });
  },
};

export const snapshotRevertCommand: CommandDef = {
  name: 'snapshot-revert',
  help: 'Revert a domain to a snapshot',
  desc: 'Revert domain to snapshot',
  options: [
    DOMAIN_OPT,
    SNAP_OPT,
    bool('current', 'revert to current snapshot'),
    bool('running', 'after reverting, change state to running'),
    bool('paused', 'after reverting, change state to paused'),
    bool('force', 'try harder on risky reverts'),
    bool('reset-nvram', 're-initialize NVRAM from its pristine template'),
  ],
  async run(session, opts) {
    const flags =
      (opts.running ? 1 : 0) | (opts.paused ? 2 : 0) | (opts.force ? 4 : 0) | (opts['reset-nvram'] ? 8 : 0);
    await withDriver(session, async (driver) => {
      const dom = await lookupDomain(driver, opts.domain as string);
      const snap = await lookupSnapshot(driver, dom, opts, 'snapshotname', true);
      await reporting(session.io, `Failed to revert snapshot ${snap.name}`, () =>
        driver.domainRevertToSnapshot(snap, flags),
      );
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
    SNAP_OPT,
    bool('current', 'delete current snapshot'),
    bool('children', 'delete snapshot and all children'),
    bool('children-only', 'delete children but not snapshot'),
    bool('metadata', 'delete only libvirt metadata, leaving snapshot contents behind'),
  ],
  async run(session, opts) {
    const flags = (opts.children ? 1 : 0) | (opts.metadata ? 2 : 0) | (opts['children-only'] ? 4 : 0);
    await withDriver(session, async (driver) => {
      const dom = await lookupDomain(driver, opts.domain as string);
      const snap = await lookupSnapshot(driver, dom, opts, 'snapshotname', true);
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
  snapshotCreateCommand,
  snapshotCreateAsCommand,
  snapshotCurrentCommand,
  snapshotDeleteCommand,
  snapshotDumpxmlCommand,
  snapshotEditCommand,
  snapshotInfoCommand,
  snapshotListCommand,
  snapshotParentCommand,
  snapshotRevertCommand,
];
