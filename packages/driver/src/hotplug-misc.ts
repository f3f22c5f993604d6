/**
 * The small device kinds at hotplug, each as libvirt 9.0's qemu_hotplug.c has it: SCSI
 * controllers (qemuDomainAttachControllerDevice: the only hotpluggable controller), input devices
 * on the virtio and USB buses (qemuDomainAttachInputDevice), virtio RNGs with their backend object
 * (qemuDomainAttachRNGDevice), DIMM memory with its backend (qemuDomainAttachMemory, with the
 * balloon's accounting) and watchdogs (qemuDomainAttachWatchdog).
 */
import type { HotplugPlan } from './hotplug.js';
import {
  configUnsupported,
  type Dev,
  failed,
  invalid,
  listOf,
  sizeKiB,
  unsupported,
} from './hotplug-device.js';
import { deviceProps, freePciAddress, freeUsbAddress, optionProps } from './hotplug-qemu.js';
import type { Step } from './hotplug-steps.js';

function deviceAddStep(plan: HotplugPlan, alias: string): Step {
  const props = deviceProps(plan.args, alias);
  return {
    name: `device_add ${alias}`,
    run: () => plan.mon.execute('device_add', props).then(() => {}),
    undo: () => plan.mon.execute('device_del', { id: alias }),
  };
}

function objectAddStep(plan: HotplugPlan, id: string): Step {
  const props = optionProps(plan.args, '-object', id);
  return {
    name: `object-add ${id}`,
    run: () => plan.mon.execute('object-add', props).then(() => {}),
    undo: () => plan.mon.execute('object-del', { id }),
  };
}

/** Conventional-PCI models (a pcie-to-pci-bridge slot on q35). */
const CONVENTIONAL = new Set(['lsilogic', 'lsi', 'i6300esb', 'pci-serial']);

/**
 * qemuDomainAttachControllerDevice. `own`: the controller is what the caller attaches (its
 * aliases and command line are computed here); false when a disk brings it (the disk's plan
 * computes them once for both).
 */
export async function attachControllerSteps(plan: HotplugPlan, own = true): Promise<Step[]> {
  const cont = plan.dev;
  const type = cont.type ?? 'pci';
  if (type !== 'scsi') throw unsupported(`'${type}' controller cannot be hot plugged.`);
  if (own) {
    const same = (plan.live.devices?.controller ?? []).filter(
      (c: Dev) => c.type === type && Number(c.index ?? 0) === Number(cont.index ?? 0),
    );
    if (same.length > 0) throw failed(`target ${type}:${Number(cont.index ?? 0)} already exists`);
  }
  if (!cont.address) cont.address = freePciAddress(plan.next, CONVENTIONAL.has(cont.model ?? 'lsi'));
  if (!own) {
    // the disk's plan computes aliases and the command line after adding the disk too
    const alias = `scsi${Number(cont.index ?? 0)}`;
    return [
      {
        name: `device_add ${alias}`,
        run: async () => {
          await plan.mon.execute('device_add', deviceProps(plan.args, alias));
        },
        undo: () => plan.mon.execute('device_del', { id: alias }),
      },
    ];
  }
  plan.assignAliases();
  plan.args = await plan.host.argv(plan.next);
  return [deviceAddStep(plan, cont.alias.name)];
}

/** qemuDomainAttachInputDevice: virtio and USB buses only; evdev/passthrough get their label. */
export async function attachInputSteps(plan: HotplugPlan): Promise<Step[]> {
  const input = plan.dev;
  const bus = input.bus ?? 'ps2';
  if (bus !== 'virtio' && bus !== 'usb')
    throw unsupported(`input device on bus '${bus}' cannot be hot plugged.`);
  if (!input.address) input.address = bus === 'usb' ? freeUsbAddress(plan.next) : freePciAddress(plan.next);
  plan.assignAliases();
  plan.args = await plan.host.argv(plan.next);
  const steps: Step[] = [];
  const security = plan.host.security;
  if (security?.setInputLabel) {
    steps.push({
      name: 'label the input source',
      run: () => security.setInputLabel!(plan.secDef(), input),
      undo: () => security.restoreInputLabel!(plan.secDef(), input),
    });
  }
  steps.push(deviceAddStep(plan, input.alias.name));
  return steps;
}

/** qemuDomainAttachRNGDevice: the backend object, then the device. */
export async function attachRngSteps(plan: HotplugPlan): Promise<Step[]> {
  const rng = plan.dev;
  if (
    rng.model !== 'virtio' &&
    rng.model !== 'virtio-transitional' &&
    rng.model !== 'virtio-non-transitional'
  ) {
    throw configUnsupported(`rng model '${rng.model}' cannot be hotplugged`);
  }
  if (!rng.address) rng.address = freePciAddress(plan.next);
  plan.assignAliases();
  plan.args = await plan.host.argv(plan.next);
  const alias = rng.alias.name as string;
  return [objectAddStep(plan, `obj${alias}`), deviceAddStep(plan, alias)];
}

/** qemuDomainAttachWatchdog: one per domain; QEMU's `set-action` follows its action. */
export async function attachWatchdogSteps(plan: HotplugPlan): Promise<Step[]> {
  const wd = plan.dev;
  if ((plan.live.devices?.watchdog ?? []).length > 0) throw invalid('domain already has a watchdog');
  if (wd.model !== 'i6300esb') throw unsupported(`hotplug of watchdog of model ${wd.model} is not supported`);
  if (!wd.address) wd.address = freePciAddress(plan.next, true);
  plan.assignAliases();
  plan.args = await plan.host.argv(plan.next);
  const action = wd.action ?? 'reset';
  const qemuAction = action === 'dump' ? 'pause' : action === 'destroy' ? 'poweroff' : action;
  return [
    {
      name: 'set-action watchdog',
      run: () => plan.mon.execute('set-action', { watchdog: qemuAction }).then(() => {}),
    },
    deviceAddStep(plan, wd.alias.name),
  ];
}

/**
 * qemuDomainAttachMemory for a DIMM: a free slot of `<maxMemory slots>`, the backend object and
 * the pc-dimm; the live total memory and the balloon grow by its size (libvirt's accounting).
 */
export async function attachMemorySteps(plan: HotplugPlan): Promise<Step[]> {
  const mem = plan.dev;
  if (mem.model !== 'dimm') throw unsupported(`live attach of memory model '${mem.model}' is not supported`);
  const slots = Number((plan.live.maxMemory as Dev | undefined)?.slots ?? 0);
  if (slots === 0) throw configUnsupported('no free memory device slot available');
  const used = new Set(
    listOf(plan.live, 'memory')
      .map((m) => m.address)
      .filter((a) => a?.type === 'dimm')
      .map((a) => Number(a.slot)),
  );
  if (!mem.address) {
    let slot = 0;
    while (used.has(slot)) slot++;
    if (slot >= slots) throw configUnsupported('no free memory device slot available');
    mem.address = { type: 'dimm', slot };
  }
  plan.assignAliases();
  plan.args = await plan.host.argv(plan.next);
  const alias = mem.alias.name as string;
  const size = sizeKiB(mem.target?.size);
  // the live totals as libvirt keeps them: <memory> and the balloon both grow
  const next = plan.next as Dev;
  next.memory = { value: sizeKiB(next.memory) + size, unit: 'KiB' };
  if (next.currentMemory) next.currentMemory = { value: sizeKiB(next.currentMemory) + size, unit: 'KiB' };
  const steps: Step[] = [];
  const security = plan.host.security;
  if (security?.setMemoryLabel) {
    steps.push({
      name: 'label the memory backend',
      run: () => security.setMemoryLabel!(plan.secDef(), mem),
      undo: () => security.restoreMemoryLabel!(plan.secDef(), mem),
    });
  }
  steps.push(objectAddStep(plan, `mem${alias}`), deviceAddStep(plan, alias), {
    // qemuDomainUpdateMemoryDeviceInfo: the base address QEMU chose
    name: 'query-memory-devices',
    run: async () => {
      const devs =
        await plan.mon.execute<{ data?: { id?: string; addr?: number } }[]>('query-memory-devices');
      const addr = devs.find((d) => d.data?.id === alias)?.data?.addr;
      if (addr !== undefined) mem.address = { ...mem.address, base: addr };
    },
  });
  return steps;
}

/** qemuDomainRemoveMemoryDevice's accounting: the live totals shrink by the DIMM's size. */
export function shrinkMemory(def: Dev, mem: Dev): void {
  const size = sizeKiB(mem.target?.size);
  def.memory = { value: Math.max(0, sizeKiB(def.memory) - size), unit: 'KiB' };
  if (def.currentMemory)
    def.currentMemory = { value: Math.max(0, sizeKiB(def.currentMemory) - size), unit: 'KiB' };
}
