export {
  type ConnectOptions,
  defaultSocket,
  type LifecycleEventMessage,
  type OpenOptions,
  RemoteClient,
  type RemoteDomainInfo,
  type RemoteDomainSummary,
  registerTransport,
  type TransportConnector,
} from './client.js';
