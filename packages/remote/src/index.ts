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
  hostCapabilities,
  startDaemon,
} from './daemon/daemon.js';
export { apiName, Proc, REMOTE_PROCEDURE_NAMES } from './remote/procedures.js';
export {
  createRemoteProgram,
  LIB_VERSION,
  lifecycleEvent,
  type RemoteProgramOptions,
} from './remote/program.js';
export * from './remote/types.js';
export * from './rpc/index.js';
export * from './server/index.js';
export * from './transport/index.js';
export * from './xdr/index.js';
