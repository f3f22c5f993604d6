import { add, type Build } from '../build.js';

/** Launch security (`<launchSecurity>`: SEV, s390 PV). */
export function launchSecurity(_b: Build): void {}

/** `<qemu:commandline>`: extra arguments and environment, appended as given. */
export function qemuCommandline(_b: Build): void {}

/** seccomp sandbox (qemu.conf `seccomp_sandbox`). */
export function sandbox(b: Build): void {
  if (b.ctx.conf.seccompSandbox !== 0) {
    add(b, '-sandbox', 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny');
  }
}

/** Timestamps in QEMU's log. */
export function msg(b: Build): void {
  add(b, '-msg', 'timestamp=on');
}
