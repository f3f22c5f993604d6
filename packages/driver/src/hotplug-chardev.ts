/**
 * Character devices at hotplug (qemuDomainAttachChrDevice): serial ports (ISA, PCI, USB), virtio
 * consoles and channels. The address first (a virtio-serial port, a PCI slot or a USB port, as
 * qemuDomainAttachChrDeviceAssignAddr does), the source labelled, `chardev-add`, then
 * `device_add`. A serial console is refused as libvirt refuses it. Removal (qemuDomainRemoveChr
 * Device): `chardev-remove` and the label restored.
 */
import type { SecurityChardev } from '@qvirt/core';
import type { HotplugPlan } from './hotplug.js';
import { configUnsupported, type Dev, type Kind } from './hotplug-device.js';
import {
  chardevAddArgs,
  deviceProps,
  freePciAddress,
  freeUsbAddress,
  freeVirtioSerialAddress,
  type Mon,
} from './hotplug-qemu.js';
import type { Step } from './hotplug-steps.js';

/** The security hooks' view of a chardev: its type and sources. */
export function chardevOf(chr: Dev): SecurityChardev {
  return {
    type: chr.type ?? 'pty',
    source: chr.source ?? [],
    ...(chr.log ? { log: chr.log } : {}),
  } as SecurityChardev;
}

/** True for a `<console>` that is the guest's serial port (target type serial, or none on x86). */
export function isSerialConsole(kind: Kind, chr: Dev): boolean {
  return kind === 'console' && (chr.target?.type ?? 'serial') === 'serial';
}

/** The steps of a live chardev attach. */
export async function attachChrSteps(plan: HotplugPlan): Promise<Step[]> {
  const chr = plan.dev;
  const kind = plan.kind;
  // qemuBuildConsoleChrDeviceProps: only virtio consoles are devices of their own
  if (isSerialConsole(kind, chr)) throw configUnsupported('unsupported console target type serial');
  const target = chr.target?.type as string | undefined;
  if (!chr.address) {
    if (kind === 'console' && target === 'virtio') {
      // a port is reserved for it, but a console keeps no address in the XML (QEMU picks the port)
      freeVirtioSerialAddress(plan.next, true);
    } else if (kind === 'channel' && target === 'virtio') {
      chr.address = freeVirtioSerialAddress(plan.next, false);
    } else if (kind === 'serial' && target === 'pci-serial') {
      chr.address = freePciAddress(plan.next, true);
    } else if (kind === 'serial' && target === 'usb-serial') {
      chr.address = freeUsbAddress(plan.next);
    }
  } else if (
    (chr.address.type === 'virtio-serial' || chr.address.type === 'pci') &&
    !(target === 'virtio' || target === 'pci-serial')
  ) {
    throw configUnsupported('Unsupported address type for character device');
  }
  plan.assignAliases();
  plan.args = await plan.host.argv(plan.next);
  const alias = chr.alias.name as string;
  const charId = `char${alias}`;
  const add = chardevAddArgs(plan.args, charId);
  // a unix channel without a path gets the one the command line made (qemuDomainPrepareChannel)
  const src = (chr.source ??= [{}]) as Dev[];
  if (add.path && chr.type === 'unix' && src[0] && !src[0].path) {
    src[0].path = add.path;
    src[0].mode ??= 'bind';
  }
  const steps: Step[] = [];
  const security = plan.host.security;
  if (security) {
    steps.push({
      name: 'label the chardev source',
      run: () => security.setChardevLabel(plan.secDef(), chardevOf(chr)),
      undo: () => security.restoreChardevLabel(plan.secDef(), chardevOf(chr)),
    });
  }
  steps.push({
    name: `chardev-add ${charId}`,
    run: async () => {
      const ret = await plan.mon.execute<{ pty?: string }>('chardev-add', add.args);
      // a pty's path is QEMU's choice: the live definition shows it
      if (chr.type === 'pty' && ret?.pty) src[0] = { ...src[0], path: ret.pty };
    },
    undo: () => plan.mon.execute('chardev-remove', { id: charId }),
  });
  steps.push({
    name: `device_add ${alias}`,
    run: () => plan.mon.execute('device_add', deviceProps(plan.args, alias)).then(() => {}),
    undo: () => plan.mon.execute('device_del', { id: alias }),
  });
  return steps;
}

/** qemuDomainRemoveChrDevice once QEMU dropped the device. */
export async function removeChr(
  mon: Mon,
  host: HotplugPlan['host'],
  secDef: () => any,
  chr: Dev,
): Promise<void> {
  await mon.execute('chardev-remove', { id: `char${chr.alias?.name}` }).catch(() => {});
  await host.security?.restoreChardevLabel(secDef(), chardevOf(chr)).catch(() => {});
}
