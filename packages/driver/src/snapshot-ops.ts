/**
 * The snapshot APIs of libvirt 9.0's qemu_snapshot.c on a domain the driver lends for one job
 * (SnapshotHost): create (internal, external disk-only, external with memory, redefine), revert
 * and delete, with libvirt's refusals and lifecycle events. The metadata is ./snapshot-metadata.ts,
 * the disks' overlays ./snapshot-external.ts, QEMU's internal snapshot jobs ./snapshots.ts.
 */
import type { DomainDef } from '@qvirt/core';
import { virCheckFlags, virReportError, virReportInvalidArg } from '@qvirt/core/errors';
import { VIR_DOMAIN_EVENT, VIR_DOMAIN_EVENT_DETAIL } from '@qvirt/core/hypervisor';
import { fsFreeze, fsThaw } from './agent-apis.js';
import type { GuestAgent } from './guest-agent.js';
import type { QmpClient } from './qmp.js';
import { deleteExternal } from './snapshot-delete-external.js';
import {
  alignDisks,
  createOfflineOverlays,
  type DomDisk,
  domDisks,
  liveOverlays,
  type OverlayLabels,
  pointAtOverlays,
  prepareDisks,
} from './snapshot-external.js';
import {
  checkSnapshotName,
  isExternal,
  parseSnapshotXml,
  type SnapshotList,
  type SnapshotMeta,
  type SnapshotState,
} from './snapshot-metadata.js';
import {
  checkInternalDisks,
  deleteInternal,
  loadInternal,
  qemuImgSnapshot,
  saveInternal,
  snapshotDisks,
  VIR_DOMAIN_SNAPSHOT_CREATE,
  VIR_DOMAIN_SNAPSHOT_DELETE,
  VIR_DOMAIN_SNAPSHOT_REVERT,
} from './snapshots.js';
import type { DomainState } from './state.js';

/** What the driver lends the snapshot code for the job holding the domain. */
export interface SnapshotHost {
  readonly name: string;
  readonly uuid: string;
  readonly persistent: boolean;
  state(): DomainState;
  /** The persistent definition (the pending one while running, if any). */
  config(): DomainDef;
  live(): DomainDef | undefined;
  monitor(): Promise<QmpClient>;
  hasManagedSave(): boolean;
  /** `stop`, the state paused with `reason` (SUSPENDED_PAUSED). */
  pause(): Promise<void>;
  /** `cont`, the state running with `reason` (RESUMED_UNPAUSED / _FROM_SNAPSHOT). */
  resume(reason: 'unpaused' | 'from snapshot'): Promise<void>;
  /** QEMU killed and the domain shut off with `reason` (STOPPED_DESTROYED / _FROM_SNAPSHOT). */
  kill(reason: 'destroyed' | 'from snapshot'): Promise<void>;
  /** Starts QEMU on `def` (the stored one if absent), reporting no lifecycle event itself. */
  startQuiet(paused: boolean, def?: DomainDef): Promise<void>;
  /** Marks the paused domain paused with reason 'from snapshot'. */
  setPausedFromSnapshot(): void;
  /** Replaces the running definition (and writes the status). */
  saveLive(def: DomainDef): Promise<void>;
  /** Writes the persistent definition. */
  saveConfig(def: DomainDef): Promise<void>;
  emit(event: number, detail: number): void;
  /** virDomainDefFormat(INACTIVE|SECURE) of a definition, as a snapshot embeds it. */
  formatInactive(def: DomainDef): string;
  parseDomain(xml: string): Promise<DomainDef>;
  /** The memory of the paused guest to `file` in libvirt's save-image format (as save does). */
  saveMemory(file: string, xml: string, wasRunning: boolean): Promise<void>;
  /** The running domain's security labels for new images, when the run is labelled. */
  labels?: OverlayLabels;
  /** The guest agent of the running domain (or libvirt's refusal). */
  agent(): GuestAgent;
}

const C = VIR_DOMAIN_SNAPSHOT_CREATE;
const R = VIR_DOMAIN_SNAPSHOT_REVERT;
const D = VIR_DOMAIN_SNAPSHOT_DELETE;
const E = VIR_DOMAIN_EVENT;
const ED = VIR_DOMAIN_EVENT_DETAIL;

const invalidArg = (msg: string) => virReportInvalidArg('qemu', msg);
const argError = (msg: string) => virReportError('INVALID_ARG', 'domain_snapshot', msg);
const active = (h: SnapshotHost) => h.state() !== 'shutoff';

/** qemuSnapshotCreateXML. */
export async function createSnapshot(
  h: SnapshotHost,
  list: SnapshotList,
  xml: string,
  flags: number,
): Promise<string> {
  virCheckFlags(
    flags,
    C.REDEFINE |
      C.CURRENT |
      C.NO_METADATA |
      C.HALT |
      C.DISK_ONLY |
      C.REUSE_EXT |
      C.QUIESCE |
      C.ATOMIC |
      C.LIVE |
      C.VALIDATE,
    'qemuDomainSnapshotCreateXML',
  );
  if (flags & C.QUIESCE && !(flags & C.DISK_ONLY))
    throw invalidArg(
      "Flag 'VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY' is required by flag 'VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE'",
    );
  if (flags & C.LIVE && flags & C.REDEFINE)
    throw invalidArg(
      "Flags 'VIR_DOMAIN_SNAPSHOT_CREATE_LIVE' and 'VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE' are mutually exclusive",
    );
  if (!h.persistent && flags & C.HALT)
    throw virReportError('OPERATION_INVALID', 'qemu', 'cannot halt after transient domain snapshot');
  const redefine = (flags & C.REDEFINE) !== 0;
  const parsed = parseSnapshotXml(xml, {
    redefine,
    offline: (flags & C.DISK_ONLY) !== 0 || !active(h),
    validate: (flags & C.VALIDATE) !== 0,
  });
  const meta = parsed.meta;
  // virDomainXMLOptionRunMomentPostParse: a snapshot without a name is named by its time
  if (!redefine) {
    meta.creationTime = Math.floor(Date.now() / 1000);
    if (parsed.unnamed) meta.name = String(meta.creationTime);
  }
  // qemuSnapshotCreateXMLValidateDef
  if (!(flags & C.NO_METADATA)) checkSnapshotName(meta.name);
  if (flags & C.LIVE && (!active(h) || meta.memory !== 'external'))
    throw virReportError(
      'OPERATION_UNSUPPORTED',
      'qemu',
      'live snapshot creation is supported only during full system snapshots',
    );
  const state = redefine ? meta.state : h.state();
  if (state === 'pmsuspended')
    throw virReportError(
      'OPERATION_UNSUPPORTED',
      'qemu',
      "qemu doesn't support taking snapshots of PMSUSPENDED guests",
    );
  if (state === 'disk-snapshot' && !redefine)
    throw virReportError('INTERNAL_ERROR', 'qemu', `Invalid domain state ${state}`);
  if (redefine) return redefineSnapshot(h, list, parsed, flags);
  return takeSnapshot(h, list, meta, flags);
}

/** qemuSnapshotRedefine with virDomainSnapshotRedefinePrep's checks. */
async function redefineSnapshot(
  h: SnapshotHost,
  list: SnapshotList,
  parsed: ReturnType<typeof parseSnapshotXml>,
  flags: number,
): Promise<string> {
  const meta = parsed.meta;
  // virDomainMomentCheckCycles
  if (meta.parent) {
    if (meta.parent === meta.name) throw argError(`cannot set moment ${meta.name} as its own parent`);
    let other = list.byName.get(meta.parent);
    if (!other) throw argError(`parent ${meta.parent} for moment ${meta.name} not found`);
    while (other?.parent) {
      if (other.parent === meta.name)
        throw argError(`parent ${other.name} would create cycle to ${meta.name}`);
      other = list.byName.get(other.parent);
    }
  }
  const other = list.byName.get(meta.name);
  if (flags & C.DISK_ONLY && meta.state !== 'disk-snapshot')
    throw argError(`disk-only flag for snapshot ${meta.name} requires disk-snapshot state`);
  let domDef: DomainDef | undefined;
  if (parsed.domain) {
    const { formatXml } = await import('@qvirt/core');
    domDef = await h.parseDomain(formatXml(parsed.domain));
    if (domDef.uuid !== h.uuid)
      throw argError(`definition for snapshot ${meta.name} must use uuid ${h.uuid}`);
    meta.domainXml = h.formatInactive(domDef);
  }
  if (parsed.inactiveDomain) {
    const { formatXml } = await import('@qvirt/core');
    meta.inactiveDomainXml = h.formatInactive(await h.parseDomain(formatXml(parsed.inactiveDomain)));
  }
  if (other) {
    const online = (s: SnapshotState) => s === 'running' || s === 'paused';
    if (online(other.state) !== online(meta.state))
      throw argError(`cannot change between online and offline snapshot state in snapshot ${meta.name}`);
    if ((other.state === 'disk-snapshot') !== (meta.state === 'disk-snapshot'))
      throw argError(`cannot change between disk only and full system in snapshot ${meta.name}`);
    if (!meta.domainXml && other.domainXml) meta.domainXml = other.domainXml;
  }
  const alignDef = domDef ?? (meta.domainXml ? await h.parseDomain(meta.domainXml) : undefined);
  if (!alignDef) throw virReportError('INTERNAL_ERROR', 'domain_snapshot', 'missing domain in snapshot');
  await alignDisks(
    meta,
    alignDef,
    meta.state === 'disk-snapshot' || isExternal(meta) ? 'external' : 'internal',
    true,
  );
  await list.put(meta);
  if (flags & C.CURRENT) await list.setCurrent(meta.name);
  return meta.name;
}

/**
 * What VIR_DOMAIN_DEF_FORMAT_INACTIVE leaves of a running definition: no labels of dynamic
 * seclabels, no backing chains QEMU's images revealed, no chain indexes.
 */
function inactiveView(live: DomainDef): DomainDef {
  const def = structuredClone(live) as DomainDef & { seclabel?: Array<Record<string, unknown>> };
  for (const sl of def.seclabel ?? []) {
    if (sl.type === 'dynamic') {
      delete sl.label;
      delete sl.imagelabel;
    }
  }
  for (const d of (def.devices?.disk ?? []) as Array<{
    backingStore?: unknown;
    source?: { index?: unknown };
  }>) {
    delete d.backingStore;
    if (d.source) delete d.source.index;
  }
  return def;
}

/** qemuSnapshotCreate: align, prepare, do it, then the metadata. */
async function takeSnapshot(
  h: SnapshotHost,
  list: SnapshotList,
  meta: SnapshotMeta,
  flags: number,
): Promise<string> {
  if (!(flags & C.NO_METADATA) && list.byName.has(meta.name))
    throw virReportError(
      'OPERATION_INVALID',
      'domain_snapshot',
      `domain snapshot '${meta.name}' already exists`,
    );
  const isActive = active(h);
  const def = isActive ? h.live()! : h.config();
  // qemuSnapshotCreateAlignDisks: the running definition formatted inactive, and the persistent
  // one beside it (a running persistent domain always has one: vm->newDef)
  meta.domainXml = h.formatInactive(isActive ? inactiveView(def) : def);
  if (isActive && h.persistent) meta.inactiveDomainXml = h.formatInactive(h.config());
  let dflt: 'internal' | 'external' = 'internal';
  const domState = (h.state() === 'pmsuspended' ? 'pmsuspended' : h.state()) as SnapshotState;
  if (flags & C.DISK_ONLY) {
    dflt = 'external';
    meta.state = isActive ? 'disk-snapshot' : 'shutoff';
    meta.memory = 'no';
  } else if (meta.memory === 'external') {
    meta.state = domState;
    dflt = 'external';
  } else {
    meta.state = domState;
    if (isActive && meta.memory === 'no')
      throw virReportError(
        'OPERATION_UNSUPPORTED',
        'qemu',
        'internal snapshot of a running VM must include the memory state',
      );
    meta.memory = meta.state === 'shutoff' ? 'no' : 'internal';
  }
  await alignDisks(meta, def, dflt, true);
  const reuse = (flags & C.REUSE_EXT) !== 0;
  const { external } = await prepareDisks(meta, def, isActive, reuse);
  let f = flags;
  if (external && !isActive) f |= C.DISK_ONLY;
  if (!(f & C.NO_METADATA) && list.current) meta.parent = list.current;

  if (isActive) {
    if (f & C.DISK_ONLY || meta.memory === 'external') await activeExternal(h, meta, f);
    else await activeInternal(h, meta, f);
  } else if (f & C.DISK_ONLY) {
    await createOfflineOverlays(meta, h.config(), reuse);
    await h.saveConfig(pointAtOverlays(h.config(), meta, false));
  } else {
    await qemuImgSnapshot(checkInternalDisks(snapshotDisks(h.config())), '-c', meta.name);
  }
  if (!(f & C.NO_METADATA)) {
    await list.put(meta);
    await list.setCurrent(meta.name);
  }
  return meta.name;
}

/** qemuSnapshotCreateActiveInternal: the CPUs stop while QEMU writes the state into the images. */
async function activeInternal(h: SnapshotHost, meta: SnapshotMeta, flags: number): Promise<void> {
  const running = h.state() === 'running';
  if (running) await h.pause();
  try {
    await saveInternal(await h.monitor(), meta.name);
  } catch (err) {
    if (running && active(h)) await h.resume('unpaused');
    throw err;
  }
  if (flags & C.HALT) await h.kill('from snapshot');
  else if (running && active(h)) await h.resume('unpaused');
}

/**
 * qemuSnapshotCreateActiveExternal: the file systems frozen (QUIESCE), the memory saved as a save
 * image (the guest paused for it, as libvirt's non-live and live paths both end paused), the
 * overlays put on top in one transaction, the definitions pointed at them, then the guest
 * resumed or halted.
 */
async function activeExternal(h: SnapshotHost, meta: SnapshotMeta, flags: number): Promise<void> {
  const reuse = (flags & C.REUSE_EXT) !== 0;
  let agent: GuestAgent | undefined;
  if (flags & C.QUIESCE) {
    agent = h.agent();
    // qemuSnapshotFSFreeze: nothing frozen, nothing to thaw
    if ((await fsFreeze(agent, [])) === 0) agent = undefined;
  }
  // a memory snapshot pauses the guest (libvirt up front, or QEMU when a live migration
  // converges: the same events); a disk-only one does not, even to halt after it
  const paused = meta.memory === 'external' && h.state() === 'running';
  try {
    if (paused) await h.pause();
    if (meta.memory === 'external') await h.saveMemory(meta.memoryFile!, meta.domainXml!, paused);
    const live = h.live()!;
    await liveOverlays(await h.monitor(), meta, live, reuse, h.labels);
    await h.saveLive(pointAtOverlays(live, meta, true));
    if (h.persistent) await h.saveConfig(pointAtOverlays(h.config(), meta, true));
  } catch (err) {
    if (agent) await fsThaw(agent).catch(() => {});
    if (paused && active(h)) await h.resume('unpaused').catch(() => {});
    throw err;
  }
  if (flags & C.HALT) {
    await h.kill('from snapshot');
    return;
  }
  if (agent) await fsThaw(agent).catch(() => {});
  if (paused && active(h)) await h.resume('unpaused');
}

/** qemuSnapshotRevert (9.0: internal snapshots only). */
export async function revertSnapshot(
  h: SnapshotHost,
  list: SnapshotList,
  name: string,
  flags: number,
): Promise<void> {
  virCheckFlags(flags, R.RUNNING | R.PAUSED | R.FORCE | R.RESET_NVRAM, 'qemuDomainRevertToSnapshot');
  const s = list.get(name);
  const online = s.state === 'running' || s.state === 'paused';
  // qemuSnapshotRevertValidate
  if (!h.persistent && !online && !(flags & (R.RUNNING | R.PAUSED)))
    throw virReportError(
      'OPERATION_INVALID',
      'qemu',
      'transient domain needs to request run or pause to revert to inactive snapshot',
    );
  if (isExternal(s))
    throw virReportError('CONFIG_UNSUPPORTED', 'qemu', 'revert to external snapshot not supported yet');
  if (!s.domainXml)
    throw virReportError(
      'SNAPSHOT_REVERT_RISKY',
      'qemu',
      `snapshot '${s.name}' lacks domain '${h.name}' rollback info`,
    );
  if (!(flags & R.FORCE) && h.hasManagedSave() && !online)
    throw virReportError(
      'SNAPSHOT_REVERT_RISKY',
      'qemu',
      'snapshot without memory state, removal of existing managed saved state strongly recommended to avoid corruption',
    );
  if (s.state === 'pmsuspended')
    throw virReportError(
      'OPERATION_UNSUPPORTED',
      'qemu',
      "qemu doesn't support reversion of snapshot taken in PMSUSPENDED state",
    );
  // qemuSnapshotRevertPrep: the snapshot's definitions become the domain's
  const config = await h.parseDomain(s.domainXml);
  const inactive = h.persistent ? await h.parseDomain(s.inactiveDomainXml ?? s.domainXml) : undefined;
  if (online) {
    if (active(h)) {
      await h.kill('from snapshot');
    }
    if (inactive) await h.saveConfig(inactive);
    await h.startQuiet(true, config);
    h.emit(E.STARTED, ED.STARTED.FROM_SNAPSHOT);
    // what `-loadvm` does at a start: the state (disks and memory) comes back before the CPUs run
    await loadInternal(await h.monitor(), s.name);
    if (!(flags & R.RUNNING) && (s.state === 'paused' || flags & R.PAUSED)) {
      h.setPausedFromSnapshot();
      h.emit(E.SUSPENDED, ED.SUSPENDED.FROM_SNAPSHOT);
    } else {
      await h.resume('from snapshot');
    }
  } else {
    if (active(h)) await h.kill('from snapshot');
    await qemuImgSnapshot(checkInternalDisks(snapshotDisks(config)), '-a', s.name);
    if (inactive) await h.saveConfig(inactive);
    if (flags & (R.RUNNING | R.PAUSED)) {
      const paused = (flags & R.PAUSED) !== 0;
      await h.startQuiet(paused);
      if (!paused) h.emit(E.RESUMED, ED.RESUMED.UNPAUSED);
      h.emit(E.STARTED, ED.STARTED.FROM_SNAPSHOT);
      if (paused) h.emit(E.SUSPENDED, ED.SUSPENDED.FROM_SNAPSHOT);
    }
  }
  await list.setCurrent(s.name);
  if (inactive) h.emit(E.DEFINED, ED.DEFINED.FROM_SNAPSHOT);
}

/** qemuSnapshotDelete with qemuSnapshotDeleteValidate's refusals. */
export async function deleteSnapshot(
  h: SnapshotHost,
  list: SnapshotList,
  name: string,
  flags: number,
): Promise<void> {
  virCheckFlags(flags, D.CHILDREN | D.METADATA_ONLY | D.CHILDREN_ONLY, 'qemuDomainSnapshotDelete');
  const top = list.get(name);
  const metadataOnly = (flags & D.METADATA_ONLY) !== 0;
  const withChildren = (flags & (D.CHILDREN | D.CHILDREN_ONLY)) !== 0;
  if (!metadataOnly) {
    // qemuSnapshotDeleteValidate: QEMU deletes an internal snapshot from the images it runs on
    if (!isExternal(top) && active(h) && top.domainXml) {
      const then = domDisks(await h.parseDomain(top.domainXml));
      const now = domDisks(h.live()!);
      for (const sd of top.disks.filter((d) => d.snapshot === 'internal')) {
        const src = (d: DomDisk | undefined) => d?.source?.file ?? d?.source?.dev;
        const find = (list: DomDisk[]) => list.find((d) => d.target?.dev === sd.name);
        if (src(find(now)) !== src(find(then)))
          throw virReportError(
            'OPERATION_UNSUPPORTED',
            'qemu',
            `disk image '${sd.name}' for internal snapshot '${top.name}' is not the same as disk image currently used by VM`,
          );
      }
    }
    if (withChildren) {
      const below = list.descendants(name);
      const ext = below.filter(isExternal).length;
      const int = below.length - ext;
      if (ext > 0 && int > 0)
        throw virReportError(
          'CONFIG_UNSUPPORTED',
          'qemu',
          'deletion of external and internal children disk snapshots not supported',
        );
      if (ext > 0)
        throw virReportError(
          'CONFIG_UNSUPPORTED',
          'qemu',
          'deletion of external children disk snapshots not supported',
        );
    }
    if (isExternal(top) && flags & D.CHILDREN)
      throw virReportError(
        'CONFIG_UNSUPPORTED',
        'qemu',
        'deletion of external disk snapshots with children not supported',
      );
  }
  const doomed: SnapshotMeta[] = [];
  if (withChildren) doomed.push(...list.descendants(name).reverse());
  if (!(flags & D.CHILDREN_ONLY)) doomed.push(top);
  for (const s of doomed) {
    if (!metadataOnly) {
      if (isExternal(s)) await deleteExternal(h, list, s);
      else if (active(h)) await deleteInternal(await h.monitor(), s.name);
      else await qemuImgSnapshot(checkInternalDisks(snapshotDisks(h.config())), '-d', s.name);
    }
    await list.remove(s.name);
  }
}
