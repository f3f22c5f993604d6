/**
 * The file system backends (libvirt's storage_backend_fs.c): `dir` (a directory), `fs` (a block
 * device's file system mounted on the target) and `netfs` (an NFS, CIFS or GlusterFS export
 * mounted on the target). Volumes are files in the target (../volume-file.ts). Mounting, file
 * system creation and probing are the standard tools': mount, umount, mkfs, blkid, showmount.
 */
import { existsSync, readFileSync } from 'node:fs';
import { chmod, chown, lstat, mkdir, rmdir, stat, statfs } from 'node:fs/promises';
import { virReportError, virReportSystemError } from '@qvirt/core';
import { VIR_STORAGE_POOL_BUILD } from '@qvirt/core/hypervisor';
import type { PoolDef } from '../pool-xml.js';
import { escapeXml, runOrThrow } from '../util.js';
import type { VolDef } from '../vol-xml.js';
import { createFileVol, deleteFileVol, resizeFileVol, scanDir } from '../volume-file.js';
import { wipePath } from '../wipe.js';
import type { Backend } from './backend.js';
import { checkDeviceEmpty } from './probe.js';

/** libvirt's VIR_STORAGE_DEFAULT_POOL_PERM_MODE. */
const DEFAULT_POOL_MODE = 0o711;

function checkBuildFlags(flags: number): void {
  if (flags & VIR_STORAGE_POOL_BUILD.OVERWRITE && flags & VIR_STORAGE_POOL_BUILD.NO_OVERWRITE) {
    throw virReportError(
      'OPERATION_INVALID',
      'storage',
      'Overwrite and no overwrite flags are mutually exclusive',
    );
  }
}

/** virStorageBackendBuildLocal: the target directory with the pool's permissions. */
async function buildTarget(def: PoolDef): Promise<void> {
  const dir = def.target.path!;
  try {
    await mkdir(dir, { recursive: true, mode: def.target.perms.mode ?? DEFAULT_POOL_MODE });
    const st = await stat(dir);
    if (!st.isDirectory()) throw Object.assign(new Error('ENOTDIR'), { code: 'ENOTDIR' });
    if (def.target.perms.mode !== undefined) await chmod(dir, def.target.perms.mode);
    if (def.target.perms.uid !== undefined || def.target.perms.gid !== undefined) {
      await chown(dir, def.target.perms.uid ?? -1, def.target.perms.gid ?? -1);
    }
  } catch (err) {
    throw virReportSystemError(err, 'storage', `cannot create path '${dir}'`);
  }
}

/** The mount source: the device, or host:dir for a network file system. */
function mountSource(def: PoolDef): string {
  if (def.type === 'fs') return def.source.devices[0]!.path;
  const host = def.source.hosts[0]!.name;
  if (def.source.format === 'cifs') return `//${host}/${def.source.dir}`;
  if (def.source.format === 'glusterfs') return `${host}:${def.source.dir}`;
  return `${host}:${def.source.dir}`;
}

/** /proc/mounts has the pool's source on its target (virStorageBackendFileSystemIsMounted). */
function isMounted(def: PoolDef): boolean {
  const target = def.target.path!;
  const text = readFileSync('/proc/mounts', 'utf8');
  return text.split('\n').some((l) => {
    const [, mnt] = l.split(' ');
    return mnt?.replace(/\\040/g, ' ') === target;
  });
}

async function refreshDir(def: PoolDef) {
  const dir = def.target.path!;
  const vols = await scanDir(dir);
  const s = await statfs(dir);
  const st = await stat(dir);
  return {
    capacity: s.blocks * s.bsize,
    allocation: (s.blocks - s.bfree) * s.bsize,
    available: s.bfree * s.bsize,
    vols,
    targetPerms: { mode: st.mode & 0o777, uid: st.uid, gid: st.gid },
  };
}

/** storageBackendFileSystemVolCreate's checks: the name stays a plain entry of the target. */
async function prepareFileVol(def: PoolDef, vol: VolDef): Promise<void> {
  if (vol.target.format === 'dir') vol.type = 'dir';
  else if (vol.target.format === 'ploop') vol.type = 'ploop';
  else vol.type = 'file';
  if (vol.name.includes('/')) {
    throw virReportError('OPERATION_INVALID', 'storage', `volume name '${vol.name}' cannot contain '/'`);
  }
  const file = `${def.target.path}/${vol.name}`;
  const exists = await lstat(file).then(
    () => true,
    () => false,
  );
  // '.', '..' and anything present (a symlink included) are refused here
  if (exists || vol.name === '' || vol.name === '.' || vol.name === '..') {
    throw virReportError('OPERATION_INVALID', 'storage', `volume target path '${file}' already exists`);
  }
  vol.target.path = file;
  vol.key = file;
}

function fileBackend(kind: 'dir' | 'fs' | 'netfs'): Backend {
  const mounted = kind !== 'dir';
  return {
    async build(def, flags) {
      checkBuildFlags(flags);
      await buildTarget(def);
      if (
        kind !== 'fs' ||
        !(flags & (VIR_STORAGE_POOL_BUILD.OVERWRITE | VIR_STORAGE_POOL_BUILD.NO_OVERWRITE))
      ) {
        return;
      }
      // virStorageBackendMakeFileSystem
      const device = def.source.devices[0]!.path;
      const format = def.source.format && def.source.format !== 'auto' ? def.source.format : undefined;
      if (!format) {
        throw virReportError('OPERATION_INVALID', 'storage', 'No source format specified for pool build');
      }
      if (flags & VIR_STORAGE_POOL_BUILD.NO_OVERWRITE) await checkDeviceEmpty(device, format);
      const args = ['-t', format];
      if (format.startsWith('ext')) args.push('-F');
      if (format === 'xfs') args.push('-f');
      await runOrThrow('mkfs', [...args, device]);
    },
    async checkActive(def) {
      if (!mounted) return existsSync(def.target.path!);
      return isMounted(def);
    },
    async start(def) {
      if (!mounted) return;
      if (kind === 'fs' && !existsSync(def.source.devices[0]!.path)) {
        throw virReportError(
          'INVALID_ARG',
          'storage',
          `Source device does not exist when mounting '${def.source.devices[0]!.path}'`,
        );
      }
      if (isMounted(def)) {
        throw virReportError('INTERNAL_ERROR', 'storage', `Target '${def.target.path}' is already mounted`);
      }
      const args: string[] = [];
      const fmt = def.source.format;
      if (fmt && fmt !== 'auto') args.push('-t', fmt);
      else if (kind === 'netfs') args.push('-t', 'nfs');
      if (def.source.protocolVer) args.push('-o', `nfsvers=${def.source.protocolVer}`);
      await runOrThrow('mount', [...args, mountSource(def), def.target.path!]);
    },
    refresh: refreshDir,
    async stop(def) {
      if (!mounted || !isMounted(def)) return;
      await runOrThrow('umount', [def.target.path!]);
    },
    async delete(def) {
      try {
        await rmdir(def.target.path!);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw virReportSystemError(err, 'storage', `failed to remove pool '${def.target.path}'`);
      }
    },
    prepareVol: prepareFileVol,
    createVol: (_def, vol, flags) => createFileVol(vol, flags),
    createVolFrom: (_def, vol, input, flags) => createFileVol(vol, flags, input),
    deleteVol: (_def, vol) => deleteFileVol(vol),
    resizeVol: (_def, vol, capacity, flags) => resizeFileVol(vol, capacity, flags),
    async wipeVol(_def, vol, algorithm) {
      const st = await stat(vol.target.path!);
      await wipePath(vol.target.path!, st.size, algorithm);
    },
    findSources:
      kind === 'netfs'
        ? async (srcSpec) => {
            // virStorageBackendFileSystemNetFindPoolSources: the exports `showmount -e` lists
            const host = srcSpec ? /<host\s+name=['"]([^'"]+)['"]/.exec(srcSpec)?.[1] : undefined;
            if (!host) {
              throw virReportError('INVALID_ARG', 'storage', 'hostname must be specified for netfs sources');
            }
            const out = await runOrThrow('showmount', ['--no-headers', '--exports', host]);
            let xml = '<sources>\n';
            for (const line of out.split('\n')) {
              const dir = line.trim().split(/\s+/)[0];
              if (!dir?.startsWith('/')) continue;
              xml += `  <source>\n    <host name='${escapeXml(host)}'/>\n    <dir path='${escapeXml(dir)}'/>\n    <format type='nfs'/>\n  </source>\n`;
            }
            return `${xml}</sources>\n`;
          }
        : undefined,
  };
}

export const dirBackend = fileBackend('dir');
export const fsBackend = fileBackend('fs');
export const netfsBackend = fileBackend('netfs');
