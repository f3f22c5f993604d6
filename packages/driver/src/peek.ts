/**
 * Peeking at a domain's disks and memory (qemu_driver.c qemuDomainBlockPeek and
 * qemuDomainMemoryPeek). A disk is read from its source file, raw ones only in libvirt 9.0
 * (the bytes a guest sees are the file's), running or not. Memory is QEMU's to read: `memsave`
 * (virtual addresses, through the first vCPU's page tables) or `pmemsave` (physical) into a file
 * in the domain's private directory, labelled for QEMU, read back and removed.
 */
import { randomBytes } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import path from 'node:path';
import {
  type DomainDef,
  virCheckFlags,
  virReportError,
  virReportInvalidArg,
  virReportSystemError,
} from '@qvirt/core';
import { VIR_MEMORY } from '@qvirt/core/hypervisor';
import { diskSource, findDisk } from './domain-stats.js';
import { type LiveDomain, operationInvalid } from './live-domain.js';

/** qemuDomainBlockPeek: `size` bytes of a raw disk's source from `offset`. */
export async function blockPeek(
  dom: LiveDomain,
  disk: string,
  offset: number,
  size: number,
  flags: number,
): Promise<Buffer> {
  virCheckFlags(flags, 0, 'qemuDomainBlockPeek');
  // vm->def: the running definition, the persistent one of a stopped domain
  const def = (dom.active && dom.live) || dom.config;
  const d = findDisk(def, disk);
  if (!d) throw virReportError('INVALID_ARG', 'qemu', `disk '${disk}' not found in domain`);
  const type = (d as { type?: string }).type;
  if (type === 'vhostuser')
    throw virReportError('OPERATION_UNSUPPORTED', 'qemu', 'peeking is not supported for vhostuser disk');
  // a format left out is probed to raw at start; a stopped domain's stays "none"
  const format = (d.driver as { type?: string } | undefined)?.type ?? (dom.active ? 'raw' : 'none');
  if (format !== 'raw')
    throw virReportError(
      'OPERATION_UNSUPPORTED',
      'qemu',
      `peeking is only supported for disk with 'raw' format not '${format}'`,
    );
  const file = diskSource(d);
  if (type === 'network' || !file)
    throw virReportError(
      'INTERNAL_ERROR',
      'qemu',
      `storage file reading is not supported for storage type ${type ?? 'none'} (protocol: ${
        (d.source as { protocol?: string } | undefined)?.protocol ?? 'none'
      })`,
    );
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    // virStorageFileBackendFileRead
    throw virReportSystemError(err, 'storage', `Failed to open file '${file}'`);
  }
  try {
    const buf = Buffer.alloc(size);
    let got = 0;
    while (got < size) {
      const { bytesRead } = await fh.read(buf, got, size - got, offset + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    if (got < size)
      throw virReportError(
        'INVALID_ARG',
        'qemu',
        `'${disk}' starting from ${offset} has only ${got} bytes available`,
      );
    return buf;
  } finally {
    await fh.close();
  }
}

/** What the memory peek needs of the driver: the private directory and the path labels. */
export interface MemoryPeekHost {
  libDir: string | undefined;
  setPathLabel(def: DomainDef, p: string): Promise<void>;
  restorePathLabel(def: DomainDef, p: string): Promise<void>;
}

/** qemuDomainMemoryPeek: `size` bytes of guest memory from `offset`, virtual or physical. */
export async function memoryPeek(
  dom: LiveDomain,
  host: MemoryPeekHost,
  offset: number,
  size: number,
  flags: number,
): Promise<Buffer> {
  const M = VIR_MEMORY;
  // virDomainMemoryPeek's own check, before the driver's
  if (flags & M.VIRTUAL && flags & M.PHYSICAL)
    throw virReportInvalidArg(
      'domain',
      "Flags 'VIR_MEMORY_VIRTUAL' and 'VIR_MEMORY_PHYSICAL' are mutually exclusive",
    );
  virCheckFlags(flags, M.VIRTUAL | M.PHYSICAL, 'qemuDomainMemoryPeek');
  if (flags !== M.VIRTUAL && flags !== M.PHYSICAL)
    throw virReportError(
      'INVALID_ARG',
      'qemu',
      'flags parameter must be VIR_MEMORY_VIRTUAL or VIR_MEMORY_PHYSICAL',
    );
  if (!dom.active || !dom.live || !host.libDir) throw operationInvalid('domain is not running');
  const def = dom.live;
  // g_mkstemp_full("<libDir>/qemu.mem.XXXXXX", O_RDWR, 0600)
  const file = path.join(host.libDir, `qemu.mem.${randomBytes(3).toString('hex')}`);
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(file, 'wx+', 0o600);
  } catch (err) {
    throw virReportSystemError(err, 'qemu', `g_mkstemp("${file}") failed`);
  }
  try {
    await host.setPathLabel(def, file).catch(() => {});
    await (await dom.monitor()).execute(flags === M.VIRTUAL ? 'memsave' : 'pmemsave', {
      val: offset,
      size,
      filename: file,
    });
    // saferead: what QEMU wrote, the rest of the buffer left zero
    const buf = Buffer.alloc(size);
    try {
      let got = 0;
      while (got < size) {
        const { bytesRead } = await fh.read(buf, got, size - got, got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
    } catch (err) {
      throw virReportSystemError(err, 'qemu', `failed to read temporary file created with template ${file}`);
    }
    return buf;
  } finally {
    await fh.close();
    await host.restorePathLabel(def, file).catch(() => {});
    await rm(file, { force: true });
  }
}
