/**
 * The plain TCP transport (`qemu+tcp://host/system`, port 16509): a listener that hands each
 * connection to the {@link Server}, with `auth_tcp = "sasl"` (default: DIGEST-MD5 with a 3DES
 * security layer, the only password mechanism libvirt's client accepts without TLS) or "none".
 */
import {
  type AddressInfo,
  createConnection,
  createServer,
  type Server as NetServer,
  type Socket,
} from 'node:net';
import type { Duplex } from 'node:stream';
import { type SaslAuthOptions, saslAuthMethod } from '../auth/sasl-auth.js';
import { SaslLayerStream } from '../auth/sasl-layer-stream.js';
import type { Server } from '../server/server.js';

export const DEFAULT_TCP_PORT = 16509;
export const DEFAULT_TLS_PORT = 16514;

/** libvirtd.conf's auth_tcp / auth_tls values qvirtd supports. */
export type NetworkAuth = 'none' | 'sasl';

export interface NetworkListener {
  readonly kind: 'tcp' | 'tls';
  address(): AddressInfo;
  close(): Promise<void>;
}

export type SaslListenerOptions = Omit<SaslAuthOptions, 'secure' | 'layerStream'>;

export interface TcpListenOptions {
  /** listen_addr; default every address. */
  host?: string;
  /** tcp_port; default 16509 (0 picks a free port). */
  port?: number;
  auth: NetworkAuth;
  /** Required when auth is "sasl". */
  sasl?: SaslListenerOptions;
  /** Told of each connection and its peer, for the daemon's log. */
  onConnection?: (peer: string) => void;
}

export function peerAddress(socket: Socket): string {
  return `${socket.remoteAddress ?? '?'};${socket.remotePort ?? '?'}`;
}

/** Binds like libvirtd: listen, then serve; resolves once the port is bound. */
export function listenNet(server: NetServer, host: string | undefined, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

export function closeNet(server: NetServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Hands an accepted connection to the Server with the configured authentication. */
export function serveConnection(
  server: Server,
  socket: Duplex,
  opts: { auth: NetworkAuth; secure: boolean; sasl?: SaslListenerOptions; identity: Record<string, unknown> },
): void {
  // virNetServerClientIsSecure: TLS, or (after login) a SASL security layer.
  opts.identity.secure = opts.secure;
  opts.identity.encrypted = opts.identity.transport === 'tls';
  if (opts.auth === 'none') {
    server.handle(socket, { identity: opts.identity });
    return;
  }
  if (!opts.sasl) throw new Error('SASL authentication configured without a user database');
  // A security layer is only ever negotiated on insecure channels; secure ones need no wrapper.
  const stream = opts.secure ? undefined : new SaslLayerStream(socket);
  const auth = saslAuthMethod({
    ...opts.sasl,
    secure: opts.secure,
    ...(stream ? { layerStream: stream } : {}),
  });
  server.handle(stream ?? socket, { auth, identity: opts.identity });
}

export async function listenTcp(server: Server, opts: TcpListenOptions): Promise<NetworkListener> {
  if (opts.auth === 'sasl' && !opts.sasl) throw new Error('auth_tcp = "sasl" needs a SASL user database');
  const net = createServer((socket) => {
    socket.setNoDelay(true);
    const peer = peerAddress(socket);
    opts.onConnection?.(peer);
    serveConnection(server, socket, {
      auth: opts.auth,
      secure: false,
      ...(opts.sasl ? { sasl: opts.sasl } : {}),
      identity: { transport: 'tcp', peer },
    });
  });
  await listenNet(net, opts.host, opts.port ?? DEFAULT_TCP_PORT);
  return {
    kind: 'tcp',
    address: () => net.address() as AddressInfo,
    close: () => closeNet(net),
  };
}

/** The client end: a TCP connection to host:port (the RPC client then authenticates on it). */
export function connectTcp(host: string, port = DEFAULT_TCP_PORT): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host, port }, () => {
      socket.off('error', reject);
      socket.setNoDelay(true);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}
