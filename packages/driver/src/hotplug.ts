/**
 * Disk hotplug and cold-plug, as libvirt 9.0's qemu_hotplug.c does it for a file-backed virtio
 * disk: the config gets the device (addresses assigned as at define), the running domain gets it
 * through `blockdev-add` (storage node, then format node) and `device_add`, labelled by the
 * security stack first; every step is undone in reverse when a later one fails, so a failed
 * attach leaves no label, node or device behind. Unplug asks QEMU with `device_del` and finishes
 * when the guest lets go (`DEVICE_DELETED`, libvirt's 5 s wait), then removes the nodes and
 * restores the label. DEVICE_ADDED and DEVICE_REMOVED events as libvirt sends them.
 */
import type { EventEmitter } from 'node:events';
import {
  type DomainDef,
  diskImageSource,
  parseDomainXML,
  type SecurityImageLabelFlags,
  type SecurityImageSource,
  VirError,
  virCheckFlags,
} from '@qvirt/core';
import { VIR_DOMAIN_AFFECT, VIR_DOMAIN_EVENT_ID } from '@qvirt/core/hypervisor';
import { affectedDefs, copyDef, type LiveDomain } from './live-domain.js';

type Disk = NonNullable<NonNullable<DomainDef['devices']>['disk']>[number];

/** What hotplug needs of the driver beyond the domain: define-time canonicalising and labels. */
export interface HotplugHost {
  /** canonicalizeDomain with the driver's context (addresses, defaults). */
  canonicalize(def: DomainDef): DomainDef;
  /** The security stack's per-image hooks, when the run is labelled. */
  security?: {
    def: DomainDef;
    setImageLabel(def: DomainDef, src: SecurityImageSource, flags: SecurityImageLabelFlags): Promise<void>;
    restoreImageLabel(
      def: DomainDef,
      src: SecurityImageSource,
      flags: SecurityImageLabelFlags,
    ): Promise<void>;
  };
}

/** libvirt's wait for DEVICE_DELETED (qemuDomainWaitForDeviceRemoval: 5 s). */
export const DEVICE_REMOVAL_TIMEOUT_MS = 5000;

const unsupported = (msg: string) =>
  new VirError('OPERATION_UNSUPPORTED', 'qemu', `Operation not supported: ${msg}`);
const failed = (msg: string) => new VirError('OPERATION_FAILED', 'qemu', `operation failed: ${msg}`);

/** virDomainDeviceDefParse for a `<disk>`: the one device of the text. */
function parseDisk(xml: string): Disk {
  const wrapped = `<domain type='qemu'><name>device</name><memory>1</memory><os><type>hvm</type></os><devices>${xml}</devices></domain>`;
  const devices = parseDomainXML(wrapped).devices as Record<string, unknown[]> | undefined;
  const kinds = Object.entries(devices ?? {}).filter(([, v]) => Array.isArray(v) && v.length > 0);
  const disk = devices?.disk?.[0] as Disk | undefined;
  if (!disk || kinds.length !== 1) {
    const name = kinds[0]?.[0] ?? 'unknown';
    throw unsupported(`live attach of device '${name}' is not supported`);
  }
  return disk;
}

/** virDiskNameToIndex: vda → 0, vdz → 25, vdaa → 26. */
function diskNameToIndex(name: string): number {
  const letters = /^(?:fd|hd|vd|sd|xvd|ubd)([a-z]+)/.exec(name)?.[1] ?? 'a';
  let idx = 0;
  for (const ch of letters) idx = idx * 26 + (ch.charCodeAt(0) - 96);
  return idx - 1;
}

function diskPath(disk: Disk): string | undefined {
  return (disk.source as { file?: string } | undefined)?.file;
}

/** A live definition's PCI address for a new device (a free pcie-root-port, or a free slot of pci.0). */
function freePciAddress(def: DomainDef): { bus: number; slot: number } {
  const used = new Set<string>();
  const walk = (v: unknown) => {
    if (Array.isArray(v)) for (const x of v) walk(x);
    else if (v && typeof v === 'object') {
      const a = (v as { address?: { type?: string; bus?: number | string; slot?: number | string } }).address;
      if (a?.type === 'pci') used.add(`${Number(a.bus ?? 0)}:${Number(a.slot ?? 0)}`);
      for (const [k, x] of Object.entries(v)) if (k !== 'address') walk(x);
    }
  };
  walk(def.devices);
  const controllers = (def.devices?.controller ?? []) as { type?: string; model?: string; index?: number }[];
  const ports = controllers.filter((c) => c.type === 'pci' && c.model === 'pcie-root-port');
  if (controllers.some((c) => c.type === 'pci' && c.model === 'pcie-root')) {
    const port = ports.find((p) => !used.has(`${Number(p.index)}:0`));
    if (!port) throw failed('No more available PCI slots');
    return { bus: Number(port.index), slot: 0 };
  }
  for (let slot = 1; slot < 32; slot++) if (!used.has(`0:${slot}`)) return { bus: 0, slot };
  throw failed('No more available PCI slots');
}

interface Mon {
  execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T>;
}

/** The next free `libvirt-N-` node id (qemuDomainPrepareDiskSource's counter). */
async function nextNodeId(mon: Mon): Promise<number> {
  const nodes = await mon.execute<{ 'node-name'?: string }[]>('query-named-block-nodes', { flat: true });
  let max = 0;
  for (const n of nodes) {
    const m = /^libvirt-(\d+)-/.exec(n['node-name'] ?? '');
    if (m) max = Math.max(max, Number(m[1]));
  }
  return max + 1;
}

/** qemuDomainAttachDeviceFlags for a disk (qemuDomainAttachDiskGeneric when live). */
export async function attachDevice(
  dom: LiveDomain,
  host: HotplugHost,
  xml: string,
  flags: number,
): Promise<void> {
  virCheckFlags(flags, VIR_DOMAIN_AFFECT.LIVE | VIR_DOMAIN_AFFECT.CONFIG, 'qemuDomainAttachDeviceFlags');
  const defs = affectedDefs(dom, flags);
  const disk = parseDisk(xml);
  const dev = disk.target?.dev ?? '';
  // qemuDomainAttachDeviceConfig / qemuDomainAttachDeviceDiskLiveInternal, each with its own code
  const has = (def: DomainDef | undefined) => def?.devices?.disk?.some((d) => d.target?.dev === dev);
  if (has(defs.config)) {
    throw new VirError(
      'OPERATION_INVALID',
      'qemu',
      `Requested operation is not valid: target ${dev} already exists`,
    );
  }
  if (has(defs.live)) throw failed(`target ${dev} already exists`);
  // the config first (qemuDomainAttachDeviceConfig), written only once the live part succeeded
  let config: DomainDef | undefined;
  if (defs.config) {
    const next = copyDef(defs.config);
    (next.devices ??= {}).disk = [...(next.devices.disk ?? []), structuredClone(disk)];
    config = host.canonicalize(next);
  }
  if (defs.live) await attachLive(dom, host, defs.live, disk);
  if (config) await dom.saveConfig(config);
}

async function attachLive(dom: LiveDomain, host: HotplugHost, live: DomainDef, disk: Disk): Promise<void> {
  const bus = disk.target?.bus ?? 'virtio';
  const file = diskPath(disk);
  if (bus !== 'virtio' || (disk.type ?? 'file') !== 'file' || (disk.device ?? 'disk') !== 'disk' || !file) {
    throw unsupported(`disk bus '${bus}' cannot be hotplugged.`);
  }
  const mon = (await dom.monitor()) as Mon;
  const id = await nextNodeId(mon);
  const alias = `virtio-disk${diskNameToIndex(disk.target?.dev ?? '')}`;
  const given = disk.address as { type?: string; bus?: number; slot?: number } | undefined;
  const addr =
    given?.type === 'pci'
      ? { bus: Number(given.bus ?? 0), slot: Number(given.slot ?? 0) }
      : freePciAddress(live);
  const format = (disk.driver as { type?: string } | undefined)?.type ?? 'raw';
  const readonly = Boolean((disk as { readonly?: unknown }).readonly);
  const src = diskImageSource(disk as Parameters<typeof diskImageSource>[0]);
  // each step done is pushed here, undone in reverse if a later one fails
  const undo: (() => Promise<unknown>)[] = [];
  try {
    if (host.security) {
      await host.security.setImageLabel(host.security.def, src, { chainTop: true });
      undo.push(() => host.security!.restoreImageLabel(host.security!.def, src, { chainTop: true }));
    }
    const storage = `libvirt-${id}-storage`;
    const fmt = `libvirt-${id}-format`;
    await mon.execute('blockdev-add', {
      driver: 'file',
      filename: file,
      'node-name': storage,
      'auto-read-only': true,
      discard: 'unmap',
    });
    undo.push(() => mon.execute('blockdev-del', { 'node-name': storage }));
    await mon.execute('blockdev-add', {
      'node-name': fmt,
      'read-only': readonly,
      driver: format,
      file: storage,
    });
    undo.push(() => mon.execute('blockdev-del', { 'node-name': fmt }));
    const busName = addr.bus === 0 ? 'pci.0' : `pci.${addr.bus}`;
    await mon.execute('device_add', {
      driver: 'virtio-blk-pci',
      bus: busName,
      addr: `0x${addr.slot.toString(16)}`,
      drive: fmt,
      id: alias,
      ...(disk.serial ? { serial: disk.serial } : {}),
    });
  } catch (err) {
    for (const step of undo.reverse()) await step().catch(() => {});
    throw err;
  }
  const next = copyDef(live);
  const added = {
    ...structuredClone(disk),
    alias: { name: alias },
    address: { type: 'pci', domain: 0, bus: addr.bus, slot: addr.slot, function: 0 },
  } as unknown as Disk;
  (next.devices ??= {}).disk = [...(next.devices.disk ?? []), added];
  await dom.saveLive(next);
  dom.emit({ eventID: VIR_DOMAIN_EVENT_ID.DEVICE_ADDED, devAlias: alias });
}

/** Resolves true when QEMU reports `alias` deleted within `ms`. */
function waitDeleted(mon: Mon, alias: string, ms: number): Promise<boolean> {
  const emitter = mon as unknown as EventEmitter;
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      emitter.off('event', onEvent);
      resolve(ok);
    };
    const onEvent = (ev: { event: string; data?: { device?: string } }) => {
      if (ev.event === 'DEVICE_DELETED' && ev.data?.device === alias) done(true);
    };
    const timer = setTimeout(() => done(false), ms);
    emitter.on('event', onEvent);
  });
}

/** qemuDomainDetachDeviceFlags for a disk (by target). */
export async function detachDevice(
  dom: LiveDomain,
  host: HotplugHost,
  xml: string,
  flags: number,
): Promise<void> {
  virCheckFlags(flags, VIR_DOMAIN_AFFECT.LIVE | VIR_DOMAIN_AFFECT.CONFIG, 'qemuDomainDetachDeviceFlags');
  const defs = affectedDefs(dom, flags);
  const wanted = parseDisk(xml).target?.dev ?? '';
  const find = (def: DomainDef) => (def.devices?.disk ?? []).findIndex((d) => d.target?.dev === wanted);
  // qemuDomainDetachDeviceConfig / qemuDomainDetachPrepDisk, each with its own text
  const missing = (text: string) => new VirError('DEVICE_MISSING', 'qemu', `device not found: ${text}`);
  if (defs.config && find(defs.config) < 0) throw missing(`no target device ${wanted}`);
  if (defs.live && find(defs.live) < 0) throw missing(`disk ${wanted} not found`);
  if (defs.live) await detachLive(dom, host, defs.live, find(defs.live));
  if (defs.config) {
    const next = copyDef(defs.config);
    next.devices!.disk!.splice(find(next), 1);
    await dom.saveConfig(next);
  }
}

async function detachLive(dom: LiveDomain, host: HotplugHost, live: DomainDef, index: number): Promise<void> {
  const disk = live.devices!.disk![index]!;
  const alias = (disk as { alias?: { name?: string } }).alias?.name;
  if (!alias) throw failed(`device ${disk.target?.dev ?? ''} has no alias`);
  const mon = (await dom.monitor()) as Mon;
  const deleted = waitDeleted(mon, alias, DEVICE_REMOVAL_TIMEOUT_MS);
  await mon.execute('device_del', { id: alias });
  // as libvirt: an unplug the guest has not finished in time is not an error; the device goes
  // when QEMU's DEVICE_DELETED comes (deviceDeleted, from the driver's event handler)
  if (await deleted) await deviceDeleted(dom, host, alias);
}

/**
 * qemuDomainRemoveDevice for a disk QEMU reports deleted: the nodes it used, its label, the live
 * definition's entry and the DEVICE_REMOVED event. Nothing when the alias is no disk of the
 * domain (already removed, or another device).
 */
export async function deviceDeleted(dom: LiveDomain, host: HotplugHost, alias: string): Promise<void> {
  const live = dom.live;
  const index = (live?.devices?.disk ?? []).findIndex(
    (d) => (d as { alias?: { name?: string } }).alias?.name === alias,
  );
  if (!live || index < 0) return;
  const disk = live.devices!.disk![index]!;
  const mon = (await dom.monitor()) as Mon;
  const blocks = await mon.execute<{ 'node-name': string; file?: string }[]>('query-named-block-nodes', {
    flat: true,
  });
  const file = diskPath(disk);
  const mine = blocks.filter((b) => /^libvirt-\d+-(format|storage)$/.test(b['node-name']) && b.file === file);
  // the format node before the storage node it sits on
  mine.sort(
    (a, b) => Number(b['node-name'].endsWith('-format')) - Number(a['node-name'].endsWith('-format')),
  );
  for (const b of mine) await mon.execute('blockdev-del', { 'node-name': b['node-name'] }).catch(() => {});
  if (host.security) {
    const src = diskImageSource(disk as Parameters<typeof diskImageSource>[0]);
    await host.security.restoreImageLabel(host.security.def, src, { chainTop: true }).catch(() => {});
  }
  const next = copyDef(live);
  next.devices!.disk!.splice(index, 1);
  await dom.saveLive(next);
  dom.emit({ eventID: VIR_DOMAIN_EVENT_ID.DEVICE_REMOVED, devAlias: alias });
}
