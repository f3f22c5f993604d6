/**
 * What QEMU is asked at hotplug, derived from the same builder as the command line: libvirt's
 * hotplug calls the qemuBuild*Props functions its command line uses, so the `-device`,
 * `-blockdev`, `-netdev`, `-object` and `-chardev` of the new device in the command line of the
 * live definition with that device are exactly what `device_add`, `blockdev-add`, `netdev_add`,
 * `object-add` and `chardev-add` take. Also: the addresses libvirt's hotplug assigns (PCI slot,
 * USB port, virtio-serial port) and the wait for DEVICE_DELETED.
 */
import type { EventEmitter } from 'node:events';
import type { DomainDef } from '@qvirt/core';
import { type Dev, internal, listOf } from './hotplug-device.js';

export interface Mon {
  execute<T = unknown>(
    command: string,
    args?: Record<string, unknown>,
    options?: { fds?: number[] },
  ): Promise<T>;
}

type Props = Record<string, unknown>;

/** The arguments following each `opt` in `args`, parsed when JSON. */
function optionValues(args: string[], opt: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < args.length; i++) if (args[i] === opt) out.push(args[i + 1]!);
  return out;
}

function jsonOf(value: string): Props | undefined {
  if (!value.startsWith('{')) return undefined;
  try {
    return JSON.parse(value) as Props;
  } catch {
    return undefined;
  }
}

/** The `-device` whose id is `alias`. */
export function deviceProps(args: string[], alias: string): Props {
  const props = optionValues(args, '-device')
    .map(jsonOf)
    .find((p) => p?.id === alias);
  if (!props) throw internal(`no device properties for '${alias}'`);
  return props;
}

/** The `-netdev`, `-object` (by id) or `-blockdev` (by node-name) named `id`. */
export function optionProps(args: string[], opt: '-netdev' | '-object' | '-blockdev', id: string): Props {
  const key = opt === '-blockdev' ? 'node-name' : 'id';
  const props = optionValues(args, opt)
    .map(jsonOf)
    .find((p) => p?.[key] === id);
  if (!props) throw internal(`no ${opt.slice(1)} properties for '${id}'`);
  return props;
}

/** The `-blockdev` chain under format node `top` (format, then what it sits on), top first. */
export function blockdevChain(args: string[], top: string): Props[] {
  const chain: Props[] = [];
  let name: unknown = top;
  while (typeof name === 'string') {
    const p = optionProps(args, '-blockdev', name);
    chain.push(p);
    name = p.file ?? p.backing;
    if (typeof name === 'string' && chain.some((c) => c['node-name'] === name)) break;
  }
  return chain;
}

/** Splits QEMU's `key=value,…` option syntax (`,,` is a comma). */
function splitOpts(value: string): Map<string, string> {
  const out = new Map<string, string>();
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < value.length; i++) {
    if (value[i] === ',' && value[i + 1] === ',') {
      cur += ',';
      i++;
    } else if (value[i] === ',') {
      parts.push(cur);
      cur = '';
    } else cur += value[i];
  }
  parts.push(cur);
  const [backend, ...rest] = parts;
  out.set('backend', backend!);
  for (const kv of rest) {
    const eq = kv.indexOf('=');
    out.set(eq < 0 ? kv : kv.slice(0, eq), eq < 0 ? 'on' : kv.slice(eq + 1));
  }
  return out;
}

/**
 * The `-chardev` `id` of the command line as `chardev-add`'s arguments (qemuMonitorJSONBuildChr
 * Props: the same backend, in QAPI's ChardevBackend form).
 */
export function chardevAddArgs(args: string[], id: string): { args: Props; path?: string } {
  const value = optionValues(args, '-chardev').find((v) => splitOpts(v).get('id') === id);
  if (!value) throw internal(`no chardev properties for '${id}'`);
  const o = splitOpts(value);
  const on = (k: string) => o.get(k) === 'on';
  const common: Props = {};
  if (o.has('logfile')) {
    common.logfile = o.get('logfile');
    if (o.has('logappend')) common.logappend = on('logappend');
  }
  const path = o.get('path');
  let backend: Props;
  switch (o.get('backend')) {
    case 'pty':
      backend = { type: 'pty', data: { ...common } };
      break;
    case 'null':
      backend = { type: 'null', data: { ...common } };
      break;
    case 'file':
      backend = {
        type: 'file',
        data: { ...common, out: path, ...(o.has('append') ? { append: on('append') } : {}) },
      };
      break;
    case 'pipe':
      backend = { type: 'pipe', data: { ...common, device: path } };
      break;
    case 'socket': {
      const addr = path
        ? { type: 'unix', data: { path } }
        : { type: 'inet', data: { host: o.get('host') ?? '', port: o.get('port') ?? '' } };
      backend = {
        type: 'socket',
        data: {
          ...common,
          addr,
          server: on('server'),
          ...(o.has('wait') ? { wait: on('wait') } : {}),
          ...(o.has('reconnect') ? { reconnect: Number(o.get('reconnect')) } : {}),
        },
      };
      break;
    }
    case 'spicevmc':
      backend = { type: 'spicevmc', data: { ...common, type: o.get('name') } };
      break;
    default:
      throw internal(`unsupported chardev backend '${o.get('backend')}' for hotplug`);
  }
  return { args: { id, backend }, ...(path ? { path } : {}) };
}

/** The next free `libvirt-N-` node id (qemuDomainStorageSourceAccessAllow's node naming). */
export async function nextNodeId(mon: Mon): Promise<number> {
  const nodes = await mon.execute<{ 'node-name'?: string }[]>('query-named-block-nodes', { flat: true });
  let max = 0;
  for (const n of nodes) {
    const m = /^libvirt-(\d+)-/.exec(n['node-name'] ?? '');
    if (m) max = Math.max(max, Number(m[1]));
  }
  return max + 1;
}

/** Every address in `def` of `type`, as `bus:slot`-like keys made by `key`. */
function usedAddresses(def: DomainDef, type: string, key: (a: Dev) => string): Set<string> {
  const used = new Set<string>();
  const walk = (v: unknown) => {
    if (Array.isArray(v)) for (const x of v) walk(x);
    else if (v && typeof v === 'object') {
      const a = (v as { address?: Dev }).address;
      if (a?.type === type) used.add(key(a));
      for (const [k, x] of Object.entries(v)) if (k !== 'address') walk(x);
    }
  };
  walk(def.devices);
  return used;
}

/**
 * qemuDomainEnsurePCIAddress for a new device: the first free hotpluggable slot that takes it
 * (PCI Express devices on a free pcie-root-port of a q35 guest, conventional PCI devices on a
 * pcie-to-pci/pci bridge there, a slot of pci.0 on i440fx); libvirt adds no controller at hotplug.
 */
export function freePciAddress(def: DomainDef, conventional = false): Dev {
  const used = usedAddresses(def, 'pci', (a) => `${Number(a.bus ?? 0)}:${Number(a.slot ?? 0)}`);
  const controllers = (def.devices?.controller ?? []) as Dev[];
  const pci = controllers.filter((c) => c.type === 'pci');
  const addr = (bus: number, slot: number) => ({
    type: 'pci',
    domain: 0,
    bus,
    slot,
    function: 0,
  });
  if (pci.some((c) => c.model === 'pcie-root')) {
    if (!conventional) {
      const port = pci.find(
        (p) => p.model === 'pcie-root-port' && !used.has(`${Number(p.index)}:0`) && p.hotplug !== 'off',
      );
      if (port) return addr(Number(port.index), 0);
    }
    for (const b of pci.filter((p) => p.model === 'pcie-to-pci-bridge' || p.model === 'pci-bridge')) {
      for (let slot = 1; slot < 32; slot++)
        if (!used.has(`${Number(b.index)}:${slot}`)) return addr(Number(b.index), slot);
    }
    throw internal('No more available PCI slots');
  }
  for (let slot = 1; slot < 32; slot++) if (!used.has(`0:${slot}`)) return addr(0, slot);
  throw internal('No more available PCI slots');
}

/** virDomainUSBAddressControllerModelToPorts: the ports of a USB controller model. */
function usbPorts(model: string | undefined): number {
  switch (model) {
    case 'qemu-xhci':
      return 15;
    case 'nec-xhci':
      return 4;
    case 'ich9-ehci1':
    case 'usb-ehci':
      return 6;
    default:
      return 2;
  }
}

/** virDomainUSBAddressEnsure: the first free port of the first USB bus with one. */
export function freeUsbAddress(def: DomainDef): Dev {
  const used = usedAddresses(def, 'usb', (a) => `${Number(a.bus ?? 0)}:${a.port}`);
  const usb = ((def.devices?.controller ?? []) as Dev[]).filter(
    (c) => c.type === 'usb' && c.model !== 'none' && !c.master,
  );
  for (const c of usb) {
    const bus = Number(c.index ?? 0);
    for (let port = 1; port <= usbPorts(c.model); port++) {
      if (!used.has(`${bus}:${port}`)) return { type: 'usb', bus, port: String(port) };
    }
  }
  throw internal('No free USB ports');
}

/** virDomainVirtioSerialAddrAutoAssign: the first free port of a virtio-serial controller. */
export function freeVirtioSerialAddress(def: DomainDef, allowZero: boolean): Dev {
  const controllers = ((def.devices?.controller ?? []) as Dev[]).filter((c) => c.type === 'virtio-serial');
  if (controllers.length === 0) throw internal('no virtio-serial controllers are available');
  const used = usedAddresses(
    def,
    'virtio-serial',
    (a) => `${Number(a.controller ?? 0)}:${Number(a.bus ?? 0)}:${Number(a.port ?? 0)}`,
  );
  for (const c of controllers) {
    const ports = Number(c.ports ?? 31);
    for (let port = allowZero ? 0 : 1; port < ports; port++) {
      if (!used.has(`${Number(c.index ?? 0)}:0:${port}`)) {
        return { type: 'virtio-serial', controller: Number(c.index ?? 0), bus: 0, port };
      }
    }
  }
  throw internal('Unable to find a free virtio-serial port');
}

/** Inserts `dev` into `def`'s `kind` list (virDomain*Insert: disks by target order). */
export function insertDevice(def: DomainDef, kind: string, dev: Dev): void {
  const list = listOf(def, kind);
  list.push(dev);
}

/**
 * Resolves 'deleted' when QEMU reports `alias` gone within `ms`, 'rejected' when the guest refuses
 * the unplug (DEVICE_UNPLUG_GUEST_ERROR), 'timeout' otherwise (qemuDomainWaitForDeviceRemoval).
 */
export function waitDeleted(
  mon: Mon,
  alias: string,
  ms: number,
): Promise<'deleted' | 'rejected' | 'timeout'> {
  const emitter = mon as unknown as EventEmitter;
  return new Promise((resolve) => {
    const done = (r: 'deleted' | 'rejected' | 'timeout') => {
      clearTimeout(timer);
      emitter.off('event', onEvent);
      resolve(r);
    };
    const onEvent = (ev: { event: string; data?: { device?: string } }) => {
      if (ev.data?.device !== alias) return;
      if (ev.event === 'DEVICE_DELETED') done('deleted');
      else if (ev.event === 'DEVICE_UNPLUG_GUEST_ERROR') done('rejected');
    };
    const timer = setTimeout(() => done('timeout'), ms);
    emitter.on('event', onEvent);
  });
}
