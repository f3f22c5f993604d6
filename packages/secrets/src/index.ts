export { type SecretDirs, type SecretDirsEnv, secretDirs } from './dirs.js';
export { SecretsDriver } from './driver.js';
export {
  formatSecretXML,
  parseSecretUuid,
  parseSecretXML,
  type SecretDef,
  secretUsageTypeFromString,
  secretUsageTypeToString,
} from './secret-xml.js';
export { KEY_FILE, LIBVIRT_VALUE_SUFFIX, VALUE_SUFFIX, ValueStore } from './value-store.js';
