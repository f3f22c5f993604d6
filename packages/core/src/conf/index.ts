/** qemu.conf and libvirt's config-file syntax (virConf). */

export type {
  QemuConf,
  QemuConfDefaultsOptions,
  QemuConfField,
  QemuConfKey,
  QemuConfKeyType,
  QemuConfParseOptions,
} from './qemu-conf.js';
export {
  CGROUP_CONTROLLERS,
  defaultQemuConf,
  loadQemuConf,
  parseQemuConf,
  QEMU_CONF_KEYS,
  QEMU_NAMESPACES,
  qemuConfFromVirConf,
  unknownQemuConfKeys,
} from './qemu-conf.js';
export type {
  VirConfComment,
  VirConfEntry,
  VirConfParseOptions,
  VirConfSetting,
  VirConfType,
  VirConfValue,
} from './vir-conf.js';
export {
  formatVirConfValue,
  MAX_CONFIG_FILE_SIZE,
  MAX_LIST_DEPTH,
  MEMORY_CONF_NAME,
  parseVirConf,
  readVirConfFile,
  serializeVirConf,
  VirConf,
  virConfGet,
} from './vir-conf.js';
