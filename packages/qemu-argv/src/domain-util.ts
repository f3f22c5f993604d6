/** Questions about a domain that both the post-parse steps and the argv sections ask. */
import type { DomainDef, DomainDevices } from '@qvirt/core';

/** The devices of a domain, created empty when absent so steps can append. */
export function devicesOf(def: DomainDef): DomainDevices {
  def.devices ??= {};
  return def.devices;
}

export function machineOf(def: DomainDef): string {
  return def.os?.type?.machine ?? '';
}

export function isI440fx(def: DomainDef): boolean {
  const m = machineOf(def);
  return m === 'pc' || m.startsWith('pc-i440fx-') || /^pc-\d/.test(m);
}

export function isQ35(def: DomainDef): boolean {
  const m = machineOf(def);
  return m === 'q35' || m.startsWith('pc-q35-');
}

export function isX86(def: DomainDef): boolean {
  const arch = def.os?.type?.arch;
  return arch === undefined || arch === 'x86_64' || arch === 'i686';
}

/** Memory sizes: libvirt's scaled units (virScaleInteger), to KiB. */
const UNIT_BYTES: Record<string, bigint> = {
  b: 1n,
  bytes: 1n,
  k: 1024n,
  kib: 1024n,
  kb: 1000n,
  m: 1024n ** 2n,
  mib: 1024n ** 2n,
  mb: 1000n ** 2n,
  g: 1024n ** 3n,
  gib: 1024n ** 3n,
  gb: 1000n ** 3n,
  t: 1024n ** 4n,
  tib: 1024n ** 4n,
  tb: 1000n ** 4n,
  p: 1024n ** 5n,
  pib: 1024n ** 5n,
  pb: 1000n ** 5n,
  e: 1024n ** 6n,
  eib: 1024n ** 6n,
  eb: 1000n ** 6n,
};

/**
 * A scaled value in bytes; `defaultUnit` applies when no unit is written (KiB for memory sizes).
 * Returns undefined for an unknown unit so the caller can report it with its own element name.
 */
export function scaledToBytes(
  value: number | string,
  unit: string | undefined,
  defaultUnit = 'KiB',
): bigint | undefined {
  const factor = UNIT_BYTES[(unit ?? defaultUnit).toLowerCase()];
  if (factor === undefined) return undefined;
  return BigInt(value) * factor;
}

/** Bytes to KiB, rounding up as libvirt does when it stores sizes in KiB. */
export function bytesToKiB(bytes: bigint): bigint {
  return (bytes + 1023n) / 1024n;
}
