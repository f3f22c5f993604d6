/**
 * What a domain may open, as libvirt 9.0's qemuSetupDevicesCgroup decides it (qemu_cgroup.c):
 * the ACL list (qemu.conf `cgroup_device_acl`, or the default), firmware, every disk's chain,
 * PTYs, host sound, chardevs of type `dev`, TPM passthrough, hostdevs, memory devices, render
 * nodes, input passthrough, the rng's random device and `/dev/sev`. The result is a list of
 * items (a path with permissions, or a fixed major rule); `resolveItems` stats the paths and
 * keeps those that are device nodes, as virCgroupAllowDevicePath does.
 */
import {
  type DomainDef,
  diskImageSource,
  type HostdevDef,
  type HostPort,
  type InputDef,
  imageChain,
  type MemoryDeviceDef,
  type QemuConf,
  type SecurityChardev,
  type SecurityImageSource,
  type StorageSourceDef,
} from '@qvirt/core';
import { type DeviceRule, devMajor, devMinor, mergeRules, rule } from './device-rule.js';
import { cgroupError, systemError } from './errors.js';

export type AclItem =
  | {
      kind: 'path';
      path: string;
      perms: 'r' | 'rw';
      /** Why it is allowed (for messages and tests): `acl`, `disk`, `hostdev`, … */
      why: string;
      /** Skip a path that does not exist (the ACL list, SGX nodes). */
      ifExists?: boolean;
      /** Skip a path stat() may not read (disk images on root-squashed NFS). */
      ignoreEacces?: boolean;
      /** Also allow the device-mapper targets under this block device. */
      devmapper?: boolean;
    }
  | { kind: 'rule'; rule: DeviceRule; why: string };

const DEVICE_PTY_MAJOR = 136;
const DEVICE_SND_MAJOR = 116;
const QEMU_DEV_VFIO = '/dev/vfio/vfio';
const QEMU_DEVICE_MAPPER_CONTROL_PATH = '/dev/mapper/control';
const QEMU_DEV_SGX_VEPVC = '/dev/sgx_vepc';
const QEMU_DEV_SGX_PROVISION = '/dev/sgx_provision';

const pathItem = (path: string, perms: 'r' | 'rw', why: string, extra: Partial<AclItem> = {}): AclItem =>
  ({ kind: 'path', path, perms, why, ...extra }) as AclItem;

/** The ACL list: qemu.conf `cgroup_device_acl` (already defaulted by @qvirt/core), rw, those that exist. */
export function aclListItems(conf: Pick<QemuConf, 'cgroupDeviceAcl'>): AclItem[] {
  return conf.cgroupDeviceAcl.map((p) => pathItem(p, 'rw', 'acl', { ifExists: true }));
}

/** One image layer (qemuSetupImageCgroupInternal); `nvme` needs the host for its IOMMU group. */
export async function imageLayerItems(
  src: SecurityImageSource & { nvmeAddress?: PciAddr; managedPR?: boolean },
  forceReadonly: boolean,
  host: HostPort,
): Promise<AclItem[]> {
  const out: AclItem[] = [];
  const readonly = src.readonly || forceReadonly;
  if (src.type === 'nvme') {
    // QEMU does ioctls on the device that the kernel counts as writes: always rw.
    if (src.nvmeAddress) out.push(pathItem(await pciIommuGroupDev(src.nvmeAddress, host), 'rw', 'disk'));
    out.push(pathItem(QEMU_DEV_VFIO, 'rw', 'disk'));
  } else if (src.path === undefined || !['file', 'block', 'dir'].includes(src.type)) {
    return out;
  }
  if (src.managedPR && (await host.exists(QEMU_DEVICE_MAPPER_CONTROL_PATH))) {
    out.push(pathItem(QEMU_DEVICE_MAPPER_CONTROL_PATH, 'rw', 'disk'));
  }
  if (src.type !== 'nvme' && src.path !== undefined) {
    out.push(pathItem(src.path, readonly ? 'r' : 'rw', 'disk', { ignoreEacces: true, devmapper: true }));
  }
  return out;
}

/** A chain (qemuSetupImageChainCgroup): only the top may be writable. */
export async function imageChainItems(src: SecurityImageSource, host: HostPort): Promise<AclItem[]> {
  const out: AclItem[] = [];
  let forceReadonly = false;
  for (const layer of imageChain(src)) {
    out.push(...(await imageLayerItems(layer, forceReadonly, host)));
    forceReadonly = true;
  }
  return out;
}

type DiskDef = NonNullable<NonNullable<DomainDef['devices']>['disk']>[number];

/** A disk's chain with what the generic image view leaves out: NVMe address, managed PR. */
function diskChain(disk: DiskDef): SecurityImageSource {
  const top = diskImageSource(disk) as SecurityImageSource & { nvmeAddress?: PciAddr; managedPR?: boolean };
  const src = disk.source as (StorageSourceDef & { address?: PciAddr }) | undefined;
  if (disk.type === 'nvme' && src?.address) top.nvmeAddress = src.address;
  if (src?.reservations?.managed === 'yes') top.managedPR = true;
  return top;
}

/** A chardev of type `dev` (qemuSetupChrSourceCgroup). */
export function chardevItems(dev: SecurityChardev): AclItem[] {
  if (dev.type !== 'dev') return [];
  const path = dev.source?.[0]?.path;
  return path ? [pathItem(path, 'rw', 'chardev')] : [];
}

export interface PciAddr {
  domain?: number;
  bus?: number;
  slot?: number;
  function?: number;
}

function pciName(a: PciAddr): string {
  const hex = (n: number | undefined, w: number) => (n ?? 0).toString(16).padStart(w, '0');
  return `${hex(a.domain, 4)}:${hex(a.bus, 2)}:${hex(a.slot, 2)}.${hex(a.function, 1)}`;
}

/** virPCIDeviceAddressGetIOMMUGroupDev: `/dev/vfio/<group>`. */
async function pciIommuGroupDev(addr: PciAddr, host: HostPort): Promise<string> {
  const name = pciName(addr);
  const link = `/sys/bus/pci/devices/${name}/iommu_group`;
  let target: string;
  try {
    target = await host.readlink(link);
  } catch (err) {
    throw cgroupError(`Unable to resolve device ${name} iommu_group symlink ${link}`, err);
  }
  return `/dev/vfio/${target.slice(target.lastIndexOf('/') + 1)}`;
}

/** virMediatedDeviceGetIOMMUGroupDev. */
async function mdevIommuGroupDev(uuid: string, host: HostPort): Promise<string> {
  const link = `/sys/bus/mdev/devices/${uuid}/iommu_group`;
  let target: string;
  try {
    target = await host.readlink(link);
  } catch (err) {
    throw systemError(err, `failed to access '${link}'`);
  }
  return `/dev/vfio/${target.slice(target.lastIndexOf('/') + 1)}`;
}

/** virUSBDeviceNew's path; a device named only by vendor/product is looked up in sysfs. */
async function usbDevicePath(
  src: { vendor?: { id?: number }; product?: { id?: number }; address?: { bus?: number; device?: number } },
  host: HostPort,
): Promise<string | undefined> {
  let bus = src.address?.bus;
  let device = src.address?.device;
  if ((bus === undefined || device === undefined) && src.vendor?.id !== undefined) {
    const hex = (n: number) => n.toString(16).padStart(4, '0');
    for (const entry of await host.readdir('/sys/bus/usb/devices').catch(() => [] as string[])) {
      const dir = `/sys/bus/usb/devices/${entry}`;
      const read = (f: string) =>
        host.readFile(`${dir}/${f}`).then(
          (s) => s.trim(),
          () => undefined,
        );
      if ((await read('idVendor')) !== hex(src.vendor.id)) continue;
      if (src.product?.id !== undefined && (await read('idProduct')) !== hex(src.product.id)) continue;
      bus = Number(await read('busnum'));
      device = Number(await read('devnum'));
      break;
    }
  }
  if (bus === undefined || device === undefined || Number.isNaN(bus) || Number.isNaN(device))
    return undefined;
  return `/dev/bus/usb/${String(bus).padStart(3, '0')}/${String(device).padStart(3, '0')}`;
}

/** virSCSIDeviceGetSgName: the sg node of adapter:bus:target:unit. */
async function scsiSgPath(
  adapter: string,
  bus: number,
  target: number,
  unit: number,
  host: HostPort,
): Promise<string> {
  const hostNum = /^scsi_host(\d+)$/.exec(adapter)?.[1];
  if (hostNum === undefined) throw cgroupError(`Cannot parse adapter '${adapter}'`);
  const dir = `/sys/bus/scsi/devices/${hostNum}:${bus}:${target}:${unit}/scsi_generic`;
  let names: string[];
  try {
    names = await host.readdir(dir);
  } catch (err) {
    throw systemError(err, `Failed to open ${dir}`);
  }
  const sg = names[0];
  if (!sg) throw cgroupError(`Failed to find the sg device in ${dir}`);
  return `/dev/${sg}`;
}

/** qemuSetupHostdevCgroup via qemuDomainGetHostdevPath, plus /dev/vfio/vfio for VFIO devices. */
export async function hostdevItems(dev: HostdevDef, host: HostPort): Promise<AclItem[]> {
  const d = dev as HostdevDef & Record<string, any>;
  if ((d.mode ?? 'subsystem') !== 'subsystem') return [];
  const src: Record<string, any> = d.source ?? {};
  const out: AclItem[] = [];
  switch (d.type) {
    case 'pci': {
      const backend = d.driver?.name ?? 'vfio';
      if (backend === 'vfio' && src.address) {
        out.push(pathItem(await pciIommuGroupDev(src.address, host), 'rw', 'hostdev'));
        out.push(pathItem(QEMU_DEV_VFIO, 'rw', 'hostdev'));
      }
      break;
    }
    case 'usb': {
      if (src.missing === 'yes') break;
      const path = await usbDevicePath(src, host);
      if (path) out.push(pathItem(path, 'rw', 'hostdev'));
      break;
    }
    case 'scsi': {
      if (src.protocol === 'iscsi') break;
      const a = src.address ?? {};
      const path = await scsiSgPath(
        src.adapter?.name ?? '',
        Number(a.bus ?? 0),
        Number(a.target ?? 0),
        Number(a.unit ?? 0),
        host,
      );
      out.push(pathItem(path, d.readonly ? 'r' : 'rw', 'hostdev'));
      break;
    }
    case 'scsi_host':
      if (src.protocol === 'vhost') out.push(pathItem('/dev/vhost-scsi', 'rw', 'hostdev'));
      break;
    case 'mdev': {
      const uuid = src.address?.uuid;
      if (uuid) {
        out.push(pathItem(await mdevIommuGroupDev(uuid, host), 'rw', 'hostdev'));
        out.push(pathItem(QEMU_DEV_VFIO, 'rw', 'hostdev'));
      }
      break;
    }
  }
  return out;
}

/** qemuSetupMemoryDevicesCgroup. */
export function memoryItems(mem: MemoryDeviceDef): AclItem[] {
  const m = mem as MemoryDeviceDef & Record<string, any>;
  if ((m.model === 'nvdimm' || m.model === 'virtio-pmem') && m.source?.path) {
    return [pathItem(m.source.path, 'rw', 'memory')];
  }
  if (m.model === 'sgx-epc') {
    return [QEMU_DEV_SGX_VEPVC, QEMU_DEV_SGX_PROVISION].map((p) =>
      pathItem(p, 'rw', 'memory', { ifExists: true }),
    );
  }
  return [];
}

/** qemuSetupInputCgroup: passthrough and evdev inputs. */
export function inputItems(input: InputDef): AclItem[] {
  const i = input as InputDef & Record<string, any>;
  if (i.type === 'passthrough' && i.source?.evdev) return [pathItem(i.source.evdev, 'rw', 'input')];
  if (i.type === 'evdev' && i.source?.dev) return [pathItem(i.source.dev, 'rw', 'input')];
  return [];
}

/** Everything a domain may open, in libvirt's order (qemuSetupDevicesCgroup). */
export async function domainAclItems(
  def: DomainDef,
  conf: Pick<QemuConf, 'cgroupDeviceAcl' | 'vncAllowHostAudio' | 'nographicsAllowHostAudio'>,
  host: HostPort,
): Promise<AclItem[]> {
  const out: AclItem[] = aclListItems(conf);
  const devs = (def.devices ?? {}) as NonNullable<DomainDef['devices']> & Record<string, any>;

  // Firmware (qemuSetupFirmwareCgroup).
  const loader = def.os?.loader as { readonly?: string; value?: string } | undefined;
  if (loader?.value) {
    out.push(
      pathItem(loader.value, loader.readonly === 'yes' ? 'r' : 'rw', 'firmware', { ignoreEacces: true }),
    );
  }
  const nvram = (def.os as Record<string, any> | undefined)?.nvram?.value as string | undefined;
  if (nvram) out.push(pathItem(nvram, 'rw', 'firmware', { ignoreEacces: true }));

  for (const disk of devs.disk ?? []) out.push(...(await imageChainItems(diskChain(disk), host)));

  out.push({ kind: 'rule', rule: rule('c', DEVICE_PTY_MAJOR, '*', 'rw'), why: 'pty' });

  const graphics = (devs.graphics ?? []) as Array<Record<string, any>>;
  const sounds = (devs.sound ?? []) as unknown[];
  if (
    sounds.length > 0 &&
    ((graphics.length === 0 && conf.nographicsAllowHostAudio) ||
      (graphics[0]?.type === 'vnc' && conf.vncAllowHostAudio) ||
      graphics[0]?.type === 'sdl')
  ) {
    out.push({ kind: 'rule', rule: rule('c', DEVICE_SND_MAJOR, '*', 'rw'), why: 'sound' });
  }

  // virDomainChrDefForeach: serials, parallels, channels, consoles.
  for (const kind of ['serial', 'parallel', 'channel', 'console'] as const) {
    for (const chr of (devs[kind] ?? []) as SecurityChardev[]) out.push(...chardevItems(chr));
  }

  for (const tpm of (devs.tpm ?? []) as Array<Record<string, any>>) {
    if (tpm.backend?.type === 'passthrough' && tpm.backend.device?.path) {
      out.push(pathItem(tpm.backend.device.path, 'rw', 'tpm'));
    }
  }

  for (const hostdev of (devs.hostdev ?? []) as HostdevDef[])
    out.push(...(await hostdevItems(hostdev, host)));

  for (const mem of (devs.memory ?? []) as MemoryDeviceDef[]) out.push(...memoryItems(mem));

  // virDomainGraphicsGetRenderNode: spice with gl enabled, egl-headless, dbus.
  for (const g of graphics) {
    const node =
      g.type === 'spice' ? (g.gl?.enable === 'yes' ? g.gl.rendernode : undefined) : g.gl?.rendernode;
    if ((g.type === 'spice' || g.type === 'egl-headless' || g.type === 'dbus') && node) {
      out.push(pathItem(node, 'rw', 'graphics'));
    }
  }

  for (const v of (devs.video ?? []) as Array<Record<string, any>>) {
    const node = v.model?.acceleration?.rendernode;
    if (node) out.push(pathItem(node, 'rw', 'video'));
  }

  for (const input of (devs.input ?? []) as InputDef[]) out.push(...inputItems(input));

  for (const rng of (devs.rng ?? []) as Array<Record<string, any>>) {
    if (rng.backend?.model === 'random' && rng.backend.value) {
      out.push(pathItem(rng.backend.value, 'rw', 'rng'));
    }
  }

  if ((def.launchSecurity as { type?: string } | undefined)?.type === 'sev') {
    out.push(pathItem('/dev/sev', 'rw', 'sev'));
  }
  return out;
}

/** The device-mapper targets of a block device, recursively (virDevMapperGetTargets via sysfs). */
async function devmapperTargets(
  major: number,
  minor: number,
  host: HostPort,
  depth = 0,
): Promise<DeviceRule[]> {
  if (depth > 32) return [];
  const dir = `/sys/dev/block/${major}:${minor}/slaves`;
  const names = await host.readdir(dir).catch(() => [] as string[]);
  const out: DeviceRule[] = [];
  for (const name of names) {
    const dev = await host.readFile(`/sys/class/block/${name}/dev`).catch(() => undefined);
    const m = dev && /^(\d+):(\d+)/.exec(dev.trim());
    if (!m) continue;
    const [maj, min] = [Number(m[1]), Number(m[2])];
    out.push({ type: 'b', major: maj, minor: min, access: { read: true, write: true, mknod: false } });
    out.push(...(await devmapperTargets(maj, min, host, depth + 1)));
  }
  return out;
}

/**
 * Turn items into rules: stat each path (virCgroupAllowDevicePath); a path that is not a device
 * node gives nothing; a missing path is an error unless the item says otherwise.
 */
export async function resolveItems(items: readonly AclItem[], host: HostPort): Promise<DeviceRule[]> {
  const rules: DeviceRule[] = [];
  for (const item of items) {
    if (item.kind === 'rule') {
      rules.push(item.rule);
      continue;
    }
    if (item.ifExists && !(await host.exists(item.path))) continue;
    let st: Awaited<ReturnType<HostPort['stat']>>;
    try {
      st = await host.stat(item.path);
    } catch (err) {
      if (item.ignoreEacces && (err as NodeJS.ErrnoException).code === 'EACCES') continue;
      throw systemError(err, `Path '${item.path}' is not accessible`);
    }
    if (!st.isCharacterDevice && !st.isBlockDevice) continue;
    const major = devMajor(st.rdev);
    const minor = devMinor(st.rdev);
    rules.push(rule(st.isCharacterDevice ? 'c' : 'b', major, minor, item.perms));
    if (item.devmapper && st.isBlockDevice) {
      for (const t of await devmapperTargets(major, minor, host)) {
        rules.push({ ...t, access: { read: true, write: item.perms === 'rw', mknod: false } });
      }
    }
  }
  return mergeRules(rules);
}
