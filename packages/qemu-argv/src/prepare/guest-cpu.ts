/**
 * qemuProcessUpdateGuestCPU: at start (and domxml-to-native) a host-model CPU, or a custom CPU
 * with `match='minimum'`, becomes the host-model CPU of the guest's emulator and virt type as a
 * plain custom CPU (virCPUUpdate sets mode custom, match exact), so the running definition says
 * which CPU the guest got and the command line is built from it. Without a host description, or
 * when the host has no host-model CPU for the guest, the definition is left as it is and the
 * command line builder refuses it with libvirt's message.
 */
import type { DomainDef } from '@qvirt/core';
import { guestHostModel, hostModelGuestCpu } from '../argv/sections/head-cpu-host.js';
import type { QemuContext } from '../context.js';

export function updateGuestCpu(def: DomainDef, ctx: QemuContext): void {
  const cpu = def.cpu;
  const arch = def.os?.type?.arch ?? ctx.caps.arch;
  if (!cpu || (arch !== 'x86_64' && arch !== 'i686')) return;
  const b = { def, ctx };
  if (!guestHostModel(b)) return;
  const updated = hostModelGuestCpu(b);
  if (!updated) return;
  cpu.mode = 'custom';
  cpu.match = 'exact';
  cpu.model = {
    ...(cpu.model ?? {}),
    value: updated.model,
    fallback: 'forbid',
    ...(updated.vendorId ? { vendor_id: updated.vendorId } : {}),
  };
  cpu.feature = updated.features.map((f) => ({ name: f.name, ...(f.policy ? { policy: f.policy } : {}) }));
}
