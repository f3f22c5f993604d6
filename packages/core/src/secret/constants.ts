/** libvirt 9.0's secret numbers (include/libvirt/libvirt-secret.h). */

/** virSecretUsageType. */
export const VIR_SECRET_USAGE_TYPE = {
  NONE: 0,
  VOLUME: 1,
  CEPH: 2,
  ISCSI: 3,
  TLS: 4,
  VTPM: 5,
} as const;

/** virSecretUsageType's names (virSecretUsageTypeToString), by number. */
export const VIR_SECRET_USAGE_TYPE_NAMES = ['none', 'volume', 'ceph', 'iscsi', 'tls', 'vtpm'] as const;

/** virConnectListAllSecretsFlags. */
export const VIR_CONNECT_LIST_SECRETS = {
  EPHEMERAL: 1 << 0,
  NO_EPHEMERAL: 1 << 1,
  PRIVATE: 1 << 2,
  NO_PRIVATE: 1 << 3,
} as const;

/** virSecretDefineFlags. */
export const VIR_SECRET_DEFINE_VALIDATE = 1 << 0;

/** virSecretEventID. */
export const VIR_SECRET_EVENT_ID = { LIFECYCLE: 0, VALUE_CHANGED: 1 } as const;
/** VIR_SECRET_EVENT_ID_LAST in libvirt 9.0. */
export const VIR_SECRET_EVENT_ID_LAST = 2;

/** virSecretEventLifecycleType. */
export const VIR_SECRET_EVENT = { DEFINED: 0, UNDEFINED: 1 } as const;
