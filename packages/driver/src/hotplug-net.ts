/**
 * Interfaces at hotplug (qemuDomainAttachNetDevice): the host side first (a tap created and, for
 * a bridge, made its port, through net-interfaces.ts as at start), its descriptor handed to QEMU
 * with `getfd`, then `netdev_add` and `device_add`. Removal (qemuDomainRemoveNetDevice):
 * `netdev_del`, then the ethernet tap's downscript and deletion; a bridge tap goes with QEMU's
 * descriptor.
 */
import { closeSync } from 'node:fs';
import type { DomainDef } from '@qvirt/core';
import type { HotplugPlan } from './hotplug.js';
import { type Dev, unsupported } from './hotplug-device.js';
import { deviceProps, freePciAddress, type Mon, optionProps } from './hotplug-qemu.js';
import type { Step } from './hotplug-steps.js';
import { connectInterfaces, stopInterfaces } from './net-interfaces.js';

const HOTPLUG_TYPES = new Set(['ethernet', 'bridge', 'user']);

/** The steps of a live interface attach. */
export async function attachNetSteps(plan: HotplugPlan): Promise<Step[]> {
  const net = plan.dev;
  const type = net.type ?? 'user';
  if (!HOTPLUG_TYPES.has(type))
    throw unsupported(`hotplug of interface type of ${type} is not implemented yet`);
  if (!net.address) net.address = freePciAddress(plan.next);
  plan.assignAliases();
  const alias = net.alias.name as string;
  const steps: Step[] = [];
  const one = { devices: { interface: [net] } } as unknown as DomainDef;
  let fds: number[] = [];
  const closeOurs = () => {
    for (const fd of fds.splice(0)) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
    }
  };
  const fdName = `fd-${alias}`;
  if (type !== 'user') {
    steps.push({
      name: 'create the tap device',
      run: async () => {
        const c = await connectInterfaces(one, { privileged: plan.host.privileged });
        fds = c.taps.get(0)?.fds ?? [];
      },
      undo: async () => {
        closeOurs();
        await stopInterfaces(one);
      },
    });
    steps.push({
      name: 'getfd',
      run: async () => {
        // multiqueue taps pass one descriptor per queue; QEMU names them fd-ALIAS, fd-ALIAS-1, …
        for (const [q, fd] of fds.entries()) {
          await plan.mon.execute('getfd', { fdname: q === 0 ? fdName : `${fdName}-${q}` }, { fds: [fd] });
        }
      },
      undo: async () => {
        for (let q = 0; q < Math.max(fds.length, 1); q++) {
          await plan.mon.execute('closefd', { fdname: q === 0 ? fdName : `${fdName}-${q}` }).catch(() => {});
        }
      },
    });
  }
  steps.push({
    name: `netdev_add host${alias}`,
    run: async () => {
      plan.args = await plan.host.argv(plan.next);
      const props = { ...optionProps(plan.args, '-netdev', `host${alias}`) };
      if (type !== 'user') {
        delete props.fds;
        if (fds.length > 1) props.fds = fds.map((_, q) => (q === 0 ? fdName : `${fdName}-${q}`)).join(':');
        else props.fd = fdName;
      }
      await plan.mon.execute('netdev_add', props);
      // QEMU holds its own copies now
      closeOurs();
    },
    undo: () => plan.mon.execute('netdev_del', { id: `host${alias}` }),
  });
  steps.push({
    name: `device_add ${alias}`,
    run: () => plan.mon.execute('device_add', deviceProps(plan.args, alias)).then(() => {}),
    undo: () => plan.mon.execute('device_del', { id: alias }),
  });
  return steps;
}

/** qemuDomainRemoveNetDevice once QEMU dropped the device. */
export async function removeNet(mon: Mon, net: Dev): Promise<void> {
  await mon.execute('netdev_del', { id: `host${net.alias?.name}` }).catch(() => {});
  await stopInterfaces({ devices: { interface: [net] } } as unknown as DomainDef);
}

const modelOf = (n: Dev): string | undefined => n.model?.type;

/**
 * qemuDomainChangeNet for what QEMU can change live: the link state (`set_link`). The fields
 * libvirt refuses to change are refused with its words; a change of type or bridge, which
 * libvirt makes by reconnecting the tap, is not made here.
 */
export async function changeNetLive(mon: Mon, old: Dev, next: Dev): Promise<void> {
  const oldType = old.type ?? 'user';
  if (oldType === 'hostdev' || oldType === 'vdpa') {
    throw unsupported(`cannot change config of '${oldType}' network interface type`);
  }
  if (modelOf(old) !== modelOf(next)) {
    throw unsupported(
      `cannot modify network device model from ${modelOf(old) ?? '(null)'} to ${modelOf(next) ?? '(null)'}`,
    );
  }
  if ((old.script?.path ?? null) !== (next.script?.path ?? null)) {
    throw unsupported('cannot modify network device script attribute');
  }
  if (next.target?.dev && next.target.dev !== old.target?.dev) {
    throw unsupported('cannot modify network device tap name');
  }
  const addr = next.address as Dev | undefined;
  if (addr?.type && addr.type !== old.address?.type)
    throw unsupported('cannot modify network device address type');
  if (
    addr?.type === 'pci' &&
    ['domain', 'bus', 'slot', 'function'].some((k) => Number(addr[k] ?? 0) !== Number(old.address?.[k] ?? 0))
  ) {
    throw unsupported('cannot modify network device guest PCI address');
  }
  if ((old.mtu?.size ?? 0) !== (next.mtu?.size ?? 0)) throw unsupported('cannot modify MTU');
  const sameConnection =
    (next.type ?? 'user') === oldType &&
    (oldType !== 'bridge' || next.source?.bridge === old.source?.bridge) &&
    (oldType !== 'network' || next.source?.network === old.source?.network);
  if (!sameConnection) throw unsupported(`unable to change config on '${next.type ?? 'user'}' network type`);
  const up = (n: Dev) => (n.link?.state ?? 'up') !== 'down';
  if (up(old) !== up(next)) {
    // qemuDomainChangeNetLinkState
    await mon.execute('set_link', { name: old.alias?.name, up: up(next) });
    if (up(next)) delete old.link;
    else old.link = { state: 'down' };
  }
}
