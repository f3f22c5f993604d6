/**
 * What qemuDomainUndefineFlags does with a domain's files beyond its definition: the managed
 * save image (removed with VIR_DOMAIN_UNDEFINE_MANAGED_SAVE, else the undefine is refused) and
 * the UEFI variable store (removed with NVRAM, kept with KEEP_NVRAM, else refused), in libvirt's
 * order and words.
 */
import { existsSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { type DomainDef, VirError } from '@qvirt/core';
import { VIR_DOMAIN_UNDEFINE as U } from '@qvirt/core/hypervisor';
import type { DirLayout } from '@qvirt/qemu-argv';
import { managedSavePath } from './managed-save.js';

const invalid = (msg: string) =>
  new VirError('OPERATION_INVALID', 'qemu', `Requested operation is not valid: ${msg}`);

/** The flag pairs libvirt refuses before it looks the domain up. */
export function checkUndefineFlags(flags: number): void {
  if (flags & U.NVRAM && flags & U.KEEP_NVRAM) throw invalid('cannot both keep and delete nvram');
  if (flags & U.TPM && flags & U.KEEP_TPM) throw invalid('cannot both keep and delete TPM');
}

/** The local variable store of a definition (a given path, or the one firmware='efi' gets). */
export function nvramPathOf(layout: DirLayout, def: DomainDef): string | undefined {
  const os = def.os as { firmware?: string; nvram?: { value?: string; type?: string } } | undefined;
  const nv = os?.nvram;
  if (nv?.value && (!nv.type || nv.type === 'file')) return nv.value;
  if (os?.firmware === 'efi') return `${layout.nvramDir}/${def.name}_VARS.fd`;
  return undefined;
}

/** The managed save image, then the variable store; throws (having removed nothing more) when refused. */
export async function removeUndefineFiles(layout: DirLayout, def: DomainDef, flags: number): Promise<void> {
  const image = managedSavePath(layout, def.name);
  if (existsSync(image)) {
    if (!(flags & U.MANAGED_SAVE))
      throw invalid('Refusing to undefine while domain managed save image exists');
    await unlink(image).catch(() => {
      throw new VirError(
        'INTERNAL_ERROR',
        'qemu',
        'internal error: Failed to remove domain managed save image',
      );
    });
  }
  const nvram = nvramPathOf(layout, def);
  if (nvram && existsSync(nvram)) {
    if (flags & U.NVRAM) {
      await unlink(nvram).catch((e: NodeJS.ErrnoException) => {
        throw new VirError('SYSTEM_ERROR', 'qemu', `failed to remove nvram: ${nvram}: ${e.message}`);
      });
    } else if (!(flags & U.KEEP_NVRAM)) throw invalid('cannot undefine domain with nvram');
  }
}
