/**
 * The files a definition makes QEMU open, as the SELinux driver walks them (libvirt's
 * virSecuritySELinuxSetAllLabel and friends): chardevs in virDomainChrDefForeach order, host
 * device nodes, evdev inputs, NVDIMM backing files, TPM pass-through nodes, fw_cfg files and the
 * `<os>` files. Which label each gets is decided by the driver.
 */
import type {
  DeviceSeclabelDef,
  DomainDef,
  HostdevDef,
  HostPort,
  InputDef,
  MemoryDeviceDef,
  SecurityChardev,
  SecurityImageSource,
  TpmDef,
} from '@qvirt/core';
import { deviceSeclabelFor } from '@qvirt/core';
import { MODEL } from './remember.js';

/** A device `<seclabel>` relabels unless it says relabel='no'. */
export function deviceRelabel(d: DeviceSeclabelDef | undefined): boolean {
  return d?.relabel !== 'no';
}

export function ownLabel(labels: readonly DeviceSeclabelDef[] | undefined): DeviceSeclabelDef | undefined {
  return deviceSeclabelFor(labels, MODEL);
}

/** virDomainChrDefForeach: serials, parallels, channels, then consoles but the back-compat one. */
export function domainChardevs(def: DomainDef): SecurityChardev[] {
  const d = def.devices;
  if (!d) return [];
  const consoles = (d.console ?? []).filter(
    (c, i) =>
      !(
        i === 0 &&
        (d.serial?.length ?? 0) > 0 &&
        (c.target?.type === undefined || c.target.type === 'serial')
      ),
  );
  return [...(d.serial ?? []), ...(d.parallel ?? []), ...(d.channel ?? []), ...consoles] as SecurityChardev[];
}

/** `<os>` files QEMU reads: kernel, initrd, dtb, then the ACPI SLIC table. */
export function osFiles(def: DomainDef): string[] {
  const os = def.os;
  if (!os) return [];
  const out = [os.kernel, os.initrd, os.dtb].filter((p): p is string => typeof p === 'string' && p !== '');
  for (const t of os.acpi?.table ?? []) if (t.type === 'slic' && t.value) out.push(t.value);
  return out;
}

/** The loader's NVRAM store as a one-layer image. */
export function nvramImage(def: DomainDef): SecurityImageSource | undefined {
  const n = def.os?.nvram as Record<string, any> | undefined;
  if (!n) return undefined;
  const path: string | undefined = n.value || n.source?.file || n.source?.dev;
  if (!path) return undefined;
  return { type: n.source?.dev ? 'block' : 'file', path, readonly: false, shared: false, seclabels: [] };
}

/** fw_cfg `<entry file=…>` files of `<sysinfo type='fwcfg'>`. */
export function fwcfgFiles(def: DomainDef): string[] {
  const out: string[] = [];
  for (const s of (def as Record<string, any>).sysinfo ?? []) {
    if (s?.type !== 'fwcfg') continue;
    for (const e of s.entry ?? []) if (typeof e.file === 'string' && e.file) out.push(e.file);
  }
  return out;
}

/** The evdev node of a passthrough or evdev input. */
export function inputPath(input: InputDef): string | undefined {
  if (input.type === 'passthrough') return input.source?.evdev;
  if (input.type === 'evdev') return input.source?.dev;
  return undefined;
}

export const DEV_SGX_VEPC = '/dev/sgx_vepc';
export const DEV_SGX_PROVISION = '/dev/sgx_provision';

/** Files of a memory device the driver labels. */
export function memoryPaths(mem: MemoryDeviceDef): string[] {
  switch (mem.model) {
    case 'nvdimm':
    case 'virtio-pmem':
      return mem.source?.path ? [mem.source.path] : [];
    case 'sgx-epc':
      return [DEV_SGX_VEPC, DEV_SGX_PROVISION];
    default:
      return [];
  }
}

/** The passthrough TPM node and its sysfs cancel file (virTPMCreateCancelPath). */
export async function tpmPassthroughPaths(
  tpm: TpmDef,
  host: Pick<HostPort, 'exists'>,
): Promise<{ device: string; cancel?: string } | undefined> {
  if (tpm.backend?.type !== 'passthrough') return undefined;
  const device = tpm.backend.device?.path ?? '/dev/tpm0';
  const name = device.split('/').pop();
  for (const prefix of ['/sys/class/misc/', '/sys/class/tpm/']) {
    const cancel = `${prefix}${name}/device/cancel`;
    if (await host.exists(cancel)) return { device, cancel };
  }
  return { device };
}

export interface HostdevNode {
  path: string;
  /** SCSI: the disk-like sharing flags decide the label. */
  shareable?: boolean;
  readonly?: boolean;
}

type SysfsHost = Pick<HostPort, 'exists' | 'readlink' | 'readdir'>;

function hex(n: unknown, width: number): string {
  return Number(n ?? 0)
    .toString(16)
    .padStart(width, '0');
}

async function iommuGroupDev(host: SysfsHost, sysfsDevice: string): Promise<string> {
  const link = await host.readlink(`${sysfsDevice}/iommu_group`);
  return `/dev/vfio/${link.split('/').pop()}`;
}

/** The device nodes QEMU opens for a `<hostdev>`. */
export async function hostdevNodes(dev: HostdevDef, host: SysfsHost): Promise<HostdevNode[]> {
  const d = dev as Record<string, any>;
  if (dev.mode === 'capabilities') {
    const p = dev.type === 'storage' ? d.source?.block : dev.type === 'misc' ? d.source?.char : undefined;
    return typeof p === 'string' && p ? [{ path: p }] : [];
  }
  switch (dev.type) {
    case 'usb': {
      const a = d.source?.address;
      if (d.source?.missing === 'yes' || a?.bus === undefined || a?.device === undefined) return [];
      const pad = (n: unknown) => String(Number(n)).padStart(3, '0');
      return [{ path: `/dev/bus/usb/${pad(a.bus)}/${pad(a.device)}` }];
    }
    case 'pci': {
      const a = d.source?.address;
      if (!a) return [];
      if (d.driver?.name !== undefined && d.driver.name !== 'vfio') return [];
      const sys = `/sys/bus/pci/devices/${hex(a.domain, 4)}:${hex(a.bus, 2)}:${hex(a.slot, 2)}.${hex(a.function, 1)}`;
      if (!(await host.exists(sys))) return [];
      return [{ path: await iommuGroupDev(host, sys) }];
    }
    case 'scsi': {
      const src = d.source;
      if (src?.protocol === 'iscsi') return [];
      const adapter = /^scsi_host(\d+)$/.exec(src?.adapter?.name ?? '');
      const a = src?.address;
      if (!adapter || !a) return [];
      const sys = `/sys/bus/scsi/devices/${adapter[1]}:${a.bus}:${a.target}:${a.unit}/scsi_generic`;
      const sg = (await host.readdir(sys)).find((n) => n.startsWith('sg'));
      return sg
        ? [{ path: `/dev/${sg}`, shareable: d.shareable === true, readonly: d.readonly === true }]
        : [];
    }
    case 'scsi_host':
      return [{ path: '/dev/vhost-scsi' }];
    case 'mdev': {
      const uuid = d.source?.address?.uuid;
      return uuid ? [{ path: await iommuGroupDev(host, `/sys/bus/mdev/devices/${uuid}`) }] : [];
    }
    default:
      return [];
  }
}

/** File systems libvirt treats as shared between hosts (virFileIsSharedFS). */
export const SHARED_FS = new Set([
  'nfs',
  'nfs4',
  'gfs2',
  'ocfs2',
  'afs',
  'cifs',
  'smb3',
  'ceph',
  'gpfs',
  'fuse.glusterfs',
  'fuse.quobyte',
  'beegfs',
]);
