/**
 * Guest power management as libvirt 9.0's QEMU driver does it: virDomainPMSuspendForDuration
 * (qemuDomainPMSuspendForDuration: the guest agent's guest-suspend-ram/disk/hybrid, after QEMU
 * says the machine can wake up) and virDomainPMWakeup (qemuDomainPMWakeup: QMP system_wakeup).
 * The PMSUSPENDED state and its events come from QEMU's SUSPEND and WAKEUP events, which the
 * driver's monitor handler turns into libvirt's (qemuProcessHandlePMSuspend / PMWakeup).
 */
import { type DomainDef, VirError, virCheckFlags } from '@qvirt/core';
import type { GuestAgent } from './guest-agent.js';

/** virNodeSuspendTarget. */
export const VIR_NODE_SUSPEND_TARGET = { MEM: 0, DISK: 1, HYBRID: 2 } as const;

/** qemuAgentSuspendMode: the agent's command for each target. */
const SUSPEND_COMMANDS = ['guest-suspend-ram', 'guest-suspend-disk', 'guest-suspend-hybrid'];

type Qmp = { execute<T = unknown>(cmd: string, args?: Record<string, unknown>): Promise<T> };

/** qemuDomainPMSuspendForDuration's checks of its arguments, before the domain is looked at. */
export function checkSuspendArgs(target: number, duration: number, flags: number): void {
  virCheckFlags(flags, 0, 'qemuDomainPMSuspendForDuration');
  if (duration)
    throw new VirError(
      'ARGUMENT_UNSUPPORTED',
      'qemu',
      'argument unsupported: Duration not supported. Use 0 for now',
    );
  if (!(target in SUSPEND_COMMANDS))
    throw new VirError('INVALID_ARG', 'qemu', `invalid argument: Unknown suspend target: ${target}`);
}

/**
 * qemuDomainPMSuspendForDuration after the agent check: QEMU's wakeup support
 * (qemuDomainQueryWakeupSuspendSupport: query-current-machine), the definition's `<pm>`, then
 * qemuDomainPMSuspendAgent, which returns once QEMU reports the guest suspended (or the agent
 * answers, for a target that does not suspend QEMU).
 */
export async function pmSuspend(qmp: Qmp, agent: GuestAgent, def: DomainDef, target: number): Promise<void> {
  const machine = await qmp.execute<{ 'wakeup-suspend-support'?: boolean }>('query-current-machine');
  if (!machine['wakeup-suspend-support'])
    throw new VirError(
      'OPERATION_UNSUPPORTED',
      'qemu',
      'Operation not supported: Domain does not have suspend support',
    );
  const pm = (def as { pm?: Record<string, { enabled?: string } | undefined> }).pm;
  const s3 = pm?.['suspend-to-mem']?.enabled;
  const s4 = pm?.['suspend-to-disk']?.enabled;
  const T = VIR_NODE_SUSPEND_TARGET;
  if (s3 === 'no' && (target === T.MEM || target === T.HYBRID))
    throw new VirError('INTERNAL_ERROR', 'qemu', 'internal error: S3 state is disabled for this domain');
  if (s4 === 'no' && target === T.DISK)
    throw new VirError('INTERNAL_ERROR', 'qemu', 'internal error: S4 state is disabled for this domain');
  // qemuAgentSuspend: the guest suspends without answering; QEMU's SUSPEND ends the wait
  await agent.command({ execute: SUSPEND_COMMANDS[target]! }, agent.timeout, { awaitEvent: 'suspend' });
}
