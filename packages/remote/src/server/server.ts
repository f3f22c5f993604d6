/**
 * libvirt's RPC server over any duplex byte stream (a Unix or TCP socket, a TLS socket, a child's
 * stdio pair). Transport-independent: a listener accepts a connection and hands the stream to
 * {@link Server.handle} with the client's read-only flag and authentication method.
 *
 * What it does per client, as virnetserverclient.c and virnetserverprogram.c do:
 * - frames packets on the 4-byte length; a length below a header or above the maximum closes the
 *   connection (nothing sensible can follow);
 * - answers keepalive PING with PONG at once, and once the client asked for keepalive (the REMOTE
 *   program's handler calls {@link ServerClient.startKeepAlive}) pings it after `keepaliveInterval`
 *   seconds of silence and closes it after `keepaliveCount` unanswered pings;
 * - dispatches CALLs to the registered program's procedure, at most `maxClientRequests` at once
 *   (reading stops until one finishes), and replies with the result or a remote_error;
 * - unknown program or version, unknown procedure, a non-CALL message, garbage arguments: an error
 *   reply with the same serial (libvirt's wording), the connection stays open;
 * - before authentication only procedures marked `needAuth: false` run ("authentication required");
 * - on a read-only client a procedure marked `mutating` is refused with
 *   "operation forbidden: read only access prevents <api>".
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import {
  AuthType,
  KEEPALIVE_PROGRAM,
  KEEPALIVE_PROTOCOL_VERSION,
  KeepaliveProc,
  MESSAGE_MAX,
  MessageStatus,
  MessageType,
} from '../rpc/constants.js';
import { RemoteError, readOnlyError, toRemoteErrorData, writeRemoteError } from '../rpc/error.js';
import { FramingError, PacketFramer } from '../rpc/framer.js';
import { decodePacket, encodePacket, type MessageHeader } from '../rpc/header.js';
import { XdrError, XdrReader, type XdrWriter } from '../xdr/xdr.js';

/** What a procedure handler returns: a writer for the reply body, or nothing for a `void` reply. */
export type ReplyBody = ((w: XdrWriter) => void) | undefined;

export interface CallContext {
  client: ServerClient;
  header: MessageHeader;
}

export interface Procedure {
  /** The public API's name (`virDomainDefineXML`), used in errors. */
  name: string;
  /** Changes state: refused on a read-only connection. */
  mutating?: boolean;
  /** Runs before the client is authenticated (auth procedures). Default: needs authentication. */
  needAuth?: boolean;
  /** Decodes `args`, does the work, returns the reply body. Throw to reply with an error. */
  handle(args: XdrReader, ctx: CallContext): ReplyBody | Promise<ReplyBody>;
}

export interface Program {
  program: number;
  version: number;
  /** Procedures by number. */
  procedures: ReadonlyMap<number, Procedure>;
  /** The error for a procedure not in the table (default: libvirt's "unknown procedure: N"). */
  unknownProcedure?(proc: number): RemoteError;
  /** Called when a client of this server disconnects (to drop its per-client state). */
  clientClosed?(client: ServerClient): void;
}

/**
 * How a client authenticates. `type` is the remote_auth_type advertised by AUTH_LIST
 * ({@link AuthType}); with NONE (or no method) the client starts authenticated. Other methods
 * bring their own procedures (SASL init/start/step) that call {@link ServerClient.setAuthenticated}.
 */
export interface AuthMethod {
  type: number;
  procedures?: ReadonlyMap<number, Procedure>;
}

export interface ServerOptions {
  /** Largest packet accepted (after the length word); default libvirt's 32 MiB. */
  maxMessage?: number;
  /** Concurrent calls per client (libvirtd.conf max_client_requests, default 5). */
  maxClientRequests?: number;
  /** Clients at once (max_clients, default 5000); further connections are closed at once. */
  maxClients?: number;
  /** Seconds of silence before a ping (keepalive_interval, default 5; -1 disables). */
  keepaliveInterval?: number;
  /** Unanswered pings before closing (keepalive_count, default 5; 0 closes after one interval). */
  keepaliveCount?: number;
}

export interface HandleOptions {
  readOnly?: boolean;
  auth?: AuthMethod;
  /** Free-form facts about the transport (peer address, certificate DN, uid), for handlers. */
  identity?: Record<string, unknown>;
}

export class ServerClient extends EventEmitter {
  readonly id: number;
  readonly readOnly: boolean;
  readonly auth: AuthMethod;
  readonly identity: Record<string, unknown>;
  /** Per-program state (e.g. the REMOTE program's open connection and event callbacks). */
  readonly state = new Map<string, unknown>();
  private authenticated: boolean;
  private closed = false;
  private readonly framer: PacketFramer;
  private inflight = 0;
  private queue: Buffer[] = [];
  private keepalive: NodeJS.Timeout | undefined;
  private lastRx = Date.now();
  private unanswered = 0;

  constructor(
    private readonly server: Server,
    private readonly stream: Duplex,
    id: number,
    opts: HandleOptions,
  ) {
    super();
    this.id = id;
    this.readOnly = opts.readOnly ?? false;
    this.auth = opts.auth ?? { type: AuthType.NONE };
    this.identity = opts.identity ?? {};
    this.authenticated = this.auth.type === AuthType.NONE;
    this.framer = new PacketFramer(server.options.maxMessage);
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('error', () => this.close());
    stream.on('close', () => this.close());
    stream.on('end', () => this.close());
  }

  get isAuthenticated(): boolean {
    return this.authenticated;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  setAuthenticated(): void {
    this.authenticated = true;
  }

  /** Starts pinging the client after `keepaliveInterval` s of silence (once it asked for keepalive). */
  startKeepAlive(): void {
    const { keepaliveInterval = 5, keepaliveCount = 5 } = this.server.options;
    if (keepaliveInterval <= 0 || this.keepalive || this.closed) return;
    const ms = keepaliveInterval * 1000;
    this.keepalive = setInterval(() => {
      if (Date.now() - this.lastRx < ms) return;
      if (this.unanswered >= keepaliveCount) {
        this.close();
        return;
      }
      this.unanswered++;
      this.send({
        prog: KEEPALIVE_PROGRAM,
        vers: KEEPALIVE_PROTOCOL_VERSION,
        proc: KeepaliveProc.PING,
        type: MessageType.MESSAGE,
        serial: 0,
        status: MessageStatus.OK,
      });
    }, ms);
    this.keepalive.unref();
  }

  /** Sends an asynchronous MESSAGE (an event) to the client. */
  sendMessage(prog: number, vers: number, proc: number, body?: (w: XdrWriter) => void): void {
    this.send({ prog, vers, proc, type: MessageType.MESSAGE, serial: 0, status: MessageStatus.OK }, body);
  }

  /** Closes the connection (idempotent). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.keepalive) clearInterval(this.keepalive);
    this.queue = [];
    this.stream.destroy();
    this.emit('close');
  }

  private send(header: MessageHeader, body?: (w: XdrWriter) => void): void {
    if (this.closed) return;
    let packet: Buffer;
    try {
      packet = encodePacket(header, body);
    } catch (err) {
      // A reply that cannot be encoded (too large, a value out of range) becomes an error reply.
      if (header.status === MessageStatus.ERROR) throw err;
      packet = encodePacket({ ...header, status: MessageStatus.ERROR }, (w) =>
        writeRemoteError(w, toRemoteErrorData(RemoteError.of('RPC', 'rpc', (err as Error).message))),
      );
    }
    this.stream.write(packet);
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    this.lastRx = Date.now();
    this.unanswered = 0;
    let packets: Buffer[];
    try {
      packets = this.framer.push(chunk);
    } catch (err) {
      if (err instanceof FramingError) {
        this.server.emit('protocolError', this, err);
        this.close();
        return;
      }
      throw err;
    }
    for (const p of packets) this.enqueue(p);
  }

  private enqueue(packet: Buffer): void {
    this.queue.push(packet);
    this.pump();
  }

  private pump(): void {
    const max = this.server.options.maxClientRequests ?? 5;
    while (!this.closed && this.queue.length > 0) {
      const next = this.queue[0]!;
      // Keepalive and malformed packets never wait for a worker.
      const urgent = next.length >= 4 && next.readUInt32BE(0) === KEEPALIVE_PROGRAM;
      if (!urgent && this.inflight >= max) break;
      this.queue.shift();
      if (urgent) {
        this.dispatch(next);
        continue;
      }
      this.inflight++;
      if (this.inflight >= max) this.stream.pause();
      this.dispatch(next).finally(() => {
        this.inflight--;
        if (!this.closed) this.stream.resume();
        this.pump();
      });
    }
  }

  private async dispatch(raw: Buffer): Promise<void> {
    let header: MessageHeader;
    let payload: Buffer;
    try {
      ({ header, payload } = decodePacket(raw));
    } catch (err) {
      this.server.emit('protocolError', this, err);
      this.close();
      return;
    }
    if (header.prog === KEEPALIVE_PROGRAM) {
      this.keepaliveMessage(header);
      return;
    }
    const replyError = (err: unknown) => {
      this.send({ ...header, type: MessageType.REPLY, status: MessageStatus.ERROR }, (w) =>
        writeRemoteError(w, toRemoteErrorData(err)),
      );
    };
    const program = this.server.program(header.prog, header.vers);
    if (!program) {
      // virNetServerDispatchNewMessage: no such program. libvirt answers an error reply for a call.
      if (header.type === MessageType.CALL || header.type === MessageType.CALL_WITH_FDS) {
        replyError(RemoteError.of('RPC', 'rpc', `Cannot find program ${header.prog} version ${header.vers}`));
      }
      return;
    }
    if (header.type !== MessageType.CALL) {
      // Streams are not supported; a stray REPLY or MESSAGE from a client is dropped, as libvirt does.
      if (header.type === MessageType.STREAM || header.type === MessageType.CALL_WITH_FDS) {
        replyError(RemoteError.of('RPC', 'rpc', `Unexpected message type ${header.type}`));
      }
      return;
    }
    if (header.status !== MessageStatus.OK) {
      replyError(RemoteError.of('RPC', 'rpc', `Unexpected message status ${header.status}`));
      return;
    }
    const proc = this.auth.procedures?.get(header.proc) ?? program.procedures.get(header.proc);
    try {
      if (!proc) {
        throw (
          program.unknownProcedure?.(header.proc) ??
          RemoteError.of('RPC', 'rpc', `unknown procedure: ${header.proc}`)
        );
      }
      if (proc.needAuth !== false && !this.authenticated) {
        throw RemoteError.of('RPC', 'rpc', 'authentication required');
      }
      if (proc.mutating && this.readOnly) throw readOnlyError(proc.name);
      const args = new XdrReader(payload);
      let body: ReplyBody;
      try {
        body = await proc.handle(args, { client: this, header });
      } catch (err) {
        if (err instanceof XdrError) throw RemoteError.of('RPC', 'rpc', `Unable to decode message payload`);
        throw err;
      }
      this.send({ ...header, type: MessageType.REPLY, status: MessageStatus.OK }, body);
    } catch (err) {
      this.server.emit('callError', this, header, err);
      replyError(err);
    }
  }

  private keepaliveMessage(header: MessageHeader): void {
    if (header.proc === KeepaliveProc.PING) {
      this.send({
        prog: KEEPALIVE_PROGRAM,
        vers: KEEPALIVE_PROTOCOL_VERSION,
        proc: KeepaliveProc.PONG,
        type: MessageType.MESSAGE,
        serial: 0,
        status: MessageStatus.OK,
      });
    }
    // PONG: lastRx was refreshed on receipt; nothing else to do.
  }
}

/**
 * Events: `client` (ServerClient) when one connects, `clientClosed`, `protocolError` (client,
 * error) when a connection is closed for bad framing, `callError` (client, header, error).
 */
export class Server extends EventEmitter {
  readonly options: Required<ServerOptions>;
  private readonly programs = new Map<string, Program>();
  private readonly clients = new Set<ServerClient>();
  private nextId = 1;

  constructor(options: ServerOptions = {}) {
    super();
    this.options = {
      maxMessage: options.maxMessage ?? MESSAGE_MAX,
      maxClientRequests: options.maxClientRequests ?? 5,
      maxClients: options.maxClients ?? 5000,
      keepaliveInterval: options.keepaliveInterval ?? 5,
      keepaliveCount: options.keepaliveCount ?? 5,
    };
  }

  addProgram(p: Program): this {
    this.programs.set(`${p.program}/${p.version}`, p);
    return this;
  }

  program(prog: number, vers: number): Program | undefined {
    return this.programs.get(`${prog}/${vers}`);
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** Every connected client. */
  allClients(): ServerClient[] {
    return [...this.clients];
  }

  /**
   * Serves the protocol on `stream` until it closes. Returns undefined (and destroys the stream)
   * when `maxClients` are already connected.
   */
  handle(stream: Duplex, opts: HandleOptions = {}): ServerClient | undefined {
    if (this.clients.size >= this.options.maxClients) {
      stream.destroy();
      return undefined;
    }
    const client = new ServerClient(this, stream, this.nextId++, opts);
    this.clients.add(client);
    client.on('close', () => {
      this.clients.delete(client);
      for (const p of this.programs.values()) p.clientClosed?.(client);
      this.emit('clientClosed', client);
    });
    this.emit('client', client);
    return client;
  }

  /** Closes every client. */
  closeAll(): void {
    for (const c of [...this.clients]) c.close();
  }
}
