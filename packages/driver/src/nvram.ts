/**
 * The per-domain UEFI variable store (libvirt 9.0's qemuPrepareNVRAM, run by
 * qemuProcessPrepareHost before QEMU starts): a local `<nvram>` file that does not exist yet (or
 * `--reset-nvram`) is written from the template, `<nvram template=…>` (set by firmware
 * autoselection) or, for an old-style loader, the qemu.conf `nvram` pair naming that loader. As
 * libvirt's virFileRewrite: a new file beside it, mode 0600, owned by the QEMU user, renamed over.
 * The DAC driver labels it with the other images afterwards.
 */
import { access, chown, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { DomainDef, QemuConf } from '@qvirt/core';
import { virReportError, virReportSystemError } from '@qvirt/core';
import { writeFileAtomic } from './atomic-file.js';

export interface PrepareNvramOptions {
  conf: QemuConf;
  /**
   * Whether any firmware descriptor exists (then qemu.conf `nvram` is ignored, as libvirt does);
   * asked only for a store without a template.
   */
  hasDescriptors: boolean | (() => boolean);
  /** Owner of the new file (qemu.conf user/group); undefined keeps the caller's. */
  owner?: { uid: number; gid: number };
  resetNvram?: boolean;
}

/**
 * The template for `loader`: qemu.conf `nvram` ("LOADER:VARS" pairs), which libvirt reads only
 * when set and no firmware descriptor exists (virQEMUDriverConfigLoadNVRAMEntry).
 */
function legacyTemplate(
  conf: QemuConf,
  hasDescriptors: boolean | (() => boolean),
  loader: string | undefined,
): string | undefined {
  if (!conf.raw.has('nvram')) return undefined;
  if (typeof hasDescriptors === 'function' ? hasDescriptors() : hasDescriptors) return undefined;
  for (const pair of conf.nvram) {
    const [name, vars] = pair.split(':');
    if (name?.trim() === loader) return vars?.trim();
  }
  return undefined;
}

/** qemuPrepareNVRAM; returns the path written, if any. */
export async function prepareNvram(
  def: DomainDef,
  options: PrepareNvramOptions,
): Promise<string | undefined> {
  const loader = def.os?.loader;
  const nvram = def.os?.nvram;
  if (!loader || !nvram) return undefined;
  const type = nvram.type ?? 'file';
  if (type !== 'file' && type !== 'block' && type !== 'dir') return undefined;
  const target = nvram.value ?? nvram.source?.file ?? nvram.source?.dev;
  if (target === undefined) return undefined;
  // virFileExists: any failure of access(F_OK) counts as absent
  if (
    !options.resetNvram &&
    (await access(target).then(
      () => true,
      () => false,
    ))
  )
    return undefined;
  const master = nvram.template ?? legacyTemplate(options.conf, options.hasDescriptors, loader.value);
  if (master === undefined) {
    throw virReportError(
      'OPERATION_FAILED',
      'qemu',
      `unable to find any master var store for loader: ${loader.value ?? ''}`,
    );
  }
  let data: Buffer;
  try {
    data = await readFile(master);
  } catch (err) {
    throw virReportSystemError(err, 'qemu', `Failed to open file '${master}'`);
  }
  try {
    // the NVRAM directory is the driver's (qemuStateInitialize makes it); an instance made
    // before it existed gets it here
    await mkdir(path.dirname(target), { recursive: true, mode: 0o755 });
    await writeFileAtomic(target, data, { mode: 0o600 });
    if (options.owner) await chown(target, options.owner.uid, options.owner.gid);
  } catch (err) {
    throw virReportSystemError(err, 'qemu', `Unable to write to file '${target}'`);
  }
  return target;
}
