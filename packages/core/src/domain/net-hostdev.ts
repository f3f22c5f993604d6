/**
 * Network interfaces and host device assignment: `<interface>`, `<hostdev>`, `<redirdev>`,
 * `<redirfilter>`, `<smartcard>` and `<hub>`, in libvirt 9.0's canonical order
 * (virDomainNetDefFormat, virDomainHostdevDefFormat, virDomainRedirdevDefFormat,
 * virDomainRedirFilterDefFormat, virDomainSmartcardDefFormat, virDomainHubDefFormat).
 */
import type { Infer, Schema } from '../schema/schema.js';
import { element, flag, leaf, many, one, raw, variant } from '../schema/schema.js';
import type { ValueType } from '../schema/value-types.js';
import { enumOf, hex, int, onOff, str, uint, ulong, yesNo } from '../schema/value-types.js';
import { chardevSourceChildren, chardevType } from './chardev.js';
import { deviceInfoChildren, virtioOptions } from './common.js';

// ---------------------------------------------------------------------------------------------
// Local value types

/** An unsigned int read with base 0 (decimal, or 0x hex) and printed in decimal. */
const uintAny = (): ValueType<number> => uint({ hex: true });

/** An unsigned 64-bit value read with base 0 and printed in decimal, kept as a string. */
function u64Any(): ValueType<string> {
  const dec = ulong();
  return {
    description: 'an unsigned integer (decimal or 0x hex)',
    parse(raw) {
      const t = raw.trim();
      if (/^0x[0-9a-f]+$/i.test(t)) {
        const v = BigInt(t);
        if (v > 18446744073709551615n) throw new Error('unsigned integer out of range');
        return v.toString();
      }
      return dec.parse(t);
    },
    format: (v) => v,
  };
}

/**
 * An int read with base 0 and printed as `0x` plus upper-case hex digits (redirfilter's
 * `class='0x%02X'`); `-1` (libvirt's "any") is kept and printed as given.
 */
function hexUpper(width: number, max: number): ValueType<number> {
  const base = int({ hex: true, min: -1, max });
  return {
    description: base.description,
    parse: (raw) => base.parse(raw),
    format: (v) => (v < 0 ? String(v) : `0x${v.toString(16).toUpperCase().padStart(width, '0')}`),
  };
}

/** The same declarations with `first` moved to the front (declaration order is output order). */
function reorder<T extends object>(spec: T, first: (keyof T)[]): T {
  const out = {} as T;
  for (const k of first) out[k] = spec[k];
  return Object.assign(out, spec);
}

// ---------------------------------------------------------------------------------------------
// Pieces shared by <interface> and <hostdev>

/** `<ip>` of an interface (guest side), its `<source>` (host side) or a capabilities net hostdev. */
export const netIp = element({ attrs: { address: str(), family: str(), prefix: uint(), peer: str() } });

/** `<route>` (virNetDevIPRouteFormat). */
export const netRoute = element({
  attrs: { family: str(), address: str(), netmask: str(), prefix: uint(), gateway: str(), metric: uint() },
});

/** `<teaming>` (virDomainNetTeamingInfoFormat). */
export const teaming = element({ attrs: { type: enumOf('persistent', 'transient'), persistent: str() } });

/** `<vlan>` (virNetDevVlanFormat). */
export const vlan = element({
  attrs: { trunk: yesNo() },
  children: {
    tag: many(element({ attrs: { id: uint(), nativeMode: enumOf('default', 'tagged', 'untagged') } })),
  },
});

/** `<virtualport>` (virNetDevVPortProfileFormat). */
export const virtualport = element({
  attrs: { type: enumOf('none', '802.1Qbg', '802.1Qbh', 'openvswitch', 'midonet') },
  children: {
    parameters: one(
      element({
        attrs: {
          managerid: uint(),
          typeid: uint(),
          typeidversion: uint(),
          instanceid: str(),
          interfaceid: str(),
          profileid: str(),
        },
      }),
    ),
  },
});

const bandwidthRate = element({ attrs: { average: ulong(), peak: ulong(), floor: ulong(), burst: ulong() } });

/** `<bandwidth>` (virNetDevBandwidthFormat). */
export const bandwidth = element({
  attrs: { classID: uint() },
  children: { inbound: one(bandwidthRate), outbound: one(bandwidthRate) },
});

/** `<port isolated=…>` (virNetworkPortOptionsFormat). */
export const portOptions = element({ attrs: { isolated: yesNo() } });

const usbId = element({ attrs: { id: hex(4, { max: 0xffff }) } });

/** A host PCI address inside a hostdev `<source>` (virPCIDeviceAddressFormat). */
const hostPciAddress = element({
  attrs: {
    type: str(),
    domain: hex(4, { max: 0xffff }),
    bus: hex(2, { max: 0xff }),
    slot: hex(2, { max: 0x1f }),
    function: hex(1, { max: 7 }),
    multifunction: onOff(),
  },
});

/** A host USB address inside a hostdev `<source>`: decimal bus and device number. */
const hostUsbAddress = element({ attrs: { type: str(), bus: uintAny(), device: uintAny() } });

const origstates = element({
  children: { unbind: one(flag()), removeslot: one(flag()), reprobe: one(flag()) },
});

const hostdevDriver = element({ attrs: { name: enumOf('kvm', 'vfio', 'xen') } });

// ---------------------------------------------------------------------------------------------
// <interface>

const netSourceAttrs = {
  /** network */
  network: str(),
  /** network */
  portgroup: str(),
  /** network: port UUID (live XML); vds: port number */
  portid: str(),
  /** bridge, and network on live XML */
  bridge: str(),
  macTableManager: enumOf('default', 'kernel', 'libvirt'),
  /** direct, vdpa, user (passt) */
  dev: str(),
  /** vhostuser: always `unix` */
  type: str(),
  /** vhostuser */
  path: str(),
  /** direct: vepa/private/bridge/passthrough; vhostuser: server/client */
  mode: str(),
  /** server, client, mcast, udp */
  address: str(),
  /** server, client, mcast, udp */
  port: int(),
  /** internal */
  name: str(),
  /** vds */
  switchid: str(),
  /** vds */
  portgroupid: str(),
  /** vds */
  connectionid: str(),
  /** hostdev (usb) */
  startupPolicy: enumOf('mandatory', 'requisite', 'optional'),
  /** hostdev (usb) */
  autoAddress: yesNo(),
  /** hostdev (usb) */
  missing: yesNo(),
  /** hostdev (usb) */
  guestReset: enumOf('off', 'uninitialized', 'on'),
  /** hostdev (pci) */
  writeFiltering: yesNo(),
} as const;

const netSourceChildren = {
  /** hostdev (usb) */
  vendor: one(usbId),
  /** hostdev (usb) */
  product: one(usbId),
  /** hostdev: `<address type='pci' …/>` or `<address type='usb' bus device/>` */
  hostdevAddress: one(
    variant('type', { pci: hostPciAddress, usb: hostUsbAddress }, hostPciAddress),
    'address',
  ),
  /** hostdev (pci), status XML only */
  origstates: one(origstates),
  /** udp */
  local: one(element({ attrs: { address: str(), port: int() } })),
  /** vhostuser */
  reconnect: one(element({ attrs: { enabled: yesNo(), timeout: uint() } })),
  /** host-side addresses (ethernet) */
  ip: many(netIp),
  route: many(netRoute),
} as const;

/** `<source>` of an interface; one element for every interface type. */
export const netSource = element({ attrs: netSourceAttrs, children: netSourceChildren });

/** type='vds' prints its four attributes first (switchid, portid, portgroupid, connectionid). */
const vdsSource = element({
  attrs: reorder(netSourceAttrs, ['switchid', 'portid', 'portgroupid', 'connectionid']),
  children: netSourceChildren,
});

/** The `<driver>` of an interface (virtio options, or name='vfio' etc. for type='hostdev'). */
export const netDriver = element({
  attrs: {
    /** qemu/vhost (virtio), or kvm/vfio/xen (type='hostdev') */
    name: str(),
    txmode: enumOf('iothread', 'timer'),
    ioeventfd: onOff(),
    event_idx: onOff(),
    queues: uint(),
    rx_queue_size: uint(),
    tx_queue_size: uint(),
    rss: onOff(),
    rss_hash_report: onOff(),
    ...virtioOptions,
  },
  children: {
    host: one(
      element({
        attrs: {
          csum: onOff(),
          gso: onOff(),
          tso4: onOff(),
          tso6: onOff(),
          ecn: onOff(),
          ufo: onOff(),
          mrg_rxbuf: onOff(),
        },
      }),
    ),
    guest: one(
      element({ attrs: { csum: onOff(), tso4: onOff(), tso6: onOff(), ecn: onOff(), ufo: onOff() } }),
    ),
  },
});

const coalesceValues = element({ attrs: { max: uint(), irq: uint(), high: uint(), low: uint() } });
const coalesceDirection = element({ children: { frames: one(coalesceValues), usecs: one(coalesceValues) } });

export const NET_TYPES = [
  'user',
  'ethernet',
  'vhostuser',
  'server',
  'client',
  'mcast',
  'network',
  'bridge',
  'internal',
  'direct',
  'hostdev',
  'udp',
  'vdpa',
  'null',
  'vds',
] as const;

const netAttrs = {
  type: enumOf(...NET_TYPES),
  /** type='hostdev' */
  managed: yesNo(),
  trustGuestRxFilters: yesNo(),
} as const;

/** `<actual>`: the resolved network connection, in status XML only (virDomainActualNetDefFormat). */
const netActual = element({
  attrs: netAttrs,
  children: {
    driver: one(hostdevDriver),
    source: one(netSource),
    class: one(element({ attrs: { id: uint() } })),
    vlan: one(vlan),
    virtualport: one(virtualport),
    bandwidth: one(bandwidth),
    port: one(portOptions),
  },
});

function netChildren<V>(source: Schema<V>) {
  return {
    mac: one(element({ attrs: { address: str(), type: enumOf('generated', 'static'), check: yesNo() } })),
    source: one(source),
    /** Status XML only. */
    class: one(element({ attrs: { id: uint() } })),
    vlan: one(vlan),
    virtualport: one(virtualport),
    bandwidth: one(bandwidth),
    port: one(portOptions),
    actual: one(netActual),
    ip: many(netIp),
    route: many(netRoute),
    portForward: many(
      element({
        attrs: { proto: enumOf('tcp', 'udp'), address: str(), dev: str() },
        children: {
          range: many(element({ attrs: { start: uint(), end: uint(), to: uint(), exclude: yesNo() } })),
        },
      }),
    ),
    script: one(element({ attrs: { path: str() } })),
    downscript: one(element({ attrs: { path: str() } })),
    backenddomain: one(element({ attrs: { name: str() } })),
    target: one(element({ attrs: { dev: str(), managed: yesNo() } })),
    guest: one(element({ attrs: { dev: str(), actual: str() } })),
    model: one(element({ attrs: { type: str() } })),
    driver: one(netDriver),
    backend: one(element({ attrs: { type: enumOf('passt'), tap: str(), vhost: str(), logFile: str() } })),
    filterref: one(
      element({
        attrs: { filter: str() },
        children: { parameter: many(element({ attrs: { name: str(), value: str() } })) },
      }),
    ),
    tune: one(element({ children: { sndbuf: one(leaf(ulong())) } })),
    teaming: one(teaming),
    link: one(element({ attrs: { state: enumOf('up', 'down') } })),
    mtu: one(element({ attrs: { size: uint() } })),
    coalesce: one(element({ children: { rx: one(coalesceDirection), tx: one(coalesceDirection) } })),
    ...deviceInfoChildren,
  };
}

const netDefault = element({ attrs: netAttrs, children: netChildren(netSource) });
/** type='vds': its source attributes in their own order. */
const netVds = element({ attrs: netAttrs, children: netChildren(vdsSource) });
/** type='hostdev': the PCI backend `<driver name='vfio'/>` comes before `<source>`. */
const netHostdev = element({
  attrs: netAttrs,
  children: reorder(netChildren(netSource), ['mac', 'driver', 'source']),
});

/** `<interface>`, every type (virDomainNetDefFormat). */
export const interfaceDevice = variant('type', { vds: netVds, hostdev: netHostdev }, netDefault);
export type InterfaceDef = Infer<typeof interfaceDevice>;

// ---------------------------------------------------------------------------------------------
// <hostdev>

const hostdevAttrs = {
  mode: enumOf('subsystem', 'capabilities'),
  type: str(),
  managed: yesNo(),
  /** scsi */
  sgio: enumOf('filtered', 'unfiltered'),
  /** scsi */
  rawio: yesNo(),
  /** scsi_host: virtio…; mdev: vfio-pci/vfio-ccw/vfio-ap */
  model: str(),
  /** mdev */
  display: onOff(),
  /** mdev */
  ramfb: onOff(),
} as const;

const usbHostdevSource = element({
  attrs: {
    startupPolicy: enumOf('mandatory', 'requisite', 'optional'),
    autoAddress: yesNo(),
    missing: yesNo(),
    guestReset: enumOf('off', 'uninitialized', 'on'),
  },
  children: { vendor: one(usbId), product: one(usbId), address: one(hostUsbAddress) },
});

const pciHostdevSource = element({
  attrs: { startupPolicy: str(), writeFiltering: yesNo() },
  children: { address: one(hostPciAddress), origstates: one(origstates) },
});

/** `<auth>` of an iSCSI hostdev (virStorageAuthDefFormat). */
const hostdevAuth = element({
  attrs: { type: str(), username: str() },
  children: { secret: one(element({ attrs: { type: str(), uuid: str(), usage: str() } })) },
});

const scsiHostdevSource = element({
  attrs: { protocol: enumOf('adapter', 'iscsi'), name: str() },
  children: {
    /** iscsi */
    host: one(element({ attrs: { name: str(), port: uint() } })),
    /** adapter */
    adapter: one(element({ attrs: { name: str() } })),
    /** adapter: the SCSI address on the host */
    address: one(element({ attrs: { type: str(), bus: uintAny(), target: uintAny(), unit: u64Any() } })),
    /** Status XML only. */
    privateData: one(raw()),
    /** iscsi */
    auth: one(hostdevAuth),
    /** iscsi */
    initiator: one(element({ children: { iqn: one(element({ attrs: { name: str() } })) } })),
  },
});

const scsiHostHostdevSource = element({ attrs: { protocol: str(), wwpn: str() } });

const mdevHostdevSource = element({ children: { address: one(element({ attrs: { uuid: str() } })) } });

const capsHostdevSource = element({
  children: {
    /** type='storage' */
    block: one(leaf(str())),
    /** type='misc' */
    char: one(leaf(str())),
    /** type='net' */
    interface: one(leaf(str())),
  },
});

function hostdevVariant<T extends string, V>(type: ValueType<T>, source: Schema<V>) {
  return element({
    attrs: { ...hostdevAttrs, type },
    children: {
      /** pci: the assignment backend, printed before `<source>` */
      driver: one(hostdevDriver),
      source: one(source),
      /** capabilities type='net' */
      ip: many(netIp),
      /** capabilities type='net' */
      route: many(netRoute),
      teaming: one(teaming),
      readonly: one(flag()),
      shareable: one(flag()),
      ...deviceInfoChildren,
    },
  });
}

/**
 * `<hostdev>` in both modes and all types; the `<source>` content (and how a host address's bus
 * is printed) depends on `type`.
 */
export const hostdev = variant(
  'type',
  {
    usb: hostdevVariant(enumOf('usb'), usbHostdevSource),
    pci: hostdevVariant(enumOf('pci'), pciHostdevSource),
    scsi: hostdevVariant(enumOf('scsi'), scsiHostdevSource),
    scsi_host: hostdevVariant(enumOf('scsi_host'), scsiHostHostdevSource),
    mdev: hostdevVariant(enumOf('mdev'), mdevHostdevSource),
    storage: hostdevVariant(enumOf('storage'), capsHostdevSource),
    misc: hostdevVariant(enumOf('misc'), capsHostdevSource),
    net: hostdevVariant(enumOf('net'), capsHostdevSource),
  },
  hostdevVariant(str(), capsHostdevSource),
);
export type HostdevDef = Infer<typeof hostdev>;

// ---------------------------------------------------------------------------------------------
// <redirdev>, <redirfilter>, <smartcard>, <hub>

/** `<redirdev>` (virDomainRedirdevDefFormat): a chardev source plus device info. */
export const redirdev = element({
  attrs: { bus: enumOf('usb'), type: chardevType },
  children: { ...chardevSourceChildren, ...deviceInfoChildren },
});
export type RedirdevDef = Infer<typeof redirdev>;

/** `<usbdev>` of a `<redirfilter>`: -1 (or absent) means any. */
export const redirfilterUsbdev = element({
  attrs: {
    // read as any int (virXMLPropInt, base 0); a code above 0xff is refused at define
    class: hexUpper(2, 0x7fffffff),
    vendor: hexUpper(4, 0x7fffffff),
    product: hexUpper(4, 0x7fffffff),
    /** `major.minor` (BCD), e.g. `2.00`; or -1 */
    version: str(),
    allow: yesNo(),
  },
});

export const redirfilter = element({ children: { usbdev: many(redirfilterUsbdev) } });
export type RedirfilterDef = Infer<typeof redirfilter>;

/** `<smartcard>` (virDomainSmartcardDefFormat): host, host-certificates, or passthrough. */
export const smartcard = element({
  attrs: { mode: enumOf('host', 'host-certificates', 'passthrough'), type: chardevType },
  children: {
    /** host-certificates: exactly three */
    certificate: many(leaf(str())),
    /** host-certificates */
    database: one(leaf(str())),
    /** passthrough */
    ...chardevSourceChildren,
    ...deviceInfoChildren,
  },
});
export type SmartcardDef = Infer<typeof smartcard>;

export const hub = element({ attrs: { type: enumOf('usb') }, children: { ...deviceInfoChildren } });
export type HubDef = Infer<typeof hub>;
