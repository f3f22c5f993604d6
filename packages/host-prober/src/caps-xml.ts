/**
 * `QemuCaps` written in libvirt's capabilities cache format (`<qemuCaps>`, virQEMUCapsFormatCache)
 * so that `parseQemuCapsXml` from `@qvirt/qemu-argv` reads a live probe like the checked-in
 * snapshot; with the host CPU expansions (`<hostCPU>`), Hyper-V, SEV, SGX and GIC capabilities
 * of `qemu-caps-detail.ts`.
 */
import type { Accel, QemuCaps } from '@qvirt/qemu-argv';
import { sortFlags } from './probe.js';
import { formatExtrasElements, formatHostCpuElement, type QemuCapsExtras } from './qemu-caps-detail.js';

export interface QemuCapsCacheMeta {
  /** QEMU's `package` string from query-version. */
  package?: string;
  /** Binary ctime, seconds (libvirt's `<qemuctime>`). */
  qemuctime?: number;
  /** libvirt writes its own ctime and version; qvirt writes 0 and its version number. */
  selfctime?: number;
  selfvers?: number;
  kvmVersion?: number;
  microcodeVersion?: number;
  cpuBlockers?: Partial<Record<Accel, Record<string, string[]>>>;
  /** Host CPU expansions, Hyper-V, SEV, SGX and GIC capabilities. */
  extras?: QemuCapsExtras;
  /** Extra elements written verbatim before `</qemuCaps>` (the prober's cache keys). */
  extra?: string[];
}

export function escapeXml(value: string): string {
  return value.replace(
    /[&<>'"]/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', "'": '&apos;', '"': '&quot;' })[c]!,
  );
}

const attr = (name: string, value: string | undefined): string =>
  value === undefined ? '' : ` ${name}='${escapeXml(value)}'`;

function formatAccel(caps: QemuCaps, accel: Accel, meta: QemuCapsCacheMeta, out: string[]): void {
  const hostCpu = meta.extras?.hostCpu?.[accel];
  if (hostCpu) out.push(...formatHostCpuElement(accel, hostCpu));
  for (const cpu of caps.cpuModels[accel]) {
    const blockers = meta.cpuBlockers?.[accel]?.[cpu.name] ?? [];
    const head =
      `  <cpu type='${accel}'${attr('name', cpu.name)}${attr('typename', cpu.typename)}` +
      (cpu.usable === undefined ? '' : ` usable='${cpu.usable ? 'yes' : 'no'}'`) +
      (cpu.deprecated ? ` deprecated='yes'` : '');
    if (blockers.length === 0) out.push(`${head}/>`);
    else {
      out.push(`${head}>`);
      for (const b of blockers) out.push(`    <blocker${attr('name', b)}/>`);
      out.push('  </cpu>');
    }
  }
  for (const m of caps.machines[accel]) {
    out.push(
      `  <machine type='${accel}'${attr('name', m.name)}${attr('alias', m.alias)}` +
        (m.hotplugCpus ? ` hotplugCpus='yes'` : '') +
        ` maxCpus='${m.maxCpus}'` +
        (m.isDefault ? ` default='yes'` : '') +
        attr('defaultCPU', m.defaultCPU) +
        (m.numaMemSupported ? ` numaMemSupported='yes'` : '') +
        attr('defaultRAMid', m.defaultRAMid) +
        (m.deprecated ? ` deprecated='yes'` : '') +
        (m.acpi === undefined ? '' : ` acpi='${m.acpi ? 'on' : 'off'}'`) +
        '/>',
    );
  }
}

/** Formats `caps` the way libvirt 9.0 writes `/var/cache/libvirt/qemu/capabilities/*.xml`. */
export function formatQemuCapsXml(caps: QemuCaps, meta: QemuCapsCacheMeta = {}): string {
  const out = ['<qemuCaps>'];
  out.push(`  <emulator>${escapeXml(caps.emulator)}</emulator>`);
  out.push(`  <qemuctime>${meta.qemuctime ?? 0}</qemuctime>`);
  out.push(`  <selfctime>${meta.selfctime ?? 0}</selfctime>`);
  out.push(`  <selfvers>${meta.selfvers ?? 0}</selfvers>`);
  for (const f of sortFlags(caps.flags)) out.push(`  <flag${attr('name', f)}/>`);
  out.push(`  <version>${caps.version}</version>`);
  out.push(`  <kvmVersion>${meta.kvmVersion ?? 0}</kvmVersion>`);
  out.push(`  <microcodeVersion>${meta.microcodeVersion ?? 0}</microcodeVersion>`);
  if (meta.package !== undefined) out.push(`  <package>${escapeXml(meta.package)}</package>`);
  out.push(`  <arch>${escapeXml(caps.arch)}</arch>`);
  if (caps.flags.has('kvm')) formatAccel(caps, 'kvm', meta, out);
  formatAccel(caps, 'tcg', meta, out);
  if (meta.extras) out.push(...formatExtrasElements(meta.extras));
  for (const e of meta.extra ?? []) out.push(`  ${e}`);
  out.push('</qemuCaps>');
  return `${out.join('\n')}\n`;
}
