/**
 * Storage devices: `<disk>` (with its storage source, backing chain and block-job mirror),
 * `<filesystem>` and `<lease>`, in libvirt 9.0's canonical order (virDomainDiskDefFormat,
 * virDomainDiskSourceFormat, virDomainDiskBackingStoreFormat, virDomainFSDefFormat,
 * virDomainLeaseDefFormat).
 *
 * The storage source (`<source>` of a disk, its backing stores and its mirror) is one element
 * whose attributes depend on the storage type given by the parent (`file`, `block`, `dir`,
 * `network`, `volume`, `nvme`, `vhostuser`). libvirt only ever prints one type's attributes, so a
 * single declaration lists them all in an order consistent with every type's own order.
 */
import type { Extra, Infer, Schema } from '../schema/schema.js';
import { attr, element, flag, lazy, leaf, many, one, raw } from '../schema/schema.js';
import type { ValueType } from '../schema/value-types.js';
import { enumOf, hex, int, onOff, str, uint, ulong, uuid, ValueError, yesNo } from '../schema/value-types.js';
import { deviceInfoChildren, virtioOptions } from './common.js';

// ---------------------------------------------------------------------------------------------
// Scalars

/** An unsigned int as virXMLPropUInt / virStrToLong_uip read it. */
const u32 = (min = 0) => uint({ min, max: 0xffffffff });

/** An unsigned int read with virXMLPropUInt and VIR_XML_PROP_NONZERO (e.g. an IOThread ID). */
function nonZeroU32(): ValueType<number> {
  const base = u32();
  return {
    ...base,
    parse(raw) {
      const n = base.parse(raw);
      if (n === 0)
        throw new ValueError(
          'must be at least 1',
          ({ attribute, element }) =>
            `Invalid value for attribute '${attribute}' in element '${element}': Zero is not permitted`,
        );
      return n;
    },
  };
}

/** A permission mode read in base 8, at most 0777, printed as `%04o` (filesystem fmode/dmode). */
function octal(): ValueType<number> {
  const description = 'an octal integer';
  return {
    description,
    parse(text) {
      const t = text.trim();
      if (!/^\+?[0-7]+$/.test(t)) throw new Error(`expected ${description}`);
      const n = Number.parseInt(t.replace('+', ''), 8);
      if (n > 0o777) throw new Error(`${description} above 0777`);
      return n;
    },
    format: (v) => v.toString(8).padStart(4, '0'),
  };
}

/** virStorageType names (without 'none', which libvirt refuses on input). */
export const STORAGE_TYPES = ['file', 'block', 'dir', 'network', 'volume', 'nvme', 'vhostuser'] as const;
export type StorageType = (typeof STORAGE_TYPES)[number];
export const storageType = enumOf(...STORAGE_TYPES);

/** virStorageFileFormat names accepted on input ('none' is refused). */
export const STORAGE_FORMATS = [
  'raw',
  'dir',
  'bochs',
  'cloop',
  'dmg',
  'iso',
  'vpc',
  'vdi',
  'fat',
  'vhd',
  'ploop',
  'cow',
  'qcow',
  'qcow2',
  'qed',
  'vmdk',
] as const;
export const storageFormat = enumOf(...STORAGE_FORMATS);

/** virStorageNetProtocol names ('none' is index 0 and not refused by virXMLPropEnum). */
export const storageProtocol = enumOf(
  'none',
  'nbd',
  'rbd',
  'sheepdog',
  'gluster',
  'iscsi',
  'http',
  'https',
  'ftp',
  'ftps',
  'tftp',
  'ssh',
  'vxhs',
  'nfs',
);

/** A scaled integer element (`<max_size unit='bytes'>1024</max_size>`); units resolved later. */
export const scaledSize = element({ attrs: { unit: str() }, text: ulong() });

// ---------------------------------------------------------------------------------------------
// Pieces of a storage source, reusable by other families (hostdev iSCSI sources, pools)

/** `<host>` of a network source (virDomainStorageNetworkParseHost). */
export const storageHost = element({
  attrs: {
    name: str(),
    port: uint({ max: 65535 }),
    transport: enumOf('tcp', 'unix', 'rdma'),
    socket: str(),
  },
});

/** `<secret>` of `<auth>` and `<encryption>` (virSecretLookupFormatSecret). */
export const storageSecret = element({ attrs: { type: str(), uuid: uuid(), usage: str() } });

/** `<auth>` (virStorageAuthDefFormat). */
export const storageAuth = element({
  attrs: { type: enumOf('none', 'chap', 'ceph'), username: str() },
  children: { secret: one(storageSecret) },
});

/** `<encryption>` (virStorageEncryptionFormat, which prints open and close tags even when empty). */
export const storageEncryption = element({
  block: true,
  attrs: {
    // any text: an unknown format or engine is refused at define, in libvirt's order and words
    // (virStorageEncryptionParseNode reads the format first)
    format: str(),
    engine: str(),
  },
  children: {
    secret: many(storageSecret),
    cipher: one(element({ attrs: { name: str(), size: u32(), mode: str(), hash: str() } })),
    ivgen: one(element({ attrs: { name: str(), hash: str() } })),
  },
});

/** `<initiator><iqn name=.../></initiator>` (virStorageSourceInitiatorFormatXML). */
export const storageInitiator = element({
  children: { iqn: one(element({ attrs: { name: str() } })) },
});

/** `<reservations>` for persistent reservations (virStoragePRDefFormat). */
export const storageReservations = element({
  attrs: { managed: yesNo() },
  children: { source: one(element({ attrs: { type: str(), path: str(), mode: str() } })) },
});

/** A device's `<seclabel>` override (virSecurityDeviceLabelDefFormat). */
export const deviceSeclabel = element({
  attrs: { model: str(), relabel: yesNo(), labelskip: yesNo() },
  children: { label: one(leaf(str())) },
});

/** `<reconnect>` of a vhost-user socket (virDomainChrSourceReconnectDefFormat). */
export const sourceReconnect = element({ attrs: { enabled: yesNo(), timeout: u32() } });

/**
 * The PCI address of an NVMe source, printed without a type (virPCIDeviceAddressFormat); the
 * parser (virPCIDeviceAddressParseXML) also reads multifunction and zpci, which are not printed.
 */
const nvmeAddress = element({
  attrs: {
    type: str(),
    domain: hex(4, { max: 0xffff }),
    bus: hex(2, { max: 0xff }),
    slot: hex(2, { max: 0x1f }),
    function: hex(1, { max: 7 }),
    multifunction: onOff(),
  },
  children: { zpci: one(element({ attrs: { uid: hex(4), fid: hex(8) } })) },
});

const cookie = element({ attrs: { name: str() }, text: str() });

/** `<slices><slice type='storage' offset= size=/></slices>`. */
const slices = element({
  children: { slice: one(element({ attrs: { type: str(), offset: ulong(), size: ulong() } })) },
});

/**
 * A storage source (`<source>` of a disk, backing store or mirror), virDomainDiskSourceFormat.
 * Attributes per storage type: file (file, fdgroup), block (dev), dir (dir), network (protocol,
 * name, query, tls, tlsHostname, tlsFromConfig), volume (pool, volume, mode), nvme (type='pci',
 * managed, namespace), vhostuser (type='unix', path); then startupPolicy and index.
 */
export const storageSource = element({
  attrs: {
    file: str(),
    fdgroup: str(),
    dev: str(),
    dir: str(),
    protocol: storageProtocol,
    name: str(),
    query: str(),
    tls: yesNo(),
    tlsHostname: str(),
    tlsFromConfig: str(),
    pool: str(),
    volume: str(),
    mode: enumOf('host', 'direct'),
    type: str(),
    managed: yesNo(),
    namespace: ulong(),
    path: str(),
    startupPolicy: enumOf('mandatory', 'requisite', 'optional'),
    index: u32(),
  },
  children: {
    // network
    host: many(storageHost),
    identity: one(element({ attrs: { user: str(), group: str() } })),
    snapshot: one(element({ attrs: { name: str() } })),
    config: one(element({ attrs: { file: str() } })),
    initiator: one(storageInitiator),
    ssl: one(element({ attrs: { verify: yesNo() } })),
    cookies: one(element({ children: { cookie: many(cookie) } })),
    readahead: one(element({ attrs: { size: ulong() } })),
    timeout: one(element({ attrs: { seconds: ulong() } })),
    // nvme
    address: one(nvmeAddress),
    // vhostuser
    reconnect: one(sourceReconnect),
    // all types
    slices: one(slices),
    seclabel: many(deviceSeclabel),
    auth: one(storageAuth),
    encryption: one(storageEncryption),
    reservations: one(storageReservations),
    privateData: one(raw()),
  },
});
export type StorageSourceDef = Infer<typeof storageSource>;

/** `<metadata_cache><max_size unit=...>N</max_size></metadata_cache>`. */
export const metadataCache = element({ children: { max_size: one(scaledSize) } });

/** `<format type=...>` of a backing store or mirror. */
function formatElement<T>(type: ValueType<T>) {
  return element({ attrs: { type }, children: { metadata_cache: one(metadataCache) } });
}
export const diskFormat = formatElement(storageFormat);
export type DiskFormatDef = Infer<typeof diskFormat>;

/**
 * A backing chain member (virDomainDiskBackingStoreFormat); `<backingStore/>` without a type
 * terminates the chain.
 */
export interface BackingStoreDef {
  type?: StorageType;
  index?: number;
  format?: DiskFormatDef;
  source?: StorageSourceDef;
  backingStore?: BackingStoreDef;
  $extra?: Extra;
}

export const backingStore: Schema<BackingStoreDef> = element({
  attrs: { type: storageType, index: u32() },
  children: {
    format: one(diskFormat),
    source: one(storageSource),
    backingStore: one(lazy((): Schema<BackingStoreDef> => backingStore)),
  },
});

/**
 * A block job's destination (virDomainDiskDefFormatMirror). Only parsed by libvirt on live XML,
 * so its attributes are kept as strings. `file` and `format` attributes are the old-style copy
 * job destination (the format attribute is `formatAttr`, as `format` is the child element).
 */
export const diskMirror = element({
  attrs: { type: str(), file: str(), formatAttr: attr('format', str()), job: str(), ready: str() },
  children: {
    format: one(formatElement(str())),
    source: one(storageSource),
    backingStore: one(backingStore),
  },
});

// ---------------------------------------------------------------------------------------------
// <disk>

export const diskDriver = element({
  attrs: {
    name: str(),
    type: enumOf(...STORAGE_FORMATS, 'aio'),
    cache: enumOf('default', 'none', 'writethrough', 'writeback', 'directsync', 'unsafe'),
    error_policy: enumOf('stop', 'report', 'ignore', 'enospace'),
    rerror_policy: enumOf('stop', 'report', 'ignore'),
    io: enumOf('native', 'threads', 'io_uring'),
    ioeventfd: onOff(),
    event_idx: onOff(),
    copy_on_read: onOff(),
    discard: enumOf('unmap', 'ignore'),
    iothread: nonZeroU32(),
    detect_zeroes: enumOf('off', 'on', 'unmap'),
    queues: u32(),
    queue_size: u32(),
    ...virtioOptions,
  },
  children: { metadata_cache: one(metadataCache) },
});

export const diskTarget = element({
  attrs: {
    dev: str(),
    bus: enumOf('ide', 'fdc', 'scsi', 'virtio', 'xen', 'usb', 'uml', 'sata', 'sd'),
    tray: enumOf('closed', 'open'),
    removable: onOff(),
    rotation_rate: u32(),
  },
});

export const diskGeometry = element({
  attrs: { cyls: u32(), heads: u32(), secs: u32(), trans: enumOf('none', 'auto', 'lba') },
});

export const diskBlockIo = element({ attrs: { logical_block_size: u32(), physical_block_size: u32() } });

const iotuneValue = () => one(leaf(ulong()));

/** `<iotune>` (virDomainDiskDefFormatIotune order). */
export const diskIotune = element({
  children: {
    total_bytes_sec: iotuneValue(),
    read_bytes_sec: iotuneValue(),
    write_bytes_sec: iotuneValue(),
    total_iops_sec: iotuneValue(),
    read_iops_sec: iotuneValue(),
    write_iops_sec: iotuneValue(),
    total_bytes_sec_max: iotuneValue(),
    read_bytes_sec_max: iotuneValue(),
    write_bytes_sec_max: iotuneValue(),
    total_iops_sec_max: iotuneValue(),
    read_iops_sec_max: iotuneValue(),
    write_iops_sec_max: iotuneValue(),
    size_iops_sec: iotuneValue(),
    group_name: one(leaf(str())),
    total_bytes_sec_max_length: iotuneValue(),
    read_bytes_sec_max_length: iotuneValue(),
    write_bytes_sec_max_length: iotuneValue(),
    total_iops_sec_max_length: iotuneValue(),
    read_iops_sec_max_length: iotuneValue(),
    write_iops_sec_max_length: iotuneValue(),
  },
});
export type DiskIotuneDef = Infer<typeof diskIotune>;

export const disk = element({
  attrs: {
    type: storageType,
    device: enumOf('disk', 'cdrom', 'floppy', 'lun'),
    model: enumOf('default', 'virtio', 'virtio-transitional', 'virtio-non-transitional'),
    rawio: yesNo(),
    sgio: enumOf('filtered', 'unfiltered'),
    snapshot: enumOf('no', 'internal', 'external', 'manual'),
  },
  children: {
    driver: one(diskDriver),
    /** `<auth>` given as a child of `<disk>` (legacy placement, kept there). */
    auth: one(storageAuth),
    source: one(storageSource),
    backingStore: one(backingStore),
    backenddomain: one(element({ attrs: { name: str() } })),
    geometry: one(diskGeometry),
    blockio: one(diskBlockIo),
    mirror: one(diskMirror),
    target: one(diskTarget),
    iotune: one(diskIotune),
    readonly: one(flag()),
    shareable: one(flag()),
    transient: one(element({ attrs: { shareBacking: yesNo() } })),
    serial: one(leaf(str())),
    wwn: one(leaf(str())),
    vendor: one(leaf(str())),
    product: one(leaf(str())),
    /** `<encryption>` given as a child of `<disk>` (legacy placement, kept there). */
    encryption: one(storageEncryption),
    ...deviceInfoChildren,
    privateData: one(raw()),
    diskSecretsPlacement: one(element({ attrs: { auth: str(), enc: str() } })),
  },
});
export type DiskDef = Infer<typeof disk>;

// ---------------------------------------------------------------------------------------------
// <filesystem>

export const filesystemDriver = element({
  attrs: {
    type: enumOf('default', 'path', 'handle', 'loop', 'nbd', 'ploop', 'virtiofs'),
    format: storageFormat,
    wrpolicy: enumOf('default', 'immediate'),
    queue: ulong(),
    ...virtioOptions,
  },
});

/** virtiofsd settings (`<binary>`), only read for the virtiofs driver. */
export const filesystemBinary = element({
  attrs: { path: str(), xattr: onOff() },
  children: {
    cache: one(element({ attrs: { mode: enumOf('none', 'always') } })),
    sandbox: one(element({ attrs: { mode: enumOf('namespace', 'chroot') } })),
    lock: one(element({ attrs: { posix: onOff(), flock: onOff() } })),
    thread_pool: one(element({ attrs: { size: int() } })),
  },
});

/**
 * `<source>` of a filesystem; per type: mount (dir or socket), bind (dir), block (dev), file
 * (file), template (name), ram (usage, units), volume (pool, volume).
 */
export const filesystemSource = element({
  attrs: {
    dir: str(),
    socket: str(),
    dev: str(),
    file: str(),
    name: str(),
    usage: ulong(),
    units: str(),
    pool: str(),
    volume: str(),
    /** Read by libvirt's pool parser for volume sources, never printed for filesystems. */
    mode: enumOf('host', 'direct'),
  },
});

export const filesystem = element({
  attrs: {
    type: enumOf('mount', 'block', 'file', 'template', 'ram', 'bind', 'volume'),
    accessmode: enumOf('', 'passthrough', 'mapped', 'squash'),
    model: enumOf('virtio', 'virtio-transitional', 'virtio-non-transitional'),
    multidevs: enumOf('default', 'remap', 'forbid', 'warn'),
    fmode: octal(),
    dmode: octal(),
  },
  children: {
    driver: one(filesystemDriver),
    binary: one(filesystemBinary),
    source: one(filesystemSource),
    target: one(element({ attrs: { dir: str() } })),
    readonly: one(flag()),
    ...deviceInfoChildren,
    space_hard_limit: one(scaledSize),
    space_soft_limit: one(scaledSize),
  },
});
export type FilesystemDef = Infer<typeof filesystem>;

// ---------------------------------------------------------------------------------------------
// <lease>

export const lease = element({
  children: {
    lockspace: one(leaf(str())),
    key: one(leaf(str())),
    target: one(element({ attrs: { path: str(), offset: ulong() } })),
  },
});
export type LeaseDef = Infer<typeof lease>;
