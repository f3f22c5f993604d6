/**
 * One connection's event callbacks, with libvirt's rules (src/conf/object_event.c,
 * virObjectEventCallbackListAddID / RemoveID): ids unique per driver, the same callback for the
 * same event and object refused, deletion of an unknown id refused. The in-process drivers and
 * qvirtd (one list per client and object kind) use it, so both answer alike.
 *
 * libvirt keeps one such list for every kind of object that has events (domains, storage pools,
 * secrets, …); {@link ObjectEventCallbacks} is that list, told the kind's API name, its last event
 * id and how an event names its object. {@link DomainEventCallbacks} is the domain's.
 */
import { VirError, virReportError } from '../errors.js';
import { VIR_DOMAIN_EVENT_ID_LAST } from './constants.js';
import type { Domain, DomainEvent } from './contract.js';

/** An event of some object: its id, and the object's UUID found by the kind's `uuidOf`. */
export interface ObjectEventKind<E> {
  /** The registering API (virConnectDomainEventRegisterAny), named in libvirt's errors. */
  api: string;
  /** VIR_*_EVENT_ID_LAST: ids at or above it are refused. */
  idLast: number;
  /** libvirt's text for an id at or above idLast (the domain's names no function, the others do). */
  tooLarge?: string;
  /** The UUID of the object an event is about. */
  uuidOf(event: E): string;
}

interface Registration<E> {
  uuid: string | null;
  eventID: number;
  callback: (event: E) => void;
}

/** Callback ids come from one counter per process, as libvirt's come from one per driver. */
let nextCallbackID = 1;

export class ObjectEventCallbacks<E extends { eventID: number }> {
  readonly #list = new Map<number, Registration<E>>();

  constructor(readonly kind: ObjectEventKind<E>) {}

  get size(): number {
    return this.#list.size;
  }

  /** The public API's check of an event id (the remote client makes it before asking the daemon). */
  checkEventID(eventID: number): void {
    const { api, idLast } = this.kind;
    // virReportInvalidArg: libvirt's text as it is, without "invalid argument: "
    if (!Number.isInteger(eventID) || eventID < 0) {
      throw new VirError('INVALID_ARG', 'none', `eventID in ${api} must be zero or greater`);
    }
    if (eventID >= idLast) {
      throw new VirError(
        'INVALID_ARG',
        'none',
        this.kind.tooLarge ?? `eventID in ${api} must be less than ${idLast}`,
      );
    }
  }

  /** virConnect*EventRegisterAny's checks and bookkeeping; answers the callback id. */
  register(obj: { uuid: string } | null, eventID: number, callback: (event: E) => void): number {
    this.checkEventID(eventID);
    const uuid = obj?.uuid ?? null;
    for (const r of this.#list.values()) {
      if (r.eventID === eventID && r.uuid === uuid && r.callback === callback) {
        throw virReportError('INVALID_ARG', 'none', 'event callback already tracked');
      }
    }
    const id = nextCallbackID++;
    this.#list.set(id, { uuid, eventID, callback });
    return id;
  }

  /** virConnect*EventDeregisterAny. */
  deregister(callbackID: number): void {
    if (!this.#list.delete(callbackID)) {
      throw virReportError('INVALID_ARG', 'none', `could not find event callback ${callbackID} for deletion`);
    }
  }

  has(callbackID: number): boolean {
    return this.#list.has(callbackID);
  }

  clear(): void {
    this.#list.clear();
  }

  /** Calls every callback registered for this event's id and object; a callback's failure is its own. */
  dispatch(event: E): void {
    const uuid = this.kind.uuidOf(event);
    for (const r of [...this.#list.values()]) {
      if (r.eventID !== event.eventID) continue;
      if (r.uuid !== null && r.uuid !== uuid) continue;
      try {
        r.callback(event);
      } catch {
        // as libvirt: a callback cannot break delivery to the others
      }
    }
  }

  /** The ids registered for an event of an object (qvirtd sends one message per id). */
  matching(eventID: number, uuid: string): number[] {
    const ids: number[] = [];
    for (const [id, r] of this.#list) {
      if (r.eventID === eventID && (r.uuid === null || r.uuid === uuid)) ids.push(id);
    }
    return ids;
  }
}

/** The domain's event callbacks (virConnectDomainEventRegisterAny). */
export class DomainEventCallbacks extends ObjectEventCallbacks<DomainEvent> {
  constructor() {
    super({
      api: 'virConnectDomainEventRegisterAny',
      idLast: VIR_DOMAIN_EVENT_ID_LAST,
      tooLarge: `eventID must be less than ${VIR_DOMAIN_EVENT_ID_LAST}`,
      uuidOf: (e) => e.dom.uuid,
    });
  }

  override register(dom: Domain | null, eventID: number, callback: (event: DomainEvent) => void): number {
    return super.register(dom, eventID, callback);
  }
}
