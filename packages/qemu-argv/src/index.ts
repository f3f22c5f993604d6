export { assignAliases } from './argv/aliases.js';
export type { Build, Section } from './argv/build.js';
export * from './argv/command-line.js';
export { buildCommandLine, SECTIONS } from './argv/index.js';
export * from './argv/props.js';
export {
  authUsageType,
  chainImages,
  diskChain,
  ENCRYPTION_USAGE_TYPE,
  isEmptySource,
  type StartSecrets,
} from './argv/storage-blockdev.js';
export * from './caps/host-cpu-migratability.js';
export * from './caps/qemu-caps.js';
export * from './caps/snapshot.js';
export * from './context.js';
export * from './definition-xml.js';
export { bytesToKiB, scaledToBytes } from './domain-util.js';
export * from './import/index.js';
export * from './layout.js';
export { HYPERV_FEATURES, NET_MODELS } from './libvirt-names.js';
export * from './native.js';
export { canonicalizeDomain, type PostParseStep } from './post-parse/index.js';
export * from './prepare/index.js';
