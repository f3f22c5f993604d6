/**
 * libvirt's message for each error code (virErrorMsg in src/util/virerror.c, libvirt 9.0).
 *
 * libvirt never types a prefix: virReportError(code, fmt, …) formats the detail and puts it into
 * the code's `%s` form ("internal error: %s"), or uses the code's bare form ("internal error")
 * when there is no detail. A few codes take the detail as it is (SYSTEM_ERROR, RPC, XML_DETAIL,
 * GNUTLS_ERROR) and a few put it mid-sentence ("domain %s exists already").
 */
import type { VirErrorCode } from './codes.js';

/** Per code: the message without detail, and the format with exactly one `%s` for the detail. */
const VIR_ERROR_MSG: Readonly<Record<VirErrorCode, readonly [bare: string, withInfo: string]>> = {
  INTERNAL_ERROR: ['internal error', 'internal error: %s'],
  NO_MEMORY: ['out of memory', 'out of memory: %s'],
  NO_SUPPORT: [
    'this function is not supported by the connection driver',
    'this function is not supported by the connection driver: %s',
  ],
  UNKNOWN_HOST: ['unknown host', 'unknown host %s'],
  NO_CONNECT: ['no connection driver available', 'no connection driver available for %s'],
  INVALID_CONN: ['invalid connection pointer in', 'invalid connection pointer in %s'],
  INVALID_DOMAIN: ['invalid domain pointer in', 'invalid domain pointer in %s'],
  INVALID_ARG: ['invalid argument', 'invalid argument: %s'],
  OPERATION_FAILED: ['operation failed', 'operation failed: %s'],
  GET_FAILED: ['GET operation failed', 'GET operation failed: %s'],
  POST_FAILED: ['POST operation failed', 'POST operation failed: %s'],
  HTTP_ERROR: ['got unknown HTTP error code', 'got unknown HTTP error code %s'],
  SEXPR_SERIAL: ['failed to serialize S-Expr', 'failed to serialize S-Expr: %s'],
  NO_XEN: ['could not use Xen hypervisor entry', 'could not use Xen hypervisor entry %s'],
  XEN_CALL: ['failed Xen syscall', 'failed Xen syscall %s'],
  OS_TYPE: ['unknown OS type', 'unknown OS type %s'],
  NO_KERNEL: ['missing kernel information', 'missing kernel information: %s'],
  NO_ROOT: ['missing root device information', 'missing root device information in %s'],
  NO_SOURCE: ['missing source information for device', 'missing source information for device %s'],
  NO_TARGET: ['missing target information for device', 'missing target information for device %s'],
  NO_NAME: ['missing name information', 'missing name information in %s'],
  NO_OS: ['missing operating system information', 'missing operating system information for %s'],
  NO_DEVICE: ['missing devices information', 'missing devices information for %s'],
  NO_XENSTORE: ['could not connect to Xen Store', 'could not connect to Xen Store %s'],
  DRIVER_FULL: ['too many drivers registered', 'too many drivers registered in %s'],
  CALL_FAILED: ['library call failed', 'library call failed: %s'],
  XML_ERROR: ['XML description is invalid or not well formed', 'XML error: %s'],
  DOM_EXIST: ['this domain exists already', 'domain %s exists already'],
  OPERATION_DENIED: ['operation forbidden for read only access', 'operation forbidden: %s'],
  OPEN_FAILED: ['failed to open configuration file', 'failed to open configuration file %s'],
  READ_FAILED: ['failed to read configuration file', 'failed to read configuration file %s'],
  PARSE_FAILED: ['failed to parse configuration file', 'failed to parse configuration file %s'],
  CONF_SYNTAX: ['configuration file syntax error', 'configuration file syntax error: %s'],
  WRITE_FAILED: ['failed to write configuration file', 'failed to write configuration file: %s'],
  XML_DETAIL: ['parser error', '%s'],
  INVALID_NETWORK: ['invalid network pointer in', 'invalid network pointer in %s'],
  NETWORK_EXIST: ['this network exists already', 'network %s exists already'],
  SYSTEM_ERROR: ['system call error', '%s'],
  RPC: ['RPC error', '%s'],
  GNUTLS_ERROR: ['GNUTLS call error', '%s'],
  WAR_NO_NETWORK: ['Failed to find the network', 'Failed to find the network: %s'],
  NO_DOMAIN: ['Domain not found', 'Domain not found: %s'],
  NO_NETWORK: ['Network not found', 'Network not found: %s'],
  INVALID_MAC: ['invalid MAC address', 'invalid MAC address: %s'],
  AUTH_FAILED: ['authentication failed', 'authentication failed: %s'],
  INVALID_STORAGE_POOL: ['invalid storage pool pointer in', 'invalid storage pool pointer in %s'],
  INVALID_STORAGE_VOL: ['invalid storage volume pointer in', 'invalid storage volume pointer in %s'],
  WAR_NO_STORAGE: ['Failed to find a storage driver', 'Failed to find a storage driver: %s'],
  NO_STORAGE_POOL: ['Storage pool not found', 'Storage pool not found: %s'],
  NO_STORAGE_VOL: ['Storage volume not found', 'Storage volume not found: %s'],
  WAR_NO_NODE: ['Failed to find a node driver', 'Failed to find a node driver: %s'],
  INVALID_NODE_DEVICE: ['invalid node device pointer', 'invalid node device pointer in %s'],
  NO_NODE_DEVICE: ['Node device not found', 'Node device not found: %s'],
  NO_SECURITY_MODEL: ['Security model not found', 'Security model not found: %s'],
  OPERATION_INVALID: ['Requested operation is not valid', 'Requested operation is not valid: %s'],
  WAR_NO_INTERFACE: ['Failed to find the interface', 'Failed to find the interface: %s'],
  NO_INTERFACE: ['Interface not found', 'Interface not found: %s'],
  INVALID_INTERFACE: ['invalid interface pointer in', 'invalid interface pointer in %s'],
  MULTIPLE_INTERFACES: ['multiple matching interfaces found', 'multiple matching interfaces found: %s'],
  WAR_NO_NWFILTER: ['Failed to start the nwfilter driver', 'Failed to start the nwfilter driver: %s'],
  INVALID_NWFILTER: ['Invalid network filter', 'Invalid network filter: %s'],
  NO_NWFILTER: ['Network filter not found', 'Network filter not found: %s'],
  BUILD_FIREWALL: ['Error while building firewall', 'Error while building firewall: %s'],
  WAR_NO_SECRET: ['Failed to find a secret storage driver', 'Failed to find a secret storage driver: %s'],
  INVALID_SECRET: ['Invalid secret', 'Invalid secret: %s'],
  NO_SECRET: ['Secret not found', 'Secret not found: %s'],
  CONFIG_UNSUPPORTED: ['unsupported configuration', 'unsupported configuration: %s'],
  OPERATION_TIMEOUT: ['Timed out during operation', 'Timed out during operation: %s'],
  MIGRATE_PERSIST_FAILED: [
    'Failed to make domain persistent after migration',
    'Failed to make domain persistent after migration: %s',
  ],
  HOOK_SCRIPT_FAILED: ['Hook script execution failed', 'Hook script execution failed: %s'],
  INVALID_DOMAIN_SNAPSHOT: ['Invalid domain snapshot', 'Invalid domain snapshot: %s'],
  NO_DOMAIN_SNAPSHOT: ['Domain snapshot not found', 'Domain snapshot not found: %s'],
  INVALID_STREAM: ['invalid stream pointer', 'invalid stream pointer in %s'],
  ARGUMENT_UNSUPPORTED: ['argument unsupported', 'argument unsupported: %s'],
  STORAGE_PROBE_FAILED: ['Storage pool probe failed', 'Storage pool probe failed: %s'],
  STORAGE_POOL_BUILT: ['Storage pool already built', 'Storage pool already built: %s'],
  SNAPSHOT_REVERT_RISKY: ['revert requires force', 'revert requires force: %s'],
  OPERATION_ABORTED: ['operation aborted', 'operation aborted: %s'],
  AUTH_CANCELLED: ['authentication cancelled', 'authentication cancelled: %s'],
  NO_DOMAIN_METADATA: ['metadata not found', 'metadata not found: %s'],
  MIGRATE_UNSAFE: ['Unsafe migration', 'Unsafe migration: %s'],
  OVERFLOW: ['numerical overflow', 'numerical overflow: %s'],
  BLOCK_COPY_ACTIVE: ['block copy still active', 'block copy still active: %s'],
  OPERATION_UNSUPPORTED: ['Operation not supported', 'Operation not supported: %s'],
  SSH: ['SSH transport error', 'SSH transport error: %s'],
  AGENT_UNRESPONSIVE: ['Guest agent is not responding', 'Guest agent is not responding: %s'],
  RESOURCE_BUSY: ['resource busy', 'resource busy: %s'],
  ACCESS_DENIED: ['access denied', 'access denied: %s'],
  DBUS_SERVICE: ['error from service', 'error from service: %s'],
  STORAGE_VOL_EXIST: ['this storage volume exists already', 'storage volume %s exists already'],
  CPU_INCOMPATIBLE: ['the CPU is incompatible with host CPU', 'the CPU is incompatible with host CPU: %s'],
  XML_INVALID_SCHEMA: [
    'XML document failed to validate against schema',
    'XML document failed to validate against schema: %s',
  ],
  MIGRATE_FINISH_OK: ['migration successfully aborted', 'migration successfully aborted: %s'],
  AUTH_UNAVAILABLE: ['authentication unavailable', 'authentication unavailable: %s'],
  NO_SERVER: ['Server not found', 'Server not found: %s'],
  NO_CLIENT: ['Client not found', 'Client not found: %s'],
  AGENT_UNSYNCED: [
    'guest agent replied with wrong id to guest-sync command',
    'guest agent replied with wrong id to guest-sync command: %s',
  ],
  LIBSSH: ['libssh transport error', 'libssh transport error: %s'],
  DEVICE_MISSING: ['device not found', 'device not found: %s'],
  INVALID_NWFILTER_BINDING: ['Invalid network filter binding', 'Invalid network filter binding: %s'],
  NO_NWFILTER_BINDING: ['Network filter binding not found', 'Network filter binding not found: %s'],
  INVALID_DOMAIN_CHECKPOINT: ['Invalid domain checkpoint', 'Invalid domain checkpoint: %s'],
  NO_DOMAIN_CHECKPOINT: ['Domain checkpoint not found', 'Domain checkpoint not found: %s'],
  NO_DOMAIN_BACKUP: ['Domain backup job id not found', 'Domain backup job id not found: %s'],
  INVALID_NETWORK_PORT: ['Invalid network port pointer', 'Invalid network port pointer: %s'],
  NETWORK_PORT_EXIST: ['this network port exists already', 'network port %s exists already'],
  NO_NETWORK_PORT: ['network port not found', 'network port not found: %s'],
  NO_HOSTNAME: ['no hostname found', 'no hostname found: %s'],
  CHECKPOINT_INCONSISTENT: ['checkpoint inconsistent', 'checkpoint inconsistent: %s'],
  MULTIPLE_DOMAINS: ['multiple matching domains found', 'multiple matching domains found: %s'],
};

/**
 * libvirt's virErrorMsg: the format for `code`, with one `%s` when there is `info` (any string, even
 * empty, as libvirt tests for a non-NULL pointer), else the bare message without one.
 */
export function virErrorMsg(code: VirErrorCode, info?: string | null): string {
  const [bare, withInfo] = VIR_ERROR_MSG[code];
  return info === undefined || info === null ? bare : withInfo;
}

/** The whole message virReportError gives: virErrorMsg's format with `%s` replaced by `info`. */
export function virErrorMessage(code: VirErrorCode, info?: string | null): string {
  const format = virErrorMsg(code, info);
  // A function replacement, so a `$&` or `$1` in the detail stays literal.
  return info === undefined || info === null ? format : format.replace('%s', () => info);
}
