/**
 * Device aliases as libvirt assigns them before building a command line (qemuAssignDeviceAliases).
 * They become QEMU ids (`ide0-0-0`, `net0`, `balloon0`, …). A user alias (`ua-…`) is kept.
 */
import { type DomainDef, isDriveAddress } from '@qvirt/core';

type WithAlias = { alias?: { name?: string } };

function set(dev: WithAlias, name: string): void {
  if (!dev.alias?.name) dev.alias = { name };
}

export function assignAliases(def: DomainDef): void {
  const d = def.devices ?? {};
  for (const disk of d.disk ?? []) {
    const a = disk.address;
    if (isDriveAddress(a) && disk.target?.bus === 'ide') {
      set(disk, `ide${a.controller ?? 0}-${a.bus ?? 0}-${a.unit ?? 0}`);
    }
  }
  const counters = new Map<string, number>();
  const next = (prefix: string): string => {
    const n = counters.get(prefix) ?? 0;
    counters.set(prefix, n + 1);
    return `${prefix}${n}`;
  };
  for (const c of d.controller ?? []) {
    if (c.type === 'usb' && (c.index ?? 0) === 0) set(c, 'usb');
    else if (c.type === 'ide') set(c, `ide${c.index ?? 0}`);
    else if (c.type === 'pci') set(c, `pci.${c.index ?? 0}`);
  }
  for (const net of d.interface ?? []) set(net, next('net'));
  for (const video of d.video ?? []) set(video, next('video'));
  if (d.memballoon) set(d.memballoon, 'balloon0');
}
