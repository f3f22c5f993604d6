/**
 * The shape of a dispatch table row: which REMOTE procedure carries a contract method, and where
 * libvirt's C API and its wire struct differ in shape, how. The tables themselves are one per
 * contract (hypervisor-table.ts, storage-table.ts, secret-table.ts); dispatch-table.ts binds them
 * to the protocol facts for the server and the client.
 */
import type { HypervisorDriver, SecretDriver, StorageDriver } from '@qvirt/core/hypervisor';

/** What a served call knows of its caller. */
export interface CallerInfo {
  readOnly: boolean;
}

/**
 * The drivers one connection reaches, as libvirt's virConnect holds a hypervisor driver and the
 * storage, secret (and network) drivers beside it. A call for a driver the server lacks answers
 * VIR_ERR_NO_SUPPORT, as libvirt does.
 */
export interface Drivers {
  hypervisor: HypervisorDriver;
  /** The storage driver, or how to open it on the first call that needs it. */
  storage?: StorageDriver | (() => Promise<StorageDriver>);
  /** The secret driver, or how to open it on the first call that needs it. */
  secret?: SecretDriver | (() => Promise<SecretDriver>);
}
export type DriverKind = keyof Drivers;

/** Every contract's methods (their names never clash: each is a libvirt API name). */
export type AllContracts = HypervisorDriver & StorageDriver & SecretDriver;
export type AnyMethod = keyof AllContracts;

type Params<K extends AnyMethod> = Parameters<AllContracts[K]>;
type Result<K extends AnyMethod> = Awaited<ReturnType<AllContracts[K]>>;

export interface RowSpec<K extends AnyMethod> {
  /** libvirt's procedure name. */
  proc: string;
  /** Client: the contract's parameters as the args struct (default: onto its fields in order). */
  toArgs?: (...params: Params<K>) => Record<string, unknown>;
  /** Client: the ret struct as the contract's result (default: its only field, or itself). */
  fromRet?: (ret: Record<string, unknown>) => Result<K>;
  /** Server: the call, from the decoded args to the ret struct (default: the reverse of the above). */
  serve?: (driver: AllContracts, args: Record<string, unknown>, caller: CallerInfo) => Promise<unknown>;
}

/**
 * Methods that travel in other ways: events are per connection, and libvirt's remote driver
 * answers virConnectIsEncrypted from its transport and CONNECT_IS_SECURE (remoteConnectIsEncrypted).
 */
export type ConnectionMethod =
  | 'connectDomainEventRegisterAny'
  | 'connectDomainEventDeregisterAny'
  | 'connectStoragePoolEventRegisterAny'
  | 'connectStoragePoolEventDeregisterAny'
  | 'connectSecretEventRegisterAny'
  | 'connectSecretEventDeregisterAny'
  | 'connectDomainQemuMonitorEventRegister'
  | 'connectDomainQemuMonitorEventDeregister'
  | 'connectIsEncrypted';

/** The methods of libvirt-qemu, whose rows are in the QEMU program's table (qemu-table.ts). */
export type QemuMethod = 'domainQemuMonitorCommand' | 'domainQemuAgentCommand' | 'domainQemuAttach';
/** Every method a table row carries, of every contract. */
export type TableMethod = Exclude<AnyMethod, ConnectionMethod>;

/** A row: the REMOTE procedure (without its REMOTE_PROC_ prefix) and, where needed, more. */
export const row = <K extends TableMethod>(
  proc: string,
  more: Omit<RowSpec<K>, 'proc'> = {},
): RowSpec<K> => ({
  proc: `REMOTE_PROC_${proc}`,
  ...more,
});

/** A row of the QEMU program (qemu_protocol.x): the procedure without its QEMU_PROC_ prefix. */
export const qemuRow = <K extends TableMethod>(
  proc: string,
  more: Omit<RowSpec<K>, 'proc'> = {},
): RowSpec<K> => ({
  proc: `QEMU_PROC_${proc}`,
  ...more,
});

/** A contract's table: every method of it and its procedure (the compiler checks none is missing). */
export type ContractTable<C, Excluded extends PropertyKey = never> = {
  readonly [K in Exclude<keyof C, Excluded> & TableMethod]: RowSpec<K>;
};
