/**
 * virsh's storage volume commands (tools/virsh-volume.c): vol-list, vol-create-as, vol-create,
 * vol-create-from, vol-clone, vol-delete, vol-wipe, vol-resize, vol-info, vol-path, vol-key,
 * vol-name, vol-pool, vol-dumpxml, vol-upload, vol-download, with their output and errors. Upload
 * and download go through the contract's VirStream, in process and over qvirtd alike.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { truncate } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { VirError } from '@qvirt/core/errors';
import {
  type StorageDriver,
  type StorageVol,
  sendAll,
  toReadable,
  VIR_STORAGE_VOL_CREATE,
  VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM,
  VIR_STORAGE_VOL_GET_PHYSICAL,
  VIR_STORAGE_VOL_RESIZE,
  VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM,
  VIR_STORAGE_VOL_WIPE_ALG,
} from '@qvirt/core/hypervisor';
import { type CommandDef, type ParsedOpts, readFileArg, usageError } from '../command.js';
import { print, reporting, withStorage } from '../driver-connection.js';
import { formatTable } from './list.js';
import {
  esc,
  flag,
  lookupPool,
  lookupVol,
  POOL_OPT,
  parseSize,
  prettyCapacity,
  VOL_OPT,
  VOL_POOL_OPT,
  VOL_TYPE_NAMES,
} from './storage-common.js';

const vol = (
  session: Parameters<CommandDef['run']>[0],
  conn: StorageDriver,
  opts: ParsedOpts,
  key = 'vol',
  pool = 'pool',
) => lookupVol(conn, session.io, opts[key] as string, opts[pool] as string | undefined, pool);

export const volListCommand: CommandDef = {
  name: 'vol-list',
  help: 'list vols',
  desc: 'Returns list of vols by pool.',
  options: [POOL_OPT, flag('details', 'display extended details for volumes')],
  async run(session, opts) {
    await withStorage(session, async (conn) => {
      const pool = await lookupPool(conn, session.io, opts.pool as string);
      const vols = (
        await reporting(session.io, 'Failed to list volumes', () => conn.storagePoolListAllVolumes(pool, 0))
      ).sort((a, b) => a.name.localeCompare(b.name));
      const rows: string[][] = [];
      for (const v of vols) {
        const p = await conn.storageVolGetPath(v);
        if (!opts.details) {
          rows.push([v.name, p]);
          continue;
        }
        const info = await conn.storageVolGetInfo(v);
        rows.push([
          v.name,
          p,
          VOL_TYPE_NAMES[info.type] ?? 'unknown',
          prettyCapacity(info.capacity),
          prettyCapacity(info.allocation),
        ]);
      }
      const header = opts.details ? ['Name', 'Path', 'Type', 'Capacity', 'Allocation'] : ['Name', 'Path'];
      print(session.io, formatTable(header, rows));
    });
  },
};

/** virshVolCreateAs's backing volume: a volume (name in the pool, key or path) or a plain path. */
async function backingOf(
  conn: StorageDriver,
  pool: Awaited<ReturnType<typeof lookupPool>>,
  name: string,
  format?: string,
) {
  let v: StorageVol | undefined = await conn.storageVolLookupByName(pool, name).catch(() => undefined);
  v ??= await conn.storageVolLookupByKey(name).catch(() => undefined);
  v ??= await conn.storageVolLookupByPath(name).catch(() => undefined);
  if (!v) throw new VirError('NO_STORAGE_VOL', 'none', `failed to get vol '${name}'`);
  const p = await conn.storageVolGetPath(v);
  const fmt = format ?? /<format type='([^']+)'/.exec(await conn.storageVolGetXMLDesc(v, 0))?.[1];
  return `  <backingStore>\n    <path>${esc(p)}</path>\n${fmt ? `    <format type='${esc(fmt)}'/>\n` : ''}  </backingStore>\n`;
}

export const volCreateAsCommand: CommandDef = {
  name: 'vol-create-as',
  help: 'create a volume from a set of args',
  desc: 'Create a vol.',
  options: [
    POOL_OPT,
    { name: 'name', type: 'data', required: true, help: 'name of the volume' },
    {
      name: 'capacity',
      type: 'data',
      required: true,
      help: 'size of the vol, as scaled integer (default bytes)',
    },
    {
      name: 'allocation',
      type: 'string',
      help: 'initial allocation size, as scaled integer (default bytes)',
    },
    { name: 'format', type: 'string', help: 'file format type raw,bochs,qcow,qcow2,qed,vmdk' },
    { name: 'backing-vol', type: 'string', help: 'the backing volume if taking a snapshot' },
    { name: 'backing-vol-format', type: 'string', help: 'format of backing volume if taking a snapshot' },
    flag('prealloc-metadata', 'preallocate metadata (for qcow2 instead of full allocation)'),
    flag('print-xml', "print XML document, but don't define/create"),
  ],
  async run(session, opts) {
    const capacity = parseSize(opts.capacity as string, 'capacity');
    await withStorage(session, async (conn) => {
      const pool = await lookupPool(conn, session.io, opts.pool as string);
      let xml = `<volume>\n  <name>${esc(opts.name as string)}</name>\n  <capacity>${capacity}</capacity>\n`;
      if (typeof opts.allocation === 'string')
        xml += `  <allocation>${parseSize(opts.allocation, 'allocation')}</allocation>\n`;
      if (typeof opts.format === 'string')
        xml += `  <target>\n    <format type='${esc(opts.format)}'/>\n  </target>\n`;
      if (typeof opts['backing-vol'] === 'string') {
        xml += await backingOf(
          conn,
          pool,
          opts['backing-vol'],
          opts['backing-vol-format'] as string | undefined,
        );
      }
      xml += '</volume>\n';
      if (opts['print-xml']) {
        session.io.out(xml);
        return;
      }
      const flags = opts['prealloc-metadata'] ? VIR_STORAGE_VOL_CREATE.PREALLOC_METADATA : 0;
      await reporting(session.io, `Failed to create vol ${opts.name}`, () =>
        conn.storageVolCreateXML(pool, xml, flags),
      );
      print(session.io, `Vol ${opts.name} created\n`);
    });
  },
};

export const volCreateCommand: CommandDef = {
  name: 'vol-create',
  help: 'create a vol from an XML file',
  desc: 'Create a vol.',
  options: [
    POOL_OPT,
    { name: 'file', type: 'data', required: true, help: 'file containing an XML vol description' },
    flag('prealloc-metadata', 'preallocate metadata (for qcow2 instead of full allocation)'),
    flag('validate', 'validate the XML against the schema'),
  ],
  async run(session, opts) {
    const file = opts.file as string;
    const xml = await readFileArg(file);
    await withStorage(session, async (conn) => {
      const pool = await lookupPool(conn, session.io, opts.pool as string);
      const flags =
        (opts['prealloc-metadata'] ? VIR_STORAGE_VOL_CREATE.PREALLOC_METADATA : 0) |
        (opts.validate ? VIR_STORAGE_VOL_CREATE.VALIDATE : 0);
      const v = await reporting(session.io, `Failed to create vol from ${file}`, () =>
        conn.storageVolCreateXML(pool, xml, flags),
      );
      print(session.io, `Vol ${v.name} created from ${file}\n`);
    });
  },
};

export const volCreateFromCommand: CommandDef = {
  name: 'vol-create-from',
  help: 'create a vol, using another volume as input',
  desc: 'Create a vol from an existing volume.',
  options: [
    POOL_OPT,
    { name: 'file', type: 'data', required: true, help: 'file containing an XML vol description' },
    { name: 'vol', type: 'data', required: true, help: 'input vol name or key' },
    { name: 'inputpool', type: 'string', help: "pool name or uuid of the input volume's pool" },
    flag('prealloc-metadata', 'preallocate metadata (for qcow2 instead of full allocation)'),
    flag('reflink', 'use btrfs COW lightweight copy'),
    flag('validate', 'validate the XML against the schema'),
  ],
  async run(session, opts) {
    const file = opts.file as string;
    await withStorage(session, async (conn) => {
      const pool = await lookupPool(conn, session.io, opts.pool as string);
      const input = await vol(session, conn, opts, 'vol', 'inputpool');
      const xml = await readFileArg(file);
      const flags =
        (opts['prealloc-metadata'] ? VIR_STORAGE_VOL_CREATE.PREALLOC_METADATA : 0) |
        (opts.reflink ? VIR_STORAGE_VOL_CREATE.REFLINK : 0) |
        (opts.validate ? VIR_STORAGE_VOL_CREATE.VALIDATE : 0);
      const v = await reporting(session.io, `Failed to create vol from ${file}`, () =>
        conn.storageVolCreateXMLFrom(pool, xml, input, flags),
      );
      print(session.io, `Vol ${v.name} created from input vol ${input.name}\n`);
    });
  },
};

export const volCloneCommand: CommandDef = {
  name: 'vol-clone',
  help: 'clone a volume.',
  desc: 'Clone an existing volume within the parent pool.',
  options: [
    VOL_OPT,
    { name: 'newname', type: 'data', required: true, help: 'clone name' },
    VOL_POOL_OPT,
    flag('prealloc-metadata', 'preallocate metadata (for qcow2 instead of full allocation)'),
    flag('reflink', 'use btrfs COW lightweight copy'),
  ],
  async run(session, opts) {
    await withStorage(session, async (conn) => {
      const orig = await vol(session, conn, opts);
      const pool = await conn.storagePoolLookupByVolume(orig);
      // virshMakeCloneXML: the original's XML with the new name
      const origXml = await conn.storageVolGetXMLDesc(orig, 0);
      const cap = /<capacity unit='bytes'>(\d+)<\/capacity>/.exec(origXml)?.[1] ?? '0';
      const fmt = /<target>[\s\S]*?<format type='([^']+)'\/>/.exec(origXml)?.[1];
      const xml = `<volume>\n  <name>${esc(opts.newname as string)}</name>\n  <capacity>${cap}</capacity>\n${fmt ? `  <target>\n    <format type='${fmt}'/>\n  </target>\n` : ''}</volume>\n`;
      const flags =
        (opts['prealloc-metadata'] ? VIR_STORAGE_VOL_CREATE.PREALLOC_METADATA : 0) |
        (opts.reflink ? VIR_STORAGE_VOL_CREATE.REFLINK : 0);
      await reporting(session.io, `Failed to clone vol from ${orig.name}`, () =>
        conn.storageVolCreateXMLFrom(pool, xml, orig, flags),
      );
      print(session.io, `Vol ${opts.newname} cloned from ${orig.name}\n`);
    });
  },
};

export const volDeleteCommand: CommandDef = {
  name: 'vol-delete',
  help: 'delete a vol',
  desc: 'Delete a given vol.',
  options: [
    VOL_OPT,
    VOL_POOL_OPT,
    flag('delete-snapshots', 'delete snapshots associated with volume (must be supported by storage driver)'),
  ],
  async run(session, opts) {
    await withStorage(session, async (conn) => {
      const v = await vol(session, conn, opts);
      await reporting(session.io, `Failed to delete vol ${v.name}`, () =>
        conn.storageVolDelete(v, opts['delete-snapshots'] ? 2 : 0),
      );
      print(session.io, `Vol ${v.name} deleted\n`);
    });
  },
};

const WIPE_ALGS: Record<string, number> = {
  zero: VIR_STORAGE_VOL_WIPE_ALG.ZERO,
  nnsa: VIR_STORAGE_VOL_WIPE_ALG.NNSA,
  dod: VIR_STORAGE_VOL_WIPE_ALG.DOD,
  bsi: VIR_STORAGE_VOL_WIPE_ALG.BSI,
  gutmann: VIR_STORAGE_VOL_WIPE_ALG.GUTMANN,
  schneier: VIR_STORAGE_VOL_WIPE_ALG.SCHNEIER,
  pfitzner7: VIR_STORAGE_VOL_WIPE_ALG.PFITZNER7,
  pfitzner33: VIR_STORAGE_VOL_WIPE_ALG.PFITZNER33,
  random: VIR_STORAGE_VOL_WIPE_ALG.RANDOM,
  trim: VIR_STORAGE_VOL_WIPE_ALG.TRIM,
};

export const volWipeCommand: CommandDef = {
  name: 'vol-wipe',
  help: 'wipe a vol',
  desc: 'Ensure data previously on a volume is not accessible to future reads.',
  options: [
    VOL_OPT,
    VOL_POOL_OPT,
    { name: 'algorithm', type: 'string', help: 'perform selected wiping algorithm' },
  ],
  async run(session, opts) {
    let alg = 0;
    if (typeof opts.algorithm === 'string') {
      const a = WIPE_ALGS[opts.algorithm];
      if (a === undefined) throw usageError(`Unsupported algorithm '${opts.algorithm}'`);
      alg = a;
    }
    await withStorage(session, async (conn) => {
      const v = await vol(session, conn, opts);
      await reporting(session.io, `Failed to wipe vol ${v.name}`, () =>
        alg ? conn.storageVolWipePattern(v, alg, 0) : conn.storageVolWipe(v, 0),
      );
      print(session.io, `Vol ${v.name} wiped\n`);
    });
  },
};

export const volResizeCommand: CommandDef = {
  name: 'vol-resize',
  help: 'resize a vol',
  desc: 'Resizes a storage volume. This is safe only for storage volumes not in use by an active guest.',
  options: [
    VOL_OPT,
    {
      name: 'capacity',
      type: 'data',
      required: true,
      help: 'new capacity for the vol, as scaled integer (default bytes)',
    },
    VOL_POOL_OPT,
    flag('allocate', 'allocate the new capacity, rather than leaving it sparse'),
    flag('delta', 'use capacity as a delta to current size, rather than the new size'),
    flag('shrink', 'allow the resize to shrink the volume'),
  ],
  async run(session, opts) {
    let text = opts.capacity as string;
    let flags =
      (opts.allocate ? VIR_STORAGE_VOL_RESIZE.ALLOCATE : 0) |
      (opts.delta ? VIR_STORAGE_VOL_RESIZE.DELTA : 0) |
      (opts.shrink ? VIR_STORAGE_VOL_RESIZE.SHRINK : 0);
    if (text.startsWith('-')) {
      // cmdVolResize: a negative size is a shrinking delta, and says so
      if (!(flags & VIR_STORAGE_VOL_RESIZE.SHRINK)) {
        throw usageError('negative size requires --shrink');
      }
      flags |= VIR_STORAGE_VOL_RESIZE.DELTA;
      text = text.slice(1);
    }
    const capacity = parseSize(text, 'capacity');
    await withStorage(session, async (conn) => {
      const v = await vol(session, conn, opts);
      await reporting(session.io, `Failed to change size of volume '${v.name}' to ${opts.capacity}`, () =>
        conn.storageVolResize(v, capacity, flags),
      );
      print(session.io, `Size of volume '${v.name}' successfully changed to ${opts.capacity}\n`);
    });
  },
};

export const volInfoCommand: CommandDef = {
  name: 'vol-info',
  help: 'storage vol information',
  desc: 'Returns basic information about the storage vol.',
  options: [
    VOL_OPT,
    VOL_POOL_OPT,
    flag('bytes', 'sizes are represented in bytes rather than pretty units'),
    flag('physical', 'return the physical size of the volume in allocation field'),
  ],
  async run(session, opts) {
    await withStorage(session, async (conn) => {
      const v = await vol(session, conn, opts);
      const info = await conn.storageVolGetInfoFlags(v, opts.physical ? VIR_STORAGE_VOL_GET_PHYSICAL : 0);
      const line = (k: string, val: string) => `${k.padEnd(15)} ${val}\n`;
      const size = (n: number) => (opts.bytes ? `${n} bytes` : prettyCapacity(n));
      print(
        session.io,
        line('Name:', v.name) +
          line('Type:', VOL_TYPE_NAMES[info.type] ?? 'unknown') +
          line('Capacity:', size(info.capacity)) +
          line(opts.physical ? 'Physical:' : 'Allocation:', size(info.allocation)),
      );
    });
  },
};

/** A one-line answer about a volume (vol-path, vol-key, vol-name, vol-pool, vol-dumpxml). */
function volQuery(
  name: string,
  help: string,
  desc: string,
  answer: (conn: StorageDriver, v: StorageVol) => Promise<string>,
): CommandDef {
  return {
    name,
    help,
    desc,
    options: [VOL_OPT, VOL_POOL_OPT],
    async run(session, opts) {
      await withStorage(session, async (conn) => {
        const v = await vol(session, conn, opts);
        print(session.io, await answer(conn, v));
      });
    },
  };
}

export const volPathCommand = volQuery(
  'vol-path',
  'returns the volume path for a given volume name or key',
  'Returns the volume path for a given volume name or key',
  async (c, v) => `${await c.storageVolGetPath(v)}\n`,
);
export const volKeyCommand = volQuery(
  'vol-key',
  'returns the volume key for a given volume name or path',
  'Returns the volume key for a given volume name or path',
  async (_c, v) => `${v.key}\n`,
);
export const volNameCommand = volQuery(
  'vol-name',
  'returns the volume name for a given volume key or path',
  'Returns the volume name for a given volume key or path',
  async (_c, v) => `${v.name}\n`,
);
export const volPoolCommand = volQuery(
  'vol-pool',
  'returns the storage pool for a given volume key or path',
  'Returns the storage pool for a given volume key or path',
  async (c, v) => `${(await c.storagePoolLookupByVolume(v)).name}\n`,
);
export const volDumpxmlCommand = volQuery(
  'vol-dumpxml',
  'vol information in XML',
  'Output the vol information as an XML dump to stdout.',
  (c, v) => c.storageVolGetXMLDesc(v, 0),
);

const streamOpts = (dir: 'upload to' | 'download from', verb: 'upload' | 'download') => [
  { name: 'offset', type: 'string' as const, help: `volume offset to ${dir}` },
  { name: 'length', type: 'string' as const, help: `amount of data to ${verb}` },
  flag('sparse', 'preserve sparseness of volume'),
];

export const volUploadCommand: CommandDef = {
  name: 'vol-upload',
  help: 'upload file contents to a volume',
  desc: 'Upload file contents to a volume',
  options: [
    VOL_OPT,
    { name: 'file', type: 'data', required: true, help: 'file' },
    VOL_POOL_OPT,
    ...streamOpts('upload to', 'upload'),
  ],
  async run(session, opts) {
    const offset = typeof opts.offset === 'string' ? parseSize(opts.offset, 'offset') : 0;
    const length = typeof opts.length === 'string' ? parseSize(opts.length, 'length') : 0;
    await withStorage(session, async (conn) => {
      const v = await vol(session, conn, opts);
      await reporting(session.io, `cannot upload to volume ${v.name}`, async () => {
        const st = await conn.storageVolUpload(
          v,
          offset,
          length,
          opts.sparse ? VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM : 0,
        );
        const file = createReadStream(opts.file as string);
        if (!opts.sparse) return sendAll(st, file);
        // virshStreamSkip: runs of zeros travel as holes
        async function* data() {
          for await (const chunk of file as AsyncIterable<Buffer>) yield chunk;
        }
        try {
          for await (const chunk of data()) {
            if (chunk.every((b) => b === 0)) await st.sendHole(chunk.length);
            else await st.send(chunk);
          }
        } catch (err) {
          await st.abort().catch(() => {});
          throw err;
        }
        await st.finish();
      });
      print(session.io, '');
    });
  },
};

export const volDownloadCommand: CommandDef = {
  name: 'vol-download',
  help: 'download volume contents to a file',
  desc: 'Download volume contents to a file',
  options: [
    VOL_OPT,
    { name: 'file', type: 'data', required: true, help: 'file' },
    VOL_POOL_OPT,
    ...streamOpts('download from', 'download'),
  ],
  async run(session, opts) {
    const offset = typeof opts.offset === 'string' ? parseSize(opts.offset, 'offset') : 0;
    const length = typeof opts.length === 'string' ? parseSize(opts.length, 'length') : 0;
    const file = opts.file as string;
    await withStorage(session, async (conn) => {
      const v = await vol(session, conn, opts);
      await reporting(session.io, `cannot download from volume ${v.name}`, async () => {
        const st = await conn.storageVolDownload(
          v,
          offset,
          length,
          opts.sparse ? VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM : 0,
        );
        if (!opts.sparse) {
          await pipeline(toReadable(st), createWriteStream(file));
          return;
        }
        // holes are skipped in the file (it stays sparse), then its length is set
        const out = createWriteStream(file);
        let pos = 0;
        for (let c = await st.recv(); c; c = await st.recv()) {
          if ('hole' in c) {
            pos += c.hole;
            continue;
          }
          await new Promise<void>((resolve, reject) => {
            const w = createWriteStream(file, { flags: 'r+', start: pos });
            w.on('error', reject);
            w.end(c.data, () => resolve());
          });
          pos += c.data.length;
        }
        await st.finish();
        out.close();
        await truncate(file, pos);
      });
      print(session.io, '');
    });
  },
};

export const VOL_COMMANDS: CommandDef[] = [
  volCloneCommand,
  volCreateCommand,
  volCreateAsCommand,
  volCreateFromCommand,
  volDeleteCommand,
  volDownloadCommand,
  volDumpxmlCommand,
  volInfoCommand,
  volKeyCommand,
  volListCommand,
  volNameCommand,
  volPathCommand,
  volPoolCommand,
  volResizeCommand,
  volUploadCommand,
  volWipeCommand,
];
