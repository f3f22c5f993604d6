/**
 * `<interface>`: the host side (`-netdev`, qemuBuildHostNetProps) and the guest NIC (`-device`,
 * qemuBuildNicDevProps) of each network interface.
 *
 * domxml-to-native (purpose `native`) first replaces every interface by a fresh `type='ethernet'`
 * one that keeps only its model, MAC, script and boot order (qemuConnectDomainXMLToNative): the
 * driver options, ROM settings, user alias and ACPI index are gone, and the tap device it opens
 * reaches QEMU as a descriptor, `{"type":"tap","fd":"N"}`.
 */
import { type DomainDef, type DomainDevices, virReportError } from '@qvirt/core';
import { knownNetModel } from '../../libvirt-names.js';
import { add, type Build } from '../build.js';
import { deviceAddressProps } from '../device-address.js';
import { jsonProps, type PropObject } from '../props.js';
import { virtioDevProps } from '../storage-virtio-props.js';
import { addChardev } from './io-chardev.js';
import { romProps } from './io-rom.js';

type Net = NonNullable<DomainDevices['interface']>[number];

const unsupported = (msg: string) => virReportError('CONFIG_UNSUPPORTED', 'qemu', msg);
const internal = (msg: string) => virReportError('INTERNAL_ERROR', 'qemu', msg);

/**
 * The first descriptor number a printed command line shows for a tap device. libvirt prints the
 * numbers of the descriptors it really opened; qvirt's printed line uses stand-ins from here on.
 */
const FIRST_TAP_FD = 3;

/** A model as libvirt keeps it: a known one in its own spelling (virDomainNetSetModelString). */
export function netModelName(model: string | undefined): string | undefined {
  if (model === undefined) return undefined;
  return knownNetModel(model) ?? model;
}

/** virDomainNetIsVirtioModel */
export function isVirtioNetModel(model: string | undefined): boolean {
  return model === 'virtio' || model === 'virtio-transitional' || model === 'virtio-non-transitional';
}

/** The position of `<boot dev='network'/>` in `<os>` (1-based, the last one), or 0. */
function osNetworkBoot(b: Build): number {
  let index = 0;
  (b.def.os?.boot ?? []).forEach((boot, i) => {
    if (boot.dev === 'network') index = i + 1;
  });
  return index;
}

/**
 * What domxml-to-native keeps of an interface: a new ethernet one with the model, MAC, script and
 * boot order (qemuConnectDomainXMLToNative). The new interface has no address, alias, driver or
 * ROM settings; `keepAddress` keeps the old address when nothing assigns a new one.
 */
export function nativeInterface(net: Net, keepAddress: boolean): Net {
  const out: Net = { type: 'ethernet' };
  if (net.mac) out.mac = net.mac;
  if (net.script) out.script = net.script;
  if (net.model) out.model = { type: netModelName(net.model.type) };
  if (net.boot) out.boot = net.boot;
  if (keepAddress && net.address) out.address = net.address;
  return out;
}

/**
 * The interfaces of a definition as domxml-to-native converts them, in place: every interface
 * becomes a tap ethernet one without an address. Meant to run before the command line's PCI
 * address assignment and alias assignment, as libvirt converts before qemuProcessPrepareDomain.
 */
export function rewriteInterfacesForNative(def: DomainDef): void {
  const list = def.devices?.interface;
  if (!list) return;
  for (let i = 0; i < list.length; i++) list[i] = nativeInterface(list[i]!, false);
}

const onOff = (v: 'on' | 'off' | undefined): boolean | undefined =>
  v === undefined ? undefined : v === 'on';

/** The guest NIC (qemuBuildNicDevProps). */
function nicProps(b: Build, net: Net, alias: string, bootIndex: number | undefined): PropObject {
  const model = netModelName(net.model?.type);
  if (!model) throw internal(`missing model for network interface '${alias}'`);
  let props: PropObject;
  if (isVirtioNetModel(model)) {
    const d = net.driver ?? {};
    const queues = d.queues ?? 0;
    const ccw = net.address?.type === 'ccw';
    props = {
      ...virtioDevProps(b.ctx, 'virtio-net', { address: net.address, model, driver: d }),
      tx: d.txmode === 'iothread' ? 'bh' : d.txmode === 'timer' ? 'timer' : undefined,
      ioeventfd: onOff(d.ioeventfd),
      event_idx: onOff(d.event_idx),
      csum: onOff(d.host?.csum),
      gso: onOff(d.host?.gso),
      host_tso4: onOff(d.host?.tso4),
      host_tso6: onOff(d.host?.tso6),
      host_ecn: onOff(d.host?.ecn),
      host_ufo: onOff(d.host?.ufo),
      mrg_rxbuf: onOff(d.host?.mrg_rxbuf),
      guest_csum: onOff(d.guest?.csum),
      guest_tso4: onOff(d.guest?.tso4),
      guest_tso6: onOff(d.guest?.tso6),
      guest_ecn: onOff(d.guest?.ecn),
      guest_ufo: onOff(d.guest?.ufo),
      mq: queues > 1 ? true : undefined,
      vectors: queues > 1 && !ccw ? 2 * queues + 2 : undefined,
      rx_queue_size: d.rx_queue_size || undefined,
      tx_queue_size: d.tx_queue_size || undefined,
      rss: onOff(d.rss),
      hash: onOff(d.rss_hash_report),
      host_mtu: net.mtu?.size || undefined,
      failover: net.teaming?.type === 'persistent' ? true : undefined,
    };
  } else {
    props = { driver: model };
  }
  props.netdev = `host${alias}`;
  props.id = alias;
  props.mac = net.mac?.address;
  props.bootindex = bootIndex || undefined;
  Object.assign(props, deviceAddressProps(b.def, net), romProps(net));
  return props;
}

/** The host side of an interface (qemuBuildHostNetProps). */
function hostNetProps(net: Net, alias: string, nextFd: () => number): PropObject {
  const type = net.type ?? 'user';
  const src = net.source ?? {};
  if (net.script?.path && type !== 'ethernet') {
    throw unsupported(`scripts are not supported on interfaces of type ${type}`);
  }
  let props: PropObject;
  switch (type) {
    case 'bridge':
    case 'network':
    case 'direct':
    case 'ethernet': {
      const queues = Math.max(net.driver?.queues ?? 1, 1);
      const fds = Array.from({ length: queues }, nextFd).join(':');
      props = { type: 'tap', [queues > 1 ? 'fds' : 'fd']: fds };
      if (net.tune?.sndbuf !== undefined) props.sndbuf = Number(net.tune.sndbuf);
      break;
    }
    case 'client':
      props = { type: 'socket', connect: `${src.address ?? ''}:${src.port ?? 0}` };
      break;
    case 'server':
      props = { type: 'socket', listen: `${src.address ?? ''}:${src.port ?? 0}` };
      break;
    case 'mcast':
      props = { type: 'socket', mcast: `${src.address ?? ''}:${src.port ?? 0}` };
      break;
    case 'udp':
      props = {
        type: 'socket',
        udp: `${src.address ?? ''}:${src.port ?? 0}`,
        localaddr: `${src.local?.address ?? ''}:${src.local?.port ?? 0}`,
      };
      break;
    case 'user':
      if (net.backend?.type === 'passt')
        throw unsupported('passt backend of user interfaces is not supported');
      props = { type: 'user' };
      for (const ip of net.ip ?? []) {
        if (ip.address?.includes(':')) {
          props['ipv6-prefix'] = ip.address;
          if (ip.prefix) props['ipv6-prefixlen'] = ip.prefix;
        } else if (ip.address) {
          props.net = ip.prefix ? `${ip.address}/${ip.prefix}` : ip.address;
        }
      }
      break;
    case 'internal':
      props = { type: 'user' };
      break;
    case 'vhostuser': {
      props = { type: 'vhost-user', chardev: `char${alias}` };
      const queues = net.driver?.queues ?? 0;
      if (queues > 1) props.queues = queues;
      break;
    }
    default:
      throw unsupported(`interface type '${type}' is not supported on the QEMU command line`);
  }
  props.id = `host${alias}`;
  return props;
}

export function nets(b: Build): void {
  const list = b.def.devices?.interface ?? [];
  const native = b.ctx.purpose === 'native';
  let fd = FIRST_TAP_FD;
  const nextFd = () => fd++;
  const networkBoot = osNetworkBoot(b);
  list.forEach((original, i) => {
    const net = native ? { ...nativeInterface(original, true), alias: { name: `net${i}` } } : original;
    if (net.type === 'hostdev') return; // built with the host devices
    const alias = net.alias?.name;
    if (!alias) throw internal('missing alias for network interface');
    // Only the first interface boots through <os><boot dev='network'/>; a <boot order> counts
    // unless the interface was rewritten (its effective boot index is not copied).
    const bootIndex = i === 0 && networkBoot ? networkBoot : native ? undefined : net.boot?.order;
    if (net.type === 'vhostuser') {
      const s = net.source ?? {};
      addChardev(
        b,
        {
          type: s.type ?? 'unix',
          source: [{ mode: s.mode === 'server' ? 'bind' : 'connect', path: s.path }],
        },
        `char${alias}`,
        { wait: true },
      );
    }
    add(b, '-netdev', jsonProps(hostNetProps(net, alias, nextFd)));
    add(b, '-device', jsonProps(nicProps(b, net, alias, bootIndex)));
  });
}
