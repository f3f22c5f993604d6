/**
 * The devices of a domain that carry device info (an `<address>`), in libvirt's
 * virDomainDeviceInfoIterate order. Address assignment walks devices in this order when it
 * collects existing addresses and when it marks multifunction slots.
 */
import type { Address, DomainDef, DomainDevices } from '@qvirt/core';

type Item<K extends keyof DomainDevices> =
  NonNullable<DomainDevices[K]> extends Array<infer T> ? T : NonNullable<DomainDevices[K]>;

export type DeviceInfo =
  | { kind: 'disk'; dev: Item<'disk'> }
  | { kind: 'net'; dev: Item<'interface'> }
  | { kind: 'sound'; dev: Item<'sound'> }
  | { kind: 'hostdev'; dev: Item<'hostdev'> }
  | { kind: 'video'; dev: Item<'video'> }
  | { kind: 'controller'; dev: Item<'controller'> }
  | { kind: 'smartcard'; dev: Item<'smartcard'> }
  | { kind: 'serial'; dev: Item<'serial'> }
  | { kind: 'parallel'; dev: Item<'parallel'> }
  | { kind: 'channel'; dev: Item<'channel'> }
  | { kind: 'console'; dev: Item<'console'> }
  | { kind: 'input'; dev: Item<'input'> }
  | { kind: 'fs'; dev: Item<'filesystem'> }
  | { kind: 'watchdog'; dev: Item<'watchdog'> }
  | { kind: 'memballoon'; dev: Item<'memballoon'> }
  | { kind: 'rng'; dev: Item<'rng'> }
  | { kind: 'nvram'; dev: Item<'nvram'> }
  | { kind: 'hub'; dev: Item<'hub'> }
  | { kind: 'shmem'; dev: Item<'shmem'> }
  | { kind: 'tpm'; dev: Item<'tpm'> }
  | { kind: 'panic'; dev: Item<'panic'> }
  | { kind: 'memory'; dev: Item<'memory'> }
  | { kind: 'redirdev'; dev: Item<'redirdev'> }
  | { kind: 'iommu'; dev: Item<'iommu'> }
  | { kind: 'vsock'; dev: Item<'vsock'> };

/** Anything with an optional `<address>`. */
export interface HasAddress {
  address?: Address;
}

/**
 * virDomainSkipBackcompatConsole: the first console of an HVM guest that only mirrors the first
 * serial port (target serial or none) is not a device of its own.
 */
function skipBackcompatConsole(def: DomainDef, index: number): boolean {
  if (index !== 0) return false;
  const c = def.devices?.console?.[0];
  const t = c?.target?.type;
  return (t === undefined || t === 'serial' || t === 'none') && (def.os?.type?.value ?? 'hvm') === 'hvm';
}

export function deviceInfos(def: DomainDef, allConsoles = false): DeviceInfo[] {
  const d = def.devices ?? {};
  const out: DeviceInfo[] = [];
  for (const dev of d.disk ?? []) out.push({ kind: 'disk', dev });
  for (const dev of d.interface ?? []) out.push({ kind: 'net', dev });
  for (const dev of d.sound ?? []) out.push({ kind: 'sound', dev });
  for (const dev of d.hostdev ?? []) out.push({ kind: 'hostdev', dev });
  for (const dev of d.video ?? []) out.push({ kind: 'video', dev });
  for (const dev of d.controller ?? []) out.push({ kind: 'controller', dev });
  for (const dev of d.smartcard ?? []) out.push({ kind: 'smartcard', dev });
  for (const dev of d.serial ?? []) out.push({ kind: 'serial', dev });
  for (const dev of d.parallel ?? []) out.push({ kind: 'parallel', dev });
  for (const dev of d.channel ?? []) out.push({ kind: 'channel', dev });
  (d.console ?? []).forEach((dev, i) => {
    if (allConsoles || !skipBackcompatConsole(def, i)) out.push({ kind: 'console', dev });
  });
  for (const dev of d.input ?? []) out.push({ kind: 'input', dev });
  for (const dev of d.filesystem ?? []) out.push({ kind: 'fs', dev });
  for (const dev of d.watchdog ?? []) out.push({ kind: 'watchdog', dev });
  if (d.memballoon) out.push({ kind: 'memballoon', dev: d.memballoon });
  for (const dev of d.rng ?? []) out.push({ kind: 'rng', dev });
  if (d.nvram) out.push({ kind: 'nvram', dev: d.nvram });
  for (const dev of d.hub ?? []) out.push({ kind: 'hub', dev });
  for (const dev of d.shmem ?? []) out.push({ kind: 'shmem', dev });
  for (const dev of d.tpm ?? []) out.push({ kind: 'tpm', dev });
  for (const dev of d.panic ?? []) out.push({ kind: 'panic', dev });
  for (const dev of d.memory ?? []) out.push({ kind: 'memory', dev });
  for (const dev of d.redirdev ?? []) out.push({ kind: 'redirdev', dev });
  if (d.iommu) out.push({ kind: 'iommu', dev: d.iommu });
  if (d.vsock) out.push({ kind: 'vsock', dev: d.vsock });
  return out;
}
