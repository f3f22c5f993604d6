import type { DomainDef } from '@qvirt/core';
import { VirError } from '@qvirt/core';
import { accelFor, defaultMachine, findMachine } from '../../caps/qemu-caps.js';
import type { QemuContext } from '../../context.js';

/** The machine type: the QEMU's default when absent, an alias expanded to its canonical name. */
export function machineType(def: DomainDef, ctx: QemuContext): void {
  def.os ??= {};
  const type = (def.os.type ??= {});
  const accel = accelFor(def.type);
  const name = type.machine;
  if (name === undefined) {
    const m = defaultMachine(ctx.caps, accel);
    if (!m)
      throw new VirError('CONFIG_UNSUPPORTED', 'qemu', 'unsupported configuration: no default machine type');
    type.machine = m.name;
    return;
  }
  const m = findMachine(ctx.caps, accel, name);
  if (m) type.machine = m.name;
}

/** Without any boot order, libvirt boots from the first hard disk. */
export function defaultBootDevice(def: DomainDef): void {
  const os = (def.os ??= {});
  const perDevice = JSON.stringify(def.devices ?? {}).includes('"boot":{"order"');
  if (!os.boot?.length && !perDevice && !os.kernel) os.boot = [{ dev: 'hd' }];
}

/** The lifecycle actions libvirt writes out when they are not given. */
export function lifecycleDefaults(def: DomainDef): void {
  def.on_poweroff ??= 'destroy';
  def.on_reboot ??= 'restart';
  def.on_crash ??= 'destroy';
}

/** A `<clock>` without offset is UTC. */
export function clockDefault(def: DomainDef): void {
  def.clock = { ...def.clock, offset: def.clock?.offset ?? 'utc' };
}
