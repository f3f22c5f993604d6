/**
 * The domain's lifecycle actions (<on_poweroff>, <on_reboot>, <on_crash>) as libvirt 9.0 carries
 * them out for QEMU 7.2, and the monitor events that only become domain events through the
 * definition (a tray moved on a disk). The driver's monitor handler asks these what to do; the
 * state changes and their events stay the driver's.
 *
 * QEMU runs with `-no-shutdown` (it pauses instead of exiting when the guest powers off, and a
 * guest panic pauses it too), so libvirt decides: qemuProcessHandleShutdown,
 * qemuProcessShutdownOrReboot, processGuestPanicEvent and qemuProcessSetupLifecycleActions.
 */
import type { DomainDef } from '@qvirt/core';

type Qmp = { execute(cmd: string, args?: Record<string, unknown>): Promise<unknown> };

/**
 * qemuProcessSetupLifecycleActions: with QEMU's `set-action` (7.2 has it), libvirt always starts
 * QEMU with `-no-shutdown` and turns <on_reboot>destroy</on_reboot> into `reboot=shutdown`, so a
 * guest's reboot arrives as a SHUTDOWN (guest, reason guest-reset) and ends the domain.
 */
export async function setupLifecycleActions(def: DomainDef, qmp: Qmp): Promise<void> {
  if (lifecycleAction(def, 'on_reboot') !== 'destroy') return;
  await qmp.execute('set-action', { reboot: 'shutdown' });
}

export type LifecycleAction =
  | 'destroy'
  | 'restart'
  | 'rename-restart'
  | 'preserve'
  | 'coredump-destroy'
  | 'coredump-restart';

/** The definition's action, with libvirt's defaults (virDomainDefLifecycleParse: restart on reboot, destroy otherwise). */
export function lifecycleAction(
  def: DomainDef,
  which: 'on_poweroff' | 'on_reboot' | 'on_crash',
): LifecycleAction {
  const v = (def as Record<string, unknown>)[which];
  const text = typeof v === 'string' ? v : (v as { _text?: string; value?: string } | undefined)?.value;
  if (text) return text as LifecycleAction;
  return which === 'on_reboot' ? 'restart' : 'destroy';
}

/**
 * qemuProcessHandleShutdown / qemuProcessShutdownOrReboot: a guest power-off is a reboot done by
 * libvirt (the fake reboot: `system_reset`, then `cont`) when <on_poweroff> is restart; and then,
 * as for `virsh reboot`, the SHUTDOWN is transient and reported to no one.
 */
export function poweroffRestarts(def: DomainDef): boolean {
  return lifecycleAction(def, 'on_poweroff') === 'restart';
}

/**
 * processGuestPanicEvent's switch on <on_crash>: 'stop' ends the domain (shut off, crashed),
 * 'reboot' is the fake reboot (the guest boots again in the same QEMU, running 'crashed'),
 * 'keep' leaves it crashed for debugging. The coredump actions dump first in libvirt (to
 * auto_dump_path); qvirt has no dump yet, so they act as their second half.
 */
export function panicOutcome(def: DomainDef): 'stop' | 'reboot' | 'keep' {
  switch (lifecycleAction(def, 'on_crash')) {
    case 'destroy':
    case 'coredump-destroy':
      return 'stop';
    case 'restart':
    case 'coredump-restart':
      return 'reboot';
    default:
      return 'keep';
  }
}

/** virConnectDomainEventTrayChangeReason. */
export const VIR_DOMAIN_EVENT_TRAY_CHANGE = { OPEN: 0, CLOSE: 1 } as const;

/**
 * qemuProcessHandleTrayChange: QEMU's DEVICE_TRAY_MOVED names the device by its drive (empty
 * with -blockdev) or by its qdev id or QOM path; the event names the disk by its alias, and only
 * a disk of the definition gets one.
 */
export function trayChange(
  live: DomainDef | undefined,
  data: { device?: string; id?: string; 'tray-open'?: boolean } | undefined,
): { devAlias: string; reason: number } | undefined {
  if (!live || !data) return undefined;
  const names = [data.device, data.id].filter((n): n is string => !!n);
  const disks = (live.devices?.disk ?? []) as Array<{ alias?: { name?: string } }>;
  for (const d of disks) {
    const alias = d.alias?.name;
    if (!alias) continue;
    if (
      names.some(
        (n) => n === alias || n === `drive-${alias}` || n.startsWith(`/machine/peripheral/${alias}/`),
      )
    ) {
      return {
        devAlias: alias,
        reason: data['tray-open'] ? VIR_DOMAIN_EVENT_TRAY_CHANGE.OPEN : VIR_DOMAIN_EVENT_TRAY_CHANGE.CLOSE,
      };
    }
  }
  return undefined;
}
