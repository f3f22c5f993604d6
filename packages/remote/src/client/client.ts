/**
 * A libvirt remote-protocol client over any duplex stream, with the domain operations qvirsh
 * needs (the same names as @qvirt/driver's QemuDriver, all async).
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
import { type ConnectionUri, parseConnectionUri, remoteName, VirError } from '@qvirt/core';
import type { BlockStats, InterfaceStats, MemoryStat } from '@qvirt/driver';
import { Proc } from '../remote/procedures.js';
import {
  REMOTE_DOMAIN_BLOCK_STATS_PARAMETERS_MAX,
  REMOTE_DOMAIN_MEMORY_STATS_MAX,
  readTypedParam,
  TYPED_PARAM_STRING_OKAY,
} from '../remote/typed-params.js';
import {
  DOMAIN_EVENT_ID_LIFECYCLE,
  type RemoteDomain,
  readDomain,
  str,
  uuidToBytes,
  writeDomain,
  wStr,
} from '../remote/types.js';
import {
  AuthType,
  KEEPALIVE_PROGRAM,
  KEEPALIVE_PROTOCOL_VERSION,
  KeepaliveProc,
  MessageStatus,
  MessageType,
  REMOTE_AUTH_TYPE_LIST_MAX,
  REMOTE_DOMAIN_LIST_MAX,
  REMOTE_PROGRAM,
  REMOTE_PROTOCOL_VERSION,
  UUID_BUFLEN,
} from '../rpc/constants.js';
import { RemoteError, readRemoteError } from '../rpc/error.js';
import { PacketFramer } from '../rpc/framer.js';
import { decodePacket, encodePacket } from '../rpc/header.js';
import { XdrReader, type XdrWriter } from '../xdr/xdr.js';

type DomainState =
  | 'nostate'
  | 'running'
  | 'blocked'
  | 'paused'
  | 'shutdown'
  | 'shutoff'
  | 'crashed'
  | 'pmsuspended';
const STATES: DomainState[] = [
  'nostate',
  'running',
  'blocked',
  'paused',
  'shutdown',
  'shutoff',
  'crashed',
  'pmsuspended',
];
const REASONS: Record<string, string[]> = {
  running: [
    'unknown',
    'booted',
    'migrated',
    'restored',
    'from snapshot',
    'unpaused',
    'migration canceled',
    'save canceled',
    'event wakeup',
    'crashed',
    'post-copy',
  ],
  paused: [
    'unknown',
    'user',
    'migrating',
    'saving',
    'dumping',
    'I/O error',
    'watchdog',
    'from snapshot',
    'shutting down',
    'creating snapshot',
    'starting up',
    'post-copy',
    'post-copy failed',
  ],
  shutdown: ['unknown', 'user'],
  shutoff: [
    'unknown',
    'shutdown',
    'destroyed',
    'crashed',
    'migrated',
    'saved',
    'failed',
    'from snapshot',
    'daemon',
  ],
  crashed: ['unknown', 'panicked'],
  blocked: ['unknown'],
  pmsuspended: ['unknown'],
  nostate: ['unknown'],
};

/** What the client reports of a domain (the same shape as @qvirt/driver's DomainSummary). */
export interface RemoteDomainSummary {
  name: string;
  uuid: string;
  id: number;
  state: DomainState;
  reason: string;
  persistent: boolean;
  autostart: boolean;
}

export interface RemoteDomainInfo {
  state: DomainState;
  maxMem: number;
  memory: number;
  nrVirtCpu: number;
  cpuTime: number;
}

// The driver's shapes, as type-only imports: the client loads no driver code.
/** virDomainInterfaceStats: the counters of one interface (-1 where not known). */
export type RemoteInterfaceStats = InterfaceStats;
/** virDomainBlockStatsFlags' counters of one disk or all, and how many parameters the server gave. */
export type RemoteBlockStats = BlockStats;
/** virDomainMemoryStatStruct: a virDomainMemoryStatTags tag and its value. */
export type RemoteMemoryStat = MemoryStat;

/** virDomainBlockStatsFlags' field names (VIR_DOMAIN_BLOCK_STATS_*) and our keys. */
const BLOCK_STAT_FIELDS: Record<string, keyof RemoteBlockStats> = {
  rd_operations: 'rdReq',
  rd_bytes: 'rdBytes',
  wr_operations: 'wrReq',
  wr_bytes: 'wrBytes',
  errs: 'errs',
  flush_operations: 'flushReq',
  rd_total_times: 'rdTotalTimes',
  wr_total_times: 'wrTotalTimes',
  flush_total_times: 'flushTotalTimes',
};

/** VIR_DOMAIN_MEMORY_STAT_NR: how many stats virsh asks for. */
const MEMORY_STAT_NR = 13;

export interface LifecycleEventMessage {
  domain: RemoteDomain;
  event: number;
  detail: number;
}

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

export class RemoteClient {
  private serial = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly framer = new PacketFramer();
  private closed = false;
  private closeError: Error | undefined;
  private readonly lifecycleListeners = new Map<number, (e: LifecycleEventMessage) => void>();
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private lastRx = Date.now();

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
      const types = (await c.call(Proc.AUTH_LIST)).array((r) => r.enum(), REMOTE_AUTH_TYPE_LIST_MAX);
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
      const ka = (await c.call(Proc.CONNECT_SUPPORTS_FEATURE, (w) => w.int(10))).int();
      if (ka && opts.keepalive !== false) c.startKeepalive(opts.keepalive ?? { interval: 5, count: 5 });
      await c.call(Proc.CONNECT_OPEN, (w) => {
        w.optional(opts.name ?? 'qemu:///system', (x, v) => wStr(x, v));
        w.uint(opts.readOnly ? 1 : 0);
      });
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
    return RemoteClient.connect(stream, { ...opts, name: remoteName(uri) });
  }

  // ---- RPC ----------------------------------------------------------------------------------

  /** One CALL of the REMOTE program (or `prog`); resolves with a reader over the reply body. */
  call(
    proc: number,
    args?: (w: XdrWriter) => void,
    prog = REMOTE_PROGRAM,
    vers = REMOTE_PROTOCOL_VERSION,
  ): Promise<XdrReader> {
    if (this.closed)
      return Promise.reject(
        this.closeError ?? new VirError('INTERNAL_ERROR', 'rpc', 'client socket is closed'),
      );
    const serial = this.serial++;
    return new Promise<XdrReader>((resolve, reject) => {
      this.pending.set(serial, { resolve, reject });
      this.stream.write(
        encodePacket({ prog, vers, proc, type: MessageType.CALL, serial, status: MessageStatus.OK }, args),
      );
    });
  }

  private onData(chunk: Buffer): void {
    this.lastRx = Date.now();
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
        this.onMessage(h.proc, new XdrReader(p.payload));
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
      if (proc === Proc.DOMAIN_EVENT_CALLBACK_LIFECYCLE) {
        const id = r.int();
        const domain = readDomain(r);
        const ev = { domain, event: r.int(), detail: r.int() };
        this.lifecycleListeners.get(id)?.(ev);
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
    let missed = 0;
    this.keepaliveTimer = setInterval(() => {
      if (Date.now() - this.lastRx < ka.interval * 1000) {
        missed = 0;
        return;
      }
      if (missed++ >= ka.count) {
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
  }

  private teardown(): void {
    this.fail(new VirError('INTERNAL_ERROR', 'rpc', 'client closed'));
    this.stream.destroy();
  }

  /** virConnectClose, then closes the stream. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.call(Proc.CONNECT_CLOSE).catch(() => {});
    this.teardown();
  }

  // ---- host -----------------------------------------------------------------------------

  async getType(): Promise<string> {
    return str(await this.call(Proc.CONNECT_GET_TYPE));
  }

  async getVersion(): Promise<bigint> {
    return (await this.call(Proc.CONNECT_GET_VERSION)).uhyper();
  }

  async getLibVersion(): Promise<bigint> {
    return (await this.call(Proc.CONNECT_GET_LIB_VERSION)).uhyper();
  }

  async getHostname(): Promise<string> {
    return str(await this.call(Proc.CONNECT_GET_HOSTNAME));
  }

  async getURI(): Promise<string> {
    return str(await this.call(Proc.CONNECT_GET_URI));
  }

  async getCapabilities(): Promise<string> {
    return str(await this.call(Proc.CONNECT_GET_CAPABILITIES));
  }

  async domainXMLToNative(format: string, xml: string): Promise<string> {
    return str(
      await this.call(Proc.CONNECT_DOMAIN_XML_TO_NATIVE, (w) => {
        wStr(w, format);
        wStr(w, xml);
        w.uint(0);
      }),
    );
  }

  async domainXMLFromNative(format: string, config: string): Promise<string> {
    return str(
      await this.call(Proc.CONNECT_DOMAIN_XML_FROM_NATIVE, (w) => {
        wStr(w, format);
        wStr(w, config);
        w.uint(0);
      }),
    );
  }

  // ---- domains --------------------------------------------------------------------------

  /** virConnectListAllDomains (every domain). */
  async listAllDomains(flags = 0): Promise<RemoteDomain[]> {
    const r = await this.call(Proc.CONNECT_LIST_ALL_DOMAINS, (w) => w.int(1).uint(flags));
    return r.array(readDomain, REMOTE_DOMAIN_LIST_MAX);
  }

  private async summary(d: RemoteDomain): Promise<RemoteDomainSummary> {
    const [st, persistent, autostart] = await Promise.all([
      this.call(Proc.DOMAIN_GET_STATE, (w) => {
        writeDomain(w, d);
        w.uint(0);
      }),
      this.call(Proc.DOMAIN_IS_PERSISTENT, (w) => writeDomain(w, d)),
      this.call(Proc.DOMAIN_GET_AUTOSTART, (w) => writeDomain(w, d)),
    ]);
    const state = STATES[st.int()] ?? 'nostate';
    const reason = REASONS[state]?.[st.int()] ?? 'unknown';
    return { ...d, state, reason, persistent: persistent.int() === 1, autostart: autostart.int() === 1 };
  }

  /** Every domain with its state, persistence and autostart (as QemuDriver.listDomains). */
  async listDomains(): Promise<RemoteDomainSummary[]> {
    return Promise.all((await this.listAllDomains()).map((d) => this.summary(d)));
  }

  /** virsh's lookup: an id, then a UUID, then a name. */
  async find(key: string): Promise<RemoteDomainSummary | undefined> {
    const attempt = async (proc: number, args: (w: XdrWriter) => void) => {
      try {
        return readDomain(await this.call(proc, args));
      } catch (err) {
        if ((err as VirError).code === ('NO_DOMAIN' as never)) return undefined;
        throw err;
      }
    };
    let d: RemoteDomain | undefined;
    if (/^\d+$/.test(key)) d = await attempt(Proc.DOMAIN_LOOKUP_BY_ID, (w) => w.int(Number(key)));
    if (!d && /^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$/.test(key)) {
      d = await attempt(Proc.DOMAIN_LOOKUP_BY_UUID, (w) => w.fixedOpaque(uuidToBytes(key), UUID_BUFLEN));
    }
    d ??= await attempt(Proc.DOMAIN_LOOKUP_BY_NAME, (w) => wStr(w, key));
    return d && this.summary(d);
  }

  private async byName(name: string): Promise<RemoteDomain> {
    return readDomain(await this.call(Proc.DOMAIN_LOOKUP_BY_NAME, (w) => wStr(w, name)));
  }

  async defineXML(xml: string): Promise<RemoteDomainSummary> {
    const d = readDomain(await this.call(Proc.DOMAIN_DEFINE_XML, (w) => wStr(w, xml)));
    return this.summary(d);
  }

  async createXML(xml: string, options: { paused?: boolean } = {}): Promise<RemoteDomainSummary> {
    const d = readDomain(
      await this.call(Proc.DOMAIN_CREATE_XML, (w) => {
        wStr(w, xml);
        w.uint(options.paused ? 1 : 0);
      }),
    );
    return this.summary(d);
  }

  private async domCall(proc: number, name: string, extra?: (w: XdrWriter) => void): Promise<XdrReader> {
    const d = await this.byName(name);
    return this.call(proc, (w) => {
      writeDomain(w, d);
      extra?.(w);
    });
  }

  async undefine(name: string): Promise<void> {
    await this.domCall(Proc.DOMAIN_UNDEFINE_FLAGS, name, (w) => w.uint(0));
  }

  async setAutostart(name: string, autostart: boolean): Promise<void> {
    await this.domCall(Proc.DOMAIN_SET_AUTOSTART, name, (w) => w.int(autostart ? 1 : 0));
  }

  async start(name: string, options: { paused?: boolean } = {}): Promise<RemoteDomainSummary> {
    const r = await this.domCall(Proc.DOMAIN_CREATE_WITH_FLAGS, name, (w) => w.uint(options.paused ? 1 : 0));
    return this.summary(readDomain(r));
  }

  async shutdown(name: string): Promise<'requested'> {
    await this.domCall(Proc.DOMAIN_SHUTDOWN_FLAGS, name, (w) => w.uint(0));
    return 'requested';
  }

  async destroy(name: string): Promise<void> {
    await this.domCall(Proc.DOMAIN_DESTROY_FLAGS, name, (w) => w.uint(0));
  }

  async reboot(name: string): Promise<void> {
    await this.domCall(Proc.DOMAIN_REBOOT, name, (w) => w.uint(0));
  }

  async reset(name: string): Promise<void> {
    await this.domCall(Proc.DOMAIN_RESET, name, (w) => w.uint(0));
  }

  async suspend(name: string): Promise<void> {
    await this.domCall(Proc.DOMAIN_SUSPEND, name);
  }

  async resume(name: string): Promise<void> {
    await this.domCall(Proc.DOMAIN_RESUME, name);
  }

  async getXMLDesc(name: string, options: { inactive?: boolean; secure?: boolean } = {}): Promise<string> {
    const flags = (options.secure ? 1 : 0) | (options.inactive ? 2 : 0);
    return str(await this.domCall(Proc.DOMAIN_GET_XML_DESC, name, (w) => w.uint(flags)));
  }

  async getState(name: string): Promise<{ state: DomainState; reason: string }> {
    const r = await this.domCall(Proc.DOMAIN_GET_STATE, name, (w) => w.uint(0));
    const state = STATES[r.int()] ?? 'nostate';
    return { state, reason: REASONS[state]?.[r.int()] ?? 'unknown' };
  }

  async getInfo(name: string): Promise<RemoteDomainInfo> {
    const r = await this.domCall(Proc.DOMAIN_GET_INFO, name);
    return {
      state: STATES[r.int()] ?? 'nostate',
      maxMem: Number(r.uhyper()),
      memory: Number(r.uhyper()),
      nrVirtCpu: r.int(),
      cpuTime: Number(r.uhyper()),
    };
  }

  /** A running domain's interface counters, the interface named by its host name or MAC. */
  async interfaceStats(name: string, device: string): Promise<RemoteInterfaceStats> {
    const r = await this.domCall(Proc.DOMAIN_INTERFACE_STATS, name, (w) => wStr(w, device));
    const next = () => Number(r.hyper());
    return {
      rxBytes: next(),
      rxPackets: next(),
      rxErrs: next(),
      rxDrop: next(),
      txBytes: next(),
      txPackets: next(),
      txErrs: next(),
      txDrop: next(),
    };
  }

  /**
   * A running domain's disk counters (by target or source path; "" for all disks), asked as
   * virsh's domblkstat asks: virDomainBlockStatsFlags for the count, then for the values.
   */
  async blockStats(name: string, disk: string): Promise<RemoteBlockStats> {
    const ask = (nparams: number) =>
      this.domCall(Proc.DOMAIN_BLOCK_STATS_FLAGS, name, (w) => {
        wStr(w, disk);
        w.int(nparams).uint(TYPED_PARAM_STRING_OKAY);
      });
    const first = await ask(0);
    first.array(readTypedParam, REMOTE_DOMAIN_BLOCK_STATS_PARAMETERS_MAX);
    const count = first.int();
    const stats: RemoteBlockStats = {
      rdReq: -1,
      rdBytes: -1,
      wrReq: -1,
      wrBytes: -1,
      errs: -1,
      flushReq: -1,
      rdTotalTimes: -1,
      wrTotalTimes: -1,
      flushTotalTimes: -1,
      nstats: 0,
    };
    if (count <= 0) return stats;
    const r = await ask(count);
    const params = r.array(readTypedParam, REMOTE_DOMAIN_BLOCK_STATS_PARAMETERS_MAX);
    r.int();
    for (const p of params) {
      const key = BLOCK_STAT_FIELDS[p.field];
      if (key && typeof p.value !== 'string' && typeof p.value !== 'boolean') stats[key] = Number(p.value);
    }
    stats.nstats = params.length;
    return stats;
  }

  /** A running domain's memory statistics (virDomainMemoryStats), in the server's order. */
  async memoryStats(name: string): Promise<RemoteMemoryStat[]> {
    const r = await this.domCall(Proc.DOMAIN_MEMORY_STATS, name, (w) => w.uint(MEMORY_STAT_NR).uint(0));
    return r.array((r) => ({ tag: r.int(), val: Number(r.uhyper()) }), REMOTE_DOMAIN_MEMORY_STATS_MAX);
  }

  /** Registers for lifecycle events of every domain; resolves with the unsubscriber. */
  async onLifecycle(listener: (e: LifecycleEventMessage) => void): Promise<() => Promise<void>> {
    const r = await this.call(Proc.CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY, (w) => {
      w.int(DOMAIN_EVENT_ID_LIFECYCLE);
      w.optional<RemoteDomain>(null, writeDomain);
    });
    const id = r.int();
    this.lifecycleListeners.set(id, listener);
    return async () => {
      this.lifecycleListeners.delete(id);
      await this.call(Proc.CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY, (w) => w.int(id));
    };
  }
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
  // dist/client → dist/daemon/bin.js; from the sources (tests) the built one in dist
  let bin = fileURLToPath(new URL('../daemon/bin.js', import.meta.url));
  if (!existsSync(bin)) bin = fileURLToPath(new URL('../../dist/daemon/bin.js', import.meta.url));
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
