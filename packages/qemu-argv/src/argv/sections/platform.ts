import { add, type Build } from '../build.js';
import { opts } from '../props.js';

export function uuid(b: Build): void {
  if (b.def.uuid) add(b, '-uuid', b.def.uuid);
}

/** `-display none` when the domain has no graphics, then QEMU's own defaults switched off. */
export function display(b: Build): void {
  if (!b.def.devices?.graphics?.length) add(b, '-display', 'none');
  add(b, '-no-user-config', '-nodefaults');
}

/** The QMP monitor: a socket in the private dir (domxml-to-native prints its path). */
export function monitor(b: Build): void {
  add(
    b,
    '-chardev',
    opts('socket', [
      ['id', 'charmonitor'],
      ['path', `${b.libDir}/monitor.sock`],
      ['server', 'on'],
      ['wait', 'off'],
    ]),
  );
  add(b, '-mon', 'chardev=charmonitor,id=monitor,mode=control');
}

export function clock(b: Build): void {
  add(b, '-rtc', `base=${b.def.clock?.offset === 'localtime' ? 'localtime' : 'utc'}`);
}

/** `-no-shutdown` so libvirt sees the guest's shutdown, and ACPI as the features say. */
export function pm(b: Build): void {
  add(b, '-no-shutdown');
  if (!b.def.features?.acpi) add(b, '-no-acpi');
}

export function boot(b: Build): void {
  add(b, '-boot', 'strict=on');
}

export function smbios(_b: Build): void {}

export function sysinfo(_b: Build): void {}

export function vmgenid(_b: Build): void {}

export function iommu(_b: Build): void {}

/** `-global` settings for controllers (e.g. PIIX4 and ICH9 power management). */
export function globalControllers(_b: Build): void {}
