/**
 * `@qvirt/dac`: the `dac` security driver (libvirt's security_dac.c) as a qvirt plugin.
 *
 *   security_driver = [ "dac" ]   (qemu.conf, explicit mode) or implied when privileged.
 */
import dac from './dac.js';

export type { DacOptions } from './dac.js';
export { DRIVER_NAME } from './dac.js';
export { formatIds, type Ids, parseOwnershipIds } from './ids.js';
export { checkTraversal } from './traverse.js';
export default dac;
