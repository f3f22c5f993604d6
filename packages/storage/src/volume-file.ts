/**
 * File volumes (dir, fs and netfs pools) through qemu-img, as libvirt's storage_util.c builds
 * them: raw files written here (ftruncate, fallocate for the allocation), every other format,
 * backing stores, preallocation, clones and resizes by `qemu-img create/convert/resize`, and
 * what a file is by `qemu-img info`.
 */
import { chmod, chown, mkdtemp, open, readdir, realpath, rm, rmdir, stat, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { virReportError, virReportSystemError } from '@qvirt/core';
import { VIR_STORAGE_VOL_CREATE, VIR_STORAGE_VOL_RESIZE } from '@qvirt/core/hypervisor';
import { isInside, run, runOrThrow } from './util.js';
import type { VolDef } from './vol-xml.js';

/** libvirt's VIR_STORAGE_DEFAULT_VOL_PERM_MODE. */
export const DEFAULT_VOL_MODE = 0o600;

interface QemuImgInfo {
  'virtual-size': number;
  format: string;
  'format-specific'?: { type: string; data?: { encrypt?: { format?: string } } };
  'backing-filename'?: string;
  'full-backing-filename'?: string;
  'backing-filename-format'?: string;
}

/** `qemu-img info` of one file (-U: a running guest's image is read too). */
export async function imgInfo(file: string): Promise<QemuImgInfo | undefined> {
  const r = await run('qemu-img', ['info', '-U', '--output=json', file]);
  if (r.code !== 0) return undefined;
  try {
    return JSON.parse(r.stdout) as QemuImgInfo;
  } catch {
    return undefined;
  }
}

const stamp = (ns: bigint): string => {
  const sec = ns / 1_000_000_000n;
  const frac = ns % 1_000_000_000n;
  return frac === 0n ? `${sec}` : `${sec}.${frac.toString().padStart(9, '0')}`;
};

/** What refresh reports for one path in the pool's directory, or undefined to skip it. */
export async function probeFileVol(dir: string, name: string): Promise<VolDef | undefined> {
  const file = path.join(dir, name);
  let st: Awaited<ReturnType<typeof stat>> & { atimeNs?: bigint };
  try {
    const l = await stat(file, { bigint: true });
    // names and paths never leave the pool: a symlink is a volume only when it stays inside
    const real = await realpath(file);
    const realDir = await realpath(dir);
    if (!isInside(realDir, real)) return undefined;
    st = l as never;
  } catch {
    return undefined;
  }
  const s = st as unknown as import('node:fs').BigIntStats;
  const isDir = s.isDirectory();
  if (!isDir && !s.isFile() && !s.isBlockDevice()) return undefined;
  const vol: VolDef = {
    name,
    key: file,
    type: isDir ? 'dir' : 'file',
    capacity: Number(s.size),
    allocation: Number(s.blocks) * 512,
    hasAllocation: true,
    hasCapacity: true,
    physical: Number(s.size),
    target: {
      path: file,
      format: isDir ? 'dir' : 'raw',
      perms: { mode: Number(s.mode) & 0o777, uid: Number(s.uid), gid: Number(s.gid) },
      timestamps: { atime: stamp(s.atimeNs), mtime: stamp(s.mtimeNs), ctime: stamp(s.ctimeNs), btime: '0' },
    },
  };
  if (!isDir) {
    const info = await imgInfo(file);
    if (info) {
      vol.target.format = info.format === 'file' ? 'raw' : info.format;
      // libvirt's probe: a LUKS file is a raw volume with LUKS encryption, qcow2 may carry it inside
      if (info.format === 'luks') {
        vol.target.format = 'raw';
        vol.target.encryption = { format: 'luks', secrets: [] };
      } else if (info['format-specific']?.data?.encrypt?.format === 'luks') {
        vol.target.encryption = { format: 'luks', secrets: [] };
      }
      vol.capacity = info['virtual-size'];
      const backing = info['full-backing-filename'] ?? info['backing-filename'];
      if (backing) {
        vol.backingStore = {
          path: backing,
          format: info['backing-filename-format'] ?? 'raw',
          perms: {},
        };
      }
    }
  }
  return vol;
}

/** Every volume of a directory (the pool's refresh). */
export async function scanDir(dir: string): Promise<VolDef[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    throw virReportSystemError(err, 'storage', `cannot open directory '${dir}'`);
  }
  const vols: VolDef[] = [];
  for (const n of names.sort()) {
    const v = await probeFileVol(dir, n);
    if (v) vols.push(v);
  }
  return vols;
}

const kib = (bytes: number) => `${Math.ceil(bytes / 1024)}K`;

async function applyPerms(file: string, vol: VolDef): Promise<void> {
  const p = vol.target.perms;
  await chmod(file, p.mode ?? DEFAULT_VOL_MODE);
  if (p.uid !== undefined || p.gid !== undefined) await chown(file, p.uid ?? -1, p.gid ?? -1);
}

/** virStorageBackendVolBuildLocal: a new volume at vol.target.path. */
export async function createFileVol(vol: VolDef, flags: number, input?: VolDef): Promise<void> {
  const file = vol.target.path!;
  const format = vol.target.format ?? 'raw';
  if (format === 'dir') {
    await import('node:fs/promises').then((fs) => fs.mkdir(file, { mode: vol.target.perms.mode ?? 0o755 }));
    return;
  }
  if (vol.target.encryption) return createEncryptedVol(vol, flags);
  if (input) {
    // virStorageBackendVolBuildFromLocal: qemu-img convert keeps holes and converts formats
    const args = ['convert', '-f', input.target.format ?? 'raw', '-O', format];
    if (format === 'qcow2' && vol.target.compat) args.push('-o', `compat=${vol.target.compat}`);
    args.push(input.target.path!, file);
    await runOrThrow('qemu-img', args);
    if (vol.capacity > input.capacity) {
      await runOrThrow('qemu-img', ['resize', '-f', format, file, String(vol.capacity)]);
    }
    await applyPerms(file, vol);
    return;
  }
  if (format === 'raw') {
    if (vol.backingStore) {
      throw virReportError('NO_SUPPORT', 'storage', 'backing storage not supported for raw volumes');
    }
    let fh: import('node:fs/promises').FileHandle;
    try {
      fh = await open(file, 'wx', vol.target.perms.mode ?? DEFAULT_VOL_MODE);
    } catch (err) {
      throw virReportSystemError(err, 'storage', `cannot create path '${file}'`);
    }
    try {
      await fh.truncate(vol.capacity);
    } finally {
      await fh.close();
    }
    if (vol.allocation > 0) {
      await runOrThrow('fallocate', ['-l', String(Math.min(vol.allocation, vol.capacity)), file]).catch(
        async (err) => {
          await unlink(file).catch(() => {});
          throw err;
        },
      );
    }
    await applyPerms(file, vol);
    return;
  }
  const opts: string[] = [];
  if (format === 'qcow2') opts.push(`compat=${vol.target.compat ?? '1.1'}`);
  if (vol.target.clusterSize) opts.push(`cluster_size=${vol.target.clusterSize}`);
  if (vol.target.features?.includes('lazy_refcounts')) opts.push('lazy_refcounts');
  if (vol.target.features?.includes('extended_l2')) opts.push('extended_l2');
  if (flags & VIR_STORAGE_VOL_CREATE.PREALLOC_METADATA) {
    opts.push(`preallocation=${vol.capacity > vol.allocation ? 'metadata' : 'falloc'}`);
  }
  if (vol.target.nocow) opts.push('nocow=on');
  const args = ['create', '-f', format];
  if (vol.backingStore) args.push('-b', vol.backingStore.path, '-F', vol.backingStore.format ?? 'raw');
  if (opts.length) args.push('-o', opts.join(','));
  args.push(file);
  if (vol.hasCapacity) args.push(kib(vol.capacity));
  await runOrThrow('qemu-img', args);
  await applyPerms(file, vol);
}

/**
 * storageBackendCreateQemuImg with `<encryption format='luks'>`: qemu-img creates a LUKS file
 * (raw) or a qcow2 with LUKS inside, the passphrase handed over in a 0600 file that is removed
 * right after (libvirt's secret file in its state directory).
 */
async function createEncryptedVol(vol: VolDef, flags: number): Promise<void> {
  const enc = vol.target.encryption!;
  const format = vol.target.format ?? 'raw';
  if (format !== 'raw' && format !== 'qcow2') {
    throw virReportError(
      'CONFIG_UNSUPPORTED',
      'storage',
      `volume encryption unsupported with format ${format}`,
    );
  }
  if (enc.format !== 'luks') {
    throw virReportError(
      'CONFIG_UNSUPPORTED',
      'storage',
      `unsupported volume encryption format ${enc.format === 'qcow' ? 1 : 0}`,
    );
  }
  if (enc.secrets.length > 1)
    throw virReportError('XML_ERROR', 'storage', 'too many secrets for luks encryption');
  if (enc.secrets.length === 0)
    throw virReportError('XML_ERROR', 'storage', 'no secret provided for luks encryption');
  if (!vol.passphrase)
    throw virReportError('INTERNAL_ERROR', 'storage', 'missing secret value for luks encryption');
  const file = vol.target.path!;
  // a private directory, never the pool's (where a refresh would see it)
  const secretDir = await mkdtemp(path.join(tmpdir(), 'qvirt-vol-secret-'));
  const secretFile = path.join(secretDir, 'key');
  const fh = await open(secretFile, 'wx', 0o600);
  try {
    await fh.writeFile(vol.passphrase);
  } finally {
    await fh.close();
  }
  try {
    const args = ['create', '--object', `secret,id=sec0,file=${secretFile},format=raw`];
    const opts: string[] = [];
    if (format === 'raw') {
      args.push('-f', 'luks');
      opts.push('key-secret=sec0');
    } else {
      args.push('-f', 'qcow2');
      opts.push(`compat=${vol.target.compat ?? '1.1'}`, 'encrypt.format=luks', 'encrypt.key-secret=sec0');
      if (vol.backingStore) args.push('-b', vol.backingStore.path, '-F', vol.backingStore.format ?? 'raw');
      if (flags & VIR_STORAGE_VOL_CREATE.PREALLOC_METADATA) opts.push('preallocation=metadata');
    }
    args.push('-o', opts.join(','), file, kib(vol.capacity));
    await runOrThrow('qemu-img', args);
  } finally {
    await rm(secretDir, { recursive: true, force: true });
  }
  await applyPerms(file, vol);
}

/** virStorageBackendVolResizeLocal. */
export async function resizeFileVol(vol: VolDef, capacity: number, flags: number): Promise<void> {
  const file = vol.target.path!;
  if ((vol.target.format ?? 'raw') === 'raw') {
    const fh = await open(file, 'r+');
    try {
      await fh.truncate(capacity);
    } finally {
      await fh.close();
    }
    if (flags & VIR_STORAGE_VOL_RESIZE.ALLOCATE && capacity > vol.allocation) {
      await runOrThrow('fallocate', [
        '-o',
        String(vol.allocation),
        '-l',
        String(capacity - vol.allocation),
        file,
      ]);
    }
    return;
  }
  const args = ['resize'];
  if (flags & VIR_STORAGE_VOL_RESIZE.SHRINK) args.push('--shrink');
  if (flags & VIR_STORAGE_VOL_RESIZE.ALLOCATE) args.push('--preallocation=falloc');
  args.push(file, String(capacity));
  await runOrThrow('qemu-img', args);
}

/** virStorageBackendVolDeleteLocal. */
export async function deleteFileVol(vol: VolDef): Promise<void> {
  const file = vol.target.path!;
  try {
    if (vol.type === 'dir') await rmdir(file);
    else await unlink(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw virReportSystemError(err, 'storage', `cannot unlink file '${file}'`);
  }
}
