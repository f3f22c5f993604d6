/**
 * How each domain event id travels on the wire (remote_protocol.x): the procedure of its
 * callback form (REMOTE_PROC_DOMAIN_EVENT_CALLBACK_*, one registration per callback id), the
 * legacy form where libvirt has one, and the message's fields. The server (program.ts) encodes
 * with `toCallback`/`toLegacy`, the client (client.ts) decodes with `fromCallback`.
 */
import { type Domain, type DomainEvent, type TypedParam, VIR_DOMAIN_EVENT_ID } from '@qvirt/core/hypervisor';

export interface DomainEventWire {
  eventID: number;
  /** The callback form's procedure name. */
  callback: string;
  toCallback(callbackID: number, e: DomainEvent): unknown;
  /** The decoded callback message: its callback id and the event. */
  fromCallback(msg: Record<string, unknown>): { callbackID: number; event: DomainEvent };
  legacy?: { proc: string; toMsg(e: DomainEvent): unknown };
}

type Msg = Record<string, unknown>;
const ID = VIR_DOMAIN_EVENT_ID;

/** Events whose callback message wraps the legacy message as `msg` (remote_domain_event_callback_*_msg). */
function wrapped(
  eventID: number,
  name: string,
  fields: (e: DomainEvent) => Msg,
  back: (m: Msg) => Partial<DomainEvent>,
  legacy: boolean,
): DomainEventWire {
  return {
    eventID,
    callback: `REMOTE_PROC_DOMAIN_EVENT_CALLBACK_${name}`,
    toCallback: (callbackID, e) => ({ callbackID, msg: { dom: e.dom, ...fields(e) } }),
    fromCallback: (m) => {
      const inner = m.msg as Msg;
      return {
        callbackID: m.callbackID as number,
        event: { eventID, dom: inner.dom as Domain, ...back(inner) },
      };
    },
    ...(legacy
      ? {
          legacy: {
            proc: `REMOTE_PROC_DOMAIN_EVENT_${name}`,
            toMsg: (e: DomainEvent) => ({ dom: e.dom, ...fields(e) }),
          },
        }
      : {}),
  };
}

/** Events added after the callback protocol: one flat message with callbackID first. */
function flat(
  eventID: number,
  name: string,
  fields: (e: DomainEvent) => Msg,
  back: (m: Msg) => Partial<DomainEvent>,
): DomainEventWire {
  return {
    eventID,
    callback: `REMOTE_PROC_DOMAIN_EVENT_CALLBACK_${name}`,
    toCallback: (callbackID, e) => ({ callbackID, dom: e.dom, ...fields(e) }),
    fromCallback: (m) => ({
      callbackID: m.callbackID as number,
      event: { eventID, dom: m.dom as Domain, ...back(m) },
    }),
  };
}

/**
 * PMWAKEUP and PMSUSPEND: the callback message carries a reason (always 0 in libvirt 9.0) beside
 * the legacy message, which is the domain alone.
 */
function pm(eventID: number, name: string): DomainEventWire {
  return {
    eventID,
    callback: `REMOTE_PROC_DOMAIN_EVENT_CALLBACK_${name}`,
    toCallback: (callbackID, e) => ({ callbackID, reason: 0, msg: { dom: e.dom } }),
    fromCallback: (m) => ({
      callbackID: m.callbackID as number,
      event: { eventID, dom: (m.msg as Msg).dom as Domain },
    }),
    legacy: { proc: `REMOTE_PROC_DOMAIN_EVENT_${name}`, toMsg: (e: DomainEvent) => ({ dom: e.dom }) },
  };
}

/**
 * BLOCK_JOB_2 (remote_domain_event_block_job_2_msg): flat with callbackID first, but its procedure
 * has no CALLBACK_ in its name (REMOTE_PROC_DOMAIN_EVENT_BLOCK_JOB_2).
 */
const blockJob2: DomainEventWire = {
  eventID: ID.BLOCK_JOB_2,
  callback: 'REMOTE_PROC_DOMAIN_EVENT_BLOCK_JOB_2',
  toCallback: (callbackID, e) => ({
    callbackID,
    dom: e.dom,
    dst: e.disk,
    type: e.blockJobType,
    status: e.status,
  }),
  fromCallback: (m) => ({
    callbackID: m.callbackID as number,
    event: {
      eventID: ID.BLOCK_JOB_2,
      dom: m.dom as Domain,
      disk: m.dst as string,
      blockJobType: m.type as number,
      status: m.status as number,
    },
  }),
};

export const DOMAIN_EVENT_WIRE: readonly DomainEventWire[] = [
  wrapped(
    ID.BLOCK_JOB,
    'BLOCK_JOB',
    (e) => ({ path: e.disk, type: e.blockJobType, status: e.status }),
    (m) => ({ disk: m.path as string, blockJobType: m.type as number, status: m.status as number }),
    true,
  ),
  blockJob2,
  wrapped(
    ID.LIFECYCLE,
    'LIFECYCLE',
    (e) => ({ event: e.event, detail: e.detail }),
    (m) => ({ event: m.event as number, detail: m.detail as number }),
    true,
  ),
  wrapped(
    ID.REBOOT,
    'REBOOT',
    () => ({}),
    () => ({}),
    true,
  ),
  wrapped(
    ID.BALLOON_CHANGE,
    'BALLOON_CHANGE',
    (e) => ({ actual: e.actual }),
    (m) => ({ actual: m.actual as number }),
    true,
  ),
  wrapped(
    ID.DEVICE_REMOVED,
    'DEVICE_REMOVED',
    (e) => ({ devAlias: e.devAlias }),
    (m) => ({ devAlias: m.devAlias as string }),
    true,
  ),
  pm(ID.PMWAKEUP, 'PMWAKEUP'),
  pm(ID.PMSUSPEND, 'PMSUSPEND'),
  wrapped(
    ID.TRAY_CHANGE,
    'TRAY_CHANGE',
    (e) => ({ devAlias: e.devAlias, reason: e.reason }),
    (m) => ({ devAlias: m.devAlias as string, reason: m.reason as number }),
    true,
  ),
  flat(
    ID.DEVICE_ADDED,
    'DEVICE_ADDED',
    (e) => ({ devAlias: e.devAlias }),
    (m) => ({ devAlias: m.devAlias as string }),
  ),
  flat(
    ID.TUNABLE,
    'TUNABLE',
    (e) => ({ params: e.params ?? [] }),
    (m) => ({ params: m.params as TypedParam[] }),
  ),
  flat(
    ID.AGENT_LIFECYCLE,
    'AGENT_LIFECYCLE',
    (e) => ({ state: e.state, reason: e.reason }),
    (m) => ({ state: m.state as number, reason: m.reason as number }),
  ),
  flat(
    ID.MIGRATION_ITERATION,
    'MIGRATION_ITERATION',
    (e) => ({ iteration: e.iteration }),
    (m) => ({ iteration: m.iteration as number }),
  ),
  flat(
    ID.JOB_COMPLETED,
    'JOB_COMPLETED',
    (e) => ({ params: e.params ?? [] }),
    (m) => ({ params: m.params as TypedParam[] }),
  ),
  flat(
    ID.METADATA_CHANGE,
    'METADATA_CHANGE',
    (e) => ({ type: e.type, nsuri: e.nsuri ?? null }),
    (m) => ({ type: m.type as number, nsuri: (m.nsuri as string | null) ?? null }),
  ),
  // flat, but named without CALLBACK_ (REMOTE_PROC_DOMAIN_EVENT_BLOCK_THRESHOLD), like BLOCK_JOB_2
  {
    ...flat(
      ID.BLOCK_THRESHOLD,
      'BLOCK_THRESHOLD',
      (e) => ({ dev: e.dev, path: e.path ?? null, threshold: e.threshold ?? 0, excess: e.excess ?? 0 }),
      (m) => ({
        dev: m.dev as string,
        path: (m.path as string | null) ?? null,
        threshold: m.threshold as number,
        excess: m.excess as number,
      }),
    ),
    callback: 'REMOTE_PROC_DOMAIN_EVENT_BLOCK_THRESHOLD',
  },
];
