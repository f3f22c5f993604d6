/**
 * libvirt-qemu's monitor access: arbitrary QMP/HMP commands (qemuMonitorArbitraryCommand) and
 * the raw monitor events of virConnectDomainQemuMonitorEventRegister
 * (virDomainQemuMonitorEventStateRegisterID's filtering by domain and event name, plain,
 * case-blind or a regular expression).
 */
import { VirError, virReportError } from '@qvirt/core';
import type { Domain, QemuMonitorEvent, QemuMonitorEventCallback } from '@qvirt/core/hypervisor';
import type { QmpClient, QmpEvent } from './qmp.js';

/** VIR_CONNECT_DOMAIN_QEMU_MONITOR_EVENT_REGISTER_* */
export const QEMU_MONITOR_EVENT_REGISTER = { REGEX: 1, NOCASE: 2 } as const;

/**
 * qemuMonitorJSONArbitraryCommand / qemuMonitorJSONHumanCommand: the reply as JSON text, or the
 * HMP command's output.
 */
export async function monitorCommandText(qmp: QmpClient, cmd: string, hmp: boolean): Promise<string> {
  if (hmp) {
    const reply = await qmp.executeRaw({
      execute: 'human-monitor-command',
      arguments: { 'command-line': cmd },
    });
    const error = reply.error as { class?: string; desc?: string } | undefined;
    if (error?.class === 'CommandNotFound')
      throw virReportError(
        'OPERATION_UNSUPPORTED',
        'qemu',
        `Human monitor command is not available to run ${cmd}`,
      );
    if (error)
      throw virReportError(
        'INTERNAL_ERROR',
        'qemu',
        `unable to execute QEMU command 'human-monitor-command': ${error.desc ?? error.class ?? 'unknown QEMU command error'}`,
      );
    return typeof reply.return === 'string' ? reply.return : '';
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(cmd);
  } catch (err) {
    throw virReportError('INTERNAL_ERROR', 'qemu', `cannot parse json ${cmd}: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw virReportError('INTERNAL_ERROR', 'qemu', `cannot parse json ${cmd}: not an object`);
  return JSON.stringify(await qmp.executeRaw(parsed as Record<string, unknown>));
}

interface Registration {
  id: number;
  uuid: string | null;
  event: string | null;
  regex?: RegExp;
  nocase: boolean;
  callback: QemuMonitorEventCallback;
}

export class QemuMonitorEvents {
  #next = 1;
  readonly #regs = new Map<number, Registration>();

  /** virDomainQemuMonitorEventStateRegisterID. */
  register(
    dom: Domain | null,
    event: string | null,
    callback: QemuMonitorEventCallback,
    flags: number,
  ): number {
    const R = QEMU_MONITOR_EVENT_REGISTER;
    if (flags & ~(R.REGEX | R.NOCASE))
      throw virReportError(
        'INVALID_ARG',
        'qemu',
        `unsupported flags (0x${(flags & ~3).toString(16)}) in function virDomainQemuMonitorEventStateRegisterID`,
      );
    let regex: RegExp | undefined;
    if (flags & R.REGEX && event) {
      try {
        regex = new RegExp(event, flags & R.NOCASE ? 'i' : '');
      } catch (err) {
        throw virReportError(
          'INVALID_ARG',
          'qemu',
          `failed to compile regex '${event}': ${(err as Error).message}`,
        );
      }
    }
    const id = this.#next++;
    this.#regs.set(id, {
      id,
      uuid: dom?.uuid ?? null,
      event,
      ...(regex ? { regex } : {}),
      nocase: (flags & R.NOCASE) !== 0,
      callback,
    });
    return id;
  }

  deregister(id: number): void {
    if (!this.#regs.delete(id))
      throw new VirError(
        'INVALID_ARG',
        'qemu',
        `invalid argument: could not find event callback ${id} for deletion`,
      );
  }

  /** One QEMU event of `dom`, to the callbacks that match. */
  dispatch(dom: Domain, ev: QmpEvent): void {
    if (this.#regs.size === 0) return;
    const e: QemuMonitorEvent = {
      dom,
      event: ev.event,
      seconds: ev.timestamp?.seconds ?? 0,
      micros: ev.timestamp?.microseconds ?? 0,
      details: ev.data === undefined ? null : JSON.stringify(ev.data),
    };
    for (const r of this.#regs.values()) {
      if (matches(r, e)) safely(r.callback, e);
    }
  }
}

/** Whether a registration takes an event (the domain, then the name as its flags say). */
export function matches(
  r: { uuid: string | null; event: string | null; regex?: RegExp; nocase: boolean },
  e: QemuMonitorEvent,
): boolean {
  if (r.uuid && r.uuid !== e.dom.uuid) return false;
  if (!r.event) return true;
  if (r.regex) return r.regex.test(e.event);
  return r.nocase ? r.event.toLowerCase() === e.event.toLowerCase() : r.event === e.event;
}

function safely(cb: QemuMonitorEventCallback, e: QemuMonitorEvent): void {
  try {
    cb(e);
  } catch {
    // a callback's failure is its own
  }
}
