export type { DefaultUri, DefaultUriOptions, DefaultUriSource } from './default.js';
export { defaultUri, isLocal, resolveDefaultUri } from './default.js';
export { formatConnectionUri, remoteName } from './format.js';
export { defaultPort, parseConnectionUri } from './parse.js';
export type {
  ConnectionUri,
  ConnectionUriParamName,
  ConnectionUriParams,
  ConnectionUriParts,
  EffectiveTransport,
  ExtraUriParam,
  KnownHostsVerify,
  ParseConnectionUriOptions,
  RemoteMode,
  RemoteProxy,
  SshAuthMethod,
  UriDriver,
  UriInstance,
  UriTransport,
} from './types.js';
export {
  KNOWN_HOSTS_VERIFY,
  REMOTE_MODES,
  REMOTE_PROXIES,
  SSH_AUTH_METHODS,
  SSH_PORT,
  TCP_PORT,
  TLS_PORT,
  URI_INSTANCES,
  URI_PARAM_NAMES,
  URI_TRANSPORTS,
} from './types.js';
