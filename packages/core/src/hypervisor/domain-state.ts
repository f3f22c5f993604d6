/**
 * libvirt's domain states and reasons, once: the numbers of virDomainState and the
 * virDomain*Reason enums (libvirt-domain.h), and the words virsh prints for them
 * (virshDomainStateToString, virshDomainStateReasonToString). Every package reads these.
 */

/** virDomainState, by number. */
export const DOMAIN_STATES = [
  'nostate',
  'running',
  'blocked',
  'paused',
  'shutdown',
  'shutoff',
  'crashed',
  'pmsuspended',
] as const;

export type DomainStateName = (typeof DOMAIN_STATES)[number];

/** VIR_DOMAIN_NOSTATE … VIR_DOMAIN_PMSUSPENDED. */
export const VIR_DOMAIN_STATE: Readonly<Record<DomainStateName, number>> = Object.freeze(
  Object.fromEntries(DOMAIN_STATES.map((s, i) => [s, i])) as Record<DomainStateName, number>,
);

/** virsh's words for a state (virshDomainStateToString). */
export const STATE_TEXT: Readonly<Record<DomainStateName, string>> = {
  nostate: 'no state',
  running: 'running',
  blocked: 'idle',
  paused: 'paused',
  shutdown: 'in shutdown',
  shutoff: 'shut off',
  crashed: 'crashed',
  pmsuspended: 'pmsuspended',
};

/**
 * The reasons of each state, indexed by libvirt's number (virDomainRunningReason …), in virsh's
 * words (virshDomainStateReasonToString).
 */
export const STATE_REASONS: Readonly<Record<DomainStateName, readonly string[]>> = {
  nostate: ['unknown'],
  running: [
    'unknown',
    'booted',
    'migrated',
    'restored',
    'from snapshot',
    'unpaused',
    'migration canceled',
    'save canceled',
    'event wakeup',
    'crashed',
    'post-copy',
    'post-copy failed',
  ],
  blocked: ['unknown'],
  paused: [
    'unknown',
    'user',
    'migrating',
    'saving',
    'dumping',
    'I/O error',
    'watchdog',
    'from snapshot',
    'shutting down',
    'creating snapshot',
    'starting up',
    'post-copy',
    'post-copy failed',
    'api error',
  ],
  shutdown: ['unknown', 'user'],
  shutoff: [
    'unknown',
    'shutdown',
    'destroyed',
    'crashed',
    'migrated',
    'saved',
    'failed',
    'from snapshot',
    'daemon',
  ],
  crashed: ['unknown', 'panicked'],
  pmsuspended: ['unknown'],
};

/** A state's name from libvirt's number ('nostate' for a number this libvirt does not know). */
export function domainStateName(state: number): DomainStateName {
  return DOMAIN_STATES[state] ?? 'nostate';
}

/** libvirt's reason number for a state and virsh's reason word (0, unknown, when not listed). */
export function domainReasonNumber(state: DomainStateName, reason: string): number {
  const n = STATE_REASONS[state].indexOf(reason);
  return Math.max(n, 0);
}

/** virsh's word for a reason number of a state. */
export function domainReasonText(state: number, reason: number): string {
  return STATE_REASONS[domainStateName(state)][reason] ?? 'unknown';
}

/** virDomainObjIsActive: every state but shut off (and no state) has a QEMU. */
export function isActiveStateName(state: DomainStateName): boolean {
  return state !== 'shutoff' && state !== 'nostate';
}
