/**
 * Which cgroup backend holds the `devices` controller, chosen as libvirt 9.0 chooses
 * (vircgroup.c tries v2 before v1; vircgroupv2.c:322 gives v2 `devices` when a cgroup2 hierarchy
 * is mounted and BPF_PROG_QUERY(BPF_CGROUP_DEVICE) works on it). On a hybrid host that is v2,
 * even though v1 also has a `devices` hierarchy. `backend: 'v1' | 'v2'` forces one.
 */
import type { HostPort } from '@qvirt/core';
import type { BpfOps } from './bpf.js';
import type { CgroupBackendName } from './devices-cgroup.js';

export interface BackendChoice {
  backend: CgroupBackendName;
  /** The hierarchy's mount point: `/sys/fs/cgroup/unified` (v2) or `/sys/fs/cgroup/devices` (v1). */
  mount: string;
}

export type BackendPreference = CgroupBackendName | 'auto';

/** virCgroupV2DevicesAvailable. */
export function v2DevicesAvailable(mount: string, bpf: () => BpfOps): boolean {
  try {
    bpf().queryDevicePrograms(mount);
    return true;
  } catch {
    return false;
  }
}

/** The backend for `devices`, or undefined when the host has none usable. */
export async function chooseBackend(
  host: HostPort,
  bpf: () => BpfOps,
  prefer: BackendPreference = 'auto',
): Promise<BackendChoice | undefined> {
  const mounts = await host.cgroupMounts();
  const v2 = mounts.find((m) => m.type === 'cgroup2');
  const v1 = mounts.find((m) => m.type === 'cgroup' && m.controllers.includes('devices'));
  if (prefer !== 'v1' && v2 && v2DevicesAvailable(v2.path, bpf)) return { backend: 'v2', mount: v2.path };
  if (prefer !== 'v2' && v1) return { backend: 'v1', mount: v1.path };
  return undefined;
}
