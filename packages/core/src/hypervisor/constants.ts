/**
 * libvirt's public flags and enums the hypervisor contract uses, with libvirt's names and numbers
 * (include/libvirt/libvirt-domain.h, libvirt-host.h, libvirt_internal.h).
 */

/** virDomainXMLFlags. */
export const VIR_DOMAIN_XML = {
  SECURE: 1 << 0,
  INACTIVE: 1 << 1,
  UPDATE_CPU: 1 << 2,
  MIGRATABLE: 1 << 3,
} as const;

/** virConnectListAllDomainsFlags. */
export const VIR_CONNECT_LIST_DOMAINS = {
  ACTIVE: 1 << 0,
  INACTIVE: 1 << 1,
  PERSISTENT: 1 << 2,
  TRANSIENT: 1 << 3,
  RUNNING: 1 << 4,
  PAUSED: 1 << 5,
  SHUTOFF: 1 << 6,
  OTHER: 1 << 7,
  MANAGEDSAVE: 1 << 8,
  NO_MANAGEDSAVE: 1 << 9,
  AUTOSTART: 1 << 10,
  NO_AUTOSTART: 1 << 11,
  HAS_SNAPSHOT: 1 << 12,
  NO_SNAPSHOT: 1 << 13,
  HAS_CHECKPOINT: 1 << 14,
  NO_CHECKPOINT: 1 << 15,
} as const;

/** virDomainCreateFlags. */
export const VIR_DOMAIN_START = {
  PAUSED: 1 << 0,
  AUTODESTROY: 1 << 1,
  BYPASS_CACHE: 1 << 2,
  FORCE_BOOT: 1 << 3,
  VALIDATE: 1 << 4,
  RESET_NVRAM: 1 << 5,
} as const;

/** virDomainDefineFlags. */
export const VIR_DOMAIN_DEFINE = { VALIDATE: 1 << 0 } as const;

/** virDomainUndefineFlagsValues. */
export const VIR_DOMAIN_UNDEFINE = {
  MANAGED_SAVE: 1 << 0,
  SNAPSHOTS_METADATA: 1 << 1,
  NVRAM: 1 << 2,
  KEEP_NVRAM: 1 << 3,
  CHECKPOINTS_METADATA: 1 << 4,
  TPM: 1 << 5,
  KEEP_TPM: 1 << 6,
} as const;

/** virDomainConsoleFlags. */
export const VIR_DOMAIN_CONSOLE = { FORCE: 1 << 0, SAFE: 1 << 1 } as const;

/** virDomainChannelFlags. */
export const VIR_DOMAIN_CHANNEL = { FORCE: 1 << 0 } as const;

/** virDomainSaveRestoreFlags. */
export const VIR_DOMAIN_SAVE = {
  BYPASS_CACHE: 1 << 0,
  RUNNING: 1 << 1,
  PAUSED: 1 << 2,
  RESET_NVRAM: 1 << 3,
} as const;

/** virDomainCoreDumpFlags. */
export const VIR_DUMP = {
  CRASH: 1 << 0,
  LIVE: 1 << 1,
  BYPASS_CACHE: 1 << 2,
  RESET: 1 << 3,
  MEMORY_ONLY: 1 << 4,
} as const;

/** virDomainCoreDumpFormat; the names are virsh's `dump --format` words (RAW is "elf"). */
export const VIR_DOMAIN_CORE_DUMP_FORMAT = {
  RAW: 0,
  KDUMP_ZLIB: 1,
  KDUMP_LZO: 2,
  KDUMP_SNAPPY: 3,
  WIN_DMP: 4,
} as const;
export const VIR_DOMAIN_CORE_DUMP_FORMAT_NAMES = [
  'elf',
  'kdump-zlib',
  'kdump-lzo',
  'kdump-snappy',
  'win-dmp',
];

/** virDomainMemoryFlags (virDomainMemoryPeek). */
export const VIR_MEMORY = { VIRTUAL: 1 << 0, PHYSICAL: 1 << 1 } as const;

/** virDomainSaveImageXMLFlags. */
export const VIR_DOMAIN_SAVE_IMAGE_XML = { SECURE: 1 << 0 } as const;

/** virDomainModificationImpact (virDomainGetVcpusFlags and friends). */
export const VIR_DOMAIN_AFFECT = { CURRENT: 0, LIVE: 1 << 0, CONFIG: 1 << 1 } as const;

/** virDomainVcpuFlags beyond the AFFECT bits. */
export const VIR_DOMAIN_VCPU = { MAXIMUM: 1 << 2, GUEST: 1 << 3, HOTPLUGGABLE: 1 << 4 } as const;

/** virDomainMemoryModFlags beyond the AFFECT bits. */
export const VIR_DOMAIN_MEM = { MAXIMUM: 1 << 2 } as const;

/** virDomainStatsTypes: the groups of virConnectGetAllDomainStats. */
export const VIR_DOMAIN_STATS = {
  STATE: 1 << 0,
  CPU_TOTAL: 1 << 1,
  BALLOON: 1 << 2,
  VCPU: 1 << 3,
  INTERFACE: 1 << 4,
  BLOCK: 1 << 5,
  PERF: 1 << 6,
  IOTHREAD: 1 << 7,
  MEMORY: 1 << 8,
  DIRTYRATE: 1 << 9,
  VM: 1 << 10,
} as const;

/** virConnectGetAllDomainStatsFlags. */
export const VIR_CONNECT_GET_ALL_DOMAINS_STATS = {
  ACTIVE: 1 << 0,
  INACTIVE: 1 << 1,
  PERSISTENT: 1 << 2,
  TRANSIENT: 1 << 3,
  RUNNING: 1 << 4,
  PAUSED: 1 << 5,
  SHUTOFF: 1 << 6,
  OTHER: 1 << 7,
  NOWAIT: 1 << 29,
  BACKING: 1 << 30,
  ENFORCE_STATS: 2 ** 31,
} as const;

/** virVcpuState. */
export const VIR_VCPU = { OFFLINE: 0, RUNNING: 1, BLOCKED: 2 } as const;

/** virDomainEventID. */
export const VIR_DOMAIN_EVENT_ID = {
  LIFECYCLE: 0,
  REBOOT: 1,
  RTC_CHANGE: 2,
  WATCHDOG: 3,
  IO_ERROR: 4,
  GRAPHICS: 5,
  IO_ERROR_REASON: 6,
  CONTROL_ERROR: 7,
  BLOCK_JOB: 8,
  DISK_CHANGE: 9,
  TRAY_CHANGE: 10,
  PMWAKEUP: 11,
  PMSUSPEND: 12,
  BALLOON_CHANGE: 13,
  PMSUSPEND_DISK: 14,
  DEVICE_REMOVED: 15,
  BLOCK_JOB_2: 16,
  TUNABLE: 17,
  AGENT_LIFECYCLE: 18,
  DEVICE_ADDED: 19,
  MIGRATION_ITERATION: 20,
  JOB_COMPLETED: 21,
  DEVICE_REMOVAL_FAILED: 22,
  METADATA_CHANGE: 23,
  BLOCK_THRESHOLD: 24,
  MEMORY_FAILURE: 25,
  MEMORY_DEVICE_SIZE_CHANGE: 26,
} as const;

/** VIR_DOMAIN_EVENT_ID_LAST in libvirt 9.0: event ids at or above it are refused. */
export const VIR_DOMAIN_EVENT_ID_LAST = 27;

/** virDomainEventType. */
export const VIR_DOMAIN_EVENT = {
  DEFINED: 0,
  UNDEFINED: 1,
  STARTED: 2,
  SUSPENDED: 3,
  RESUMED: 4,
  STOPPED: 5,
  SHUTDOWN: 6,
  PMSUSPENDED: 7,
  CRASHED: 8,
} as const;

/** The detail enums of each lifecycle event (virDomainEvent*DetailType). */
export const VIR_DOMAIN_EVENT_DETAIL = {
  DEFINED: { ADDED: 0, UPDATED: 1, RENAMED: 2, FROM_SNAPSHOT: 3 },
  UNDEFINED: { REMOVED: 0, RENAMED: 1 },
  STARTED: { BOOTED: 0, MIGRATED: 1, RESTORED: 2, FROM_SNAPSHOT: 3, WAKEUP: 4 },
  SUSPENDED: {
    PAUSED: 0,
    MIGRATED: 1,
    IOERROR: 2,
    WATCHDOG: 3,
    RESTORED: 4,
    FROM_SNAPSHOT: 5,
    API_ERROR: 6,
    POSTCOPY: 7,
    POSTCOPY_FAILED: 8,
  },
  RESUMED: { UNPAUSED: 0, MIGRATED: 1, FROM_SNAPSHOT: 2, POSTCOPY: 3, POSTCOPY_FAILED: 4 },
  STOPPED: { SHUTDOWN: 0, DESTROYED: 1, CRASHED: 2, MIGRATED: 3, SAVED: 4, FAILED: 5, FROM_SNAPSHOT: 6 },
  SHUTDOWN: { FINISHED: 0, GUEST: 1, HOST: 2 },
  PMSUSPENDED: { MEMORY: 0, DISK: 1 },
  CRASHED: { PANICKED: 0, CRASHLOADED: 1 },
} as const;

/** virDrvFeature (libvirt_internal.h): what virConnectSupportsFeature is asked about. */
export const VIR_DRV_FEATURE = {
  MIGRATION_V1: 1,
  REMOTE: 2,
  MIGRATION_V2: 3,
  MIGRATION_P2P: 4,
  MIGRATION_DIRECT: 5,
  MIGRATION_V3: 6,
  MIGRATE_CHANGE_PROTECTION: 7,
  FD_PASSING: 8,
  TYPED_PARAM_STRING: 9,
  PROGRAM_KEEPALIVE: 10,
  MIGRATION_PARAMS: 11,
  XML_MIGRATABLE: 12,
  MIGRATION_OFFLINE: 13,
  REMOTE_EVENT_CALLBACK: 14,
  REMOTE_CLOSE_CALLBACK: 15,
  NETWORK_UPDATE_HAS_CORRECT_ORDER: 16,
} as const;

/** virTypedParameterFlags. */
export const VIR_TYPED_PARAM_STRING_OKAY = 1 << 2;

/** virDomainMetadataType. */
export const VIR_DOMAIN_METADATA = { DESCRIPTION: 0, TITLE: 1, ELEMENT: 2 } as const;

/** virConnectCompareCPUFlags. */
export const VIR_CONNECT_COMPARE_CPU = { FAIL_INCOMPATIBLE: 1 << 0, VALIDATE_XML: 1 << 1 } as const;

/** virCPUCompareResult. */
export const VIR_CPU_COMPARE = { ERROR: -1, INCOMPATIBLE: 0, IDENTICAL: 1, SUPERSET: 2 } as const;

/** virConnectBaselineCPUFlags. */
export const VIR_CONNECT_BASELINE_CPU = { EXPAND_FEATURES: 1 << 0, MIGRATABLE: 1 << 1 } as const;

/** virDomainBlockJobType. */
export const VIR_DOMAIN_BLOCK_JOB_TYPE = {
  UNKNOWN: 0,
  PULL: 1,
  COPY: 2,
  COMMIT: 3,
  ACTIVE_COMMIT: 4,
  BACKUP: 5,
} as const;

/** virConnectDomainEventBlockJobStatus. */
export const VIR_DOMAIN_BLOCK_JOB = { COMPLETED: 0, FAILED: 1, CANCELED: 2, READY: 3 } as const;

/** virDomainBlockJobAbortFlags. */
export const VIR_DOMAIN_BLOCK_JOB_ABORT = { ASYNC: 1 << 0, PIVOT: 1 << 1 } as const;

/** virDomainBlockJobInfoFlags / virDomainBlockJobSetSpeedFlags. */
export const VIR_DOMAIN_BLOCK_JOB_INFO_BANDWIDTH_BYTES = 1 << 0;
export const VIR_DOMAIN_BLOCK_JOB_SPEED_BANDWIDTH_BYTES = 1 << 0;

/** virDomainBlockPullFlags. */
export const VIR_DOMAIN_BLOCK_PULL_BANDWIDTH_BYTES = 1 << 6;

/** virDomainBlockRebaseFlags. */
export const VIR_DOMAIN_BLOCK_REBASE = {
  SHALLOW: 1 << 0,
  REUSE_EXT: 1 << 1,
  COPY_RAW: 1 << 2,
  COPY: 1 << 3,
  RELATIVE: 1 << 4,
  COPY_DEV: 1 << 5,
  BANDWIDTH_BYTES: 1 << 6,
} as const;

/** virDomainBlockCommitFlags. */
export const VIR_DOMAIN_BLOCK_COMMIT = {
  SHALLOW: 1 << 0,
  DELETE: 1 << 1,
  ACTIVE: 1 << 2,
  RELATIVE: 1 << 3,
  BANDWIDTH_BYTES: 1 << 4,
} as const;

/** virDomainBlockCopyFlags. */
export const VIR_DOMAIN_BLOCK_COPY = {
  SHALLOW: 1 << 0,
  REUSE_EXT: 1 << 1,
  TRANSIENT_JOB: 1 << 2,
  SYNCHRONOUS_WRITES: 1 << 3,
} as const;

/** virDomainBlockCopy's typed parameters. */
export const VIR_DOMAIN_BLOCK_COPY_BANDWIDTH = 'bandwidth';
export const VIR_DOMAIN_BLOCK_COPY_GRANULARITY = 'granularity';
export const VIR_DOMAIN_BLOCK_COPY_BUF_SIZE = 'buf-size';

/** virDomainJobType. */
export const VIR_DOMAIN_JOB = {
  NONE: 0,
  BOUNDED: 1,
  UNBOUNDED: 2,
  COMPLETED: 3,
  FAILED: 4,
  CANCELLED: 5,
} as const;

/** virDomainGetJobStatsFlags. */
export const VIR_DOMAIN_JOB_STATS = { COMPLETED: 1 << 0, KEEP_COMPLETED: 1 << 1 } as const;

/** virDomainMessageType. */
export const VIR_DOMAIN_MESSAGE = { DEPRECATION: 1 << 0, TAINTING: 1 << 1 } as const;

/** virDomainAbortJobFlagsValues. */
export const VIR_DOMAIN_ABORT_JOB = { POSTCOPY: 1 << 0 } as const;

/** virDomainMigrateMaxSpeedFlags. */
export const VIR_DOMAIN_MIGRATE_MAX_SPEED = { POSTCOPY: 1 << 0 } as const;

/** virDomainDirtyRateCalcFlags (page sampling is the default, 0). */
export const VIR_DOMAIN_DIRTYRATE_MODE = {
  PAGE_SAMPLING: 0,
  DIRTY_BITMAP: 1 << 0,
  DIRTY_RING: 1 << 1,
} as const;
