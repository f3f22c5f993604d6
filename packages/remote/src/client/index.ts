export {
  type ConnectOptions,
  defaultSocket,
  type OpenOptions,
  RemoteClient,
  registerTransport,
  type TransportConnector,
} from './client.js';
