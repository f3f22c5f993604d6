/**
 * The client side of virConnectDomainQemuMonitorEventRegister (libvirt-qemu): one daemon
 * registration per callback in the QEMU program, and its QEMU_PROC_DOMAIN_MONITOR_EVENT messages
 * to that callback.
 */
import { virReportError } from '@qvirt/core/errors';
import type { Domain, QemuMonitorEvent, QemuMonitorEventCallback } from '@qvirt/core/hypervisor';
import { codecFor } from '../protocol/codec.js';
import { procedureByName } from '../protocol/facts.js';
import type { XdrReader, XdrWriter } from '../xdr/xdr.js';

/** One call in the QEMU program. */
type QemuCall = (proc: number, args: (w: XdrWriter) => void) => Promise<XdrReader>;

export class ClientQemuEvents {
  readonly #callbacks = new Map<number, QemuMonitorEventCallback>();
  readonly #eventProc = procedureByName('QEMU_PROC_DOMAIN_MONITOR_EVENT');

  constructor(private readonly call: QemuCall) {}

  async register(
    dom: Domain | null,
    event: string | null,
    callback: QemuMonitorEventCallback,
    flags: number,
  ): Promise<number> {
    const fact = procedureByName('QEMU_PROC_CONNECT_DOMAIN_MONITOR_EVENT_REGISTER');
    const r = await this.call(fact.number, (w) => codecFor(fact.args!).encode(w, { dom, event, flags }));
    const id = (codecFor(fact.ret!).decode(r) as { callbackID: number }).callbackID;
    this.#callbacks.set(id, callback);
    return id;
  }

  async deregister(callbackID: number): Promise<void> {
    if (!this.#callbacks.has(callbackID))
      throw virReportError('INVALID_ARG', 'remote', `event callback id ${callbackID} not registered`);
    const fact = procedureByName('QEMU_PROC_CONNECT_DOMAIN_MONITOR_EVENT_DEREGISTER');
    await this.call(fact.number, (w) => codecFor(fact.args!).encode(w, { callbackID }));
    this.#callbacks.delete(callbackID);
  }

  /** A message of the QEMU program. */
  onMessage(proc: number, r: XdrReader): void {
    if (proc !== this.#eventProc.number) return;
    try {
      const m = codecFor(this.#eventProc.msg!).decode(r) as QemuMonitorEvent & { callbackID: number };
      const { callbackID, ...event } = m;
      this.#callbacks.get(callbackID)?.(event);
    } catch {
      // an event we cannot decode is dropped, as libvirt's client does
    }
  }
}
