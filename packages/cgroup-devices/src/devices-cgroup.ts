/**
 * A domain's device cgroup, whichever backend holds the `devices` controller: cgroup v1's
 * `devices.deny`/`devices.allow` files (cgroup-v1.ts) or a cgroup v2 eBPF program with libvirt's
 * map (cgroup-v2.ts). The driver only speaks this interface.
 */
import type { DeviceRule } from './device-rule.js';

export type CgroupBackendName = 'v1' | 'v2';

export interface DevicesCgroup {
  readonly backend: CgroupBackendName;
  /** The cgroup's directory in cgroupfs (what QEMU joins, via the launch spec). */
  readonly dir: string;
  /** mkdir, parents included; an existing group is reused (libvirt does the same). */
  create(): Promise<void>;
  /** virCgroupDenyAllDevices: from now on nothing is allowed. */
  denyAll(): Promise<void>;
  /** virCgroupAllowDevice for each rule (access is added to what the device already has). */
  allow(rules: readonly DeviceRule[]): Promise<void>;
  /** virCgroupDenyDevice for each rule (access is taken away; an empty entry disappears). */
  deny(rules: readonly DeviceRule[]): Promise<void>;
  /** What is allowed now: v1 `devices.list`, v2 the map's entries. */
  list(): Promise<DeviceRule[]>;
  /** Whether any process is still in the group. */
  populated(): Promise<boolean>;
  /** Drop what the backend holds (v2: detach the program, close program and map) and rmdir. */
  remove(): Promise<void>;
  /** Close file descriptors without changing the cgroup (the guest keeps running). */
  release(): void;
  /** v2: the BPF map's id (`bpfmap.py ID`), once there is one. */
  mapId?(): number | undefined;
}
