import type { DomainDef } from '@qvirt/core';
import { add, type Build } from '../build.js';
import { jsonProps, type PropObject } from '../props.js';

type Disk = NonNullable<NonNullable<DomainDef['devices']>['disk']>[number];

/** The boot index of each device from `<os><boot dev=…>` (libvirt: first disk, cdrom, …). */
export function osBootIndexes(def: DomainDef): Map<object, number> {
  const out = new Map<object, number>();
  const disks = def.devices?.disk ?? [];
  let index = 1;
  for (const boot of def.os?.boot ?? []) {
    const pick =
      boot.dev === 'hd'
        ? disks.find((d) => (d.device ?? 'disk') === 'disk')
        : boot.dev === 'cdrom'
          ? disks.find((d) => d.device === 'cdrom')
          : boot.dev === 'fd'
            ? disks.find((d) => d.device === 'floppy')
            : def.devices?.interface?.[0];
    if (pick && !out.has(pick)) out.set(pick, index++);
  }
  return out;
}

function storageProps(disk: Disk, node: string): PropObject {
  const src = disk.source ?? {};
  const base = { 'node-name': node, 'auto-read-only': true, discard: 'unmap' };
  if (disk.type === 'block') return { driver: 'host_device', filename: src.dev, ...base };
  return { driver: 'file', filename: src.file, ...base };
}

/** Each disk: a storage `-blockdev`, a format `-blockdev` on top, and the guest `-device`. */
export function disks(b: Build): void {
  const disks = b.def.devices?.disk ?? [];
  const boot = osBootIndexes(b.def);
  disks.forEach((disk, i) => {
    const n = disks.length - i;
    const storage = `libvirt-${n}-storage`;
    const format = `libvirt-${n}-format`;
    add(b, '-blockdev', jsonProps(storageProps(disk, storage)));
    add(
      b,
      '-blockdev',
      jsonProps({
        'node-name': format,
        'read-only': disk.readonly === true,
        driver: disk.driver?.type ?? 'raw',
        file: storage,
      }),
    );
    const a = disk.address as { controller?: number; bus?: number; unit?: number } | undefined;
    if (disk.target?.bus === 'ide') {
      add(
        b,
        '-device',
        jsonProps({
          driver: disk.device === 'cdrom' ? 'ide-cd' : 'ide-hd',
          bus: `ide.${a?.bus ?? 0}`,
          unit: a?.unit ?? 0,
          drive: format,
          id: disk.alias?.name,
          bootindex: boot.get(disk),
        }),
      );
    }
  });
}
