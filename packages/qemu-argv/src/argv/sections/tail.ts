import { add, type Build } from '../build.js';
import { jsonProps } from '../props.js';
import { unsupported } from './head-util.js';

/** Launch security: the `lsec0` object `-machine confidential-guest-support` names. */
export function launchSecurity(b: Build): void {
  const sec = b.def.launchSecurity;
  if (!sec) return;
  const flags = b.ctx.caps.flags;
  if (sec.type === 'sev') {
    if (!flags.has('sev-guest')) {
      throw unsupported('SEV launch security is not supported with this QEMU binary');
    }
    add(
      b,
      '-object',
      jsonProps({
        'qom-type': 'sev-guest',
        id: 'lsec0',
        cbitpos: sec.cbitpos ?? 0,
        'reduced-phys-bits': sec.reducedPhysBits ?? 0,
        policy: sec.policy ?? 0,
        'dh-cert-file': sec.dhCert ? `${b.libDir}/dh_cert.base64` : undefined,
        'session-file': sec.session ? `${b.libDir}/session.base64` : undefined,
        'kernel-hashes': sec.kernelHashes === undefined ? undefined : sec.kernelHashes === 'yes',
      }),
    );
  } else if (sec.type === 's390-pv') {
    if (!flags.has('confidential-guest-support') || !flags.has('s390-pv-guest')) {
      throw unsupported('S390 PV launch security is not supported with this QEMU binary');
    }
    add(b, '-object', jsonProps({ 'qom-type': 's390-pv-guest', id: 'lsec0' }));
  }
}

/** `<qemu:commandline>`: extra arguments appended as given, environment variables added. */
export function qemuCommandline(b: Build): void {
  const ns = b.def.qemuCommandline;
  if (!ns) return;
  for (const arg of ns.arg ?? []) add(b, arg.value ?? '');
  for (const env of ns.env ?? []) b.env.push([env.name ?? '', env.value ?? '']);
}

/** seccomp sandbox (qemu.conf `seccomp_sandbox`: 0 turns it off, anything else on). */
export function sandbox(b: Build): void {
  if (!b.ctx.caps.flags.has('seccomp-sandbox')) return;
  if (b.ctx.conf.seccompSandbox === 0) {
    add(b, '-sandbox', 'off');
    return;
  }
  add(b, '-sandbox', 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny');
}

/** Timestamps in QEMU's log (qemu.conf `log_timestamp`, on by default). */
export function msg(b: Build): void {
  if (!b.ctx.conf.logTimestamp) return;
  add(b, '-msg', 'timestamp=on');
}
