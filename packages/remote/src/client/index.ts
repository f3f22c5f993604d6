// Every transport (unix, tcp with SASL, tls, ssh) behind one call; qvirsh needs only this subpath,
// not the daemon, so a remote command loads no driver.
export { openRemote } from '../transport/client-transports.js';
export {
  type ConnectOptions,
  defaultSocket,
  type OpenOptions,
  RemoteClient,
  registerTransport,
  type TransportConnector,
} from './client.js';
