/**
 * The secret contract: libvirt's virSecretDriver (src/driver-secret.h), with the same rules as the
 * hypervisor contract (../hypervisor/contract.ts): libvirt's API names without `vir`, parameters
 * in the order of the remote_*_args struct, results the remote_*_ret struct's only field or the
 * struct, libvirt's numbers (./constants.ts). `@qvirt/secrets` implements it in process, the
 * remote client over the wire.
 *
 * Events: `connectSecretEventRegisterAny(secret, eventID, callback)` as the domain events are
 * registered on the hypervisor contract; callbacks get a {@link SecretEvent}.
 */

export * from './constants.js';
export * from './event-callbacks.js';

/** virSecretPtr as it travels (remote_nonnull_secret). */
export interface Secret {
  uuid: string;
  /** virSecretUsageType (VIR_SECRET_USAGE_TYPE). */
  usageType: number;
  /** The usage's id (volume path, ceph/tls/vtpm name, iSCSI target); '' for none. */
  usageID: string;
}

/** A secret event: lifecycle (event/detail) or value-changed (VIR_SECRET_EVENT_ID_*). */
export interface SecretEvent {
  eventID: number;
  secret: Secret;
  /** VIR_SECRET_EVENT_ID_LIFECYCLE: virSecretEventLifecycleType and its detail (always 0). */
  event?: number;
  detail?: number;
}
export type SecretEventCallback = (event: SecretEvent) => void;

export interface SecretDriver {
  connectNumOfSecrets(): Promise<number>;
  connectListSecrets(maxuuids: number): Promise<string[]>;
  /** virConnectListAllSecrets(conn, &secrets, flags): the wire asks whether the list is wanted. */
  connectListAllSecrets(flags: number): Promise<Secret[]>;
  secretLookupByUUID(uuid: string): Promise<Secret>;
  secretLookupByUsage(usageType: number, usageID: string): Promise<Secret>;
  secretDefineXML(xml: string, flags: number): Promise<Secret>;
  secretGetXMLDesc(secret: Secret, flags: number): Promise<string>;
  secretSetValue(secret: Secret, value: Uint8Array, flags: number): Promise<void>;
  /** A private secret's value is never given (VIR_ERR_INVALID_SECRET "secret is private"). */
  secretGetValue(secret: Secret, flags: number): Promise<Uint8Array>;
  secretUndefine(secret: Secret): Promise<void>;
  connectSecretEventRegisterAny(
    secret: Secret | null,
    eventID: number,
    callback: SecretEventCallback,
  ): Promise<number>;
  connectSecretEventDeregisterAny(callbackID: number): Promise<void>;
}

/**
 * What the QEMU driver needs of the secret driver at start (virSecretGetSecretString with the
 * daemon's elevated identity): the value of a secret, private ones included, found by UUID or by
 * usage, checked to be of the usage type the disk needs. Never reachable over the wire.
 */
export interface SecretValueSource {
  secretGetValueForUse(lookup: { uuid?: string; usage?: string }, usageType: number): Promise<Uint8Array>;
}
