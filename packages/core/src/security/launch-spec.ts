/**
 * The launch spec: everything about how QEMU's process is made, gathered before it is made, so
 * the security drivers (DAC uid/gid, capabilities, SELinux/AppArmor exec labels, cgroups, a
 * private /dev) add to it in `domainSetSecurityChildProcessLabel` rather than reach into the
 * spawn (design.md, "Starting QEMU"). `@qvirt/driver` executes it as a chain of standard tools:
 * `sh -c 'echo $$ > CG/cgroup.procs …; exec [unshare …] setpriv … QEMU …'`.
 */

/** A device node made in the private /dev of QEMU's mount namespace (libvirt's qemu_namespace.c). */
export interface LaunchDevNode {
  /** Absolute path under /dev, e.g. `/dev/kvm`. */
  path: string;
  kind: 'c' | 'b';
  major: number;
  minor: number;
  /** Permission bits, e.g. 0o660. */
  mode: number;
  uid: number;
  gid: number;
}

/** A private /dev for QEMU: a tmpfs holding only these nodes, plus bind mounts of host paths. */
export interface LaunchPrivateDev {
  nodes: LaunchDevNode[];
  /** Host paths bind-mounted at the same place in the new /dev (e.g. `/dev/pts`, `/dev/shm`). */
  binds: string[];
}

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
  /** Supplementary groups (setpriv --groups, or --clear-groups when empty); undefined keeps. */
  groups?: number[];
  /**
   * Capabilities QEMU keeps, lower-case names without `cap_` (`sys_rawio`): the bounding and
   * inheritable sets are cut down to these (setpriv --bounding-set/--inh-caps, and
   * --ambient-caps when QEMU is not root). `[]` clears every set; undefined keeps the caller's.
   */
  keepCaps?: string[];
  /** prctl(PR_SET_NO_NEW_PRIVS) before exec (setpriv --no-new-privs). */
  noNewPrivs?: boolean;
  /** SELinux exec label (setpriv --selinux-label). */
  seLinuxLabel?: string;
  /** AppArmor profile (setpriv --apparmor-profile). */
  appArmorProfile?: string;
  /** cgroup directories the process joins (writes its pid to `cgroup.procs`) before QEMU is exec'd. */
  cgroupPaths: string[];
  /** Run QEMU in its own mount namespace with this private /dev (namespaces = ["mount"]). */
  privateDev?: LaunchPrivateDev;
}

/** A new spec with no ids, labels or cgroups: QEMU runs as the caller. */
export function baseLaunchSpec(
  fields: Pick<LaunchSpec, 'binary' | 'args' | 'env' | 'cwd' | 'logFd'>,
): LaunchSpec {
  return { ...fields, cgroupPaths: [] };
}
