/**
 * `@qvirt/apparmor-svirt`: the `apparmor` security driver (libvirt's security_apparmor.c) and
 * the profile generation of virt-aa-helper, shared by the driver (in-process) and the
 * `virt-aa-helper` binary.
 *
 *   security_driver = [ "apparmor" ]   (qemu.conf), or autoprobed when AppArmor is enabled.
 */
import apparmor from './driver.js';

export { APPARMOR_PARSER, type HelperFs, type HelperIo, PROGNAME, runHelper, USAGE } from './cli.js';
export { BAD_NAME_CHARS, readDefinition, validName } from './definition.js';
export { APPARMOR_PROFILES_PATH, type AppArmorOptions, DRIVER_NAME } from './driver.js';
export { main as helperMain, nodeHelperFs } from './node-io.js';
export {
  ALWAYS_ALLOWED_PREFIXES,
  canonicalise,
  checkPath,
  type HelperMessage,
  type PathFs,
  READONLY_ONLY_PREFIXES,
  RESTRICTED_PREFIXES,
} from './path-policy.js';
export {
  FILES_HEADER,
  filesContent,
  includeLine,
  MAX_FILE_LEN,
  parseUuid,
  profileFromTemplate,
  profileNameOf,
  SYSTEM_APPARMOR_DIR,
  validProfileName,
} from './profile.js';
export {
  AA_PREFIX,
  baseRules,
  generateRules,
  type RulesFs,
  type RulesOptions,
  type RulesResult,
} from './rules.js';

const factory = Object.assign(apparmor, { driverName: 'apparmor' as const });
export default factory;
