/**
 * The paths of a domain a labelling security driver walks in virSecurity*SetAllLabel and
 * RestoreAllLabel (libvirt's security_dac.c and security_selinux.c walk the same devices in the
 * same order): disks with their backing chains, render nodes, host device nodes, evdev inputs,
 * memory-device files, TPM pass-through nodes, chardevs (virDomainChrDefForeach), smartcards,
 * fw_cfg files, the NVRAM store and the `<os>` files. Each entry says what it is; which label it
 * gets, or whether a model labels that kind at all, is the driver's decision. One list, so a
 * device added here reaches every driver.
 */

import type { InputDef, MemoryDeviceDef, TpmDef } from '../domain/devices-misc.js';
import type { DomainDef } from '../domain/domain-xml.js';
import type { DeviceSeclabelDef } from '../domain/general.js';
import type { HostdevDef } from '../domain/net-hostdev.js';
import { virReportError } from '../errors.js';
import type { SecurityChardev, SecurityImageSource } from './driver.js';
import type { HostPort } from './host.js';
import { chardevSeclabelFor, diskImageSource } from './labels.js';

export type SecurityPathPhase = 'set' | 'restore';

/** The device nodes of one `<hostdev>`. */
export interface HostdevNode {
  path: string;
  /** libvirt remembers the owner of every node but a VFIO group's (the group's devices share it). */
  remember: boolean;
  /** SCSI generic: the disk-like sharing flags. */
  shareable?: boolean;
  readonly?: boolean;
  /** `mode='capabilities'` storage or misc: the host's block or character device itself. */
  capabilities?: boolean;
}

export type SecurityPath =
  | { kind: 'disk'; image: SecurityImageSource; dir: boolean; target?: string }
  | { kind: 'nvram'; image: SecurityImageSource }
  | ({ kind: 'hostdev' } & HostdevNode)
  /** chardev: virDomainChrDefForeach's devices; smartcard: a passthrough smartcard's chardev. */
  | { kind: 'chardev' | 'smartcard'; path: string; chardev: SecurityChardev; seclabel?: DeviceSeclabelDef }
  /** tpm: the pass-through node and its sysfs cancel file; smartcard-db: a host-certificates database. */
  | { kind: 'rendernode' | 'input' | 'memory' | 'tpm' | 'smartcard-db' | 'fwcfg' | 'os'; path: string }
  /** A device whose paths could not be worked out: fatal when setting, reported when restoring. */
  | { kind: 'unresolved'; of: 'hostdev' | 'tpm'; error: unknown };

export type SecurityPathKind = SecurityPath['kind'];

type PathHost = Pick<HostPort, 'exists' | 'readlink' | 'readdir'>;

/** VIR_DOMAIN_SMARTCARD_DEFAULT_DATABASE */
export const SMARTCARD_DEFAULT_DATABASE = '/etc/pki/nssdb';

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

/**
 * The files of one chardev for `model` (Set/RestoreChardevLabel): none with `<seclabel
 * relabel='no'>` or for a file chardev virtlogd opens; a pipe's `PATH.in`/`PATH.out` when both
 * exist; a listening unix socket is labelled when it exists but never restored.
 */
export async function chardevSecurityPaths(
  dev: SecurityChardev,
  model: string,
  host: Pick<HostPort, 'exists'>,
  phase: SecurityPathPhase,
  chardevStdioLogd: boolean,
): Promise<Array<{ path: string; seclabel?: DeviceSeclabelDef }>> {
  const seclabel = chardevSeclabelFor(dev, model);
  if (seclabel?.relabel === 'no') return [];
  if (!seclabel && dev.type === 'file' && chardevStdioLogd) return [];
  const src = dev.source?.[0];
  const path = src?.path;
  let paths: string[] = [];
  if (path) {
    switch (dev.type) {
      case 'dev':
      case 'file':
        paths = [path];
        break;
      case 'pipe': {
        const pin = `${path}.in`;
        const pout = `${path}.out`;
        if ((await host.exists(pin)) && (await host.exists(pout))) {
          paths = phase === 'restore' ? [pout, pin] : [pin, pout];
        } else paths = [path];
        break;
      }
      case 'unix': {
        const listen = src?.mode === 'bind';
        // A mode='bind' socket the daemon made and passes by fd is labelled when it exists.
        if (phase === 'restore') paths = listen ? [] : [path];
        else paths = !listen || (await host.exists(path)) ? [path] : [];
        break;
      }
    }
  }
  return paths.map((p) => (seclabel ? { path: p, seclabel } : { path: p }));
}

/** `<os>` files QEMU reads: kernel, initrd, dtb, then the ACPI SLIC table. */
export function osFiles(def: DomainDef): string[] {
  const os = def.os;
  if (!os) return [];
  const out = [os.kernel, os.initrd, os.dtb].filter((p): p is string => typeof p === 'string' && p !== '');
  for (const t of os.acpi?.table ?? []) if (t.type === 'slic' && t.value) out.push(t.value);
  return out;
}

/** The loader's NVRAM store as a one-layer image (`<nvram>PATH</nvram>` or `<nvram type=…><source …>`). */
export function nvramImage(def: DomainDef): SecurityImageSource | undefined {
  const n = def.os?.nvram as Record<string, any> | undefined;
  if (!n) return undefined;
  const path: string | undefined = n.value || n.source?.file || n.source?.dev;
  if (!path) return undefined;
  return { type: n.source?.dev ? 'block' : 'file', path, readonly: false, shared: false, seclabels: [] };
}

/** Render nodes of `<graphics>` with `<gl rendernode=…>` (virDomainGraphicsGetRenderNode). */
export function renderNodes(def: DomainDef): string[] {
  const out: string[] = [];
  for (const g of def.devices?.graphics ?? []) {
    const node = (g as Record<string, any>).gl?.rendernode;
    if (typeof node === 'string' && node) out.push(node);
  }
  return out;
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

/** Files of a memory device QEMU opens: NVDIMM/pmem backing files, the SGX nodes. */
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

/** The pass-through TPM node and its sysfs cancel file (virTPMCreateCancelPath). */
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

function hex(n: unknown, width: number): string {
  return Number(n ?? 0)
    .toString(16)
    .padStart(width, '0');
}

async function iommuGroupDev(host: PathHost, sysfsDevice: string): Promise<string> {
  const link = await host.readlink(`${sysfsDevice}/iommu_group`);
  return `/dev/vfio/${link.split('/').pop()}`;
}

/** The device nodes QEMU opens for a `<hostdev>` (virHostdev*, through sysfs). */
export async function hostdevNodes(dev: HostdevDef, host: PathHost): Promise<HostdevNode[]> {
  const d = dev as Record<string, any>;
  if (dev.mode === 'capabilities') {
    const p = dev.type === 'storage' ? d.source?.block : dev.type === 'misc' ? d.source?.char : undefined;
    return typeof p === 'string' && p ? [{ path: p, remember: true, capabilities: true }] : [];
  }
  switch (dev.type) {
    case 'usb': {
      const a = d.source?.address;
      if (d.source?.missing === 'yes' || a?.bus === undefined || a?.device === undefined) return [];
      const pad = (n: unknown) => String(Number(n)).padStart(3, '0');
      return [{ path: `/dev/bus/usb/${pad(a.bus)}/${pad(a.device)}`, remember: true }];
    }
    case 'pci': {
      const a = d.source?.address;
      if (!a) return [];
      if (d.driver?.name !== undefined && d.driver.name !== 'vfio') return []; // legacy KVM assignment
      const sys = `/sys/bus/pci/devices/${hex(a.domain, 4)}:${hex(a.bus, 2)}:${hex(a.slot, 2)}.${hex(a.function, 1)}`;
      if (!(await host.exists(sys))) return [];
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
      return sg
        ? [
            {
              path: `/dev/${sg}`,
              remember: true,
              shareable: d.shareable === true,
              readonly: d.readonly === true,
            },
          ]
        : [];
    }
    case 'scsi_host':
      return [{ path: '/dev/vhost-scsi', remember: true }];
    case 'mdev': {
      const uuid = d.source?.address?.uuid;
      return uuid
        ? [{ path: await iommuGroupDev(host, `/sys/bus/mdev/devices/${uuid}`), remember: true }]
        : [];
    }
    default:
      return [];
  }
}

/**
 * Everything `model`'s SetAllLabel (phase `set`) or RestoreAllLabel (`restore`) walks, in libvirt's
 * order. Render nodes are listed for `set` only (libvirt's DAC has nothing to restore there).
 */
export async function domainSecurityPaths(
  def: DomainDef,
  model: string,
  host: PathHost,
  phase: SecurityPathPhase,
  chardevStdioLogd = false,
): Promise<SecurityPath[]> {
  const out: SecurityPath[] = [];
  const devices = def.devices ?? {};
  for (const disk of devices.disk ?? []) {
    const entry: SecurityPath = { kind: 'disk', image: diskImageSource(disk), dir: disk.type === 'dir' };
    if (disk.target?.dev) entry.target = disk.target.dev;
    out.push(entry);
  }
  if (phase === 'set') for (const path of renderNodes(def)) out.push({ kind: 'rendernode', path });
  for (const dev of devices.hostdev ?? []) {
    try {
      for (const node of await hostdevNodes(dev, host)) out.push({ kind: 'hostdev', ...node });
    } catch (error) {
      out.push({ kind: 'unresolved', of: 'hostdev', error });
    }
  }
  for (const input of devices.input ?? []) {
    const path = inputPath(input);
    if (path) out.push({ kind: 'input', path });
  }
  for (const mem of devices.memory ?? [])
    for (const path of memoryPaths(mem)) out.push({ kind: 'memory', path });
  for (const tpm of devices.tpm ?? []) {
    const paths = await tpmPassthroughPaths(tpm, host);
    if (!paths) continue;
    out.push({ kind: 'tpm', path: paths.device });
    if (paths.cancel) out.push({ kind: 'tpm', path: paths.cancel });
    else if (phase === 'set') {
      const error = virReportError(
        'INTERNAL_ERROR',
        'security',
        'No usable sysfs TPM cancel file could be found',
      );
      out.push({ kind: 'unresolved', of: 'tpm', error });
    }
  }
  for (const chardev of domainChardevs(def)) {
    for (const p of await chardevSecurityPaths(chardev, model, host, phase, chardevStdioLogd)) {
      out.push({ kind: 'chardev', chardev, ...p });
    }
  }
  for (const sc of devices.smartcard ?? []) {
    if (sc.mode === 'host-certificates') {
      out.push({ kind: 'smartcard-db', path: sc.database ?? SMARTCARD_DEFAULT_DATABASE });
    } else if (sc.mode === 'passthrough') {
      const chardev = sc as SecurityChardev;
      for (const p of await chardevSecurityPaths(chardev, model, host, phase, false)) {
        out.push({ kind: 'smartcard', chardev, ...p });
      }
    }
  }
  for (const path of fwcfgFiles(def)) out.push({ kind: 'fwcfg', path });
  const nvram = nvramImage(def);
  if (nvram) out.push({ kind: 'nvram', image: nvram });
  for (const path of osFiles(def)) out.push({ kind: 'os', path });
  return out;
}
