/**
 * Domain states and reasons as the driver keeps them: virsh's words, with libvirt's numbers from
 * @qvirt/core's one table (domain-state.ts).
 */
import {
  type DomainStateName,
  isActiveStateName,
  STATE_TEXT,
  VIR_DOMAIN_STATE,
} from '@qvirt/core/hypervisor';

export type DomainState = DomainStateName;

export { STATE_TEXT };

/** Reasons, as virsh prints them (virshDomainStateReasonToString), per state. */
export type RunningReason =
  | 'unknown'
  | 'booted'
  | 'unpaused'
  | 'crashed'
  | 'restored'
  | 'from snapshot'
  | 'save canceled'
  | 'event wakeup';
export type PausedReason =
  | 'unknown'
  | 'user'
  | 'shutting down'
  | 'starting up'
  | 'crashed'
  | 'saving'
  | 'dumping'
  | 'from snapshot';
export type ShutoffReason =
  | 'unknown'
  | 'shutdown'
  | 'destroyed'
  | 'crashed'
  | 'failed'
  | 'daemon'
  | 'saved'
  | 'from snapshot';
export type StateReason = RunningReason | PausedReason | ShutoffReason | 'user';

/** libvirt's numeric state (virDomainState), for status files and the wire protocol. */
export const STATE_NUMBER = VIR_DOMAIN_STATE;

export const isActiveState = isActiveStateName;
