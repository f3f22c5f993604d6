import type { DomainDef } from '@qvirt/core';
import { describe, expect, it } from 'vitest';
import {
  lifecycleAction,
  panicOutcome,
  poweroffRestarts,
  setupLifecycleActions,
  trayChange,
  VIR_DOMAIN_EVENT_TRAY_CHANGE,
} from './lifecycle-actions.js';

const def = (x: Record<string, unknown>) => ({ name: 'd', ...x }) as unknown as DomainDef;

describe('lifecycle actions', () => {
  it("takes libvirt's defaults: restart on reboot, destroy on power-off and crash", () => {
    expect(lifecycleAction(def({}), 'on_poweroff')).toBe('destroy');
    expect(lifecycleAction(def({}), 'on_reboot')).toBe('restart');
    expect(lifecycleAction(def({}), 'on_crash')).toBe('destroy');
    expect(lifecycleAction(def({ on_crash: 'preserve' }), 'on_crash')).toBe('preserve');
  });

  it('maps <on_crash> to what processGuestPanicEvent does', () => {
    expect(panicOutcome(def({ on_crash: 'destroy' }))).toBe('stop');
    expect(panicOutcome(def({ on_crash: 'coredump-destroy' }))).toBe('stop');
    expect(panicOutcome(def({ on_crash: 'restart' }))).toBe('reboot');
    expect(panicOutcome(def({ on_crash: 'coredump-restart' }))).toBe('reboot');
    expect(panicOutcome(def({ on_crash: 'preserve' }))).toBe('keep');
  });

  it('restarts on power-off only with <on_poweroff>restart', () => {
    expect(poweroffRestarts(def({ on_poweroff: 'restart' }))).toBe(true);
    expect(poweroffRestarts(def({}))).toBe(false);
  });

  it('asks QEMU for reboot=shutdown only with <on_reboot>destroy (qemuProcessSetupLifecycleActions)', async () => {
    const calls: unknown[] = [];
    const qmp = { execute: async (cmd: string, args?: unknown) => void calls.push([cmd, args]) };
    await setupLifecycleActions(def({ on_reboot: 'restart' }), qmp);
    expect(calls).toEqual([]);
    await setupLifecycleActions(def({ on_reboot: 'destroy' }), qmp);
    expect(calls).toEqual([['set-action', { reboot: 'shutdown' }]]);
  });

  it("names a moved tray by its disk's alias, from the qdev id or the QOM path", () => {
    const live = def({
      devices: { disk: [{ alias: { name: 'virtio-disk0' } }, { alias: { name: 'sata0-0-0' } }] },
    });
    expect(trayChange(live, { device: '', id: 'sata0-0-0', 'tray-open': true })).toEqual({
      devAlias: 'sata0-0-0',
      reason: VIR_DOMAIN_EVENT_TRAY_CHANGE.OPEN,
    });
    expect(
      trayChange(live, {
        device: '',
        id: '/machine/peripheral/sata0-0-0/virtio-backend',
        'tray-open': false,
      }),
    ).toEqual({ devAlias: 'sata0-0-0', reason: VIR_DOMAIN_EVENT_TRAY_CHANGE.CLOSE });
    expect(trayChange(live, { device: '', id: 'ide9-9-9', 'tray-open': true })).toBeUndefined();
  });
});
