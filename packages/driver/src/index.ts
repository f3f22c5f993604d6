import './builtin-security.js';

export { type AtomicWriteOptions, isTempFile, removeStaleTempFiles, writeFileAtomic } from './atomic-file.js';
export { DEFAULT_GREETING, greetingBootSector } from './boot-sector.js';
export { ChrdevSessions } from './console.js';
export {
  type BlockStats,
  type BlockStatsParam,
  blockStatsParams,
  findDisk,
  type MemoryStat,
  MemoryStatTag,
} from './domain-stats.js';
export * from './driver.js';
export { INJECTED_FAULT, setHotplugFault } from './hotplug.js';
export * from './instance.js';
export { JobQueue } from './job-queue.js';
export { type LaunchHook, type LaunchSpec, launch } from './launch.js';
export { findInterface, interfaceStats } from './net-interfaces.js';
export type { InterfaceStats } from './net-tap.js';
export { netDevExists } from './net-tap.js';
export {
  QmpClient,
  QmpCommandError,
  type QmpConnectOptions,
  type QmpEvent,
  type QmpGreeting,
} from './qmp.js';
export { countsIn, DEFAULT_COUNT_PERIOD, ECHO_ONLY, echoOf, serialGuestBootSector } from './serial-guest.js';
export * from './state.js';
export { type DomainStatus, formatStatus, parseStatus } from './status.js';
