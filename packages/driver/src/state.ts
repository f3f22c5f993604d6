/** Domain states and reasons, named as libvirt's virDomainState and virsh print them. */

export type DomainState =
  | 'nostate'
  | 'running'
  | 'blocked'
  | 'paused'
  | 'shutdown'
  | 'shutoff'
  | 'crashed'
  | 'pmsuspended';

/** virsh's words for a state (virshDomainStateToString). */
export const STATE_TEXT: Record<DomainState, string> = {
  nostate: 'no state',
  running: 'running',
  blocked: 'idle',
  paused: 'paused',
  shutdown: 'in shutdown',
  shutoff: 'shut off',
  crashed: 'crashed',
  pmsuspended: 'pmsuspended',
};

/** Reasons, as virsh prints them (virshDomainStateReasonToString), per state. */
export type RunningReason = 'unknown' | 'booted' | 'unpaused' | 'crashed';
export type PausedReason = 'unknown' | 'user' | 'shutting down' | 'starting up' | 'crashed';
export type ShutoffReason = 'unknown' | 'shutdown' | 'destroyed' | 'crashed' | 'failed' | 'daemon';
export type StateReason = RunningReason | PausedReason | ShutoffReason | 'user';

/** libvirt's numeric state (virDomainState), for status files and the wire protocol. */
export const STATE_NUMBER: Record<DomainState, number> = {
  nostate: 0,
  running: 1,
  blocked: 2,
  paused: 3,
  shutdown: 4,
  shutoff: 5,
  crashed: 6,
  pmsuspended: 7,
};

export function isActiveState(state: DomainState): boolean {
  return state !== 'shutoff' && state !== 'nostate';
}
