/**
 * `<hostdev mode='subsystem'>`: host USB devices (`usb-host`), PCI devices (`vfio-pci`), SCSI
 * devices, vhost-scsi and mediated devices (qemuBuildHostdevCommandLine).
 */
import { existsSync, readdirSync } from 'node:fs';
import { type DomainDevices, virReportError, virReportSystemError } from '@qvirt/core';
import { hasFlag } from '../../caps/qemu-caps.js';
import { add, type Build } from '../build.js';
import { deviceAddressProps } from '../device-address.js';
import { jsonProps, type PropObject } from '../props.js';
import { virtioDevProps } from '../storage-virtio-props.js';
import { diskChains, effectiveBootIndexes } from './disks.js';
import { romProps } from './io-rom.js';

type Hostdev = NonNullable<DomainDevices['hostdev']>[number];

const internal = (msg: string) => virReportError('INTERNAL_ERROR', 'qemu', msg);
const unsupported = (msg: string) => virReportError('CONFIG_UNSUPPORTED', 'qemu', msg);

const hex = (n: number | undefined, width: number) => (n ?? 0).toString(16).padStart(width, '0');

function aliasOf(h: Hostdev): string {
  const name = h.alias?.name;
  if (!name) throw internal('missing alias for host device');
  return name;
}

interface UsbSource {
  guestReset?: string;
  missing?: string;
  address?: { bus?: number; device?: number };
}

/** qemuBuildUSBHostdevDevProps */
function usbProps(b: Build, h: Hostdev): PropObject {
  const src = (h.source ?? {}) as UsbSource;
  const bus = src.address?.bus ?? 0;
  const device = src.address?.device ?? 0;
  let hostdevice: string | undefined;
  let hostbus: number | undefined;
  let hostaddr: number | undefined;
  if (src.missing !== 'yes') {
    if (bus === 0 && device === 0) throw internal('USB host device is missing bus/device information');
    if (hasFlag(b.ctx.caps, 'usb-host.hostdevice')) {
      hostdevice = `/dev/bus/usb/${String(bus).padStart(3, '0')}/${String(device).padStart(3, '0')}`;
    } else {
      hostbus = bus || undefined;
      hostaddr = device || undefined;
    }
  }
  const reset = src.guestReset;
  return {
    driver: 'usb-host',
    hostdevice,
    hostbus,
    hostaddr,
    id: aliasOf(h),
    bootindex: h.boot?.order || undefined,
    'guest-reset': reset === 'off' ? false : reset === 'uninitialized' || reset === 'on' ? true : undefined,
    'guest-resets-all': reset === 'uninitialized' ? false : reset === 'on' ? true : undefined,
    ...deviceAddressProps(b.def, h),
  };
}

/** qemuBuildPCIHostdevDevProps */
function pciProps(b: Build, h: Hostdev): PropObject {
  // The effective boot index: its own boot order, or network boot through its parent interface.
  const bootindex = h.boot?.order || effectiveBootIndexes(b.def).get(h) || undefined;
  const backend = h.driver?.name ?? 'default';
  if (backend !== 'vfio') throw internal(`invalid PCI passthrough type '${backend}'`);
  const a = (h.source as { address?: { domain?: number; bus?: number; slot?: number; function?: number } })
    ?.address;
  const teaming = h.teaming;
  return {
    driver: 'vfio-pci',
    host: `${hex(a?.domain, 4)}:${hex(a?.bus, 2)}:${hex(a?.slot, 2)}.${(a?.function ?? 0).toString(16)}`,
    id: aliasOf(h),
    bootindex,
    failover_pair_id: teaming?.type === 'transient' && teaming.persistent ? teaming.persistent : undefined,
    ...deviceAddressProps(b.def, h),
    ...romProps(h),
  };
}

/** qemuBuildHostdevMediatedDevProps */
function mdevProps(b: Build, h: Hostdev): PropObject {
  const model = h.model ?? '';
  if (!['vfio-pci', 'vfio-ccw', 'vfio-ap'].includes(model)) {
    throw internal(`Unexpected enum value ${model} for virMediatedDeviceModelType`);
  }
  const uuid = (h.source as { address?: { uuid?: string } })?.address?.uuid ?? '';
  return {
    driver: model === 'vfio-pci' && h.ramfb === 'on' ? 'vfio-pci-nohotplug' : model,
    id: aliasOf(h),
    sysfsdev: `/sys/bus/mdev/devices/${uuid}`,
    display: h.display,
    ramfb: h.ramfb === 'on' ? true : undefined,
    bootindex: h.boot?.order || undefined,
    ...deviceAddressProps(b.def, h),
  };
}

interface ScsiSource {
  protocol?: string;
  name?: string;
  host?: { name?: string; port?: number };
  adapter?: { name?: string };
  address?: { bus?: number; target?: number; unit?: string };
  auth?: { username?: string; secret?: { type?: string; uuid?: string; usage?: string } };
  initiator?: { iqn?: { name?: string } };
}

/**
 * The SCSI generic node of a host SCSI device, which libvirt looks up in the host's sysfs before
 * building the command line (virSCSIDeviceGetSgName).
 */
function scsiGenericPath(src: ScsiSource): string {
  const m = /^scsi_host(\d+)$/.exec(src.adapter?.name ?? '');
  if (!m) throw internal(`Cannot parse adapter '${src.adapter?.name ?? ''}'`);
  const a = src.address ?? {};
  const dir = `/sys/bus/scsi/devices/${m[1]}:${a.bus ?? 0}:${a.target ?? 0}:${a.unit ?? '0'}/scsi_generic`;
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch (err) {
    throw virReportSystemError(err, 'qemu', `cannot open directory '${dir}'`);
  }
  if (!entries[0]) throw internal(`no SCSI generic device in '${dir}'`);
  return `/dev/${entries[0]}`;
}

/** The `-blockdev` of a SCSI hostdev's backend (qemuBuildHostdevSCSIAttachPrepare). */
function scsiBackendProps(h: Hostdev, src: ScsiSource, nodeName: string): PropObject {
  const readOnly = h.readonly !== undefined;
  if (src.protocol !== 'iscsi') {
    return {
      driver: 'host_device',
      filename: scsiGenericPath(src),
      'node-name': nodeName,
      'read-only': readOnly,
    };
  }
  const secret = src.auth?.secret;
  if (secret) {
    const what = secret.uuid ? `uuid '${secret.uuid}'` : `usage '${secret.usage ?? ''}'`;
    throw virReportError('NO_SECRET', 'qemu', `no secret with matching ${what}`);
  }
  const name = src.name ?? '';
  const slash = name.lastIndexOf('/');
  const target = slash < 0 ? name : name.slice(0, slash);
  const lun = slash < 0 ? 0 : Number.parseInt(name.slice(slash + 1), 10) || 0;
  return {
    driver: 'iscsi',
    portal: `${src.host?.name ?? ''}:${src.host?.port ?? 3260}`,
    target,
    lun,
    transport: 'tcp',
    'initiator-name': src.initiator?.iqn?.name,
    'node-name': nodeName,
    'read-only': readOnly,
  };
}

/** A host SCSI device: its backend `-blockdev` and a `scsi-generic` on the guest's SCSI bus. */
function scsiHostdev(b: Build, h: Hostdev, storageId: number): void {
  const src = (h.source ?? {}) as ScsiSource;
  const nodeName = `libvirt-${storageId}-backend`;
  add(b, '-blockdev', jsonProps(scsiBackendProps(h, src, nodeName)));
  add(
    b,
    '-device',
    jsonProps({
      driver: 'scsi-generic',
      drive: nodeName,
      id: aliasOf(h),
      bootindex: h.boot?.order || undefined,
      ...deviceAddressProps(b.def, h, 'scsi'),
    }),
  );
}

/** vhost-scsi needs the host's /dev/vhost-scsi (virSCSIVHostOpenVhostSCSI). */
function vhostScsi(b: Build, h: Hostdev): void {
  const src = (h.source ?? {}) as { protocol?: string; wwpn?: string };
  if (src.protocol !== 'vhost') return;
  const dev = '/dev/vhost-scsi';
  if (!existsSync(dev)) throw unsupported(`vhost-scsi device file '${dev}' cannot be found`);
  add(
    b,
    '-device',
    jsonProps({
      ...virtioDevProps(b.ctx, 'vhost-scsi', { address: h.address, model: h.model }, { virtioOptions: null }),
      wwpn: src.wwpn,
      vhostfd: '3',
      id: aliasOf(h),
      ...deviceAddressProps(b.def, h),
    }),
  );
}

export function hostdevs(b: Build): void {
  // SCSI hostdevs take the storage ids after the disks' (qemuProcessPrepareDomainHostdevs).
  let storageId = diskChains(b.def).nextId;
  for (const h of b.def.devices?.hostdev ?? []) {
    if ((h.mode ?? 'subsystem') !== 'subsystem') continue;
    switch (h.type) {
      case 'usb':
        add(b, '-device', jsonProps(usbProps(b, h)));
        break;
      case 'pci':
        if (h.address?.type === 'unassigned') continue;
        add(b, '-device', jsonProps(pciProps(b, h)));
        break;
      case 'scsi':
        scsiHostdev(b, h, storageId++);
        break;
      case 'scsi_host':
        vhostScsi(b, h);
        break;
      case 'mdev':
        add(b, '-device', jsonProps(mdevProps(b, h)));
        break;
      default:
        break;
    }
  }
}
