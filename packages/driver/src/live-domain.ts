/**
 * What the driver lends the modules that change or read a domain (vcpus.ts, resources.ts,
 * stats.ts; libvirt's qemu_hotplug.c-like split of qemu_driver.c): the domain object as the job
 * holding it sees it, and the few driver services they need. The driver builds one per job, so
 * nothing here outlives the job that holds the domain.
 */
import { type DomainDef, VirError } from '@qvirt/core';
import type { DomainEvent } from '@qvirt/core/hypervisor';
import { VIR_DOMAIN_AFFECT } from '@qvirt/core/hypervisor';
import type { StatsMonitor } from './domain-stats.js';
import type { DomainState, StateReason } from './state.js';

export interface LiveDomain {
  readonly name: string;
  readonly uuid: string;
  readonly id: number;
  readonly state: DomainState;
  readonly reason: StateReason;
  readonly active: boolean;
  readonly persistent: boolean;
  /** The persistent definition (the one saved while running, when there is one). */
  readonly config: DomainDef;
  /** The running definition. */
  readonly live?: DomainDef;
  /** QEMU's pid while running. */
  readonly pid?: number;
  /** The QMP connection of a running domain. */
  monitor(): Promise<StatsMonitor>;
  /** Stores `def` as the persistent definition (atomically, as define does). */
  saveConfig(def: DomainDef): Promise<void>;
  /** Replaces the running definition and saves the status file. */
  saveLive(def: DomainDef): Promise<void>;
  /** Queues an event of this domain (the `dom` field is filled in). */
  emit(event: Omit<DomainEvent, 'dom'>): void;
}

export const operationInvalid = (msg: string) =>
  new VirError('OPERATION_INVALID', 'qemu', `Requested operation is not valid: ${msg}`);

/**
 * virDomainObjGetDefs: which definitions VIR_DOMAIN_AFFECT_* `flags` select (CURRENT: the live
 * one of a running domain, the config of a stopped one), with libvirt's refusals.
 */
export function affectedDefs(
  dom: LiveDomain,
  flags: number,
): { live?: DomainDef; config?: DomainDef; liveFlag: boolean; configFlag: boolean } {
  const A = VIR_DOMAIN_AFFECT;
  let live = (flags & A.LIVE) !== 0;
  let config = (flags & A.CONFIG) !== 0;
  if (!live && !config) {
    if (dom.active) live = true;
    else config = true;
  }
  if (live && !dom.active) throw operationInvalid('domain is not running');
  if (config && !dom.persistent)
    throw operationInvalid('transient domains do not have any persistent config');
  return {
    ...(live ? { live: dom.live ?? dom.config } : {}),
    ...(config ? { config: dom.config } : {}),
    liveFlag: live,
    configFlag: config,
  };
}

/** A deep copy of a definition, to change without touching the one in use until it is saved. */
export function copyDef(def: DomainDef): DomainDef {
  return structuredClone(def);
}
