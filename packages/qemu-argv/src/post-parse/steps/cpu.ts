import type { DomainDef } from '@qvirt/core';
import { accelFor, findMachine } from '../../caps/qemu-caps.js';
import type { QemuContext } from '../../context.js';
import { isX86 } from '../../domain-util.js';

/**
 * x86 guests without a CPU model get the machine type's default CPU (qemu64 for pc and q35),
 * written as a custom model, as libvirt 9.0's qemuDomainDefAddDefaultCPUModel does.
 */
export function defaultCpuModel(def: DomainDef, ctx: QemuContext): void {
  if (!isX86(def)) return;
  if (def.cpu?.model?.value || (def.cpu?.mode !== undefined && def.cpu.mode !== 'custom')) return;
  const machine = findMachine(ctx.caps, accelFor(def.type), def.os?.type?.machine ?? '');
  const qom = machine?.defaultCPU;
  if (!qom) return;
  const model = qom.replace(/-x86_64-cpu$|-i386-cpu$/, '');
  def.cpu = {
    mode: 'custom',
    match: 'exact',
    check: 'none',
    ...def.cpu,
    model: { fallback: 'forbid', ...def.cpu?.model, value: model },
  };
}
