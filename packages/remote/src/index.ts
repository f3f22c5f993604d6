/**
 * @qvirt/remote: libvirt's remote protocol.
 *
 * - `./xdr`: XDR encoding and decoding ({@link XdrWriter}, {@link XdrReader}).
 * - `./rpc`: packets (length word, header), framing, remote_error with libvirt's numeric codes,
 *   program and procedure numbers (REMOTE, KEEPALIVE).
 * - `./server`: the transport-independent {@link Server} (any duplex stream, pluggable auth,
 *   read-only flag, keepalive, limits).
 */

export * from './auth/index.js';
export * from './client/index.js';
export {
  type DaemonConfig,
  daemonConfigFromVirConf,
  defaultDaemonConfig,
  loadDaemonConfig,
} from './daemon/config.js';
export {
  type Daemon,
  type DaemonOptions,
  daemonPaths,
  startDaemon,
} from './daemon/daemon.js';
export { codecFor } from './protocol/codec.js';
export {
  type Drivers,
  dispatchRows,
  HYPERVISOR_TABLE,
  SECRET_TABLE,
  STORAGE_TABLE,
} from './protocol/dispatch-table.js';
export { PROTOCOL, procedureByName, procedureFact } from './protocol/facts.js';
export { createRemotePrograms, type RemoteProgramOptions } from './remote/program.js';
export * from './rpc/index.js';
export * from './server/index.js';
export * from './transport/index.js';
export * from './xdr/index.js';
