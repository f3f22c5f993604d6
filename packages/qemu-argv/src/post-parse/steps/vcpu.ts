import type { DomainDef } from '@qvirt/core';

/** `<vcpu>` gets `placement='static'` unless it names one, and defaults to one CPU. */
export function vcpuPlacement(def: DomainDef): void {
  def.vcpu = { placement: 'static', ...def.vcpu, value: def.vcpu?.value ?? 1 };
}
