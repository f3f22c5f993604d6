/**
 * virtio-serial ports for virtio channels and consoles (qemuDomainAssignVirtioSerialAddresses,
 * virDomainVirtioSerialAddr* in src/conf/domain_addr.c). Port 0 is kept for consoles; channels
 * take the first free port from 1 on the lowest-indexed controller with room, and a new
 * controller is added when all are full.
 */
import type { DomainDef, VirtioSerialAddress } from '@qvirt/core';
import { virReportError } from '@qvirt/core';
import { devicesOf } from '../../domain-util.js';
import { deviceInfos, type HasAddress } from './address-devices.js';

const DEFAULT_PORTS = 31;

interface SerialController {
  idx: number;
  ports: boolean[];
}

const xmlError = (m: string) => virReportError('XML_ERROR', 'qemu', m);
const internalError = (m: string) => virReportError('INTERNAL_ERROR', 'qemu', m);

/** virBitmapNextClearBit: the first clear bit after `pos`, or -1. */
function nextClear(map: boolean[], pos: number): number {
  for (let i = pos + 1; i < map.length; i++) if (!map[i]) return i;
  return -1;
}

class SerialAddressSet {
  controllers: SerialController[] = [];

  addController(idx: number, ports: number | undefined): void {
    const cnt: SerialController = { idx, ports: new Array<boolean>(ports ?? DEFAULT_PORTS).fill(false) };
    let at = -1;
    for (let i = 0; i < this.controllers.length; i++) {
      const c = this.controllers[i]!;
      if (c.idx === idx)
        throw internalError(`virtio serial controller with index ${idx} already exists in the address set`);
      if (c.idx > idx) {
        at = i;
        break;
      }
    }
    if (at === -1) this.controllers.push(cnt);
    else this.controllers.splice(at, 0, cnt);
  }

  find(idx: number): SerialController | undefined {
    return this.controllers.find((c) => c.idx === idx);
  }

  /** virDomainVirtioSerialAddrReserve of a complete address (port != 0). */
  reserve(a: VirtioSerialAddress): void {
    const controller = a.controller ?? 0;
    const port = a.port ?? 0;
    if (port === 0) return;
    const cnt = this.find(controller);
    if (!cnt) throw xmlError(`virtio serial controller ${controller} is missing`);
    if (port >= cnt.ports.length)
      throw xmlError(`virtio serial controller ${controller} does not have port ${port}`);
    if (cnt.ports[port])
      throw xmlError(`virtio serial port ${port} on controller ${controller} is already occupied`);
    cnt.ports[port] = true;
  }
}

const isComplete = (dev: HasAddress): boolean =>
  dev.address?.type === 'virtio-serial' && ((dev.address as VirtioSerialAddress).port ?? 0) !== 0;

export function virtioSerialAddresses(def: DomainDef): void {
  const devices = devicesOf(def);
  const addrs = new SerialAddressSet();
  for (const c of devices.controller ?? []) {
    if (c.type === 'virtio-serial') addrs.addController(c.index ?? 0, c.ports);
  }
  for (const info of deviceInfos(def)) {
    if (isComplete(info.dev)) addrs.reserve(info.dev.address as VirtioSerialAddress);
  }

  /** virDomainVirtioSerialAddrNext. */
  const nextAddr = (allowZero: boolean): VirtioSerialAddress => {
    const startPort = allowZero ? -1 : 0;
    if (addrs.controllers.length === 0) throw internalError('no virtio-serial controllers are available');
    for (const c of addrs.controllers) {
      const port = nextClear(c.ports, startPort);
      if (port >= 0) return { type: 'virtio-serial', controller: c.idx, bus: 0, port };
    }
    for (let i = 0; ; i++) {
      if (!(devices.controller ?? []).some((c) => c.type === 'virtio-serial' && (c.index ?? 0) === i)) {
        (devices.controller ??= []).push({ type: 'virtio-serial', index: i });
        addrs.addController(i, undefined);
        return { type: 'virtio-serial', controller: i, bus: 0, port: startPort + 1 };
      }
    }
  };

  /** virDomainVirtioSerialAddrNextFromController. */
  const nextFromController = (controller: number): VirtioSerialAddress => {
    const cnt = addrs.find(controller);
    if (!cnt) throw internalError(`virtio-serial controller ${controller} not available`);
    const port = nextClear(cnt.ports, 0);
    if (port <= 0) throw xmlError(`Unable to find a free port on virtio-serial controller ${controller}`);
    return { type: 'virtio-serial', controller, bus: 0, port };
  };

  /** virDomainVirtioSerialAddrAutoAssignFromCache (the device's address is not complete). */
  const assign = (dev: HasAddress, allowZero: boolean): void => {
    const portOnly = dev.address?.type === 'virtio-serial';
    // For consoles libvirt works on a zeroed scratch address, so controller 0.
    const controller = allowZero ? 0 : ((dev.address as VirtioSerialAddress | undefined)?.controller ?? 0);
    const a = portOnly ? nextFromController(controller) : nextAddr(allowZero);
    addrs.reserve(a);
    // Consoles (allowZero) get their port reserved on a scratch copy only, as libvirt does.
    if (!allowZero) dev.address = a;
  };

  for (const c of devices.console ?? []) {
    if (c.target?.type === 'virtio' && !isComplete(c)) assign(c, true);
  }
  for (const c of devices.channel ?? []) {
    if (c.target?.type === 'virtio' && !isComplete(c)) assign(c, false);
  }
}
