/**
 * The launch spec: everything about how QEMU's process is made, gathered before it is made, so
 * later layers (DAC uid/gid, capabilities, SELinux/AppArmor exec labels, cgroups) add to it
 * rather than reach into the spawn (design.md, "Starting QEMU"). Today the spec runs QEMU as the
 * calling user; `uid`, `gid`, `cgroupPaths` and the label fields are carried for the security
 * drivers and the setpriv/cgroup launch chain that come later, and a spec that asks for them is
 * refused instead of being silently ignored.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { VirError } from '@qvirt/core';

export interface LaunchSpec {
  binary: string;
  args: string[];
  /** The complete environment of QEMU (nothing inherited). */
  env: Array<[string, string]>;
  cwd: string;
  /** File descriptor QEMU's stdout and stderr go to (the domain log). */
  logFd: number;
  /** Drop to these ids before exec (setpriv --reuid/--regid); undefined keeps the caller's. */
  uid?: number;
  gid?: number;
  groups?: number[];
  /** Capabilities to keep; undefined keeps the caller's. */
  keepCaps?: string[];
  noNewPrivs?: boolean;
  seLinuxLabel?: string;
  appArmorProfile?: string;
  /** cgroup directories the process joins before QEMU is exec'd. */
  cgroupPaths: string[];
}

/** A hook that edits the spec before launch (security drivers' SetChildProcessLabel, cgroups). */
export type LaunchHook = (spec: LaunchSpec) => void | Promise<void>;

export function launch(spec: LaunchSpec): ChildProcess {
  const needsChain =
    spec.uid !== undefined ||
    spec.gid !== undefined ||
    spec.groups !== undefined ||
    spec.keepCaps !== undefined ||
    spec.noNewPrivs ||
    spec.seLinuxLabel !== undefined ||
    spec.appArmorProfile !== undefined ||
    spec.cgroupPaths.length > 0;
  if (needsChain) {
    throw new VirError(
      'NO_SUPPORT',
      'qemu',
      'this function is not supported by the connection driver: launching QEMU with other ids, labels or cgroups',
    );
  }
  return spawn(spec.binary, spec.args, {
    cwd: spec.cwd,
    env: Object.fromEntries(spec.env),
    // Its own session: QEMU outlives the process that started it (a qvirsh run, an embed user).
    detached: true,
    stdio: ['ignore', spec.logFd, spec.logFd],
  });
}
