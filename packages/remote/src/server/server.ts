/**
 * libvirt's RPC server over any duplex byte stream (a Unix or TCP socket, a TLS socket, a child's
 * stdio pair). Transport-independent: a listener accepts a connection and hands the stream to
 * {@link Server.handle} with the client's read-only flag and authentication method.
 *
 * What it does per client, as virnetserverclient.c and virnetserverprogram.c do:
 * - frames packets on the 4-byte length; a length below a header or above the maximum closes the
 *   connection (nothing sensible can follow) before any of the packet is buffered;
 * - answers keepalive PING with PONG at once, and once the client asked for keepalive (the REMOTE
 *   program's handler calls {@link ServerClient.startKeepAlive}) pings it after `keepaliveInterval`
 *   seconds of silence and closes it after `keepaliveCount` unanswered pings;
 * - dispatches CALLs to the registered program's procedure and replies with the result or a
 *   remote_error. A call stays outstanding until its reply has been written to the stream (the
 *   write callback: handed to the kernel), not merely produced; with `maxClientRequests`
 *   outstanding the client is not read from (libvirt's nrequests / nrequests_max: client->rx is
 *   NULL). So a client that pipelines calls without reading its replies fills its socket buffer
 *   and then stops being read: the daemon holds at most `maxClientRequests` replies and a chunk
 *   of unread input for it;
 * - asynchronous MESSAGEs (events, keepalive PING/PONG) are not calls and do not count against
 *   `maxClientRequests`. libvirt queues them without limit (virNetServerClientSendMessage); here a
 *   client that lets more than `maxMessageBacklog` bytes of them pile up unread is closed, so a
 *   client subscribed to events that never reads cannot grow the daemon;
 * - unknown program or version, unknown procedure, a non-CALL message, garbage arguments: an error
 *   reply with the same serial (libvirt's wording), the connection stays open;
 * - before authentication only procedures marked `needAuth: false` run ("authentication required");
 * - on a read-only client a procedure marked `mutating` is refused with
 *   "operation forbidden: read only access prevents <api>".
 *
 * Per server, as virNetServerCheckLimits: with `maxClients` clients, or `maxAnonymousClients`
 * not yet authenticated, libvirtd stops accepting (the listening sockets leave its poll loop) and
 * new connections wait in the kernel's listen backlog (`max_queued_clients`) until one leaves or
 * authenticates. Node accepts whatever its listener gives it, so {@link Server.handle} keeps such
 * a connection waiting, unread, in a queue of at most `maxQueuedClients` (the backlog's part),
 * serves it in order once there is room, and closes connections beyond the queue (a full backlog
 * refuses them).
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
  /** Set by a handler to run once its reply is written (a read stream starts sending then). */
  afterReply?: () => void;
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
  /**
   * A STREAM or STREAM_HOLE packet of one of this program's streams; resolves once handled, and
   * until then it counts as an outstanding request (stream data is flow-controlled like calls).
   */
  streamPacket?(client: ServerClient, header: MessageHeader, payload: Buffer): Promise<void>;
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
  /** Outstanding calls per client (libvirtd.conf max_client_requests, default 5). */
  maxClientRequests?: number;
  /** Clients at once (max_clients, default 5000); further connections wait (see {@link Server.handle}). */
  maxClients?: number;
  /** Clients not yet authenticated at once (max_anonymous_clients, default 20; 0: no limit). */
  maxAnonymousClients?: number;
  /** Connections kept waiting while a limit is reached (max_queued_clients, default 1000). */
  maxQueuedClients?: number;
  /**
   * Bytes of asynchronous MESSAGEs (events, keepalive) written to a client and not yet taken by
   * it beyond which the client is closed (qvirt's own bound; libvirt has none). Default 8 MiB.
   */
  maxMessageBacklog?: number;
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

/** What the server holds at a moment, for tests and diagnostics. */
export interface ServerStats {
  clients: number;
  /** Clients not yet authenticated. */
  anonymous: number;
  /** Connections waiting for room (not read from). */
  waiting: number;
  /** Input bytes buffered for packets not yet dispatched, over all clients. */
  pendingInput: number;
  /** Calls dispatched whose reply is not yet written, over all clients. */
  outstandingCalls: number;
  /** Bytes of asynchronous messages written and not yet taken, over all clients. */
  messageBacklog: number;
}

const DEFAULT_MESSAGE_BACKLOG = 8 * 1024 * 1024;

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
  /** Packets taken off the framer whose reply is not yet written (libvirt's nrequests). */
  private outstanding = 0;
  /** Reading stopped because `outstanding` reached maxClientRequests. */
  private throttled = false;
  /** Bytes of asynchronous messages handed to the stream whose write has not completed. */
  private backlog = 0;
  private backlogCheck: NodeJS.Immediate | undefined;
  private nRead = 0;
  private nWritten = 0;
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

  /** Input bytes buffered for packets not yet dispatched (0 once closed). */
  get pendingInput(): number {
    return this.framer.pending;
  }

  /** Calls dispatched whose reply has not yet been written. */
  get outstandingCalls(): number {
    return this.outstanding;
  }

  /** Bytes of asynchronous messages (events, keepalive) written and not yet taken by the stream. */
  get messageBacklog(): number {
    return this.backlog;
  }

  /** Bytes read from the stream over the client's life. */
  get bytesRead(): number {
    return this.nRead;
  }

  /** Bytes of packets written to the stream over the client's life. */
  get bytesWritten(): number {
    return this.nWritten;
  }

  setAuthenticated(): void {
    if (this.authenticated) return;
    this.authenticated = true;
    if (!this.closed) this.server.clientAuthenticated(this);
  }

  /** Starts pinging the client after `keepaliveInterval` s of silence (once it asked for keepalive). */
  startKeepAlive(): void {
    const { keepaliveInterval, keepaliveCount } = this.server.options;
    if (keepaliveInterval <= 0 || this.keepalive || this.closed) return;
    const ms = keepaliveInterval * 1000;
    this.keepalive = setInterval(() => {
      if (Date.now() - this.lastRx < ms) return;
      if (this.unanswered >= keepaliveCount) {
        this.close();
        return;
      }
      this.unanswered++;
      void this.send(
        {
          prog: KEEPALIVE_PROGRAM,
          vers: KEEPALIVE_PROTOCOL_VERSION,
          proc: KeepaliveProc.PING,
          type: MessageType.MESSAGE,
          serial: 0,
          status: MessageStatus.OK,
        },
        undefined,
        false,
      );
    }, ms);
    this.keepalive.unref();
  }

  /** Sends an asynchronous MESSAGE (an event) to the client. */
  sendMessage(prog: number, vers: number, proc: number, body?: (w: XdrWriter) => void): void {
    void this.send(
      { prog, vers, proc, type: MessageType.MESSAGE, serial: 0, status: MessageStatus.OK },
      body,
      false,
    );
  }

  /**
   * Writes a packet of a stream (data, hole, end, error) with the stream's serial; resolves once
   * the stream took it, so a sender that awaits it sends no faster than the client reads.
   */
  sendPacket(header: MessageHeader, body?: (w: XdrWriter) => void): Promise<void> {
    return this.send(header, body, true);
  }

  /** Closes the connection (idempotent) and drops everything buffered for it. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.keepalive) clearInterval(this.keepalive);
    if (this.backlogCheck) clearImmediate(this.backlogCheck);
    this.framer.reset();
    this.stream.destroy();
    this.emit('close');
  }

  /**
   * Encodes and writes a packet. Resolves once the stream took it (for a socket: handed to the
   * kernel), or at once if the client is closed. `tracked` is a reply to a call; the others are
   * asynchronous messages, bounded by `maxMessageBacklog`.
   */
  private send(
    header: MessageHeader,
    body: ((w: XdrWriter) => void) | undefined,
    tracked: boolean,
  ): Promise<void> {
    if (this.closed) return Promise.resolve();
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
    const size = packet.length;
    this.nWritten += size;
    if (!tracked) {
      this.backlog += size;
      if (this.backlog > this.server.options.maxMessageBacklog) this.checkBacklog();
    }
    return new Promise((resolve) => {
      this.stream.write(packet, () => {
        if (!tracked) this.backlog -= size;
        resolve();
      });
    });
  }

  /**
   * Closes the client if its unread messages are still over `maxMessageBacklog` once the stream
   * had its chance to write them (a burst produced in one tick is not held against a client that
   * reads).
   */
  private checkBacklog(): void {
    if (this.backlogCheck) return;
    this.backlogCheck = setImmediate(() => {
      this.backlogCheck = undefined;
      if (this.closed || this.backlog <= this.server.options.maxMessageBacklog) return;
      this.server.emit(
        'protocolError',
        this,
        RemoteError.of('RPC', 'rpc', `client not reading: ${this.backlog} bytes of messages unread`),
      );
      this.close();
    });
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    this.lastRx = Date.now();
    this.unanswered = 0;
    this.nRead += chunk.length;
    this.framer.append(chunk);
    this.pump();
  }

  /**
   * Takes packets off the framer while fewer than maxClientRequests are outstanding, and stops or
   * restarts reading the stream accordingly (virNetServerClientDispatchRead / DispatchWrite).
   */
  private pump(): void {
    const max = this.server.options.maxClientRequests;
    while (!this.closed && this.outstanding < max) {
      let packet: Buffer | undefined;
      try {
        packet = this.framer.next();
      } catch (err) {
        if (!(err instanceof FramingError)) throw err;
        this.server.emit('protocolError', this, err);
        this.close();
        return;
      }
      if (!packet) break;
      this.outstanding++;
      void this.dispatch(packet).then(() => {
        this.outstanding--;
        this.pump();
      });
    }
    if (this.closed) return;
    if (this.outstanding >= max && !this.throttled) {
      this.throttled = true;
      this.stream.pause();
    } else if (this.outstanding < max && this.throttled) {
      this.throttled = false;
      this.stream.resume();
    }
  }

  /** Handles one packet; resolves once its reply (if any) is written. */
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
    const replyError = (err: unknown) =>
      this.send(
        { ...header, type: MessageType.REPLY, status: MessageStatus.ERROR },
        (w) => writeRemoteError(w, toRemoteErrorData(err)),
        true,
      );
    const program = this.server.program(header.prog, header.vers);
    if (!program) {
      // virNetServerDispatchNewMessage: no such program. libvirt answers an error reply for a call.
      if (header.type === MessageType.CALL || header.type === MessageType.CALL_WITH_FDS) {
        await replyError(
          RemoteError.of('RPC', 'rpc', `Cannot find program ${header.prog} version ${header.vers}`),
        );
      }
      return;
    }
    if (
      (header.type === MessageType.STREAM || header.type === MessageType.STREAM_HOLE) &&
      program.streamPacket
    ) {
      await program.streamPacket(this, header, payload);
      return;
    }
    if (header.type !== MessageType.CALL) {
      // A stray REPLY or MESSAGE from a client is dropped, as libvirt does.
      if (header.type === MessageType.STREAM || header.type === MessageType.CALL_WITH_FDS) {
        await replyError(RemoteError.of('RPC', 'rpc', `Unexpected message type ${header.type}`));
      }
      return;
    }
    if (header.status !== MessageStatus.OK) {
      await replyError(RemoteError.of('RPC', 'rpc', `Unexpected message status ${header.status}`));
      return;
    }
    this.server.emit('dispatch', this, header);
    const proc = this.auth.procedures?.get(header.proc) ?? program.procedures.get(header.proc);
    const ctx: CallContext = { client: this, header };
    let body: ReplyBody;
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
      try {
        body = await proc.handle(args, ctx);
      } catch (err) {
        if (err instanceof XdrError) throw RemoteError.of('RPC', 'rpc', `Unable to decode message payload`);
        throw err;
      }
    } catch (err) {
      this.server.emit('callError', this, header, err);
      await replyError(err);
      return;
    }
    await this.send({ ...header, type: MessageType.REPLY, status: MessageStatus.OK }, body, true);
    ctx.afterReply?.();
  }

  private keepaliveMessage(header: MessageHeader): void {
    if (header.proc === KeepaliveProc.PING) {
      // libvirt answers a PING with an untracked message (virKeepAliveCheckMessage): it does not
      // wait for a request slot and does not hold one.
      void this.send(
        {
          prog: KEEPALIVE_PROGRAM,
          vers: KEEPALIVE_PROTOCOL_VERSION,
          proc: KeepaliveProc.PONG,
          type: MessageType.MESSAGE,
          serial: 0,
          status: MessageStatus.OK,
        },
        undefined,
        false,
      );
    }
    // PONG: lastRx was refreshed on receipt; nothing else to do.
  }
}

interface Waiting {
  stream: Duplex;
  opts: HandleOptions;
  gone: () => void;
}

/**
 * Events: `client` (ServerClient) when one is served, `clientClosed`, `protocolError` (client,
 * error) when a connection is closed for bad framing or unread messages, `dispatch` (client,
 * header) when a call reaches its procedure, `callError` (client, header, error).
 */
export class Server extends EventEmitter {
  readonly options: Required<ServerOptions>;
  private readonly programs = new Map<string, Program>();
  private readonly clients = new Set<ServerClient>();
  private readonly waiting: Waiting[] = [];
  private anonymous = 0;
  private nextId = 1;

  constructor(options: ServerOptions = {}) {
    super();
    this.options = {
      maxMessage: options.maxMessage ?? MESSAGE_MAX,
      maxClientRequests: Math.max(1, options.maxClientRequests ?? 5),
      maxClients: options.maxClients ?? 5000,
      maxAnonymousClients: options.maxAnonymousClients ?? 20,
      maxQueuedClients: options.maxQueuedClients ?? 1000,
      maxMessageBacklog: options.maxMessageBacklog ?? DEFAULT_MESSAGE_BACKLOG,
      keepaliveInterval: options.keepaliveInterval ?? 5,
      keepaliveCount: options.keepaliveCount ?? 5,
    };
    if (this.options.maxClients < this.options.maxAnonymousClients) {
      // virNetServerNew refuses the same configuration.
      throw RemoteError.of(
        'INTERNAL_ERROR',
        'rpc',
        'internal error: The overall maximum number of clients must not be less than the number of clients waiting for authentication',
      );
    }
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

  get stats(): ServerStats {
    let pendingInput = 0;
    let outstandingCalls = 0;
    let messageBacklog = 0;
    for (const c of this.clients) {
      pendingInput += c.pendingInput;
      outstandingCalls += c.outstandingCalls;
      messageBacklog += c.messageBacklog;
    }
    return {
      clients: this.clients.size,
      anonymous: this.anonymous,
      waiting: this.waiting.length,
      pendingInput,
      outstandingCalls,
      messageBacklog,
    };
  }

  /**
   * Serves the protocol on `stream` until it closes, and returns its client. When `maxClients`
   * clients are connected or `maxAnonymousClients` are not yet authenticated, the stream waits
   * unread (as a connection in libvirtd's listen backlog) and is served, with a `client` event,
   * once a client leaves or authenticates; undefined is returned then, and the stream is
   * destroyed at once when `maxQueuedClients` already wait.
   */
  handle(stream: Duplex, opts: HandleOptions = {}): ServerClient | undefined {
    if (this.waiting.length === 0 && this.hasRoom()) return this.serve(stream, opts);
    if (this.waiting.length >= this.options.maxQueuedClients) {
      stream.destroy();
      return undefined;
    }
    const w: Waiting = {
      stream,
      opts,
      gone: () => {
        const i = this.waiting.indexOf(w);
        if (i >= 0) this.waiting.splice(i, 1);
      },
    };
    stream.once('close', w.gone);
    stream.on('error', w.gone);
    this.waiting.push(w);
    return undefined;
  }

  /** Closes every client and every waiting connection. */
  closeAll(): void {
    for (const w of this.waiting.splice(0)) w.stream.destroy();
    for (const c of [...this.clients]) c.close();
  }

  /** Called by a client that just authenticated: it no longer counts as anonymous. */
  clientAuthenticated(_client: ServerClient): void {
    this.anonymous--;
    this.admitWaiting();
  }

  /** virNetServerCheckLimits: room for one more client under both limits. */
  private hasRoom(): boolean {
    const { maxClients, maxAnonymousClients } = this.options;
    return (
      this.clients.size < maxClients && (maxAnonymousClients === 0 || this.anonymous < maxAnonymousClients)
    );
  }

  private admitWaiting(): void {
    while (this.waiting.length > 0 && this.hasRoom()) {
      const w = this.waiting.shift()!;
      w.stream.off('close', w.gone);
      w.stream.off('error', w.gone);
      if (w.stream.destroyed) continue;
      this.serve(w.stream, w.opts);
    }
  }

  private serve(stream: Duplex, opts: HandleOptions): ServerClient {
    const client = new ServerClient(this, stream, this.nextId++, opts);
    this.clients.add(client);
    if (!client.isAuthenticated) this.anonymous++;
    client.on('close', () => {
      this.clients.delete(client);
      if (!client.isAuthenticated) this.anonymous--;
      for (const p of this.programs.values()) p.clientClosed?.(client);
      this.emit('clientClosed', client);
      this.admitWaiting();
    });
    this.emit('client', client);
    return client;
  }
}
