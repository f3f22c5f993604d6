/**
 * The `capng` security driver: QEMU's Linux capabilities. libvirt 9.0 clears a non-root QEMU's
 * effective, permitted and inheritable sets in the child with libcap-ng (virSetUIDGIDWithCaps,
 * src/util/virutil.c) and leaves the bounding set inherited. qvirt goes further: a non-root QEMU
 * also gets an empty ambient and bounding set and no_new_privs, so nothing it executes can ever
 * gain a capability back. A root QEMU keeps its capabilities (libvirt's behaviour since 6.0), or
 * only `rootCaps` when given.
 *
 * Nothing is done in this process: the driver writes `keepCaps` and `noNewPrivs` into QEMU's
 * launch spec, which `@qvirt/driver` executes with util-linux `setpriv --inh-caps=-all
 * --ambient-caps=-all --bounding-set=-all --no-new-privs`.
 */
import type { DomainDef, HostPort, LaunchSpec, SecurityDriver, SecurityDriverOptions } from '@qvirt/core';
import { virReportError } from '@qvirt/core';

export const DRIVER_NAME = 'capng';

export interface CapngOptions extends SecurityDriverOptions {
  /**
   * Capabilities a root QEMU keeps, lower-case without `cap_` (`sys_rawio`, `net_admin`).
   * Undefined keeps all of them, as libvirt does; `[]` drops them all.
   */
  rootCaps?: string[];
  /** Set no_new_privs for QEMU (default true). */
  noNewPrivs?: boolean;
}

/** Capability names util-linux setpriv knows (capability.h, Linux 6.x). */
export const CAPABILITIES = [
  'chown',
  'dac_override',
  'dac_read_search',
  'fowner',
  'fsetid',
  'kill',
  'setgid',
  'setuid',
  'setpcap',
  'linux_immutable',
  'net_bind_service',
  'net_broadcast',
  'net_admin',
  'net_raw',
  'ipc_lock',
  'ipc_owner',
  'sys_module',
  'sys_rawio',
  'sys_chroot',
  'sys_ptrace',
  'sys_pacct',
  'sys_admin',
  'sys_boot',
  'sys_nice',
  'sys_resource',
  'sys_time',
  'sys_tty_config',
  'mknod',
  'lease',
  'audit_write',
  'audit_control',
  'setfcap',
  'mac_override',
  'mac_admin',
  'syslog',
  'wake_alarm',
  'block_suspend',
  'audit_read',
  'perfmon',
  'bpf',
  'checkpoint_restore',
] as const;

function normalise(name: string): string {
  const n = name.toLowerCase().replace(/^cap_/, '');
  if (!(CAPABILITIES as readonly string[]).includes(n)) {
    throw virReportError('CONFIG_UNSUPPORTED', 'security', `unknown capability '${name}'`);
  }
  return n;
}

/** QEMU's uid: what an earlier driver (dac) put in the spec, else the DAC label, else qemu.conf's. */
function qemuUid(def: DomainDef, spec: LaunchSpec, options: SecurityDriverOptions): number {
  if (spec.uid !== undefined) return spec.uid;
  const label = def.seclabel?.find((s) => s.model === 'dac')?.label;
  const m = label ? /^\+(\d+):/.exec(label) : null;
  return m ? Number(m[1]) : options.user;
}

export default function capng(options: CapngOptions, _host: HostPort): SecurityDriver {
  const rootCaps = options.rootCaps?.map(normalise);
  const noNewPrivs = options.noNewPrivs ?? true;
  return {
    name: DRIVER_NAME,
    probe: () => 'enable',
    getModel: () => DRIVER_NAME,
    getDOI: () => '0',

    async domainSetSecurityChildProcessLabel(def, spec) {
      if (qemuUid(def, spec, options) !== 0) spec.keepCaps = [];
      else if (rootCaps !== undefined) spec.keepCaps = [...rootCaps];
      if (noNewPrivs) spec.noNewPrivs = true;
    },
  };
}

Object.defineProperty(capng, 'driverName', { value: DRIVER_NAME });
