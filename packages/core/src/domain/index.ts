// The families' model types (DiskDef, CpuDef, GraphicsOf<…>, …); their schemas stay internal.
export type * from './chardev.js';
export { CHARDEV_TYPES } from './chardev.js';
export * from './common.js';
export type * from './devices-misc.js';
export * from './domain-schema.js';
export * from './domain-xml.js';
export type {
  BlkioTune,
  ClockDef,
  CpuDef,
  CpuTune,
  DeviceSeclabelDef,
  FeaturesDef,
  HypervFeatures,
  IdmapDef,
  IOThreadIds,
  KeywrapDef,
  LaunchSecurityDef,
  LoaderDef,
  MemoryBacking,
  MemTune,
  NumaDef,
  NumaTune,
  OsDef,
  OsNvramDef,
  PerfDef,
  PmDef,
  QemuCapabilities,
  QemuCommandline,
  QemuDeprecation,
  QemuOverride,
  ResourceDef,
  ScaledSize,
  SeclabelDef,
  SysinfoDef,
  TimerDef,
  VcpuDef,
  VcpusDef,
} from './general.js';
export { PERF_EVENTS } from './general.js';
export type * from './net-hostdev.js';
export type * from './storage.js';
export { STORAGE_FORMATS } from './storage.js';
