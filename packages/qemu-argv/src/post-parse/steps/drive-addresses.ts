import type { DomainDef } from '@qvirt/core';
import { devicesOf } from '../../domain-util.js';

/** `hda` → 0, `hdz` → 25, `hdaa` → 26 (libvirt's virDiskNameToIndex). */
export function diskNameIndex(dev: string): number | undefined {
  const m = /^(?:hd|sd|vd|xvd|fd|ubd)([a-z]+)$/.exec(dev);
  if (!m) return undefined;
  let idx = 0;
  for (const c of m[1]!) idx = idx * 26 + (c.charCodeAt(0) - 96);
  return idx - 1;
}

/** Drive addresses of IDE disks from their target name: two buses of two units per controller. */
export function driveAddresses(def: DomainDef): void {
  for (const disk of devicesOf(def).disk ?? []) {
    if (disk.address || disk.target?.bus !== 'ide' || !disk.target.dev) continue;
    const idx = diskNameIndex(disk.target.dev);
    if (idx === undefined) continue;
    disk.address = {
      type: 'drive',
      controller: Math.floor(idx / 4),
      bus: Math.floor((idx % 4) / 2),
      target: 0,
      unit: idx % 2,
    };
  }
}
