/**
 * Device hotplug and cold-plug, as libvirt 9.0's qemuDomainAttachDeviceFlags,
 * qemuDomainDetachDeviceFlags and qemuDomainUpdateDeviceFlags do it: the config side gets the
 * device with the addresses a define would give it; the live side builds the device's QEMU
 * arguments with the command line's own builder, assigns the address and alias libvirt's hotplug
 * would, and runs a list of steps with undo (hotplug-steps.ts), so a failed attach leaves no
 * label, cgroup rule, QEMU object or definition change. Each kind has its module
 * (hotplug-disk/net/chardev/misc.ts). Unplug asks QEMU with `device_del` and finishes when the
 * guest lets go (DEVICE_DELETED, libvirt's 5 s wait; later ones finish from the driver's event
 * handler through deviceDeleted), then tears down the backends and labels. DEVICE_ADDED and
 * DEVICE_REMOVED events as libvirt sends them.
 */
import {
  type DomainDef,
  type SecurityChardev,
  type SecurityImageLabelFlags,
  type SecurityImageSource,
  VirError,
  virCheckFlags,
} from '@qvirt/core';
import { VIR_DOMAIN_AFFECT, VIR_DOMAIN_EVENT_ID } from '@qvirt/core/hypervisor';
import { assignAliases } from '@qvirt/qemu-argv';
import { attachChrSteps, isSerialConsole, removeChr } from './hotplug-chardev.js';
import {
  configUnsupported,
  type Dev,
  deviceTypeName,
  failed,
  findChr,
  findController,
  findInput,
  findMemory,
  findNet,
  findRng,
  internal,
  invalid,
  invalidArg,
  type Kind,
  listOf,
  missing,
  parseDevice,
  unsupported,
  withDefaults,
} from './hotplug-device.js';
import { attachDiskSteps, changeMediaSteps, checkDiskHotplug, removeDisk } from './hotplug-disk.js';
import {
  attachControllerSteps,
  attachInputSteps,
  attachMemorySteps,
  attachRngSteps,
  attachWatchdogSteps,
  shrinkMemory,
} from './hotplug-misc.js';
import { attachNetSteps, changeNetLive, removeNet } from './hotplug-net.js';
import { type Mon, waitDeleted } from './hotplug-qemu.js';
import { runSteps, type Step } from './hotplug-steps.js';
import { affectedDefs, copyDef, type LiveDomain } from './live-domain.js';

export { INJECTED_FAULT, setHotplugFault } from './hotplug-steps.js';

/** What hotplug needs of the driver beyond the domain. */
export interface HotplugHost {
  /** canonicalizeDomain with the driver's context (addresses, defaults). */
  canonicalize(def: DomainDef): DomainDef;
  /** The QEMU arguments of a live definition (the command line builder of a start). */
  argv(def: DomainDef): Promise<string[]>;
  /** A privileged instance (bridges and custom tap devices need one). */
  privileged: boolean;
  /** The SCSI controller model libvirt picks when a disk needs a new one. */
  defaultScsiModel?(): string;
  /** The security stack's per-device hooks, when the run is labelled. */
  security?: {
    def: DomainDef;
    setImageLabel(def: DomainDef, src: SecurityImageSource, flags: SecurityImageLabelFlags): Promise<void>;
    restoreImageLabel(
      def: DomainDef,
      src: SecurityImageSource,
      flags: SecurityImageLabelFlags,
    ): Promise<void>;
    setChardevLabel(def: DomainDef, dev: SecurityChardev): Promise<void>;
    restoreChardevLabel(def: DomainDef, dev: SecurityChardev): Promise<void>;
    setInputLabel?(def: DomainDef, input: Dev): Promise<void>;
    restoreInputLabel?(def: DomainDef, input: Dev): Promise<void>;
    setMemoryLabel?(def: DomainDef, mem: Dev): Promise<void>;
    restoreMemoryLabel?(def: DomainDef, mem: Dev): Promise<void>;
  };
}

/** One live attach in the making: the live definition, the next one with the device, its argv. */
export interface HotplugPlan {
  dom: LiveDomain;
  host: HotplugHost;
  mon: Mon;
  kind: Kind;
  dev: Dev;
  live: DomainDef;
  next: DomainDef;
  args: string[];
  /** Gives the new devices of `next` their aliases (qemuAssignDeviceAlias). */
  assignAliases(): void;
  /** The definition the security hooks see: the labelled run's, with `next`'s devices. */
  secDef(): DomainDef;
}

/** libvirt's wait for DEVICE_DELETED (qemuDomainWaitForDeviceRemoval: 5 s). */
export const DEVICE_REMOVAL_TIMEOUT_MS = 5000;

const LIVE_KINDS = new Set([
  'disk',
  'interface',
  'serial',
  'console',
  'channel',
  'controller',
  'input',
  'rng',
  'memory',
  'watchdog',
]);

function secDefOf(host: HotplugHost, def: DomainDef): DomainDef {
  return host.security ? ({ ...host.security.def, devices: def.devices } as DomainDef) : def;
}

function plan(
  dom: LiveDomain,
  host: HotplugHost,
  mon: Mon,
  kind: Kind,
  dev: Dev,
  live: DomainDef,
): HotplugPlan {
  const next = copyDef(live);
  listOf(next, kind).push(dev);
  return {
    dom,
    host,
    mon,
    kind,
    dev,
    live,
    next,
    args: [],
    assignAliases: () => assignAliases(next),
    secDef: () => secDefOf(host, next),
  };
}

async function liveSteps(p: HotplugPlan): Promise<Step[]> {
  switch (p.kind) {
    case 'disk':
      return attachDiskSteps(p);
    case 'interface':
      return attachNetSteps(p);
    case 'serial':
    case 'console':
    case 'channel':
      return attachChrSteps(p);
    case 'controller':
      return attachControllerSteps(p);
    case 'input':
      return attachInputSteps(p);
    case 'rng':
      return attachRngSteps(p);
    case 'memory':
      return attachMemorySteps(p);
    case 'watchdog':
      return attachWatchdogSteps(p);
    default:
      throw unsupported(`live attach of device '${deviceTypeName(p.kind)}' is not supported`);
  }
}

/** qemuDomainAttachDeviceConfig: `dev` into a copy of `config`, canonicalised as at define. */
function attachConfig(host: HotplugHost, config: DomainDef, kind: Kind, dev: Dev): DomainDef {
  const next = copyDef(config);
  const list = listOf(next, kind);
  switch (kind) {
    case 'disk':
      if (list.some((d) => d.target?.dev === dev.target?.dev))
        throw invalid(`target ${dev.target?.dev} already exists`);
      break;
    case 'controller':
      if (dev.index !== undefined && findController(next, dev) >= 0) {
        throw invalid(`controller index='${Number(dev.index)}' already exists`);
      }
      break;
    case 'serial':
    case 'console':
    case 'channel':
      if (
        findChr(next, kind, dev) >= 0 &&
        (dev.target?.port !== undefined || dev.target?.name !== undefined)
      ) {
        throw invalid('Target already exists');
      }
      break;
    case 'watchdog':
      if (list.length > 0) throw invalid('domain already has a watchdog');
      break;
    case 'memory':
      if (!(next.maxMemory as Dev | undefined)?.slots)
        throw configUnsupported('no free memory device slot available');
      break;
    case 'interface':
    case 'input':
    case 'rng':
    case 'hostdev':
    case 'filesystem':
    case 'redirdev':
    case 'shmem':
    case 'sound':
    case 'video':
    case 'graphics':
    case 'hub':
    case 'smartcard':
    case 'vsock':
    case 'tpm':
    case 'panic':
      break;
    default:
      throw unsupported(`persistent attach of device '${deviceTypeName(kind)}' is not supported`);
  }
  list.push(structuredClone(dev));
  return host.canonicalize(next);
}

/** qemuDomainAttachDeviceFlags. */
export async function attachDevice(
  dom: LiveDomain,
  host: HotplugHost,
  xml: string,
  flags: number,
): Promise<void> {
  virCheckFlags(flags, VIR_DOMAIN_AFFECT.LIVE | VIR_DOMAIN_AFFECT.CONFIG, 'qemuDomainAttachDeviceFlags');
  const defs = affectedDefs(dom, flags);
  const { kind, dev } = parseDevice(xml);
  // the config first (qemuDomainAttachDeviceConfig), written only once the live part succeeded
  const config = defs.config ? attachConfig(host, defs.config, kind, dev) : undefined;
  if (defs.live) await attachLive(dom, host, defs.live, kind, dev);
  if (config) await dom.saveConfig(config);
}

/** qemuDomainAttachDeviceLive. */
async function attachLive(dom: LiveDomain, host: HotplugHost, live: DomainDef, kind: Kind, parsed: Dev) {
  if (!LIVE_KINDS.has(kind))
    throw unsupported(`live attach of device '${deviceTypeName(kind)}' is not supported`);
  const dev = withDefaults(kind, parsed, live, host.canonicalize);
  if (kind === 'disk') {
    // qemuDomainAttachDeviceDiskLive: a CD-ROM or floppy that exists gets the new medium
    const orig = (live.devices?.disk ?? []).find((d) => d.target?.dev === dev.target?.dev) as Dev | undefined;
    if (orig && (dev.device === 'cdrom' || dev.device === 'floppy')) {
      await changeMedia(dom, host, live, orig, dev, false);
      return;
    }
    checkDiskHotplug(dev);
  }
  const mon = (await dom.monitor()) as Mon;
  const p = plan(dom, host, mon, kind, dev, live);
  const steps = await liveSteps(p);
  await runSteps(steps);
  await dom.saveLive(p.next);
  dom.emit({ eventID: VIR_DOMAIN_EVENT_ID.DEVICE_ADDED, devAlias: dev.alias?.name });
}

/** qemuDomainChangeEjectableMedia with the live definition updated after. */
async function changeMedia(
  dom: LiveDomain,
  host: HotplugHost,
  live: DomainDef,
  orig: Dev,
  updated: Dev,
  force: boolean,
): Promise<void> {
  const mon = (await dom.monitor()) as Mon;
  const next = copyDef(live);
  const index = (next.devices!.disk ?? []).findIndex((d) => d.target?.dev === orig.target?.dev);
  const disk = next.devices!.disk![index] as Dev;
  if (updated.source) disk.source = structuredClone(updated.source);
  else delete disk.source;
  if (updated.driver?.type) disk.driver = { ...disk.driver, type: updated.driver.type };
  const p: HotplugPlan = {
    dom,
    host,
    mon,
    kind: 'disk',
    dev: disk,
    live,
    next,
    args: [],
    assignAliases: () => assignAliases(next),
    secDef: () => secDefOf(host, next),
  };
  await runSteps(await changeMediaSteps(p, orig, disk, force));
  await dom.saveLive(next);
}

/** Finds the device `match` describes in `def` for detach, with libvirt's refusals (live or config). */
function findForDetach(def: DomainDef, kind: Kind, match: Dev, live: boolean): number {
  let idx: number;
  switch (kind) {
    case 'disk':
      idx = (def.devices?.disk ?? []).findIndex((d) => d.target?.dev === match.target?.dev);
      if (idx < 0)
        throw live
          ? missing(`disk ${match.target?.dev} not found`)
          : missing(`no target device ${match.target?.dev}`);
      return idx;
    case 'interface':
      return findNet(def, match);
    case 'serial':
    case 'console':
    case 'channel':
      idx = findChr(def, kind, match);
      if (idx < 0) {
        throw live
          ? missing(`chr type '${kind}' device not present in domain configuration`)
          : invalidArg('device not present in domain configuration');
      }
      return idx;
    case 'controller':
      idx = findController(def, match);
      if (idx < 0) {
        throw live
          ? missing(`controller ${match.type}:${Number(match.index ?? 0)} not found`)
          : missing('device not present in domain configuration');
      }
      return idx;
    case 'input':
      idx = findInput(def, match);
      if (idx < 0) throw missing('matching input device not found');
      return idx;
    case 'rng':
      idx = findRng(def, match);
      if (idx < 0) {
        throw live
          ? missing(
              `model '${match.backend?.model ?? 'random'}' RNG device not present in domain configuration`,
            )
          : missing('no matching RNG device was found');
      }
      return idx;
    case 'memory':
      idx = findMemory(def, match);
      if (idx < 0) {
        throw live
          ? missing(`model '${match.model}' memory device not present in the domain configuration`)
          : missing('matching memory device was not found');
      }
      return idx;
    case 'watchdog':
      idx = (def.devices?.watchdog ?? []).findIndex((w: Dev) => !match.model || w.model === match.model);
      if (idx < 0) {
        throw live
          ? missing('watchdog device not present in domain configuration')
          : missing('domain has no watchdog');
      }
      return idx;
    default:
      throw unsupported(
        `${live ? 'live' : 'persistent'} detach of device '${deviceTypeName(kind)}' is not supported`,
      );
  }
}

/** qemuDomainDetachDeviceFlags (qemuDomainDetachDeviceLiveAndConfig). */
export async function detachDevice(
  dom: LiveDomain,
  host: HotplugHost,
  xml: string,
  flags: number,
): Promise<void> {
  virCheckFlags(flags, VIR_DOMAIN_AFFECT.LIVE | VIR_DOMAIN_AFFECT.CONFIG, 'qemuDomainDetachDeviceFlags');
  const defs = affectedDefs(dom, flags);
  const { kind, dev: match } = parseDevice(xml);
  let config: DomainDef | undefined;
  if (defs.config) {
    // qemuDomainDetachDeviceConfig, then the post-parse (totals, implicit devices) as libvirt
    const next = copyDef(defs.config);
    listOf(next, kind).splice(findForDetach(next, kind, match, false), 1);
    config = host.canonicalize(next);
  }
  if (defs.live) await detachLive(dom, host, defs.live, kind, match);
  if (config) await dom.saveConfig(config);
}

/**
 * qemuDomainDetachDeviceAlias (qemuDomainDetachDeviceAliasLiveAndConfig): the device named by
 * its alias leaves the config at once; live, QEMU is asked with `device_del` and the call does
 * not wait: the device goes when QEMU's DEVICE_DELETED comes (deviceDeleted, from the driver's
 * event handler), as libvirt's asynchronous detach.
 */
export async function detachDeviceAlias(
  dom: LiveDomain,
  host: HotplugHost,
  alias: string,
  flags: number,
): Promise<void> {
  virCheckFlags(
    flags,
    VIR_DOMAIN_AFFECT.LIVE | VIR_DOMAIN_AFFECT.CONFIG,
    'qemuDomainDetachDeviceAliasLiveAndConfig',
  );
  const defs = affectedDefs(dom, flags);
  // virDomainDefFindDevice: every device list
  const find = (def: DomainDef) => {
    const found = findAlias(def, alias, true);
    if (!found) throw internal(`no device found with alias ${alias}`);
    return found;
  };
  let config: DomainDef | undefined;
  if (defs.config) {
    const next = copyDef(defs.config);
    const { kind, index } = find(next);
    if (!LIVE_KINDS.has(kind))
      throw unsupported(`persistent detach of device '${deviceTypeName(kind as Kind)}' is not supported`);
    listOf(next, kind as Kind).splice(index, 1);
    config = host.canonicalize(next);
  }
  if (defs.live) {
    const { kind, index } = find(defs.live);
    if (!LIVE_KINDS.has(kind))
      throw unsupported(`live detach of device '${deviceTypeName(kind as Kind)}' is not supported`);
    const dev = listOf(copyDef(defs.live), kind as Kind)[index]!;
    checkDetach(kind as Kind, dev, defs.live);
    const mon = (await dom.monitor()) as Mon;
    await mon.execute('device_del', { id: alias });
  }
  if (config) await dom.saveConfig(config);
}

/** The refusals of the qemuDomainDetachPrep* functions for what was found. */
function checkDetach(kind: Kind, dev: Dev, def: DomainDef): void {
  if (kind === 'disk') {
    const device = dev.device ?? 'disk';
    const bus = dev.target?.bus ?? 'virtio';
    if (device === 'cdrom' || device === 'floppy') {
      if (device === 'floppy' || (bus !== 'usb' && bus !== 'scsi'))
        throw unsupported(`disk device type '${device}' cannot be detached`);
    } else if (!['virtio', 'usb', 'scsi'].includes(bus)) {
      throw unsupported('This type of disk cannot be hot unplugged');
    }
  }
  if (isSerialConsole(kind, dev)) throw invalid('detaching serial console is not supported');
  if (kind === 'controller') {
    if (dev.type !== 'scsi') throw unsupported(`'${dev.type}' controller cannot be hot unplugged.`);
    const busy = (def.devices?.disk ?? []).some(
      (d: Dev) => d.target?.bus === 'scsi' && Number(d.address?.controller ?? 0) === Number(dev.index ?? 0),
    );
    if (busy) throw failed('device cannot be detached: device is busy');
  }
  if (kind === 'input' && dev.bus !== 'virtio' && dev.bus !== 'usb') {
    throw unsupported(`input device on bus '${dev.bus ?? 'ps2'}' cannot be detached`);
  }
  if (kind === 'watchdog' && dev.model !== 'i6300esb') {
    throw unsupported(`hot unplug of watchdog of model ${dev.model} is not supported`);
  }
}

/** qemuDomainDetachDeviceLive: device_del, then the wait for QEMU's DEVICE_DELETED. */
async function detachLive(dom: LiveDomain, host: HotplugHost, live: DomainDef, kind: Kind, match: Dev) {
  const dev = listOf(copyDef(live), kind)[findForDetach(live, kind, match, true)]!;
  checkDetach(kind, dev, live);
  const alias = dev.alias?.name as string | undefined;
  if (!alias) throw internal(`Cannot detach ${deviceTypeName(kind)} device with no alias`);
  const mon = (await dom.monitor()) as Mon;
  const result = waitDeleted(mon, alias, DEVICE_REMOVAL_TIMEOUT_MS);
  await mon.execute('device_del', { id: alias });
  // as libvirt 9.0: an unplug the guest has not finished in time is not an error; the device goes
  // when QEMU's DEVICE_DELETED comes (deviceDeleted, from the driver's event handler)
  const r = await result;
  if (r === 'rejected') throw failed('unplug of device was rejected by the guest');
  if (r === 'deleted') await deviceDeleted(dom, host, alias);
}

/** The live device with `alias`, in any list (of any kind with `anyKind`). */
function findAlias(
  def: DomainDef,
  alias: string,
  anyKind = false,
): { kind: Kind; index: number } | undefined {
  for (const [kind, list] of Object.entries((def.devices ?? {}) as Record<string, unknown>)) {
    // a device the definition holds alone (memballoon, …): found, though no detach takes it
    if (anyKind && !Array.isArray(list) && (list as Dev | undefined)?.alias?.name === alias)
      return { kind: kind as Kind, index: 0 };
    if ((!anyKind && !LIVE_KINDS.has(kind)) || !Array.isArray(list)) continue;
    const index = (list as Dev[]).findIndex((d) => d?.alias?.name === alias);
    if (index >= 0) return { kind, index };
  }
  return undefined;
}

/**
 * qemuDomainRemoveDevice for a device QEMU reports deleted: its backends (nodes, netdev, tap,
 * chardev, objects), labels, the live definition's entry and the DEVICE_REMOVED event. Nothing
 * when the alias is no device of the domain (already removed, or one libvirt does not track).
 */
export async function deviceDeleted(dom: LiveDomain, host: HotplugHost, alias: string): Promise<void> {
  const live = dom.live;
  const found = live && findAlias(live, alias);
  if (!live || !found) return;
  const next = copyDef(live);
  const list = listOf(next, found.kind);
  const dev = list[found.index]!;
  list.splice(found.index, 1);
  const mon = (await dom.monitor()) as Mon;
  const secDef = () => secDefOf(host, next);
  switch (found.kind) {
    case 'disk':
      await removeDisk({ mon, host, secDef, pid: dom.pid }, dev);
      break;
    case 'interface':
      await removeNet(mon, dev);
      break;
    case 'serial':
    case 'console':
    case 'channel':
      await removeChr(mon, host, secDef, dev);
      break;
    case 'rng':
      await mon.execute('object-del', { id: `obj${alias}` }).catch(() => {});
      break;
    case 'memory':
      await mon.execute('object-del', { id: `mem${alias}` }).catch(() => {});
      await host.security?.restoreMemoryLabel?.(secDef(), dev).catch(() => {});
      shrinkMemory(next as Dev, dev);
      break;
    case 'input':
      await host.security?.restoreInputLabel?.(secDef(), dev).catch(() => {});
      break;
    default:
  }
  await dom.saveLive(next);
  dom.emit({ eventID: VIR_DOMAIN_EVENT_ID.DEVICE_REMOVED, devAlias: alias });
}

/** qemuDomainUpdateDeviceFlags: CD-ROM/floppy media, interface link state, disk and interface definitions. */
export async function updateDevice(
  dom: LiveDomain,
  host: HotplugHost,
  xml: string,
  flags: number,
): Promise<void> {
  const FORCE = 1; // VIR_DOMAIN_DEVICE_MODIFY_FORCE
  virCheckFlags(
    flags,
    VIR_DOMAIN_AFFECT.LIVE | VIR_DOMAIN_AFFECT.CONFIG | FORCE,
    'qemuDomainUpdateDeviceFlags',
  );
  const defs = affectedDefs(dom, flags);
  const { kind, dev } = parseDevice(xml);
  let config: DomainDef | undefined;
  if (defs.config) {
    // qemuDomainUpdateDeviceConfig: disks by target, interfaces by virDomainNetFindIdx
    if (kind !== 'disk' && kind !== 'interface') {
      throw configUnsupported(`persistent update of device '${deviceTypeName(kind)}' is not supported`);
    }
    const next = copyDef(defs.config);
    const list = listOf(next, kind);
    const pos =
      kind === 'interface' ? findNet(next, dev) : list.findIndex((d) => d.target?.dev === dev.target?.dev);
    if (pos < 0) throw invalidArg(`target ${dev.target?.dev} doesn't exist.`);
    list[pos] = structuredClone(dev);
    config = host.canonicalize(next);
  }
  if (defs.live && kind === 'interface') {
    const next = copyDef(defs.live);
    const old = listOf(next, 'interface')[findNet(next, dev)]!;
    await changeNetLive(
      (await dom.monitor()) as Mon,
      old,
      withDefaults(kind, dev, defs.live, host.canonicalize),
    );
    await dom.saveLive(next);
  } else if (defs.live) {
    if (kind !== 'disk')
      throw configUnsupported(`live update of device '${deviceTypeName(kind)}' is not supported`);
    const live = defs.live;
    const full = withDefaults(kind, dev, live, host.canonicalize);
    const orig = (live.devices?.disk ?? []).find((d) => d.target?.dev === full.target?.dev) as
      | Dev
      | undefined;
    if (!orig) throw internal(`disk '${full.target?.dev}' not found`);
    if (
      (orig.device ?? 'disk') !== (full.device ?? 'disk') ||
      (orig.target?.bus ?? '') !== (full.target?.bus ?? '')
    ) {
      throw new VirError(
        'OPERATION_UNSUPPORTED',
        'qemu',
        `Operation not supported: cannot modify field '${orig.device !== full.device ? 'device' : 'bus'}' of the disk`,
      );
    }
    const where = (d: Dev) => d.source?.file ?? d.source?.dev ?? d.source?.name ?? null;
    const same = where(orig) === where(full);
    if (!same) {
      if (orig.device !== 'cdrom' && orig.device !== 'floppy') {
        throw configUnsupported('disk source can be changed only in removable drives');
      }
      await changeMedia(dom, host, live, orig, full, (flags & FORCE) !== 0);
    }
  }
  if (config) await dom.saveConfig(config);
}
