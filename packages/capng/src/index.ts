/**
 * `@qvirt/capng`: QEMU starts with no capabilities and no_new_privs (`security_driver = [ …,
 * "capng" ]`, or implied for a non-root QEMU in libvirt mode).
 */
import capng from './capng.js';

export type { CapngOptions } from './capng.js';
export { CAPABILITIES, DRIVER_NAME } from './capng.js';
export default capng;
