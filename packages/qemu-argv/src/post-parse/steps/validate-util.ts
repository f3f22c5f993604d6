/**
 * Shared pieces of libvirt's define-time validation: errors with libvirt's message prefixes
 * (virErrorMsg), its CPU-set bitmap syntax and the chardev sources of a domain.
 */
import type { DomainDef } from '@qvirt/core';
import { VirError, virReportError } from '@qvirt/core';

/** VIR_ERR_CONFIG_UNSUPPORTED: "unsupported configuration: …". */
export function unsupported(message: string): VirError {
  return virReportError('CONFIG_UNSUPPORTED', 'qemu', message);
}

/** VIR_ERR_XML_ERROR: "XML error: …". */
export function xmlError(message: string): VirError {
  return virReportError('XML_ERROR', 'domain', message);
}

/** VIR_ERR_XML_DETAIL and the other codes libvirt prints without a prefix. */
export function plainError(message: string): VirError {
  return new VirError('XML_DETAIL', 'domain', message);
}

/** VIR_ERR_INTERNAL_ERROR: "internal error: …". */
export function internalError(message: string): VirError {
  return virReportError('INTERNAL_ERROR', 'qemu', message);
}

/** VIR_ERR_INVALID_ARG: "invalid argument: …". */
export function invalidArg(message: string): VirError {
  return virReportError('INVALID_ARG', 'qemu', message);
}

/**
 * libvirt's virBitmapParse syntax (`0-3,^2,8`): the set bits, or undefined when the text is not a
 * valid set (the caller reports that with its own message).
 */
export function parseCpuSet(text: string): Set<number> | undefined {
  const set = new Set<number>();
  const parts = text.split(',').map((p) => p.trim());
  if (parts.length === 0) return undefined;
  for (const part of parts) {
    if (part === '') return undefined;
    if (part.startsWith('^')) {
      const n = part.slice(1);
      if (!/^\d+$/.test(n)) return undefined;
      set.delete(Number(n));
      continue;
    }
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) return undefined;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) return undefined;
    for (let i = lo; i <= hi; i++) set.add(i);
  }
  return set;
}

type Devices = NonNullable<DomainDef['devices']>;
export type ChrDevice =
  | NonNullable<Devices['serial']>[number]
  | NonNullable<Devices['parallel']>[number]
  | NonNullable<Devices['console']>[number]
  | NonNullable<Devices['channel']>[number];

export type ChrKind = 'serial' | 'parallel' | 'console' | 'channel';

/** Serials, parallels, consoles and channels, in libvirt's device-iteration order. */
export function chrDevices(def: DomainDef): Array<{ kind: ChrKind; chr: ChrDevice }> {
  const d = def.devices ?? {};
  const out: Array<{ kind: ChrKind; chr: ChrDevice }> = [];
  for (const chr of d.serial ?? []) out.push({ kind: 'serial', chr });
  for (const chr of d.parallel ?? []) out.push({ kind: 'parallel', chr });
  for (const chr of d.channel ?? []) out.push({ kind: 'channel', chr });
  for (const chr of d.console ?? []) out.push({ kind: 'console', chr });
  return out;
}

/** A domain's vCPU count (`<vcpu>` text, default 1). */
export function maxVcpus(def: DomainDef): number {
  return def.vcpu?.value ?? 1;
}
