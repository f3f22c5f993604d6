/**
 * @qvirt/cgroup-devices: the `cgroup-devices` security driver (a device cgroup per domain, v1
 * or v2 as libvirt 9.0 chooses) and the mechanics it is made of.
 */
import { cgroupDevicesDriver } from './cgroup-devices-driver.js';

export default cgroupDevicesDriver;
export { type BackendChoice, type BackendPreference, chooseBackend } from './backend-choice.js';
export { type BpfMapInfo, type BpfOps, koffiBpf } from './bpf.js';
export { deviceProgram } from './bpf-program.js';
export {
  type CgroupDevicesDriver,
  type CgroupDevicesOptions,
  cgroupDevicesDriver,
  type DomainDevicesCgroupInfo,
  DRIVER_NAME,
} from './cgroup-devices-driver.js';
export { v1DevicesCgroup } from './cgroup-v1.js';
export { INITIAL_BPF_MAP_SIZE, v2DevicesCgroup } from './cgroup-v2.js';
export * from './device-rule.js';
export type { CgroupBackendName, DevicesCgroup } from './devices-cgroup.js';
export { type AclItem, domainAclItems, resolveItems } from './domain-acl.js';
export { domainCgroupPath, machineName, partitionPath } from './placement.js';
