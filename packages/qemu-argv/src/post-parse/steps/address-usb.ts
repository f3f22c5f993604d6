/**
 * USB ports (qemuDomainAssignUSBAddresses and virDomainUSBAddress* in src/conf/domain_addr.c):
 * hubs are added when the controllers have fewer ports than there are USB devices, then every
 * USB device without a port gets the first free one, looking through the buses in index order
 * and into hubs depth-first.
 */
import type { DomainDef, UsbAddress } from '@qvirt/core';
import { virReportError } from '@qvirt/core';
import { devicesOf } from '../../domain-util.js';
import type { HasAddress } from './address-devices.js';
import { netHostdevIsPci } from './address-pci-flags.js';

const HUB_PORTS = 8;
const MAX_PORT_DEPTH = 4;

interface Hub {
  portmap: boolean[];
  ports: Array<Hub | undefined>;
}

const newHub = (n: number): Hub => ({
  portmap: new Array<boolean>(n).fill(false),
  ports: new Array(n).fill(undefined),
});

const xmlError = (m: string) => virReportError('XML_ERROR', 'qemu', m);

type Controller = NonNullable<NonNullable<DomainDef['devices']>['controller']>[number];

/** virDomainUSBAddressControllerModelToPorts. */
function controllerPorts(c: Controller): number {
  switch (c.model) {
    case undefined:
    case 'piix3-uhci':
    case 'piix4-uhci':
    case 'vt82c686b-uhci':
      return 2;
    case 'ehci':
    case 'ich9-ehci1':
      return 6;
    case 'pci-ohci':
      return 3;
    case 'nec-xhci':
    case 'qemu-xhci':
      return c.ports ?? 4;
    case 'qusb1':
    case 'qusb2':
      return c.ports ?? 8;
    default:
      return 0;
  }
}

/** The port path of a USB address (`1.2` → [1, 2]); empty when no port is set. */
function portPath(a: UsbAddress): number[] {
  if (!a.port) return [];
  return a.port.split('.').map((p) => Number(p));
}

const portIsValid = (dev: HasAddress): boolean =>
  dev.address?.type === 'usb' && (portPath(dev.address as UsbAddress)[0] ?? 0) !== 0;

/** virDomainUSBDeviceDefForeach: the USB devices in libvirt's order. */
function usbDevices(def: DomainDef, skipHubs: boolean): HasAddress[] {
  const d = def.devices ?? {};
  const out: HasAddress[] = [];
  if (!skipHubs) for (const h of d.hub ?? []) if (h.type === 'usb') out.push(h);
  for (const n of d.interface ?? []) if (n.type === 'hostdev' && !netHostdevIsPci(n)) out.push(n);
  for (const h of d.hostdev ?? []) if (h.type === 'usb') out.push(h);
  for (const disk of d.disk ?? []) if (disk.target?.bus === 'usb') out.push(disk);
  for (const c of d.controller ?? []) if (c.type === 'ccid') out.push(c);
  for (const i of d.input ?? []) if (i.bus === 'usb') out.push(i);
  for (const s of d.serial ?? []) if (s.target?.type === 'usb-serial') out.push(s);
  for (const s of d.sound ?? []) if (s.model === 'usb') out.push(s);
  for (const r of d.redirdev ?? []) if ((r.bus ?? 'usb') === 'usb') out.push(r);
  return out;
}

class UsbAddressSet {
  buses: Array<Hub | undefined> = [];

  addController(c: Controller): void {
    const n = controllerPorts(c);
    if (n === 0) return;
    const idx = c.index ?? 0;
    if (this.buses[idx]) throw xmlError(`Duplicate USB controllers with index ${idx}`);
    this.buses[idx] = newHub(n);
  }

  /** virDomainUSBAddressFindPort: the hub holding the address's last port, and its index. */
  findPort(a: UsbAddress): [Hub, number] {
    const bus = a.bus ?? 0;
    const path = portPath(a);
    const portStr = path.join('.');
    let hub = this.buses[bus];
    if (!hub) throw xmlError(`Missing USB bus ${bus}`);
    for (let i = 0; i < path.length - 1; i++) {
      const portIdx = path[i]! - 1;
      if (hub.ports.length <= portIdx)
        throw xmlError(`port ${path[i]} out of range in USB address bus: ${bus} port: ${portStr}`);
      const next: Hub | undefined = hub.ports[portIdx];
      if (!next)
        throw xmlError(`there is no hub at port ${path[i]} in USB address bus: ${bus} port: ${portStr}`);
      hub = next;
    }
    const target = path[path.length - 1]! - 1;
    if (target >= hub.portmap.length)
      throw xmlError(`requested USB port ${portStr} not present on USB bus ${bus}`);
    return [hub, target];
  }

  addHub(hub: HasAddress): void {
    if (hub.address?.type !== 'usb') throw xmlError('Wrong address type for USB hub');
    const a = hub.address as UsbAddress;
    const [target, port] = this.findPort(a);
    if (target.ports[port])
      throw xmlError(`Duplicate USB hub on bus ${a.bus ?? 0} port ${portPath(a).join('.')}`);
    target.portmap[port] = true;
    target.ports[port] = newHub(HUB_PORTS);
  }

  reserve(dev: HasAddress): void {
    if (!portIsValid(dev)) return;
    const a = dev.address as UsbAddress;
    const [hub, port] = this.findPort(a);
    if (hub.portmap[port])
      throw xmlError(`Duplicate USB address bus ${a.bus ?? 0} port ${portPath(a).join('.')}`);
    hub.portmap[port] = true;
  }

  /** virDomainUSBAddressFindFreePort. */
  private findFree(hub: Hub, path: number[], level: number): boolean {
    const free = hub.portmap.indexOf(false);
    if (free >= 0) {
      path[level] = free + 1;
      return true;
    }
    if (level >= MAX_PORT_DEPTH - 1) return false;
    for (let i = 0; i < hub.ports.length; i++) {
      const sub = hub.ports[i];
      if (!sub) continue;
      if (!this.findFree(sub, path, level + 1)) continue;
      path[level] = i + 1;
      return true;
    }
    return false;
  }

  private assignFromBus(dev: HasAddress, bus: number): boolean {
    const hub = this.buses[bus];
    if (!hub) return false;
    const path: number[] = [];
    if (!this.findFree(hub, path, 0)) return false;
    dev.address = { type: 'usb', bus, port: path.join('.') };
    this.reserve(dev);
    return true;
  }

  /** virDomainUSBAddressAssign. */
  assign(dev: HasAddress): void {
    if (dev.address?.type === 'usb') {
      const bus = (dev.address as UsbAddress).bus ?? 0;
      if (!this.buses[bus])
        throw xmlError(`USB bus ${bus} requested but no controller with that index is present`);
      if (this.assignFromBus(dev, bus)) return;
    } else {
      for (let i = 0; i < this.buses.length; i++) if (this.assignFromBus(dev, i)) return;
    }
    throw virReportError('INTERNAL_ERROR', 'qemu', 'No free USB ports');
  }
}

export function usbAddresses(def: DomainDef): void {
  const devices = devicesOf(def);
  const controllers = devices.controller ?? [];

  // qemuDomainUSBAddressAddHubs
  let available = 0;
  for (const c of controllers) if (c.type === 'usb') available += controllerPorts(c);
  for (const h of devices.hub ?? []) if (h.type === 'usb') available += HUB_PORTS;
  const count = usbDevices(def, false).length;
  if (count > 0 && !controllers.some((c) => c.type === 'usb' && c.model !== 'none')) {
    throw virReportError(
      'CONFIG_UNSUPPORTED',
      'qemu',
      'USB is disabled for this domain, but USB devices are present in the domain XML',
    );
  }
  if (count > available) {
    const needed = Math.ceil((count - available + 1) / (HUB_PORTS - 1));
    for (let i = 0; i < needed; i++) (devices.hub ??= []).push({ type: 'usb' });
  }

  const addrs = new UsbAddressSet();
  for (const c of controllers) if (c.type === 'usb') addrs.addController(c);
  for (const h of devices.hub ?? []) if (h.type === 'usb' && portIsValid(h)) addrs.addHub(h);
  for (const dev of usbDevices(def, true)) addrs.reserve(dev);

  for (const h of devices.hub ?? []) {
    if (h.type !== 'usb' || portIsValid(h)) continue;
    addrs.assign(h);
    addrs.addHub(h);
  }
  for (const dev of usbDevices(def, true)) {
    const t = dev.address?.type;
    if (t !== undefined && t !== 'usb') continue;
    if (portIsValid(dev)) continue;
    addrs.assign(dev);
  }
}
