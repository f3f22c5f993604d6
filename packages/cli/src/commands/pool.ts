import {
  VIR_CONNECT_LIST_STORAGE_POOLS as L,
  type StorageDriver,
  VIR_STORAGE_POOL_BUILD,
  VIR_STORAGE_POOL_CREATE,
  VIR_STORAGE_POOL_STATE,
  VIR_STORAGE_XML_INACTIVE,
} from '@qvirt/core/hypervisor';
import { type CommandDef, type OptDef, type ParsedOpts, readFileArg, usageError } from '../command.js';
import { print, reporting, withStorage } from '../driver-connection.js';
import { formatTable } from './list.js';
import { esc, flag, lookupPool, POOL_OPT, POOL_STATE_NAMES, prettyCapacity } from './storage-common.js';

const POOL_TYPE_BITS: Record<string, number> = {
  dir: L.DIR,
  fs: L.FS,
  netfs: L.NETFS,
  logical: L.LOGICAL,
  disk: L.DISK,
  iscsi: L.ISCSI,
  scsi: L.SCSI,
  mpath: L.MPATH,
  rbd: L.RBD,
  sheepdog: L.SHEEPDOG,
  gluster: L.GLUSTER,
  zfs: L.ZFS,
  vstorage: L.VSTORAGE,
  'iscsi-direct': L.ISCSI_DIRECT,
};

export const poolListCommand: CommandDef = {
  name: 'pool-list',
  help: 'list pools',
  desc: 'Returns list of pools.',
  options: [
    flag('inactive', 'list inactive pools'),
    flag('all', 'list inactive & active pools'),
    flag('transient', 'list transient pools'),
    flag('persistent', 'list persistent pools'),
    flag('autostart', 'list pools with autostart enabled'),
    flag('no-autostart', 'list pools with autostart disabled'),
    { name: 'type', type: 'string', help: 'only list pool of specified type(s) (if supported)' },
    flag('details', 'display extended details for pools'),
    flag('uuid', 'list UUID of active pools only'),
    flag('name', 'list name of active pools only'),
  ],
  async run(session, opts) {
    let flags = 0;
    if (opts.inactive) flags |= L.INACTIVE;
    if (!opts.all && !opts.inactive) flags |= L.ACTIVE;
    if (opts.all) flags &= ~(L.ACTIVE | L.INACTIVE);
    if (opts.persistent) flags |= L.PERSISTENT;
    if (opts.transient) flags |= L.TRANSIENT;
    if (opts.autostart) flags |= L.AUTOSTART;
    if (opts['no-autostart']) flags |= L.NO_AUTOSTART;
    if (typeof opts.type === 'string') {
      for (const t of opts.type.split(',')) {
        const bit = POOL_TYPE_BITS[t.trim()];
        if (bit === undefined) throw usageError(`Invalid pool type '${t}'`);
        flags |= bit;
      }
    }
    await withStorage(session, async (conn) => {
      const pools = (await conn.connectListAllStoragePools(flags)).sort((a, b) =>
        a.name.toLowerCase().localeCompare(b.name.toLowerCase()),
      );
      if (opts.uuid || opts.name) {
        const lines = pools.map((p) =>
          opts.uuid && opts.name ? `${p.uuid} ${p.name}` : opts.uuid ? p.uuid : p.name,
        );
        print(session.io, lines.map((l) => `${l}\n`).join(''));
        return;
      }
      const rows: string[][] = [];
      for (const p of pools) {
        const autostart = (await conn.storagePoolGetAutostart(p)) ? 'yes' : 'no';
        const info = await conn.storagePoolGetInfo(p);
        if (!opts.details) {
          rows.push([p.name, (await conn.storagePoolIsActive(p)) ? 'active' : 'inactive', autostart]);
          continue;
        }
        const running =
          info.state === VIR_STORAGE_POOL_STATE.RUNNING || info.state === VIR_STORAGE_POOL_STATE.DEGRADED;
        rows.push([
          p.name,
          POOL_STATE_NAMES[info.state] ?? 'unknown',
          autostart,
          (await conn.storagePoolIsPersistent(p)) ? 'yes' : 'no',
          running ? prettyCapacity(info.capacity) : '-',
          running ? prettyCapacity(info.allocation) : '-',
          running ? prettyCapacity(info.available) : '-',
        ]);
      }
      const header = opts.details
        ? ['Name', 'State', 'Autostart', 'Persistent', 'Capacity', 'Allocation', 'Available']
        : ['Name', 'State', 'Autostart'];
      print(session.io, formatTable(header, rows));
    });
  },
};

/** A command over one pool: look it up, do `op`, print `done`, or virsh's `fail` line. */
function simplePoolCommand(
  name: string,
  help: string,
  desc: string,
  extra: OptDef[],
  op: (
    conn: StorageDriver,
    pool: Awaited<ReturnType<StorageDriver['storagePoolLookupByName']>>,
    opts: ParsedOpts,
  ) => Promise<void>,
  done: (n: string, opts: ParsedOpts) => string,
  fail: (n: string, opts: ParsedOpts) => string,
): CommandDef {
  return {
    name,
    help,
    desc,
    options: [POOL_OPT, ...extra],
    async run(session, opts) {
      await withStorage(session, async (conn) => {
        const pool = await lookupPool(conn, session.io, opts.pool as string);
        await reporting(session.io, fail(pool.name, opts), () => op(conn, pool, opts));
        print(session.io, done(pool.name, opts));
      });
    },
  };
}

const buildFlags = (opts: ParsedOpts) => {
  if (opts.overwrite && opts['no-overwrite']) {
    throw usageError('Options --overwrite and --no-overwrite are mutually exclusive');
  }
  return (
    (opts.overwrite ? VIR_STORAGE_POOL_BUILD.OVERWRITE : 0) |
    (opts['no-overwrite'] ? VIR_STORAGE_POOL_BUILD.NO_OVERWRITE : 0)
  );
};
const BUILD_OPTS = [
  flag('no-overwrite', 'do not overwrite any existing data'),
  flag('overwrite', 'overwrite any existing data'),
];

export const poolBuildCommand = simplePoolCommand(
  'pool-build',
  'build a pool',
  'Build a given pool.',
  BUILD_OPTS,
  (c, p, o) => c.storagePoolBuild(p, buildFlags(o)),
  (n) => `Pool ${n} built\n`,
  (n) => `Failed to build pool ${n}`,
);

const startFlags = (opts: ParsedOpts) => {
  if (opts.overwrite && opts['no-overwrite']) {
    throw usageError('Options --overwrite and --no-overwrite are mutually exclusive');
  }
  return (
    (opts.build ? VIR_STORAGE_POOL_CREATE.WITH_BUILD : 0) |
    (opts.overwrite ? VIR_STORAGE_POOL_CREATE.WITH_BUILD_OVERWRITE : 0) |
    (opts['no-overwrite'] ? VIR_STORAGE_POOL_CREATE.WITH_BUILD_NO_OVERWRITE : 0)
  );
};
const START_OPTS = [flag('build', 'build the pool as normal'), ...BUILD_OPTS];

export const poolStartCommand = simplePoolCommand(
  'pool-start',
  'start a (previously defined) inactive pool',
  'Start a pool.',
  START_OPTS,
  (c, p, o) => c.storagePoolCreate(p, startFlags(o)),
  (n) => `Pool ${n} started\n`,
  (n) => `Failed to start pool ${n}`,
);

export const poolDestroyCommand = simplePoolCommand(
  'pool-destroy',
  'destroy (stop) a pool',
  'Forcefully stop a given pool. Raw data in the pool is untouched',
  [],
  (c, p) => c.storagePoolDestroy(p),
  (n) => `Pool ${n} destroyed\n`,
  (n) => `Failed to destroy pool ${n}`,
);

export const poolDeleteCommand = simplePoolCommand(
  'pool-delete',
  'delete a pool',
  'Delete a given pool.',
  [],
  (c, p) => c.storagePoolDelete(p, 0),
  (n) => `Pool ${n} deleted\n`,
  (n) => `Failed to delete pool ${n}`,
);

export const poolUndefineCommand = simplePoolCommand(
  'pool-undefine',
  'undefine an inactive pool',
  'Undefine the configuration for an inactive pool.',
  [],
  (c, p) => c.storagePoolUndefine(p),
  (n) => `Pool ${n} has been undefined\n`,
  (n) => `Failed to undefine pool ${n}`,
);

export const poolRefreshCommand = simplePoolCommand(
  'pool-refresh',
  'refresh a pool',
  'Refresh a given pool.',
  [],
  (c, p) => c.storagePoolRefresh(p, 0),
  (n) => `Pool ${n} refreshed\n`,
  (n) => `Failed to refresh pool ${n}`,
);

export const poolAutostartCommand = simplePoolCommand(
  'pool-autostart',
  'autostart a pool',
  'Configure a pool to be automatically started at boot.',
  [flag('disable', 'disable autostarting')],
  (c, p, o) => c.storagePoolSetAutostart(p, o.disable ? 0 : 1),
  (n, o) => (o.disable ? `Pool ${n} unmarked as autostarted\n` : `Pool ${n} marked as autostarted\n`),
  (n, o) =>
    o.disable ? `failed to unmark pool ${n} as autostarted` : `failed to mark pool ${n} as autostarted`,
);

export const poolInfoCommand: CommandDef = {
  name: 'pool-info',
  help: 'storage pool information',
  desc: 'Returns basic information about the storage pool.',
  options: [POOL_OPT, flag('bytes', 'Reture pool info in bytes')],
  async run(session, opts) {
    await withStorage(session, async (conn) => {
      const pool = await lookupPool(conn, session.io, opts.pool as string);
      const info = await conn.storagePoolGetInfo(pool);
      const line = (k: string, v: string) => `${k.padEnd(15)} ${v}\n`;
      let out = line('Name:', pool.name) + line('UUID:', pool.uuid);
      out += line('State:', POOL_STATE_NAMES[info.state] ?? 'unknown');
      out += line('Persistent:', (await conn.storagePoolIsPersistent(pool)) ? 'yes' : 'no');
      out += line('Autostart:', (await conn.storagePoolGetAutostart(pool)) ? 'yes' : 'no');
      if (info.state === VIR_STORAGE_POOL_STATE.RUNNING || info.state === VIR_STORAGE_POOL_STATE.DEGRADED) {
        const v = (n: number) => (opts.bytes ? String(n) : prettyCapacity(n));
        out +=
          line('Capacity:', v(info.capacity)) +
          line('Allocation:', v(info.allocation)) +
          line('Available:', v(info.available));
      }
      print(session.io, out);
    });
  },
};

export const poolDumpxmlCommand: CommandDef = {
  name: 'pool-dumpxml',
  help: 'pool information in XML',
  desc: 'Output the pool information as an XML dump to stdout.',
  options: [POOL_OPT, flag('inactive', 'show inactive defined XML')],
  async run(session, opts) {
    await withStorage(session, async (conn) => {
      const pool = await lookupPool(conn, session.io, opts.pool as string);
      print(session.io, await conn.storagePoolGetXMLDesc(pool, opts.inactive ? VIR_STORAGE_XML_INACTIVE : 0));
    });
  },
};

export const poolCapabilitiesCommand: CommandDef = {
  name: 'pool-capabilities',
  help: 'storage pool capabilities',
  desc: 'Returns capabilities of storage pool support.',
  options: [],
  async run(session) {
    await withStorage(session, async (conn) => {
      // cmdPoolCapabilities prints "%s\n"
      print(session.io, `${await conn.connectGetStoragePoolCapabilities(0)}\n`);
    });
  },
};

export const poolDefineCommand: CommandDef = {
  name: 'pool-define',
  help: 'define an inactive persistent storage pool or modify an existing persistent one from an XML file',
  desc: 'Define or modify a persistent storage pool.',
  options: [
    { name: 'file', type: 'data', required: true, help: 'file containing an XML pool description' },
    flag('validate', 'validate the XML against the schema'),
  ],
  async run(session, opts) {
    const file = opts.file as string;
    const xml = await readFileArg(file);
    await withStorage(session, async (conn) => {
      const p = await reporting(session.io, `Failed to define pool from ${file}`, () =>
        conn.storagePoolDefineXML(xml, opts.validate ? 1 : 0),
      );
      print(session.io, `Pool ${p.name} defined from ${file}\n`);
    });
  },
};

export const poolCreateCommand: CommandDef = {
  name: 'pool-create',
  help: 'create a pool from an XML file',
  desc: 'Create a pool.',
  options: [
    { name: 'file', type: 'data', required: true, help: 'file containing an XML pool description' },
    ...START_OPTS,
  ],
  async run(session, opts) {
    const file = opts.file as string;
    const xml = await readFileArg(file);
    await withStorage(session, async (conn) => {
      const p = await reporting(session.io, `Failed to create pool from ${file}`, () =>
        conn.storagePoolCreateXML(xml, startFlags(opts)),
      );
      print(session.io, `Pool ${p.name} created from ${file}\n`);
    });
  },
};

const AS_OPTS: OptDef[] = [
  { name: 'name', type: 'data', required: true, help: 'name of the pool' },
  { name: 'type', type: 'data', required: true, help: 'type of the pool' },
  flag('print-xml', "print XML document, but don't define/create"),
  { name: 'source-host', type: 'data', help: 'source-host for underlying storage' },
  { name: 'source-path', type: 'data', help: 'source path for underlying storage' },
  { name: 'source-dev', type: 'data', help: 'source device for underlying storage' },
  { name: 'source-name', type: 'data', help: 'source name for underlying storage' },
  { name: 'target', type: 'data', help: 'target for underlying storage' },
  { name: 'source-format', type: 'string', help: 'format for underlying storage' },
];

/** virshBuildPoolXML. */
function buildPoolXml(opts: ParsedOpts): string {
  const s = (k: string) => (typeof opts[k] === 'string' ? (opts[k] as string) : undefined);
  let xml = `<pool type='${esc(s('type')!)}'>\n  <name>${esc(s('name')!)}</name>\n`;
  const host = s('source-host');
  const srcPath = s('source-path');
  const dev = s('source-dev');
  const srcName = s('source-name');
  const fmt = s('source-format');
  if (host || srcPath || dev || srcName || fmt) {
    xml += '  <source>\n';
    if (host) xml += `    <host name='${esc(host)}'/>\n`;
    if (srcPath) xml += `    <dir path='${esc(srcPath)}'/>\n`;
    if (dev) xml += `    <device path='${esc(dev)}'/>\n`;
    if (fmt) xml += `    <format type='${esc(fmt)}'/>\n`;
    if (srcName) xml += `    <name>${esc(srcName)}</name>\n`;
    xml += '  </source>\n';
  }
  if (s('target')) xml += `  <target>\n    <path>${esc(s('target')!)}</path>\n  </target>\n`;
  return `${xml}</pool>\n`;
}

export const poolDefineAsCommand: CommandDef = {
  name: 'pool-define-as',
  help: 'define a pool from a set of args',
  desc: 'Define a pool.',
  options: AS_OPTS,
  async run(session, opts) {
    const xml = buildPoolXml(opts);
    if (opts['print-xml']) {
      session.io.out(xml);
      return;
    }
    await withStorage(session, async (conn) => {
      const p = await reporting(session.io, `Failed to define pool ${opts.name}`, () =>
        conn.storagePoolDefineXML(xml, 0),
      );
      print(session.io, `Pool ${p.name} defined\n`);
    });
  },
};

export const poolCreateAsCommand: CommandDef = {
  name: 'pool-create-as',
  help: 'create a pool from a set of args',
  desc: 'Create a pool.',
  options: [...AS_OPTS, ...START_OPTS],
  async run(session, opts) {
    const xml = buildPoolXml(opts);
    if (opts['print-xml']) {
      session.io.out(xml);
      return;
    }
    await withStorage(session, async (conn) => {
      const p = await reporting(session.io, `Failed to create pool ${opts.name}`, () =>
        conn.storagePoolCreateXML(xml, startFlags(opts)),
      );
      print(session.io, `Pool ${p.name} created\n`);
    });
  },
};

export const findStoragePoolSourcesCommand: CommandDef = {
  name: 'find-storage-pool-sources',
  help: 'discover potential storage pool sources',
  desc: 'Returns XML <sources> document.',
  options: [
    { name: 'type', type: 'data', required: true, help: 'type of storage pool sources to find' },
    { name: 'srcSpec', type: 'data', help: 'optional file of source xml to query for pools' },
  ],
  async run(session, opts) {
    const spec = typeof opts.srcSpec === 'string' ? await readFileArg(opts.srcSpec) : null;
    await withStorage(session, async (conn) => {
      const xml = await reporting(session.io, `Failed to find any ${opts.type} pool sources`, () =>
        conn.connectFindStoragePoolSources(opts.type as string, spec, 0),
      );
      print(session.io, xml);
    });
  },
};

export const POOL_COMMANDS: CommandDef[] = [
  findStoragePoolSourcesCommand,
  poolAutostartCommand,
  poolBuildCommand,
  poolCapabilitiesCommand,
  poolCreateCommand,
  poolCreateAsCommand,
  poolDefineCommand,
  poolDefineAsCommand,
  poolDeleteCommand,
  poolDestroyCommand,
  poolDumpxmlCommand,
  poolInfoCommand,
  poolListCommand,
  poolRefreshCommand,
  poolStartCommand,
  poolUndefineCommand,
];
