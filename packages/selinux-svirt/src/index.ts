/**
 * `@qvirt/selinux-svirt`: the `selinux` security driver (libvirt's security_selinux.c, sVirt)
 * as a qvirt plugin.
 *
 *   security_driver = [ "selinux" ]   (qemu.conf), or autoprobed first when unset.
 */
import selinux from './selinux.js';

export {
  contextAddRange,
  contextRange,
  contextType,
  formatContext,
  genNewContext,
  parseContext,
  type SELinuxContext,
} from './context.js';
export { type FsTypeOf, mountInfoFsType, SELINUX_XATTR } from './filecon.js';
export {
  type FakeSELinux,
  type FakeSELinuxOptions,
  fakeSELinux,
  hostSELinux,
  type SELinuxKernel,
  selinuxfsMount,
} from './kernel.js';
export { type McsPool, type McsRange, mcsPool, processRange, type RandomInt } from './mcs.js';
export {
  DEFAULT_CONTENT_CONTEXT,
  DEFAULT_DOMAIN_CONTEXT,
  DEFAULT_IMAGE_CONTEXT,
  DEFAULT_TCG_CONTEXT,
  type FileContextLookup,
  fileContextLookup,
  loadVirtContexts,
  policyContextsDir,
  type VirtContexts,
} from './policy.js';
export { DRIVER_NAME, relabelOf, type SELinuxOptions } from './selinux.js';
export default selinux;
