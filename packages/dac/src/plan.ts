/**
 * What the DAC driver labels for a domain, as two plans computed from the definition: the paths
 * to give to QEMU's user at start (virSecurityDACSetAllLabel) and the paths to give back at stop
 * (virSecurityDACRestoreAllLabel). They differ on purpose, as in libvirt: readonly and shareable
 * disks are labelled but never restored (other domains may still use them), only the top of a
 * backing chain has its owner remembered and restored, and a listening unix socket is labelled
 * when it exists but not restored.
 */
import type {
  ChardevSourceDef,
  DeviceSeclabelDef,
  DomainDef,
  HostdevDef,
  SeclabelDef,
  SecurityChardev,
  SecurityImageSource,
} from '@qvirt/core';
import { diskImageSource, imageChain } from '@qvirt/core';

export const MODEL = 'dac';

/** One chown: `label` (a `USER:GROUP` text) or the domain's ids when undefined. */
export interface SetItem {
  path: string;
  label?: string;
  remember: boolean;
  /** `dev`: a device node that a private /dev can carry instead of a host chown. */
  what: 'image' | 'file' | 'dev';
}

export interface RestoreItem {
  path: string;
  recall: boolean;
  what: 'image' | 'file' | 'dev';
}

/** relabel as libvirt defaults it: yes, except for `type='none'`. */
export function relabelOf(sec: { relabel?: 'yes' | 'no'; type?: string } | undefined): boolean {
  if (!sec) return true;
  if (sec.relabel !== undefined) return sec.relabel === 'yes';
  // libvirt's parser: static and none labels default to relabel='no', dynamic ones to 'yes'.
  return sec.type !== 'none' && sec.type !== 'static';
}

export function dacSeclabel(def: DomainDef): SeclabelDef | undefined {
  return def.seclabel?.find((s) => s.model === MODEL);
}

function deviceLabel(labels: readonly DeviceSeclabelDef[] | undefined): DeviceSeclabelDef | undefined {
  return labels?.find((s) => s.model === MODEL);
}

// ---------------------------------------------------------------------------------------------
// Disks (virSecurityDACSetImageLabelInternal / RestoreImageLabelSingle)

/** The owner label for one layer, `null` to skip it, undefined for the domain's image ids. */
export function imageLabelFor(
  src: SecurityImageSource,
  parent: SecurityImageSource | undefined,
): string | null | undefined {
  const own = deviceLabel(src.seclabels);
  if (own && (!relabelOf(own) || own.label !== undefined)) return relabelOf(own) ? own.label! : null;
  const up = parent ? deviceLabel(parent.seclabels) : undefined;
  if (up && (!relabelOf(up) || up.label !== undefined)) return relabelOf(up) ? up.label! : null;
  return undefined;
}

/** Layers libvirt's DAC driver can chown: local, not passed by fd. */
function localPath(src: SecurityImageSource): string | undefined {
  if (src.type !== 'file' && src.type !== 'block' && src.type !== 'dir') return undefined;
  return src.path || undefined;
}

export function imageSetItems(src: SecurityImageSource, chainTop: boolean, backingChain: boolean): SetItem[] {
  const out: SetItem[] = [];
  let top = chainTop;
  for (const layer of backingChain ? imageChain(src) : [src]) {
    const path = localPath(layer);
    const label = imageLabelFor(layer, src);
    if (path !== undefined && label !== null) {
      const item: SetItem = {
        path,
        remember: top && !layer.readonly && !layer.shared,
        what: layer.type === 'block' ? 'dev' : 'image',
      };
      if (label !== undefined) item.label = label;
      out.push(item);
    }
    top = false;
  }
  return out;
}

export function imageRestoreItems(src: SecurityImageSource): RestoreItem[] {
  if (src.readonly || src.shared) return [];
  const own = deviceLabel(src.seclabels);
  if (own && !relabelOf(own)) return [];
  const path = localPath(src);
  return path === undefined ? [] : [{ path, recall: true, what: src.type === 'block' ? 'dev' : 'image' }];
}

// ---------------------------------------------------------------------------------------------
// Character devices (virSecurityDACSetChardevLabelHelper / RestoreChardevLabelHelper)

export interface PathProbe {
  exists(path: string): Promise<boolean>;
}

function chardevSource(dev: SecurityChardev): ChardevSourceDef | undefined {
  return dev.source?.[0];
}

function chardevLabel(dev: SecurityChardev): DeviceSeclabelDef | undefined {
  for (const s of dev.source ?? []) {
    const found = deviceLabel(s.seclabel);
    if (found) return found;
  }
  return undefined;
}

async function chardevPaths(dev: SecurityChardev, host: PathProbe, restore: boolean): Promise<string[]> {
  const src = chardevSource(dev);
  const path = src?.path;
  switch (dev.type) {
    case 'dev':
    case 'file':
      return path ? [path] : [];
    case 'pipe': {
      if (!path) return [];
      const pin = `${path}.in`;
      const pout = `${path}.out`;
      if ((await host.exists(pin)) && (await host.exists(pout))) return restore ? [pout, pin] : [pin, pout];
      return [path];
    }
    case 'unix': {
      if (!path) return [];
      const listen = src?.mode === 'bind';
      if (restore) return listen ? [] : [path];
      // Also label mode='bind' sockets that exist (made by the daemon and passed by fd).
      return !listen || (await host.exists(path)) ? [path] : [];
    }
    default:
      return [];
  }
}

export async function chardevSetItems(
  dev: SecurityChardev,
  chardevStdioLogd: boolean,
  remember: boolean,
  host: PathProbe,
): Promise<SetItem[]> {
  const own = chardevLabel(dev);
  if (own && !relabelOf(own)) return [];
  if (!own && dev.type === 'file' && chardevStdioLogd) return [];
  const label = own?.label;
  return (await chardevPaths(dev, host, false)).map((path) => {
    const item: SetItem = { path, remember, what: dev.type === 'dev' ? 'dev' : 'file' };
    if (label !== undefined) item.label = label;
    return item;
  });
}

export async function chardevRestoreItems(
  dev: SecurityChardev,
  chardevStdioLogd: boolean,
  recall: boolean,
  host: PathProbe,
): Promise<RestoreItem[]> {
  const own = chardevLabel(dev);
  if (own && !relabelOf(own)) return [];
  if (!own && dev.type === 'file' && chardevStdioLogd) return [];
  return (await chardevPaths(dev, host, true)).map((path) => ({
    path,
    recall,
    what: dev.type === 'dev' ? 'dev' : 'file',
  }));
}

/** virDomainChrDefForeach: serials, parallels, channels, then consoles but the back-compat one. */
export function domainChardevs(def: DomainDef): SecurityChardev[] {
  const d = def.devices;
  if (!d) return [];
  const consoles = (d.console ?? []).filter(
    (c, i) =>
      // virDomainSkipBackcompatConsole: console 0 mirroring serial 0
      !(
        i === 0 &&
        (d.serial?.length ?? 0) > 0 &&
        (c.target?.type === undefined || c.target.type === 'serial')
      ),
  );
  return [...(d.serial ?? []), ...(d.parallel ?? []), ...(d.channel ?? []), ...consoles] as SecurityChardev[];
}

// ---------------------------------------------------------------------------------------------
// Host devices (virSecurityDACSetHostdevLabel): the device nodes QEMU opens

export interface SysfsProbe extends PathProbe {
  readlink(path: string): Promise<string>;
  readdir(path: string): Promise<string[]>;
}

function hex(n: number | undefined, width: number): string {
  return (n ?? 0).toString(16).padStart(width, '0');
}

async function iommuGroupDev(host: SysfsProbe, sysfsDevice: string): Promise<string> {
  const link = await host.readlink(`${sysfsDevice}/iommu_group`);
  return `/dev/vfio/${link.split('/').pop()}`;
}

/** The device nodes of a hostdev and whether libvirt remembers their owner. */
export async function hostdevNodes(
  dev: HostdevDef,
  host: SysfsProbe,
): Promise<Array<{ path: string; remember: boolean }>> {
  if (dev.mode === 'capabilities') return [];
  const d = dev as Record<string, any>;
  switch (dev.type) {
    case 'usb': {
      const src = d.source;
      if (src?.missing === 'yes') return [];
      const a = src?.address;
      if (a?.bus === undefined || a?.device === undefined) return [];
      const pad = (n: number) => String(n).padStart(3, '0');
      return [{ path: `/dev/bus/usb/${pad(Number(a.bus))}/${pad(Number(a.device))}`, remember: true }];
    }
    case 'pci': {
      const a = d.source?.address;
      if (!a) return [];
      const name = `${hex(a.domain, 4)}:${hex(a.bus, 2)}:${hex(a.slot, 2)}.${hex(a.function, 1)}`;
      const sys = `/sys/bus/pci/devices/${name}`;
      if (!(await host.exists(sys))) return [];
      if (d.driver?.name !== undefined && d.driver.name !== 'vfio') return []; // legacy KVM assignment: gone from QEMU
      return [{ path: await iommuGroupDev(host, sys), remember: false }];
    }
    case 'scsi': {
      const src = d.source;
      if (src?.protocol === 'iscsi') return [];
      const adapter = /^scsi_host(\d+)$/.exec(src?.adapter?.name ?? '');
      const a = src?.address;
      if (!adapter || !a) return [];
      const sys = `/sys/bus/scsi/devices/${adapter[1]}:${a.bus}:${a.target}:${a.unit}/scsi_generic`;
      const sg = (await host.readdir(sys)).find((n) => n.startsWith('sg'));
      return sg ? [{ path: `/dev/${sg}`, remember: true }] : [];
    }
    case 'scsi_host':
      return [{ path: '/dev/vhost-scsi', remember: true }];
    case 'mdev': {
      const uuid = d.source?.address?.uuid;
      if (!uuid) return [];
      return [{ path: await iommuGroupDev(host, `/sys/bus/mdev/devices/${uuid}`), remember: true }];
    }
    default:
      return [];
  }
}

// ---------------------------------------------------------------------------------------------
// Everything else QEMU opens

/** `<os>` files QEMU reads: kernel, initrd, dtb and an ACPI SLIC table (remembered). */
export function osFiles(def: DomainDef): string[] {
  const os = def.os;
  if (!os) return [];
  const out = [os.kernel, os.initrd, os.dtb].filter((p): p is string => typeof p === 'string' && p !== '');
  for (const t of os.acpi?.table ?? []) if (t.type === 'slic' && t.value) out.push(t.value);
  return out;
}

/** The NVRAM store as a one-layer image (`<nvram>PATH</nvram>` or `<nvram type='file'><source file=…>`). */
export function nvramImage(def: DomainDef): SecurityImageSource | undefined {
  const n = def.os?.nvram as Record<string, any> | undefined;
  if (!n) return undefined;
  const path: string | undefined = n.value || n.source?.file || n.source?.dev;
  if (!path) return undefined;
  return { type: n.source?.dev ? 'block' : 'file', path, readonly: false, shared: false, seclabels: [] };
}

/** Render nodes of `<graphics>` with `<gl rendernode=…>` (labelled only with a private /dev). */
export function renderNodes(def: DomainDef): string[] {
  const out: string[] = [];
  for (const g of def.devices?.graphics ?? []) {
    const node = (g as Record<string, any>).gl?.rendernode;
    if (typeof node === 'string' && node) out.push(node);
  }
  return out;
}

/** Sockets of `<graphics>` (VNC `socket=`, `<listen type='socket'>`): QEMU makes them. */
export function graphicsSockets(def: DomainDef): string[] {
  const out: string[] = [];
  for (const g of def.devices?.graphics ?? []) {
    const r = g as Record<string, any>;
    if (typeof r.socket === 'string' && r.socket) out.push(r.socket);
    for (const l of r.listens ?? []) if (l.type === 'socket' && l.socket) out.push(l.socket);
  }
  return [...new Set(out)];
}

/** Disks the DAC driver walks (not `type='dir'`: libvirt does not label trees). */
export function domainImages(def: DomainDef): SecurityImageSource[] {
  return (def.devices?.disk ?? []).filter((d) => d.type !== 'dir').map((d) => diskImageSource(d));
}
