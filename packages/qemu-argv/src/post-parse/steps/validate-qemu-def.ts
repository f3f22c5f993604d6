/**
 * The parts of qemuValidateDomainDef (qemu_validate.c) about lifecycle actions, clock timers,
 * sysinfo, panic devices and TPMs, and virDomainDefLifecycleActionValidate (domain_validate.c).
 * Messages are libvirt's.
 */
import type { DomainDef } from '@qvirt/core';
import { hasFlag } from '../../caps/qemu-caps.js';
import type { QemuContext } from '../../context.js';
import { isX86, machineOf } from '../../domain-util.js';
import { unsupported } from './validate-util.js';

/**
 * qemuValidateDomainLifecycleAction (qemuValidateLifecycleAction): what the QEMU driver cannot do on
 * poweroff, reboot or crash.
 */
export function checkQemuLifecycle(def: DomainDef): void {
  const poweroff = def.on_poweroff;
  const reboot = def.on_reboot;
  const crash = def.on_crash;
  if (poweroff === 'rename-restart' || reboot === 'rename-restart' || crash === 'rename-restart')
    throw unsupported(
      "qemu driver doesn't support the 'rename-restart' action for 'on_reboot'/'on_poweroff'/'on_crash'",
    );
  if (poweroff === 'preserve' || reboot === 'preserve')
    throw unsupported("qemu driver doesn't support the 'preserve' action for 'on_reboot'/'on_poweroff'");
  if (poweroff === 'restart' && reboot === 'destroy')
    throw unsupported(
      "qemu driver doesn't support 'onReboot' set to 'destroy and 'onPoweroff' set to 'reboot'",
    );
}

/** virDomainDefLifecycleActionValidate (virDomainDefLifecycleActionAllowed): coredump actions are on_crash's. */
export function checkLifecycleAllowed(def: DomainDef): void {
  for (const [event, action] of [
    ['poweroff', def.on_poweroff],
    ['reboot', def.on_reboot],
  ] as const) {
    if (action === 'coredump-destroy' || action === 'coredump-restart')
      throw unsupported(`Lifecycle event '${event}' doesn't support '${action}' action`);
  }
}

const notForGuest = (name: string, def: DomainDef) =>
  unsupported(
    `Configuring the '${name}' timer is not supported for virtType=${def.type} arch=${def.os?.type?.arch ?? 'x86_64'} machine=${machineOf(def)} guests`,
  );

/** qemuValidateDomainDefClockTimers. */
export function checkClockTimers(def: DomainDef, ctx: QemuContext): void {
  for (const t of def.clock?.timer ?? []) {
    switch (t.name) {
      case 'platform':
        throw unsupported("unsupported timer type (name) 'platform'");
      case 'tsc':
      case 'kvmclock':
      case 'hypervclock':
        if (!isX86(def) && t.present === 'yes') throw notForGuest(t.name, def);
        break;
      case 'rtc':
        if (t.track === 'boot') throw unsupported("unsupported rtc timer track 'boot'");
        if (t.tickpolicy === 'merge' || t.tickpolicy === 'discard')
          throw unsupported(`unsupported rtc timer tickpolicy '${t.tickpolicy}'`);
        break;
      case 'pit':
        if (
          t.tickpolicy === 'merge' ||
          (t.tickpolicy === 'catchup' && !hasFlag(ctx.caps, 'kvm-pit-lost-tick-policy'))
        )
          throw unsupported(`unsupported pit tickpolicy '${t.tickpolicy}'`);
        break;
      case 'hpet':
        if (!hasFlag(ctx.caps, 'no-hpet') && t.present === 'yes')
          throw unsupported('hpet timer is not supported');
        break;
      case 'armvtimer': {
        const arch = def.os?.type?.arch;
        const armVirt = (arch === 'aarch64' || arch === 'armv7l') && machineOf(def).startsWith('virt');
        if (def.type !== 'kvm' || !armVirt) throw notForGuest(t.name, def);
        if (t.present === 'no') throw unsupported("The 'armvtimer' timer can't be disabled");
        if (t.tickpolicy === 'catchup' || t.tickpolicy === 'merge')
          throw unsupported(`The 'armvtimer' timer does not support tickpolicy '${t.tickpolicy}'`);
        break;
      }
      default:
        break;
    }
  }
}

/** qemuValidateDomainDefSysinfo: fw_cfg names live under opt/, outside QEMU's and OVMF's. */
export function checkSysinfoFwcfg(def: DomainDef): void {
  for (const s of def.sysinfo ?? []) {
    for (const e of s.type === 'fwcfg' ? (s.entry ?? []) : []) {
      const name = e.name ?? '';
      if (!name.startsWith('opt/')) throw unsupported('Invalid firmware name');
      if (name.startsWith('opt/ovmf/') || name.startsWith('opt/org.qemu/'))
        throw unsupported('That firmware name is reserved');
    }
  }
}

/** qemuValidateDomainDefPanic: which guests have which panic model, and where it may sit. */
export function checkPanics(def: DomainDef, ctx: QemuContext): void {
  const arch = def.os?.type?.arch ?? 'x86_64';
  for (const p of def.devices?.panic ?? []) {
    const addressType = p.address?.type;
    const noAddress = (model: string) => {
      if (addressType !== undefined)
        throw unsupported(`setting the panic device address is not supported for model '${model}'`);
    };
    switch (p.model) {
      case 's390':
        if (!arch.startsWith('s390'))
          throw unsupported("only S390 guests support panic device of model 's390'");
        noAddress('s390');
        break;
      case 'hyperv':
        if (!isX86(def))
          throw unsupported("only i686 and x86_64 guests support panic device of model 'hyperv'");
        noAddress('hyperv');
        break;
      case 'pseries':
        if (!machineOf(def).startsWith('pseries'))
          throw unsupported("only pSeries guests support panic device of model 'pseries'");
        noAddress('pseries');
        break;
      case 'isa':
        if (!hasFlag(ctx.caps, 'pvpanic'))
          throw unsupported('the QEMU binary does not support the ISA panic device');
        if (addressType !== undefined && addressType !== 'isa')
          throw unsupported('panic is supported only with ISA address type');
        break;
      default:
        break;
    }
  }
}

/** qemuValidateDomainDefTPMs: one TPM, plus at most one spapr proxy. */
export function checkTpmCount(def: DomainDef): void {
  let proxy = false;
  let regular = false;
  for (const tpm of def.devices?.tpm ?? []) {
    if (tpm.model === 'spapr-tpm-proxy') {
      if (proxy) throw unsupported('only a single TPM Proxy device is supported');
      proxy = true;
    } else {
      if (regular) throw unsupported('only a single TPM non-proxy device is supported');
      regular = true;
    }
  }
}
