/**
 * A libvirt remote-protocol client over any duplex stream: the hypervisor contract
 * (@qvirt/core/hypervisor) over the wire, every method one row of the dispatch table.
 *
 * `RemoteClient.open(uri)` reaches qvirtd over its Unix sockets (`qemu:///system`,
 * `qemu:///session`, `qemu+unix://…?socket=`), starting a session daemon on demand as libvirt's
 * client does (`qvirtd --timeout=120`, disabled by `LIBVIRT_AUTOSTART=0`). Other transports
 * (tcp, tls, ssh) are plugged in with {@link registerTransport}.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { homedir } from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { getSystemErrorMap } from 'node:util';
import { VirError } from '@qvirt/core/errors';
import {
  type Domain,
  type DomainEventCallback,
  DomainEventCallbacks,
  type HypervisorDriver,
  type QemuMonitorEventCallback,
  type Secret,
  type SecretDriver,
  type SecretEventCallback,
  type StorageDriver,
  type StoragePool,
  type StoragePoolEventCallback,
  VIR_DRV_FEATURE,
  VIR_STORAGE_POOL_EVENT_ID,
} from '@qvirt/core/hypervisor';
import { type ConnectionUri, parseConnectionUri, remoteName } from '@qvirt/core/uri';
import { codecFor } from '../protocol/codec.js';
import {
  argsFor,
  type BoundRow,
  dispatchRows,
  resultOf,
  type TableMethod,
} from '../protocol/dispatch-table.js';
import { PROTOCOL, procedureByName } from '../protocol/facts.js';
import { DOMAIN_EVENT_WIRE } from '../remote/domain-events.js';
import {
  AuthType,
  KEEPALIVE_PROGRAM,
  KEEPALIVE_PROTOCOL_VERSION,
  KeepaliveProc,
  MessageStatus,
  MessageType,
  REMOTE_AUTH_TYPE_LIST_MAX,
  REMOTE_PROGRAM,
  REMOTE_PROTOCOL_VERSION,
} from '../rpc/constants.js';
import { RemoteError, readRemoteError } from '../rpc/error.js';
import { PacketFramer } from '../rpc/framer.js';
import { decodePacket, encodePacket } from '../rpc/header.js';
import { ClientStream } from '../stream/client-stream.js';
import { XdrReader, type XdrWriter } from '../xdr/xdr.js';
import { ClientObjectEvents, SECRET_CLIENT_EVENTS } from './object-events.js';
import { ClientQemuEvents } from './qemu-events.js';

export interface ConnectOptions {
  /** The name passed to virConnectOpen (default `qemu:///system`). */
  name?: string;
  /** VIR_CONNECT_RO. */
  readOnly?: boolean;
  /**
   * Authenticates when AUTH_LIST offers something other than none; gets the client and the
   * offered types. Without it, only `none` is accepted.
   */
  authenticate?: (client: RemoteClient, types: number[]) => Promise<void>;
  /** Ping the server every `interval` s and give up after `count` missed replies (libvirt's 5/5). */
  keepalive?: { interval: number; count: number } | false;
}

/** Opens a stream to the daemon for a parsed URI (the transport helper registers tcp, tls, ssh). */
export type TransportConnector = (uri: ConnectionUri, options: OpenOptions) => Promise<Duplex>;
const transports = new Map<string, TransportConnector>();

export function registerTransport(name: string, connect: TransportConnector): void {
  transports.set(name, connect);
}

export interface OpenOptions extends Omit<ConnectOptions, 'name'> {
  env?: Readonly<Record<string, string | undefined>>;
  /** How to start the session daemon (default: this package's qvirtd). */
  daemonCommand?: string[];
}

interface Pending {
  resolve(r: XdrReader): void;
  reject(e: Error): void;
}

function toVirError(e: RemoteError): VirError {
  return new VirError(e.codeName as never, e.domainName as never, e.message);
}

/** The client implements every contract (the tables' methods are installed below), as libvirt's remote driver registers as each. */
export interface RemoteClient extends HypervisorDriver, StorageDriver, SecretDriver {}

// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the contract's methods come from the dispatch table
export class RemoteClient {
  private serial = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly framer = new PacketFramer();
  private closed = false;
  private closeError: Error | undefined;
  private readonly callbacks = new DomainEventCallbacks();
  /** Server registrations by event id and domain, with how many local callbacks use each. */
  private readonly remoteIDs = new Map<string, { id: number; users: number }>();
  private readonly localKeys = new Map<number, string>();
  /** Storage pool event callbacks by the daemon's callback id (one registration each). */
  private readonly poolCallbacks = new Map<number, StoragePoolEventCallback>();
  /** libvirt-qemu's monitor event callbacks (one daemon registration each, QEMU program). */
  private readonly qemuEvents = new ClientQemuEvents((proc, args) => {
    const q = PROTOCOL.programs.QEMU!;
    return this.call(proc, args, q.program, q.version);
  });
  /** Secret event callbacks (one daemon registration each). */
  private readonly secretEvents = new ClientObjectEvents(SECRET_CLIENT_EVENTS, (proc, args) =>
    this.call(proc, args),
  );
  /** Open streams by their call's serial. */
  private readonly streams = new Map<number, ClientStream>();
  /** What the transport gives (remoteConnectIsSecure / IsEncrypted combine it with the daemon's answer). */
  transportSecure = true;
  transportEncrypted = false;
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private lastRx = Date.now();
  private keepaliveMissed = 0;

  private constructor(private readonly stream: Duplex) {
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('error', (err) => this.fail(err));
    stream.on('close', () =>
      this.fail(new VirError('RPC' as never, 'rpc', 'End of file while reading data: Input/output error')),
    );
  }

  /** Speaks the protocol on `stream`: auth list, keepalive, open. */
  static async connect(stream: Duplex, opts: ConnectOptions = {}): Promise<RemoteClient> {
    const c = new RemoteClient(stream);
    try {
      const types = (await c.call(procedureByName('REMOTE_PROC_AUTH_LIST').number)).array(
        (r) => r.enum(),
        REMOTE_AUTH_TYPE_LIST_MAX,
      );
      if (types.length > 0 && !types.includes(AuthType.NONE)) {
        if (!opts.authenticate) {
          throw new VirError(
            'AUTH_FAILED',
            'remote',
            'authentication failed: unsupported authentication type',
          );
        }
        await opts.authenticate(c, types);
      }
      const ka = (
        await c.call(procedureByName('REMOTE_PROC_CONNECT_SUPPORTS_FEATURE').number, (w) =>
          w.int(VIR_DRV_FEATURE.PROGRAM_KEEPALIVE),
        )
      ).int();
      if (ka && opts.keepalive !== false) c.startKeepalive(opts.keepalive ?? { interval: 5, count: 5 });
      await c.call(procedureByName('REMOTE_PROC_CONNECT_OPEN').number, (w) =>
        codecFor('remote_connect_open_args').encode(w, {
          name: opts.name ?? 'qemu:///system',
          flags: opts.readOnly ? 1 : 0,
        }),
      );
      return c;
    } catch (err) {
      c.teardown();
      throw err;
    }
  }

  /** Connects for a URI (`qemu:///system`, `qemu:///session`, `qemu+unix:///system?socket=…`, or a registered transport). */
  static async open(uriText: string, opts: OpenOptions = {}): Promise<RemoteClient> {
    const env = opts.env ?? process.env;
    const uri = parseConnectionUri(uriText);
    if (uri.instance === 'embed') {
      throw new VirError(
        'INVALID_ARG',
        'remote',
        'invalid argument: embed URIs run in-process, not over qvirtd',
      );
    }
    const transport = uri.effectiveTransport as string;
    let stream: Duplex;
    if (transport === 'unix') {
      const sock = uri.params.socket ?? defaultSocket(uri.instance === 'session', !!opts.readOnly, env);
      stream = await connectUnix(sock).catch(async (err) => {
        const code = (err as NodeJS.ErrnoException).code;
        const autostart =
          uri.instance === 'session' &&
          !uri.params.socket &&
          env.LIBVIRT_AUTOSTART !== '0' &&
          (code === 'ENOENT' || code === 'ECONNREFUSED');
        if (!autostart) throw socketError(sock, err);
        await startSessionDaemon(sock, env, opts.daemonCommand);
        return connectUnix(sock).catch((e) => {
          throw socketError(sock, e);
        });
      });
    } else {
      const connector = transports.get(transport);
      if (!connector) {
        throw new VirError(
          'NO_SUPPORT',
          'remote',
          `this function is not supported by the connection driver: transport ${transport}`,
        );
      }
      stream = await connector(uri, opts);
    }
    const client = await RemoteClient.connect(stream, { ...opts, name: remoteName(uri) });
    // virNetClientIsSecure / IsEncrypted: TLS is both; plain TCP is neither unless SASL put a
    // security layer on it; Unix sockets and ssh are secure but not encrypted by libvirt
    const layered = (stream as { layer?: unknown }).layer !== undefined;
    client.transportEncrypted = transport === 'tls' || layered;
    client.transportSecure = transport !== 'tcp' || layered;
    return client;
  }

  // ---- RPC ----------------------------------------------------------------------------------

  /** One CALL of the REMOTE program (or `prog`); resolves with a reader over the reply body. */
  call(
    proc: number,
    args?: (w: XdrWriter) => void,
    prog = REMOTE_PROGRAM,
    vers = REMOTE_PROTOCOL_VERSION,
    onSerial?: (serial: number) => void,
  ): Promise<XdrReader> {
    if (this.closed)
      return Promise.reject(
        this.closeError ?? new VirError('INTERNAL_ERROR', 'rpc', 'client socket is closed'),
      );
    const serial = this.serial++;
    onSerial?.(serial);
    return new Promise<XdrReader>((resolve, reject) => {
      this.pending.set(serial, { resolve, reject });
      this.stream.write(
        encodePacket({ prog, vers, proc, type: MessageType.CALL, serial, status: MessageStatus.OK }, args),
      );
    });
  }

  private onData(chunk: Buffer): void {
    this.lastRx = Date.now();
    // virKeepAliveCheckMessage: anything received restarts the count, not only a quiet tick
    this.keepaliveMissed = 0;
    let packets: Buffer[];
    try {
      packets = this.framer.push(chunk);
    } catch (err) {
      this.fail(err as Error);
      this.stream.destroy();
      return;
    }
    for (const raw of packets) {
      let p: ReturnType<typeof decodePacket>;
      try {
        p = decodePacket(raw);
      } catch (err) {
        this.fail(err as Error);
        this.stream.destroy();
        return;
      }
      const h = p.header;
      if (h.prog === KEEPALIVE_PROGRAM) {
        if (h.proc === KeepaliveProc.PING) this.sendKeepalive(KeepaliveProc.PONG);
        continue;
      }
      if (h.type === MessageType.MESSAGE) {
        if (h.prog === PROTOCOL.programs.QEMU!.program)
          this.qemuEvents.onMessage(h.proc, new XdrReader(p.payload));
        else this.onMessage(h.proc, new XdrReader(p.payload));
        continue;
      }
      if (h.type === MessageType.STREAM || h.type === MessageType.STREAM_HOLE) {
        this.streams.get(h.serial)?.packet(h.type, h.status, p.payload);
        continue;
      }
      const pending = this.pending.get(h.serial);
      if (!pending) continue;
      this.pending.delete(h.serial);
      const r = new XdrReader(p.payload);
      if (h.status === MessageStatus.ERROR) {
        try {
          pending.reject(toVirError(RemoteError.fromData(readRemoteError(r))));
        } catch (err) {
          pending.reject(err as Error);
        }
      } else pending.resolve(r);
    }
  }

  private onMessage(proc: number, r: XdrReader): void {
    try {
      if (this.onStoragePoolMessage(proc, r)) return;
      if (this.secretEvents.onMessage(proc, r)) return;
      // the callback form of every domain event id qvirt serves (domain-events.ts)
      const wire = DOMAIN_EVENT_WIRE.find((w) => procedureByName(w.callback).number === proc);
      if (wire) {
        const fact = procedureByName(wire.callback);
        const { callbackID, event } = wire.fromCallback(
          codecFor(fact.msg ?? fact.args!).decode(r) as Record<string, unknown>,
        );
        const remote = [...this.remoteIDs.entries()].find(([, v]) => v.id === callbackID);
        if (!remote) return;
        this.callbacks.dispatch(event);
      }
    } catch {
      // an event we cannot decode is dropped, as libvirt's client does
    }
  }

  private sendKeepalive(proc: number): void {
    if (this.closed) return;
    this.stream.write(
      encodePacket({
        prog: KEEPALIVE_PROGRAM,
        vers: KEEPALIVE_PROTOCOL_VERSION,
        proc,
        type: MessageType.MESSAGE,
        serial: 0,
        status: MessageStatus.OK,
      }),
    );
  }

  private startKeepalive(ka: { interval: number; count: number }): void {
    if (ka.interval <= 0) return;
    this.keepaliveTimer = setInterval(() => {
      // a PONG lands just after the tick that pinged, so the next tick may find it a hair more
      // than an interval old: only pings that got nothing back count (the reset is in onData)
      if (Date.now() - this.lastRx < ka.interval * 1000) return;
      if (this.keepaliveMissed++ >= ka.count) {
        this.fail(new VirError('RPC' as never, 'rpc', 'connection closed due to keepalive timeout'));
        this.stream.destroy();
        return;
      }
      this.sendKeepalive(KeepaliveProc.PING);
    }, ka.interval * 1000);
    this.keepaliveTimer.unref();
  }

  private fail(err: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.closeError = err;
    if (this.keepaliveTimer) clearInterval(this.keepaliveTimer);
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    for (const st of [...this.streams.values()]) st.fail(err);
    this.streams.clear();
  }

  private teardown(): void {
    this.fail(new VirError('INTERNAL_ERROR', 'rpc', 'client closed'));
    this.stream.destroy();
  }

  /** virConnectClose, then closes the stream. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.call(procedureByName('REMOTE_PROC_CONNECT_CLOSE').number).catch(() => {});
    this.teardown();
  }

  // ---- the hypervisor contract ---------------------------------------------------------------

  /** One contract call through the dispatch table: encode the args, call, decode the reply. */
  async callRow(method: TableMethod, params: unknown[]): Promise<unknown> {
    const row = dispatchRows().get(method);
    if (!row)
      throw new VirError(
        'NO_SUPPORT',
        'remote',
        `this function is not supported by the connection driver: ${method}`,
      );
    const { fact } = row;
    const args = argsFor(row, params);
    if (row.stream) return this.callStream(row, args);
    // a row of libvirt-qemu travels in the QEMU program
    const prog = PROTOCOL.programs[fact.program]!;
    const r = await this.call(
      fact.number,
      fact.args ? (w) => codecFor(fact.args!).encode(w, args) : undefined,
      prog.program,
      prog.version,
    );
    return resultOf(row, fact.ret ? (codecFor(fact.ret).decode(r) as Record<string, unknown>) : undefined);
  }

  /**
   * A `@readstream`/`@writestream` call: the stream is registered under the call's serial before
   * the call is sent (its first packets may follow the reply in the same read), and is the result.
   */
  private async callStream(row: BoundRow, args: Record<string, unknown>): Promise<ClientStream> {
    const { fact } = row;
    let serial = 0;
    const sparse = ((args.flags as number) & row.stream!.sparse) !== 0;
    const port = {
      write: (type: number, status: number, body?: (w: XdrWriter) => void) =>
        new Promise<void>((resolve, reject) => {
          if (this.closed) {
            reject(this.closeError ?? new VirError('INTERNAL_ERROR', 'rpc', 'client socket is closed'));
            return;
          }
          const packet = encodePacket(
            {
              prog: REMOTE_PROGRAM,
              vers: REMOTE_PROTOCOL_VERSION,
              proc: fact.number,
              type: type as MessageType,
              serial,
              status: status as MessageStatus,
            },
            body,
          );
          this.stream.write(packet, (err) => (err ? reject(err) : resolve()));
        }),
      flow: (paused: boolean) => (paused ? this.stream.pause() : this.stream.resume()),
      done: () => this.streams.delete(serial),
    };
    const st = new ClientStream(port, sparse);
    let r: Awaited<ReturnType<typeof this.call>>;
    try {
      r = await this.call(
        fact.number,
        fact.args ? (w) => codecFor(fact.args!).encode(w, args) : undefined,
        REMOTE_PROGRAM,
        REMOTE_PROTOCOL_VERSION,
        (n) => {
          serial = n;
          this.streams.set(n, st);
        },
      );
    } catch (err) {
      this.streams.delete(serial);
      throw err;
    }
    // a reply with fields (virDomainScreenshot's MIME type) is answered on the stream object
    if (fact.ret) Object.assign(st, codecFor(fact.ret).decode(r) as Record<string, unknown>);
    return st;
  }

  /** remoteConnectIsSecure: the daemon's answer, and this transport's. */
  async connectIsSecure(): Promise<number> {
    const ret = (await this.callRow('connectIsSecure', [])) as number;
    return ret && this.transportSecure ? 1 : 0;
  }

  /** remoteConnectIsEncrypted: an encrypted transport to a secure hypervisor connection. */
  async connectIsEncrypted(): Promise<number> {
    const secure = (await this.callRow('connectIsSecure', [])) as number;
    return this.transportEncrypted && secure ? 1 : 0;
  }

  /** virConnectClose, then closes the stream. */
  async connectClose(): Promise<void> {
    await this.close();
  }

  /**
   * Events as libvirt's remote driver registers them: one server registration per event id and
   * domain, shared by every local callback for it; the same callback twice is refused here.
   */
  async connectDomainEventRegisterAny(
    dom: Domain | null,
    eventID: number,
    callback: DomainEventCallback,
  ): Promise<number> {
    const key = `${eventID}/${dom?.uuid ?? ''}`;
    const localID = this.callbacks.register(dom, eventID, callback);
    let remote = this.remoteIDs.get(key);
    if (!remote) {
      try {
        const r = await this.call(
          procedureByName('REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY').number,
          (w) =>
            codecFor('remote_connect_domain_event_callback_register_any_args').encode(w, { eventID, dom }),
        );
        remote = { id: r.int(), users: 0 };
        this.remoteIDs.set(key, remote);
      } catch (err) {
        this.callbacks.deregister(localID);
        throw err;
      }
    }
    remote.users++;
    this.localKeys.set(localID, key);
    return localID;
  }

  /** virConnectDomainQemuMonitorEventRegister: one daemon registration per callback (./qemu-events.ts). */
  connectDomainQemuMonitorEventRegister(
    dom: Domain | null,
    event: string | null,
    callback: QemuMonitorEventCallback,
    flags: number,
  ): Promise<number> {
    return this.qemuEvents.register(dom, event, callback, flags);
  }

  connectDomainQemuMonitorEventDeregister(callbackID: number): Promise<void> {
    return this.qemuEvents.deregister(callbackID);
  }

  /** virConnectSecretEventRegisterAny: one daemon registration per callback. */
  connectSecretEventRegisterAny(
    secret: Secret | null,
    eventID: number,
    callback: SecretEventCallback,
  ): Promise<number> {
    return this.secretEvents.register(secret, eventID, callback);
  }

  connectSecretEventDeregisterAny(callbackID: number): Promise<void> {
    return this.secretEvents.deregister(callbackID);
  }

  /** virConnectStoragePoolEventRegisterAny: one daemon registration per callback. */
  async connectStoragePoolEventRegisterAny(
    pool: StoragePool | null,
    eventID: number,
    callback: StoragePoolEventCallback,
  ): Promise<number> {
    const r = await this.call(
      procedureByName('REMOTE_PROC_CONNECT_STORAGE_POOL_EVENT_REGISTER_ANY').number,
      (w) => codecFor('remote_connect_storage_pool_event_register_any_args').encode(w, { eventID, pool }),
    );
    const id = r.int();
    this.poolCallbacks.set(id, callback);
    return id;
  }

  async connectStoragePoolEventDeregisterAny(callbackID: number): Promise<void> {
    await this.call(procedureByName('REMOTE_PROC_CONNECT_STORAGE_POOL_EVENT_DEREGISTER_ANY').number, (w) =>
      w.int(callbackID),
    );
    this.poolCallbacks.delete(callbackID);
  }

  private onStoragePoolMessage(proc: number, r: XdrReader): boolean {
    const lifecycle = procedureByName('REMOTE_PROC_STORAGE_POOL_EVENT_LIFECYCLE');
    const refresh = procedureByName('REMOTE_PROC_STORAGE_POOL_EVENT_REFRESH');
    if (proc !== lifecycle.number && proc !== refresh.number) return false;
    const isLifecycle = proc === lifecycle.number;
    const m = codecFor((isLifecycle ? lifecycle : refresh).msg!).decode(r) as {
      callbackID: number;
      pool: StoragePool;
      event?: number;
      detail?: number;
    };
    this.poolCallbacks.get(m.callbackID)?.({
      eventID: isLifecycle ? VIR_STORAGE_POOL_EVENT_ID.LIFECYCLE : VIR_STORAGE_POOL_EVENT_ID.REFRESH,
      pool: m.pool,
      event: m.event,
      detail: m.detail,
    });
    return true;
  }

  async connectDomainEventDeregisterAny(callbackID: number): Promise<void> {
    const key = this.localKeys.get(callbackID);
    this.callbacks.deregister(callbackID);
    this.localKeys.delete(callbackID);
    const remote = key ? this.remoteIDs.get(key) : undefined;
    if (!remote || --remote.users > 0) return;
    this.remoteIDs.delete(key!);
    await this.call(procedureByName('REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY').number, (w) =>
      w.int(remote.id),
    );
  }
}

// Every other contract method is one table row: installed once on the prototype, so each is the
// same three steps (../protocol/dispatch-table.ts) and none is written out by hand.
for (const method of dispatchRows().keys()) {
  if (Object.hasOwn(RemoteClient.prototype, method)) continue;
  Object.defineProperty(RemoteClient.prototype, method, {
    value(this: RemoteClient, ...params: unknown[]) {
      return this.callRow(method, params);
    },
    writable: true,
    configurable: true,
  });
}

function connectUnix(p: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(p);
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

function socketError(sock: string, err: unknown): VirError {
  const { code, errno } = err as NodeJS.ErrnoException;
  // strerror's text, as libvirt prints it ("Permission denied", not "EACCES")
  const text = errno === undefined ? undefined : getSystemErrorMap().get(errno)?.[1];
  const why = text ? `${text[0]!.toUpperCase()}${text.slice(1)}` : String(code);
  return new VirError('SYSTEM_ERROR', 'rpc', `Failed to connect socket to '${sock}': ${why}`);
}

/** qvirtd's socket for an instance (libvirt's remote_sockets.c, under `qvirt`). */
export function defaultSocket(
  session: boolean,
  readOnly: boolean,
  env: Readonly<Record<string, string | undefined>> = process.env,
): string {
  const name = readOnly ? 'libvirt-sock-ro' : 'libvirt-sock';
  if (!session) return `/run/qvirt/${name}`;
  const runtime = env.XDG_RUNTIME_DIR || path.join(env.HOME || homedir(), '.cache');
  return path.join(runtime, 'qvirt', name);
}

/** Spawns `qvirtd --timeout=120` for the session and waits (up to 10 s) for its socket. */
async function startSessionDaemon(
  sock: string,
  env: Readonly<Record<string, string | undefined>>,
  command?: string[],
): Promise<void> {
  // the package's bin (the bundled daemon when built), the same from dist/client and src/client
  const bin = fileURLToPath(new URL('../../bin/qvirtd.js', import.meta.url));
  const argv = command ?? [process.execPath, bin];
  const child = spawn(argv[0]!, [...argv.slice(1), '--timeout=120', '--uri', 'qemu:///session'], {
    detached: true,
    stdio: 'ignore',
    env: env as NodeJS.ProcessEnv,
  });
  child.unref();
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (existsSync(sock)) {
      try {
        (await connectUnix(sock)).destroy();
        return;
      } catch {
        // not yet listening
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
