import type { DomainDef } from '@qvirt/core';
import { virReportError } from '@qvirt/core';
import type { QemuContext } from '../../context.js';
import { devicesOf } from '../../domain-util.js';

/** The QEMU binary libvirt picks for a guest architecture (virQEMUCapsGetDefaultEmulator). */
const EMULATOR_FOR_ARCH: Record<string, string> = {
  x86_64: 'qemu-system-x86_64',
  i686: 'qemu-system-i386',
};

/**
 * An `<os><type>` without `arch` gets the host's architecture (x86_64 here) at parse time, and a
 * domain without `<emulator>` gets the QEMU binary for its architecture
 * (qemuDomainDefPostParseBasic).
 */
export function defaultArchAndEmulator(def: DomainDef, ctx: QemuContext): void {
  const os = (def.os ??= {});
  const type = (os.type ??= {});
  type.arch ??= ctx.caps.arch;
  const devices = devicesOf(def);
  if (devices.emulator === undefined) {
    const binary = EMULATOR_FOR_ARCH[type.arch];
    if (!binary) {
      throw virReportError('CONFIG_UNSUPPORTED', 'qemu', `No emulator found for arch '${type.arch}'`);
    }
    devices.emulator = `/usr/bin/${binary}`;
  }
}

/** Whether the domain runs on the 32-bit x86 QEMU binary, whose default CPU is qemu32. */
export function usesI386Binary(def: DomainDef): boolean {
  return /(^|\/)qemu-system-i386$/.test(def.devices?.emulator ?? '');
}
