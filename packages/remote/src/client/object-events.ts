/**
 * The client side of the object event families (../remote/object-events.ts): one daemon
 * registration per callback, as libvirt's remote driver registers secret events; incoming event
 * messages carry the daemon's callback id and go to that callback.
 */

import { virReportError } from '@qvirt/core/errors';
import type { SecretEvent } from '@qvirt/core/hypervisor';
import { SecretEventCallbacks, VIR_SECRET_EVENT_ID } from '@qvirt/core/hypervisor';
import { codecFor } from '../protocol/codec.js';
import { procedureByName } from '../protocol/facts.js';
import type { XdrReader, XdrWriter } from '../xdr/xdr.js';

export interface ClientEventFamily<E> {
  /** The public API's checks made before the call (libvirt-secret.c's eventID range). */
  checkEventID(eventID: number): void;
  register: string;
  deregister: string;
  /** The register args' field naming the object. */
  objectField: string;
  /** Each message procedure and the event it carries. */
  messages: Record<string, (msg: Record<string, unknown>) => E>;
}

type Call = (proc: number, args?: (w: XdrWriter) => void) => Promise<XdrReader>;

export class ClientObjectEvents<E> {
  readonly #callbacks = new Map<number, (event: E) => void>();
  readonly #byProc = new Map<number, { type: string; toEvent: (msg: Record<string, unknown>) => E }>();

  constructor(
    readonly family: ClientEventFamily<E>,
    private readonly call: Call,
  ) {
    for (const [name, toEvent] of Object.entries(family.messages)) {
      const fact = procedureByName(name);
      this.#byProc.set(fact.number, { type: fact.msg!, toEvent });
    }
  }

  async register(obj: unknown, eventID: number, callback: (event: E) => void): Promise<number> {
    this.family.checkEventID(eventID);
    const fact = procedureByName(this.family.register);
    const r = await this.call(fact.number, (w) =>
      codecFor(fact.args!).encode(w, { eventID, [this.family.objectField]: obj ?? null }),
    );
    const id = (codecFor(fact.ret!).decode(r) as { callbackID: number }).callbackID;
    this.#callbacks.set(id, callback);
    return id;
  }

  async deregister(callbackID: number): Promise<void> {
    // remote_driver.c asks its own list first (virObjectEventStateEventID)
    if (!this.#callbacks.has(callbackID)) {
      throw virReportError('INVALID_ARG', 'remote', `event callback id ${callbackID} not registered`);
    }
    const fact = procedureByName(this.family.deregister);
    await this.call(fact.number, (w) => codecFor(fact.args!).encode(w, { callbackID }));
    this.#callbacks.delete(callbackID);
  }

  /** An event message of this family: delivered, true; another procedure: false. */
  onMessage(proc: number, r: XdrReader): boolean {
    const m = this.#byProc.get(proc);
    if (!m) return false;
    const msg = codecFor(m.type).decode(r) as Record<string, unknown>;
    const cb = this.#callbacks.get(msg.callbackID as number);
    try {
      cb?.(m.toEvent(msg));
    } catch {
      // a callback's failure is its own
    }
    return true;
  }
}

const secretIDs = new SecretEventCallbacks();
export const SECRET_CLIENT_EVENTS: ClientEventFamily<SecretEvent> = {
  checkEventID: (id) => secretIDs.checkEventID(id),
  register: 'REMOTE_PROC_CONNECT_SECRET_EVENT_REGISTER_ANY',
  deregister: 'REMOTE_PROC_CONNECT_SECRET_EVENT_DEREGISTER_ANY',
  objectField: 'secret',
  messages: {
    REMOTE_PROC_SECRET_EVENT_LIFECYCLE: (m) => ({
      eventID: VIR_SECRET_EVENT_ID.LIFECYCLE,
      secret: m.secret as SecretEvent['secret'],
      event: m.event as number,
      detail: m.detail as number,
    }),
    REMOTE_PROC_SECRET_EVENT_VALUE_CHANGED: (m) => ({
      eventID: VIR_SECRET_EVENT_ID.VALUE_CHANGED,
      secret: m.secret as SecretEvent['secret'],
    }),
  },
};
