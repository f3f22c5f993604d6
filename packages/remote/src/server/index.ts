export {
  type AuthMethod,
  type CallContext,
  type HandleOptions,
  type Procedure,
  type Program,
  type ReplyBody,
  Server,
  ServerClient,
  type ServerOptions,
  type ServerStats,
} from './server.js';
