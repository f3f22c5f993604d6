/**
 * Managed save (libvirt's qemuDomainManagedSave and friends): the driver keeps the save image of
 * a persistent domain at `<libDir>/save/NAME.save` (cfg->saveDir), `start` resumes from it and
 * removes it, `start --force-boot` drops it, and undefine refuses a domain that has one unless
 * told to remove it.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { DirLayout } from '@qvirt/qemu-argv';

/** cfg->saveDir: beside the private directories, as libvirt's /var/lib/libvirt/qemu/save. */
export function saveDir(layout: DirLayout): string {
  return path.join(layout.libDir, 'save');
}

/** qemuDomainManagedSavePath. */
export function managedSavePath(layout: DirLayout, name: string): string {
  return path.join(saveDir(layout), `${name}.save`);
}

/** vm->hasManagedSave, from the file (libvirt checks it at load and after each operation). */
export function hasManagedSave(layout: DirLayout, name: string): boolean {
  return existsSync(managedSavePath(layout, name));
}

/** The save directory, made on first use (root-only like libvirt's: images hold guest memory). */
export async function ensureSaveDir(layout: DirLayout): Promise<void> {
  await mkdir(saveDir(layout), { recursive: true, mode: 0o711 });
}
