/**
 * Per-device define-time validation: libvirt's generic checks (virDomainDeviceDefValidateInternal
 * and friends in domain_validate.c), the QEMU driver's (qemuValidateDomainDeviceDef in
 * qemu_validate.c) and the device checks of libvirt's parsers and post-parse callbacks that
 * the core parser does not make. Messages are libvirt's.
 */
import { type DomainDef, isDriveAddress } from '@qvirt/core';
import { hasFlag } from '../../caps/qemu-caps.js';
import type { QemuContext } from '../../context.js';
import { isI440fx, isQ35, isX86, machineOf } from '../../domain-util.js';
import {
  checkDeviceRules,
  checkDiskGeneric,
  checkDiskGeometry,
  checkEncryption,
  checkVsock,
} from './validate-device-rules.js';
import { chrListens } from './validate-parse.js';
import { chrDevices, internalError, invalidArg, plainError, unsupported, xmlError } from './validate-util.js';

type Devices = NonNullable<DomainDef['devices']>;
type Disk = NonNullable<Devices['disk']>[number];

const isPSeries = (def: DomainDef): boolean => machineOf(def).startsWith('pseries');
const isArmVirt = (def: DomainDef): boolean => {
  const arch = def.os?.type?.arch;
  return (arch === 'aarch64' || arch === 'armv7l') && machineOf(def).startsWith('virt');
};

// ---------------------------------------------------------------------------------------------
// USB controllers, inputs and hubs as libvirt's parser sees them (virDomainDefParseXML).

/** `<controller type='usb' model='none'>` excludes every other USB controller and device. */
export function checkUsbNone(def: DomainDef): void {
  const d = def.devices ?? {};
  let usbNone = false;
  let usbOther = false;
  let usbMaster = false;
  for (const c of d.controller ?? []) {
    if (c.type !== 'usb') continue;
    if (c.model === 'none') {
      if (usbOther || usbNone)
        throw plainError("Can't add another USB controller: USB is disabled for this domain");
      usbNone = true;
    } else {
      if (usbNone) throw plainError("Can't add another USB controller: USB is disabled for this domain");
      usbOther = true;
    }
    if (!c.master) usbMaster = true;
  }
  if (usbOther && !usbMaster) throw plainError('No master USB controller specified');
  if (!usbNone) return;
  for (const input of d.input ?? []) {
    if (input.bus === 'usb') throw unsupported("Can't add USB input device. USB bus is disabled");
  }
  for (const hub of d.hub ?? []) {
    if ((hub as { type?: string }).type === 'usb')
      throw unsupported("Can't add USB hub: USB is disabled for this domain");
  }
}

// ---------------------------------------------------------------------------------------------
// Disks

const SECRET_USAGES = ['none', 'volume', 'ceph', 'iscsi', 'tls', 'vtpm'];

/** Disk source, address and format rules (virDomainDiskDefValidate, qemuValidateDomainDeviceDefDisk). */
function checkDisk(disk: Disk, ctx: QemuContext): void {
  const dst = disk.target?.dev ?? '';
  const bus = disk.target?.bus;
  const src = disk.source;
  // virDomainDiskDefValidateSourceChainOne: network authentication.
  const auth = disk.auth ?? src?.auth;
  if (disk.type === 'network' && auth) {
    const protocol = src?.protocol;
    if (protocol && ['nbd', 'sheepdog', 'gluster', 'tftp', 'vxhs', 'nfs'].includes(protocol))
      throw unsupported(`authentication is not supported for protocol '${protocol}'`);
    const secretType = auth.secret?.type;
    if (secretType === undefined || !SECRET_USAGES.includes(secretType))
      throw unsupported(`unknown secret type '${secretType ?? '<null>'}'`);
    if ((protocol === 'iscsi' && secretType !== 'iscsi') || (protocol === 'rbd' && secretType !== 'ceph'))
      throw unsupported(`invalid secret type '${secretType}'`);
  }
  if (disk.device === 'lun') {
    if (disk.type === 'network') {
      if (src?.protocol !== 'iscsi')
        throw unsupported(`disk device='lun' is not supported for protocol='${src?.protocol ?? 'none'}'`);
    } else if (disk.type !== 'block' && disk.type !== 'volume') {
      throw unsupported("disk device='lun' is only valid for block type disk source");
    }
  }
  // virDomainDiskAddressDiskBusCompatibility.
  const addrType = disk.address?.type;
  if (
    addrType !== undefined &&
    (bus === 'ide' || bus === 'fdc' || bus === 'scsi' || bus === 'sata') &&
    addrType !== 'drive'
  ) {
    throw unsupported(`Invalid address type '${addrType}' for the disk '${dst}' with the bus type '${bus}'`);
  }
  if (bus !== undefined && bus !== 'virtio' && disk.model?.startsWith('virtio'))
    throw unsupported(`disk model '${disk.model}' not supported for bus '${bus}'`);
  // qemuValidateDomainDeviceDefDiskFrontend.
  checkDiskGeometry(disk);
  if (disk.device === 'cdrom' && (bus === 'virtio' || bus === 'sd'))
    throw unsupported(`disk type of '${dst}' does not support ejectable media`);
  if (disk.wwn !== undefined && bus !== 'ide' && bus !== 'scsi')
    throw unsupported('Only ide and scsi disk support wwn');
  if ((disk.vendor !== undefined || disk.product !== undefined) && bus !== 'scsi')
    throw unsupported('Only scsi disk supports vendor and product');
  // qemuValidateDomainDeviceDefDisk.
  const format = disk.driver?.type;
  if (disk.shareable && !disk.readonly && format !== undefined && format !== 'raw')
    throw unsupported(`shared access for disk '${dst}' requires use of supported storage format`);
  const driverName = disk.driver?.name;
  if (driverName !== undefined && driverName !== 'qemu')
    throw unsupported(`unsupported driver name '${driverName}' for disk '${dst}'`);
  const nameMatch = /^(?:hd|sd|vd|xvd|ubd|fd)[a-z]+(\d*)$/.exec(dst);
  if (!nameMatch) throw unsupported(`invalid disk target '${dst}'`);
  if (nameMatch[1] !== '' && nameMatch[1] !== '0')
    throw unsupported(`invalid disk target '${dst}', partitions can't appear in disk targets`);
  checkStorageSource(disk.type, format, disk.encryption ?? src?.encryption, src?.protocol);
  for (let b = disk.backingStore; b && b.type !== undefined; b = b.backingStore)
    checkStorageSource(b.type, b.format?.type, b.source?.encryption);
  if (disk.type === 'vhostuser' && !hasFlag(ctx.caps, 'vhost-user-blk'))
    throw unsupported('vhostuser disk is not supported with this QEMU binary');
}

/** qemuDomainValidateStorageSource: image formats QEMU cannot open directly, encryption. */
function checkStorageSource(
  type: string | undefined,
  format: string | undefined,
  encryption: Disk['encryption'] | undefined,
  protocol?: string,
): void {
  if (format === 'cow') throw unsupported("'cow' storage format is not supported");
  if (format === 'dir')
    throw unsupported(
      "'directory' storage format is not directly supported by QEMU, use 'dir' disk type instead",
    );
  if (format === 'iso')
    throw unsupported("storage format 'iso' is not directly supported by QEMU, use 'raw' instead");
  if (format === 'fat' && type !== 'volume' && type !== 'dir')
    throw unsupported("storage format 'fat' is supported only with 'dir' storage type");
  if (!encryption) return;
  const encFormat = encryption.format ?? 'default';
  if (encFormat === 'default' || encFormat === 'qcow')
    throw unsupported('old qcow/qcow2 encryption is not supported');
  if ((encryption.engine ?? 'qemu') === 'qemu') {
    if (encFormat === 'luks' && format !== undefined && format !== 'qcow2' && format !== 'raw')
      throw unsupported("encryption is supported only with 'raw' and 'qcow2' image format");
    if (encFormat === 'luks2')
      throw unsupported('luks2 is currently not supported by the qemu encryption engine');
  } else if (encryption.engine === 'librbd') {
    if (type !== 'network' && protocol !== 'rbd')
      throw unsupported('librbd encryption is supported only with RBD backed disks');
  }
}

/** Two disks never share a target (virDomainDefDuplicateDiskInfoValidate). */
export function checkDiskTargets(def: DomainDef): void {
  const disks = def.devices?.disk ?? [];
  const sourceOf = (d: Disk): string => {
    const s = d.source;
    return s?.file ?? s?.dev ?? s?.dir ?? s?.name ?? s?.volume ?? '<null>';
  };
  for (let i = 0; i < disks.length; i++) {
    for (let j = i + 1; j < disks.length; j++) {
      const a = disks[i]!;
      const b = disks[j]!;
      if (a.target?.dev !== undefined && a.target.dev === b.target?.dev) {
        throw xmlError(
          `target '${a.target.dev}' duplicated for disk sources '${sourceOf(a)}' and '${sourceOf(b)}'`,
        );
      }
    }
  }
}

/** Disks on one bus with equal drive addresses (virDomainDefDuplicateDriveAddressesValidate). */
export function checkDriveAddresses(def: DomainDef): void {
  const disks = def.devices?.disk ?? [];
  for (let i = 0; i < disks.length; i++) {
    const a = disks[i]!;
    const aa = a.address;
    if (!isDriveAddress(aa)) continue;
    for (let j = i + 1; j < disks.length; j++) {
      const b = disks[j]!;
      const ba = b.address;
      if (b.target?.bus !== a.target?.bus || !isDriveAddress(ba)) continue;
      if (
        (aa.controller ?? 0) === (ba.controller ?? 0) &&
        (aa.bus ?? 0) === (ba.bus ?? 0) &&
        (aa.target ?? 0) === (ba.target ?? 0) &&
        (aa.unit ?? 0) === (ba.unit ?? 0)
      ) {
        throw unsupported(
          `Found duplicate drive address for disk with target name '${a.target?.dev ?? ''}' controller='${aa.controller ?? 0}' bus='${aa.bus ?? 0}' target='${aa.target ?? 0}' unit='${aa.unit ?? 0}'`,
        );
      }
    }
  }
}

/** SCSI hostdevs with equal drive addresses (the hostdev half of the same libvirt check). */
export function checkScsiHostdevAddresses(def: DomainDef): void {
  const scsi = (def.devices?.hostdev ?? []).filter(
    (h) => (h.mode ?? 'subsystem') === 'subsystem' && h.type === 'scsi',
  );
  for (let i = 0; i < scsi.length; i++) {
    const a = scsi[i]!.address;
    if (!isDriveAddress(a)) continue;
    for (let j = i + 1; j < scsi.length; j++) {
      const b = scsi[j]!.address;
      if (!isDriveAddress(b)) continue;
      if (
        (a.controller ?? 0) === (b.controller ?? 0) &&
        (a.bus ?? 0) === (b.bus ?? 0) &&
        (a.target ?? 0) === (b.target ?? 0) &&
        (a.unit ?? 0) === (b.unit ?? 0)
      ) {
        throw unsupported(
          `SCSI host address controller='${a.controller ?? 0}' bus='${a.bus ?? 0}' target='${a.target ?? 0}' unit='${a.unit ?? 0}' in use by another SCSI host device`,
        );
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Character devices

type ChrSource = {
  mode?: string;
  path?: string;
  host?: string;
  service?: string;
  reconnect?: { enabled?: string; timeout?: number };
};

/** virDomainChrSourceDefValidate and qemuValidateDomainChrSourceDef for one source. */
function checkChrSource(
  type: string | undefined,
  sources: ChrSource[] | undefined,
  ctx: QemuContext,
  channelTarget?: { type?: string; name?: string },
): void {
  const src = sources?.[0];
  switch (type) {
    case 'file':
    case 'dev':
    case 'pipe':
      if (!src?.path) throw internalError('Missing source path attribute for char device');
      break;
    case 'tcp':
      if (src?.host === undefined) throw internalError('Missing source host attribute for char device');
      if (src.service === undefined) throw internalError('Missing source service attribute for char device');
      if (src.mode === 'bind' && src.reconnect?.enabled === 'yes')
        throw internalError('chardev reconnect is possible only for connect mode');
      break;
    case 'unix': {
      const virtioOrXen = channelTarget && (channelTarget.type === 'virtio' || channelTarget.type === 'xen');
      if (!src?.path && !virtioOrXen) throw internalError('Missing source path attribute for char device');
      if (
        chrListens(src, type, channelTarget, ctx.layout.channelTargetDir) &&
        src?.reconnect?.enabled === 'yes'
      )
        throw internalError('chardev reconnect is possible only for connect mode');
      break;
    }
    default:
      break;
  }
  if ((type === 'tcp' || type === 'unix') && src?.reconnect?.enabled === 'yes' && src.reconnect.timeout === 0)
    throw invalidArg("chardev reconnect source timeout cannot be '0'");
}

/** Default serial target model for a target type (qemuDomainChrDefPostParse). */
const SERIAL_MODEL: Record<string, string> = {
  'isa-serial': 'isa-serial',
  'usb-serial': 'usb-serial',
  'pci-serial': 'pci-serial',
  'spapr-vio-serial': 'spapr-vty',
  'sclp-serial': 'sclpconsole',
  'isa-debug': 'isa-debugcon',
};

/**
 * The chardev source checks alone, for the early steps: the device post-parse forgets a virtio
 * channel's generated path (and with it the reconnect settings) before validation would see them.
 */
export function checkChrSources(def: DomainDef, ctx: QemuContext): void {
  for (const { kind, chr } of chrDevices(def)) {
    const target = (chr as { target?: { type?: string; name?: string } }).target;
    checkChrSource(chr.type, chr.source, ctx, kind === 'channel' ? target : undefined);
  }
}

function checkChrDevices(def: DomainDef, ctx: QemuContext): void {
  for (const { kind, chr } of chrDevices(def)) {
    const target = (chr as { target?: { type?: string; name?: string; model?: { name?: string } } }).target;
    checkChrSource(chr.type, chr.source, ctx, kind === 'channel' ? target : undefined);
    if (kind === 'parallel' && (def.os?.type?.arch?.startsWith('s390') || isPSeries(def)))
      throw unsupported('parallel ports are not supported');
    if (kind !== 'serial') continue;
    const ttype = target?.type ?? (isX86(def) ? 'isa-serial' : undefined);
    const tmodel = target?.model?.name ?? (ttype ? SERIAL_MODEL[ttype] : undefined);
    let compatible = true;
    if (ttype === 'system-serial') {
      if (tmodel === 'pl011' && !isArmVirt(def)) compatible = false;
      if (tmodel === '16550a' && !def.os?.type?.arch?.startsWith('riscv')) compatible = false;
    }
    if (!isPSeries(def) && (ttype === 'spapr-vio-serial' || tmodel === 'spapr-vty')) compatible = false;
    if (
      !def.os?.type?.arch?.startsWith('s390') &&
      (ttype === 'sclp-serial' || tmodel === 'sclpconsole' || tmodel === 'sclplmconsole')
    ) {
      compatible = false;
    }
    if (!compatible) {
      throw unsupported(
        `Serial device with target type '${ttype ?? 'none'}' and target model '${tmodel ?? 'none'}' not compatible with guest architecture or machine type`,
      );
    }
  }
  for (const rng of def.devices?.rng ?? []) {
    const backend = rng.backend as { model?: string; type?: string; source?: ChrSource[] } | undefined;
    if (backend?.model === 'egd') checkChrSource(backend.type, backend.source, ctx);
  }
}

// ---------------------------------------------------------------------------------------------
// Other devices

function checkVideos(def: DomainDef): void {
  const videos = def.devices?.video ?? [];
  if (videos.filter((v) => v.model?.primary === 'yes').length > 1)
    throw unsupported('Only one primary video device is supported');
  for (const video of videos) {
    const type = video.model?.type;
    if (videos.length > 1 && videos.some((v) => v.model?.type === 'none'))
      throw unsupported("a 'none' video type must be the only video device defined for the domain");
    if (video.model?.resolution && (video.model.resolution.x === 0 || video.model.resolution.y === 0))
      throw unsupported('video resolution values must be greater than 0');
    if (type === 'ramfb' && video.address) throw unsupported('address not supported for video type ramfb');
  }
}

function checkIommu(def: DomainDef, ctx: QemuContext): void {
  const iommu = def.devices?.iommu;
  if (!iommu) return;
  const model = iommu.model;
  if (model === 'intel') {
    if (!isQ35(def)) throw unsupported("IOMMU device: 'intel' is only supported with Q35 machines");
    if (!hasFlag(ctx.caps, 'intel-iommu'))
      throw unsupported("IOMMU device: 'intel' is not supported with this QEMU binary");
  } else if (model === 'smmuv3') {
    if (!isArmVirt(def)) throw unsupported("IOMMU device: 'smmuv3' is only supported with ARM Virt machines");
  } else if (model === 'virtio') {
    if (!isArmVirt(def) && !isQ35(def))
      throw unsupported("IOMMU device: 'virtio' is only supported with Q35 and ARM Virt machines");
    if (!hasFlag(ctx.caps, 'virtio-iommu-pci') || !hasFlag(ctx.caps, 'virtio-iommu.boot-bypass'))
      throw unsupported("IOMMU device: 'virtio' is not supported with this QEMU binary");
    if (def.features?.acpi === undefined) throw unsupported("IOMMU device: 'virtio' requires ACPI");
    if (iommu.address && iommu.address.type !== 'pci')
      throw unsupported("IOMMU device: 'virtio' needs a PCI address");
  }
}

const isPow2 = (n: number): boolean => n > 0 && (n & (n - 1)) === 0;

function checkInterfaces(def: DomainDef): void {
  for (const net of def.devices?.interface ?? []) {
    const n = net as {
      model?: { type?: string };
      driver?: { rx_queue_size?: number; tx_queue_size?: number };
    };
    if (!n.model?.type?.startsWith('virtio')) continue;
    const rx = n.driver?.rx_queue_size;
    if (rx && !isPow2(rx)) throw unsupported('rx_queue_size has to be a power of two');
    const tx = n.driver?.tx_queue_size;
    if (tx && !isPow2(tx)) throw unsupported('tx_queue_size has to be a power of two');
  }
}

function checkInputs(def: DomainDef): void {
  for (const input of def.devices?.input ?? []) {
    if (input.bus !== 'virtio') continue;
    if (input.model === 'virtio-transitional' || input.model === 'virtio-non-transitional')
      throw unsupported(`virtio (non-)transitional models are not supported for input type=${input.type}`);
  }
}

function checkShmems(def: DomainDef, ctx: QemuContext): void {
  for (const shm of def.devices?.shmem ?? []) {
    const model = shm.model?.type ?? 'ivshmem';
    if (model === 'ivshmem' && !hasFlag(ctx.caps, 'ivshmem'))
      throw unsupported('ivshmem device is not supported with this QEMU binary');
    if (model === 'ivshmem-plain' && !hasFlag(ctx.caps, 'ivshmem-plain'))
      throw unsupported(`shmem model '${model}' is not supported by this QEMU binary`);
    if (model === 'ivshmem-doorbell' && !hasFlag(ctx.caps, 'ivshmem-doorbell'))
      throw unsupported(`shmem model '${model}' is not supported by this QEMU binary`);
  }
}

function checkMemoryDevices(def: DomainDef, ctx: QemuContext): void {
  const cells = def.cpu?.numa?.cell?.length ?? 0;
  for (const mem of def.devices?.memory ?? []) {
    const node = mem.target?.node;
    if (node !== undefined && node !== -1) {
      if (cells === 0) throw plainError("can't add memory backend as guest has no NUMA nodes configured");
      if (node >= cells) {
        throw plainError(
          `can't add memory backend for guest node '${node}' as the guest has only '${cells}' NUMA nodes configured`,
        );
      }
    }
    if (mem.model === 'sgx-epc' && !hasFlag(ctx.caps, 'sgx-epc'))
      throw unsupported("sgx epc isn't supported by this QEMU binary");
    if (mem.model === 'virtio-mem' && !hasFlag(ctx.caps, 'virtio-mem-pci'))
      throw unsupported("virtio-mem isn't supported by this QEMU binary");
  }
}

function checkGraphics(def: DomainDef, ctx: QemuContext): void {
  for (const g of def.devices?.graphics ?? []) {
    if (g.type !== 'spice') continue;
    const spice = g as { tlsPort?: number; listens?: Array<{ type?: string }> };
    const listenType = spice.listens?.[0]?.type ?? 'address';
    if (
      (listenType === 'address' || listenType === 'network') &&
      (spice.tlsPort ?? 0) > 0 &&
      !ctx.conf.spiceTls
    )
      throw unsupported('spice TLS port set in XML configuration, but TLS is disabled in qemu.conf');
  }
}

type Hostdev = NonNullable<Devices['hostdev']>[number];

/** What virDomainHostdevMatch compares: the host side of the device. */
function hostdevKey(h: Hostdev): string | undefined {
  const src = (h as { source?: Record<string, unknown> }).source ?? {};
  const mode = h.mode ?? 'subsystem';
  switch (mode === 'subsystem' ? h.type : `caps-${h.type}`) {
    case 'pci':
    case 'mdev':
      return JSON.stringify([mode, h.type, src.address]);
    case 'usb':
      return JSON.stringify([mode, h.type, src.vendor, src.product, src.address]);
    case 'scsi':
      return JSON.stringify([mode, h.type, src.protocol, src.adapter, src.address, src.name, src.host]);
    case 'scsi_host':
      return JSON.stringify([mode, h.type, src.protocol, src.wwpn]);
    case 'caps-storage':
    case 'caps-misc':
    case 'caps-net':
      return JSON.stringify([mode, h.type, src.block, src.char, src.interface]);
    default:
      return undefined;
  }
}

function checkHostdevs(def: DomainDef, ctx: QemuContext): void {
  const hostdevs = def.devices?.hostdev ?? [];
  for (const h of hostdevs) {
    const src = (h as { source?: { address?: { uuid?: string } } }).source;
    if (h.type === 'mdev') {
      if (!src?.address?.uuid) throw unsupported("Missing 'uuid' attribute for element <address>");
      const addr = h.address?.type;
      const model = h.model;
      if (
        addr !== undefined &&
        ((model === 'vfio-pci' && addr !== 'pci') || (model === 'vfio-ccw' && addr !== 'ccw'))
      ) {
        throw xmlError(`Unsupported address type '${addr}' with mediated device model '${model}'`);
      }
    }
  }
  for (const h of hostdevs) {
    const zpci = h.address?.type === 'pci' ? (h.address as { zpci?: unknown }).zpci : undefined;
    if (zpci !== undefined) throw unsupported("This QEMU binary doesn't support zPCI");
    if (h.type === 'scsi_host' && h.boot?.order !== undefined)
      throw unsupported('booting from assigned devices is not supported by vhost SCSI devices');
    if (h.type === 'mdev' && h.display !== undefined) {
      if (!hasFlag(ctx.caps, 'vfio-pci.display'))
        throw unsupported('display property of device vfio-pci is not supported by this version of QEMU');
      if (h.model !== 'vfio-pci')
        throw unsupported("<hostdev> attribute 'display' is only supported with model='vfio-pci'");
      if (h.display === 'on' && !(def.devices?.graphics ?? []).length)
        throw unsupported("graphics device is needed for attribute value 'display=on' in <hostdev>");
    }
  }
}

/** The generic hostdev list check (virDomainDefHostdevValidate). */
export function checkDuplicateHostdevs(def: DomainDef): void {
  const hostdevs = def.devices?.hostdev ?? [];
  for (let i = 0; i < hostdevs.length; i++) {
    const a = hostdevKey(hostdevs[i]!);
    if (a === undefined) continue;
    for (let j = i + 1; j < hostdevs.length; j++) {
      if (hostdevKey(hostdevs[j]!) === a)
        throw xmlError('Hostdev already exists in the domain configuration');
    }
  }
}

/** Controller rules (virDomainControllerDefValidate, qemuDomainControllerDefPostParse). */
function checkControllers(def: DomainDef): void {
  for (const c of def.devices?.controller ?? []) {
    if (c.type === 'usb' && (c.model === 'nec-xhci' || c.model === 'qemu-xhci') && (c.ports ?? 0) > 15)
      throw unsupported(`'${c.model}' controller only supports up to '15' ports`);
    if (c.type !== 'pci') continue;
    const root = c.model === 'pci-root' || c.model === 'pcie-root';
    if (root && !isPSeries(def) && c.index !== undefined && c.index !== 0)
      throw xmlError('pci-root and pcie-root controllers should have index 0');
    if (c.model === 'pci-expander-bus' && !isI440fx(def))
      throw unsupported('pci-expander-bus controllers are only supported on 440fx-based machinetypes');
    if (c.model === 'pcie-expander-bus' && !(isQ35(def) || isArmVirt(def)))
      throw unsupported('pcie-expander-bus controllers are not supported with this machine type');
    const node = c.target?.node;
    const cells = def.cpu?.numa?.cell?.length ?? 0;
    if (node !== undefined && node >= 0 && node >= cells) {
      throw xmlError(
        `${c.model} with index ${c.index ?? 0} is configured for a NUMA node (${node}) not present in the domain's <cpu><numa> array (${cells})`,
      );
    }
  }
}

function checkControllersValidate(def: DomainDef): void {
  for (const c of def.devices?.controller ?? []) {
    if (c.type !== 'pci') continue;
    if ((c.model === 'pci-root' || c.model === 'pcie-root') && c.address)
      throw unsupported('pci-root and pcie-root controllers should not have an address');
  }
}

/** Device post-parse checks (libvirt's device post-parse callbacks, in device order). */
export function checkDevicePostParse(def: DomainDef): void {
  checkControllers(def);
}

/** Per-device validation (virDomainDeviceDefValidate for every device). */
export function checkDevices(def: DomainDef, ctx: QemuContext): void {
  // checkDisk has the first of virDomainDiskDefValidate's checks (LUN sources, address and bus),
  // checkDiskGeneric the rest; the QEMU driver's own follow (virDomainDeviceDefValidate)
  for (const disk of def.devices?.disk ?? []) {
    checkEncryption(disk);
    checkDisk(disk, ctx);
    checkDiskGeneric(disk);
  }
  checkControllersValidate(def);
  checkInterfaces(def);
  checkChrDevices(def, ctx);
  checkInputs(def);
  checkGraphics(def, ctx);
  checkVideos(def);
  checkHostdevs(def, ctx);
  checkShmems(def, ctx);
  checkMemoryDevices(def, ctx);
  checkIommu(def, ctx);
  checkDeviceRules(def, ctx);
  // (libvirt validates TPMs after the inputs, filesystems, watchdogs, RNGs and shmems)
  checkTpms(def, ctx);
  checkVsock(def);
}

/** The frontends and backends this QEMU and host offer a TPM (virQEMUCapsFillDomainDeviceTPMCaps). */
function tpmCaps(ctx: QemuContext): { models: Set<string>; backends: Set<string>; versions: Set<string> } {
  const models = new Set(
    ['tpm-tis', 'tpm-crb', 'tpm-spapr', 'spapr-tpm-proxy'].filter((m) => hasFlag(ctx.caps, m)),
  );
  const backends = new Set<string>();
  if (hasFlag(ctx.caps, 'tpm-passthrough')) backends.add('passthrough');
  const versions = new Set<string>();
  // unknown (unset) is libvirt's test suite's host: swtpm with both versions
  const swtpm =
    typeof ctx.swtpm === 'function'
      ? ctx.swtpm()
      : ctx.swtpm === undefined
        ? { versions: ['1.2', '2.0'] }
        : ctx.swtpm;
  if (swtpm) {
    if (hasFlag(ctx.caps, 'tpm-emulator')) backends.add('emulator').add('external');
    for (const v of swtpm.versions) versions.add(v);
  }
  return { models, backends, versions };
}

/** qemuValidateDomainDeviceDefTPM. */
function checkTpms(def: DomainDef, ctx: QemuContext): void {
  for (const tpm of def.devices?.tpm ?? []) {
    const caps = tpmCaps(ctx);
    const type = tpm.backend?.type ?? '';
    const model = tpm.model ?? 'tpm-tis';
    if (type === 'emulator') {
      const version = tpm.backend?.version ?? 'default';
      if (version !== 'default' && !caps.versions.has(version))
        throw unsupported(`TPM version '${version}' is not supported`);
      if (version === '1.2') {
        if (model === 'tpm-crb') throw unsupported(`Unsupported interface '${model}' for TPM 1.2`);
        if (model === 'tpm-spapr') throw unsupported('TPM 1.2 is not supported with the SPAPR device model');
        if (isArmVirt(def)) throw unsupported('TPM 1.2 is not supported on ARM');
      }
    }
    const emulator = def.devices?.emulator ?? ctx.caps.emulator;
    if (!caps.backends.has(type))
      throw unsupported(`The QEMU executable ${emulator} does not support TPM backend type ${type}`);
    if (def.os?.type?.arch === 'ppc64' || def.os?.type?.arch === 'ppc64le') {
      if (model === 'spapr-tpm-proxy' && type !== 'passthrough')
        throw unsupported(`TPM Proxy model ${model} requires 'Passthrough' backend`);
    }
    if (!caps.models.has(model))
      throw unsupported(`The QEMU executable ${emulator} does not support TPM model ${model}`);
  }
}
