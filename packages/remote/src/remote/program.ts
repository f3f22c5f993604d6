/**
 * The REMOTE program (remote_protocol.x) served over one @qvirt/driver instance: the procedures
 * virsh and libvirt-python need for hosts and domain lifecycles, and lifecycle events.
 *
 * Procedures libvirt has but qvirt does not serve answer libvirt's "this function is not supported
 * by the connection driver: virXxx" (VIR_ERR_NO_SUPPORT), as a libvirt driver without the method
 * does; numbers libvirt does not know answer "unknown procedure: N" (VIR_ERR_RPC).
 */
import { hostname, cpus as osCpus, totalmem } from 'node:os';
import { blockStatsParams, type DomainSummary, type LifecycleChange, type QemuDriver } from '@qvirt/driver';
import {
  AuthType,
  REMOTE_AUTH_TYPE_LIST_MAX,
  REMOTE_DOMAIN_LIST_MAX,
  REMOTE_PROGRAM,
  REMOTE_PROTOCOL_VERSION,
  REMOTE_SECURITY_DOI_MAX,
  REMOTE_SECURITY_LABEL_LIST_MAX,
  REMOTE_SECURITY_LABEL_MAX,
  REMOTE_SECURITY_MODEL_MAX,
  UUID_BUFLEN,
} from '../rpc/constants.js';
import { noSupportError, RemoteError } from '../rpc/error.js';
import type { CallContext, Procedure, Program, ReplyBody, ServerClient } from '../server/server.js';
import type { XdrReader, XdrWriter } from '../xdr/xdr.js';
import { apiName, Proc, REMOTE_PROCEDURE_NAMES } from './procedures.js';
import {
  REMOTE_DOMAIN_BLOCK_STATS_PARAMETERS_MAX,
  REMOTE_DOMAIN_MEMORY_STATS_MAX,
  TYPED_PARAM_STRING_OKAY,
  writeLLongParam,
} from './typed-params.js';
import {
  DOMAIN_EVENT_ID_LIFECYCLE,
  LifecycleEvent,
  optStr,
  type RemoteDomain,
  readDomain,
  str,
  uuidFromBytes,
  writeCharArray,
  writeDomain,
  wStr,
} from './types.js';

/** libvirt 9.0.0 as virConnectGetLibVersion reports it. */
export const LIB_VERSION = 9_000_000;

/** virDomainXMLFlags / virConnectListAllDomainsFlags bits used here. */
const XML_SECURE = 1;
const XML_INACTIVE = 2;
const XML_MIGRATABLE = 8;
const LIST = {
  ACTIVE: 1 << 0,
  INACTIVE: 1 << 1,
  PERSISTENT: 1 << 2,
  TRANSIENT: 1 << 3,
  RUNNING: 1 << 4,
  PAUSED: 1 << 5,
  SHUTOFF: 1 << 6,
  OTHER: 1 << 7,
  MANAGEDSAVE: 1 << 8,
  NO_MANAGEDSAVE: 1 << 9,
  AUTOSTART: 1 << 10,
  NO_AUTOSTART: 1 << 11,
  HAS_SNAPSHOT: 1 << 12,
  NO_SNAPSHOT: 1 << 13,
  HAS_CHECKPOINT: 1 << 14,
  NO_CHECKPOINT: 1 << 15,
};
const START_PAUSED = 1;

/** virDrvFeature numbers (libvirt_internal.h). */
const Feature = {
  FD_PASSING: 8,
  TYPED_PARAM_STRING: 9,
  PROGRAM_KEEPALIVE: 10,
  REMOTE_EVENT_CALLBACK: 14,
  REMOTE_CLOSE_CALLBACK: 15,
} as const;

const STATE_NUM: Record<string, number> = {
  nostate: 0,
  running: 1,
  blocked: 2,
  paused: 3,
  shutdown: 4,
  shutoff: 5,
  crashed: 6,
  pmsuspended: 7,
};

/** virDomain*Reason numbers by state and virsh's reason word. */
const REASON_NUM: Record<string, Record<string, number>> = {
  running: { unknown: 0, booted: 1, migrated: 2, restored: 3, 'from snapshot': 4, unpaused: 5, crashed: 9 },
  paused: { unknown: 0, user: 1, 'shutting down': 8, 'starting up': 10, crashed: 9 },
  shutdown: { unknown: 0, user: 1 },
  shutoff: { unknown: 0, shutdown: 1, destroyed: 2, crashed: 3, migrated: 4, saved: 5, failed: 6, daemon: 8 },
  crashed: { unknown: 0, panicked: 1 },
};

export interface RemoteProgramOptions {
  /** The driver this daemon serves. */
  driver: QemuDriver;
  /** What a client opening with no name or `qemu:///system`/`session` is told by virConnectGetURI. */
  uri: string;
  /** Host capabilities XML (computed lazily by the daemon; cached by it). */
  capabilities?: () => Promise<string>;
  /** domxml-to-native (`qemu-argv` only). */
  xmlToNative?: (format: string, xml: string) => Promise<string> | string;
  /** domxml-from-native (`qemu-argv` only). */
  xmlFromNative?: (format: string, config: string) => Promise<string> | string;
  /** Auth types advertised by AUTH_LIST for a client (default: the client's method). */
  authTypes?: (client: ServerClient) => number[];
  /** The connection is secure (TLS, Unix socket, SSH): virConnectIsSecure. */
  isSecure?: (client: ServerClient) => boolean;
  /** Called with every call's procedure (for logging and tests). */
  trace?: (client: ServerClient, proc: number, name: string) => void;
}

interface ClientState {
  open: boolean;
  callbacks: Map<number, { eventID: number; uuid: string | null; legacy: boolean }>;
}

const STATE_KEY = 'remote';

const connectionNotOpen = () =>
  RemoteError.of('INTERNAL_ERROR', 'rpc', 'internal error: connection not open');

/** Builds the REMOTE program. Call `dispose()` when the daemon stops (drops its driver listener). */
export function createRemoteProgram(opts: RemoteProgramOptions): Program & { dispose(): void } {
  const { driver } = opts;
  const clients = new Set<ServerClient>();
  let nextCallbackId = 0;

  const state = (c: ServerClient): ClientState => {
    let s = c.state.get(STATE_KEY) as ClientState | undefined;
    if (!s) {
      s = { open: false, callbacks: new Map() };
      c.state.set(STATE_KEY, s);
    }
    return s;
  };

  const toWire = (d: DomainSummary): RemoteDomain => ({ name: d.name, uuid: d.uuid, id: d.id });

  /** get_nonnull_domain + the driver's lookup: by UUID, then by name (libvirt looks up by UUID). */
  const lookup = (d: RemoteDomain): DomainSummary => {
    const found = driver.find(d.uuid) ?? driver.listDomains().find((x) => x.name === d.name);
    if (!found) {
      throw RemoteError.of(
        'NO_DOMAIN',
        'qemu',
        `Domain not found: no domain with matching uuid '${d.uuid}' (${d.name})`,
      );
    }
    return found;
  };

  const procs = new Map<number, Procedure>();
  /** Registers a procedure that needs an open connection. */
  const def = (
    proc: number,
    handle: (r: XdrReader, ctx: CallContext) => ReplyBody | Promise<ReplyBody>,
    flags: { mutating?: boolean; needOpen?: boolean; needAuth?: boolean } = {},
  ) => {
    const name = apiName(proc) ?? `proc${proc}`;
    procs.set(proc, {
      name,
      mutating: flags.mutating,
      needAuth: flags.needAuth,
      handle: (r, ctx) => {
        opts.trace?.(ctx.client, proc, name);
        if (flags.needOpen !== false && !state(ctx.client).open) throw connectionNotOpen();
        return handle(r, ctx);
      },
    });
  };
  const domReply = (d: DomainSummary) => (w: XdrWriter) => writeDomain(w, toWire(d));

  // ---- connection ---------------------------------------------------------------------------

  def(
    Proc.CONNECT_OPEN,
    (r, ctx) => {
      const name = optStr(r);
      r.uint(); // flags (VIR_CONNECT_RO is decided by the socket, not the client)
      if (name && name !== '' && !acceptsUri(name)) {
        throw RemoteError.of('NO_CONNECT', 'none', `no connection driver available for ${name}`);
      }
      state(ctx.client).open = true;
      clients.add(ctx.client);
      return undefined;
    },
    { needOpen: false },
  );
  def(
    Proc.CONNECT_CLOSE,
    (_r, ctx) => {
      const s = state(ctx.client);
      s.open = false;
      s.callbacks.clear();
      clients.delete(ctx.client);
      return undefined;
    },
    { needOpen: false },
  );
  def(
    Proc.AUTH_LIST,
    (_r, ctx) => {
      const types = opts.authTypes?.(ctx.client) ?? [ctx.client.auth.type ?? AuthType.NONE];
      return (w) => w.array(types, (x, t) => x.enum(t), REMOTE_AUTH_TYPE_LIST_MAX);
    },
    { needOpen: false, needAuth: false },
  );
  def(
    Proc.CONNECT_SUPPORTS_FEATURE,
    (r, ctx) => {
      const feature = r.int();
      let supported = 0;
      if (feature === Feature.PROGRAM_KEEPALIVE) {
        ctx.client.startKeepAlive();
        supported = 1;
      } else {
        if (!state(ctx.client).open) throw connectionNotOpen();
        supported =
          feature === Feature.REMOTE_EVENT_CALLBACK ||
          feature === Feature.REMOTE_CLOSE_CALLBACK ||
          feature === Feature.TYPED_PARAM_STRING
            ? 1
            : 0;
      }
      return (w) => w.int(supported);
    },
    { needOpen: false },
  );
  def(Proc.CONNECT_GET_TYPE, () => (w) => wStr(w, 'QEMU'));
  def(Proc.CONNECT_GET_VERSION, () => (w) => w.uhyper(BigInt(driver.caps.version)));
  def(Proc.CONNECT_GET_LIB_VERSION, () => (w) => w.uhyper(BigInt(LIB_VERSION)));
  def(Proc.CONNECT_GET_HOSTNAME, () => (w) => wStr(w, hostname()));
  def(Proc.CONNECT_GET_URI, () => (w) => wStr(w, opts.uri));
  def(Proc.CONNECT_GET_MAX_VCPUS, (r) => {
    optStr(r);
    return (w) => w.int(255);
  });
  def(Proc.CONNECT_IS_SECURE, (_r, ctx) => (w) => w.int(opts.isSecure?.(ctx.client) === false ? 0 : 1));
  def(Proc.CONNECT_IS_ENCRYPTED, (_r, ctx) => (w) => w.int(ctx.client.identity.encrypted ? 1 : 0));
  def(Proc.CONNECT_REGISTER_CLOSE_CALLBACK, () => undefined);
  def(Proc.CONNECT_UNREGISTER_CLOSE_CALLBACK, () => undefined);
  def(Proc.NODE_GET_INFO, () => {
    const cpus = osCpus();
    return (w) => {
      writeCharArray(w, process.arch === 'x64' ? 'x86_64' : process.arch, 32, true);
      w.uhyper(BigInt(Math.floor(totalmem() / 1024)));
      w.int(cpus.length)
        .int(cpus[0]?.speed ?? 0)
        .int(1)
        .int(1)
        .int(cpus.length)
        .int(1);
    };
  });
  def(Proc.CONNECT_GET_CAPABILITIES, async () => {
    if (!opts.capabilities) throw noSupportError('virConnectGetCapabilities');
    const xml = await opts.capabilities();
    return (w) => wStr(w, xml);
  });
  def(Proc.NODE_GET_SECURITY_MODEL, async () => {
    // the primary security driver's model and DOI ("none"/"0" without one), NUL-terminated as libvirt sends them
    const models = await driver.secModels().catch(() => []);
    const first = models[0] ?? { model: 'none', doi: '0' };
    return (w) => {
      writeCharArray(w, `${first.model}\0`, REMOTE_SECURITY_MODEL_MAX);
      writeCharArray(w, `${first.doi}\0`, REMOTE_SECURITY_DOI_MAX);
    };
  });

  // ---- listing and lookup -----------------------------------------------------------------

  const active = (d: DomainSummary) => d.state !== 'shutoff' && d.state !== 'nostate';
  def(Proc.CONNECT_NUM_OF_DOMAINS, () => (w) => w.int(driver.listDomains().filter(active).length));
  def(
    Proc.CONNECT_NUM_OF_DEFINED_DOMAINS,
    () => (w) => w.int(driver.listDomains().filter((d) => !active(d)).length),
  );
  def(Proc.CONNECT_LIST_DOMAINS, (r) => {
    const max = r.int();
    if (max > REMOTE_DOMAIN_LIST_MAX) throw RemoteError.of('RPC', 'rpc', `maxids > REMOTE_DOMAIN_LIST_MAX`);
    const ids = driver
      .listDomains()
      .filter(active)
      .map((d) => d.id)
      .slice(0, Math.max(0, max));
    return (w) => w.array(ids, (x, v) => x.int(v), REMOTE_DOMAIN_LIST_MAX);
  });
  def(Proc.CONNECT_LIST_DEFINED_DOMAINS, (r) => {
    const max = r.int();
    if (max > REMOTE_DOMAIN_LIST_MAX) throw RemoteError.of('RPC', 'rpc', `maxnames > REMOTE_DOMAIN_LIST_MAX`);
    const names = driver
      .listDomains()
      .filter((d) => !active(d))
      .map((d) => d.name)
      .slice(0, Math.max(0, max));
    return (w) => w.array(names, (x, v) => wStr(x, v), REMOTE_DOMAIN_LIST_MAX);
  });
  def(Proc.CONNECT_LIST_ALL_DOMAINS, (r) => {
    const needResults = r.int();
    const flags = r.uint();
    const doms = driver.listDomains().filter((d) => matchesListFlags(d, flags));
    if (doms.length > REMOTE_DOMAIN_LIST_MAX) {
      throw RemoteError.of(
        'RPC',
        'rpc',
        `Too many domains '${doms.length}' for limit '${REMOTE_DOMAIN_LIST_MAX}'`,
      );
    }
    return (w) => {
      w.array(needResults ? doms.map(toWire) : [], writeDomain, REMOTE_DOMAIN_LIST_MAX);
      w.uint(doms.length);
    };
  });
  def(Proc.DOMAIN_LOOKUP_BY_NAME, (r) => {
    const name = str(r);
    const d = driver.listDomains().find((x) => x.name === name);
    if (!d)
      throw RemoteError.of('NO_DOMAIN', 'qemu', `Domain not found: no domain with matching name '${name}'`);
    return domReply(d);
  });
  def(Proc.DOMAIN_LOOKUP_BY_UUID, (r) => {
    const uuid = uuidFromBytes(r.fixedOpaque(UUID_BUFLEN));
    const d = driver.listDomains().find((x) => x.uuid === uuid);
    if (!d)
      throw RemoteError.of('NO_DOMAIN', 'qemu', `Domain not found: no domain with matching uuid '${uuid}'`);
    return domReply(d);
  });
  def(Proc.DOMAIN_LOOKUP_BY_ID, (r) => {
    const id = r.int();
    const d = driver.listDomains().find((x) => x.id === id && active(x));
    if (!d) throw RemoteError.of('NO_DOMAIN', 'qemu', `Domain not found: no domain with matching id ${id}`);
    return domReply(d);
  });

  // ---- definitions ------------------------------------------------------------------------

  def(Proc.DOMAIN_DEFINE_XML, async (r) => domReply(await driver.defineXML(str(r))), { mutating: true });
  def(
    Proc.DOMAIN_DEFINE_XML_FLAGS,
    async (r) => {
      const xml = str(r);
      r.uint();
      return domReply(await driver.defineXML(xml));
    },
    { mutating: true },
  );
  def(
    Proc.DOMAIN_UNDEFINE,
    async (r) => {
      await driver.undefine(lookup(readDomain(r)).name);
      return undefined;
    },
    { mutating: true },
  );
  def(
    Proc.DOMAIN_UNDEFINE_FLAGS,
    async (r) => {
      const d = lookup(readDomain(r));
      r.uint(); // managed save, snapshot metadata, nvram: nothing of that kind to remove
      await driver.undefine(d.name);
      return undefined;
    },
    { mutating: true },
  );
  def(Proc.DOMAIN_GET_AUTOSTART, (r) => {
    const d = lookup(readDomain(r));
    return (w) => w.int(d.autostart ? 1 : 0);
  });
  def(
    Proc.DOMAIN_SET_AUTOSTART,
    async (r) => {
      const d = lookup(readDomain(r));
      await driver.setAutostart(d.name, r.int() !== 0);
      return undefined;
    },
    { mutating: true },
  );
  def(Proc.DOMAIN_GET_XML_DESC, (r, ctx) => {
    const d = lookup(readDomain(r));
    const flags = r.uint();
    if (ctx.client.readOnly && flags & (XML_SECURE | XML_MIGRATABLE)) {
      throw RemoteError.of(
        'OPERATION_DENIED',
        'domain',
        'operation forbidden: virDomainGetXMLDesc with secure flag',
      );
    }
    const xml = driver.getXMLDesc(d.name, {
      inactive: (flags & XML_INACTIVE) !== 0,
      secure: (flags & XML_SECURE) !== 0,
    });
    return (w) => wStr(w, xml);
  });

  // ---- lifecycle --------------------------------------------------------------------------

  const startFlags = (flags: number) => ({ paused: (flags & START_PAUSED) !== 0 });
  def(
    Proc.DOMAIN_CREATE,
    async (r) => {
      await driver.start(lookup(readDomain(r)).name);
      return undefined;
    },
    { mutating: true },
  );
  def(
    Proc.DOMAIN_CREATE_WITH_FLAGS,
    async (r) => {
      const d = lookup(readDomain(r));
      const started = await driver.start(d.name, startFlags(r.uint()));
      return domReply(started);
    },
    { mutating: true },
  );
  def(
    Proc.DOMAIN_CREATE_XML,
    async (r) => {
      const xml = str(r);
      return domReply(await driver.createXML(xml, startFlags(r.uint())));
    },
    { mutating: true },
  );
  const simple = (proc: number, op: (name: string) => Promise<unknown>, withFlags: boolean) =>
    def(
      proc,
      async (r) => {
        const d = lookup(readDomain(r));
        if (withFlags) r.uint();
        await op(d.name);
        return undefined;
      },
      { mutating: true },
    );
  simple(Proc.DOMAIN_SHUTDOWN, (n) => driver.shutdown(n), false);
  simple(Proc.DOMAIN_SHUTDOWN_FLAGS, (n) => driver.shutdown(n), true);
  simple(Proc.DOMAIN_DESTROY, (n) => driver.destroy(n), false);
  simple(Proc.DOMAIN_DESTROY_FLAGS, (n) => driver.destroy(n), true);
  simple(Proc.DOMAIN_REBOOT, (n) => driver.reboot(n), true);
  simple(Proc.DOMAIN_RESET, (n) => driver.reset(n), true);
  simple(Proc.DOMAIN_SUSPEND, (n) => driver.suspend(n), false);
  simple(Proc.DOMAIN_RESUME, (n) => driver.resume(n), false);

  // ---- state ------------------------------------------------------------------------------

  def(Proc.DOMAIN_GET_INFO, (r) => {
    const info = driver.getInfo(lookup(readDomain(r)).name);
    return (w) => {
      w.int(STATE_NUM[info.state] ?? 0); // unsigned char
      w.uhyper(BigInt(info.maxMem)).uhyper(BigInt(info.memory));
      w.int(info.nrVirtCpu); // unsigned short
      w.uhyper(BigInt(Math.max(0, Math.floor(info.cpuTime))));
    };
  });
  def(Proc.DOMAIN_GET_STATE, (r) => {
    const d = lookup(readDomain(r));
    r.uint();
    const st = driver.getState(d.name);
    return (w) => w.int(STATE_NUM[st.state] ?? 0).int(REASON_NUM[st.state]?.[st.reason] ?? 0);
  });
  // virDomainInterfaceStats (virsh domifstat): a running domain's interface by name or MAC
  def(Proc.DOMAIN_INTERFACE_STATS, (r) => {
    const d = lookup(readDomain(r));
    const s = driver.interfaceStats(d.name, str(r));
    return (w) => {
      for (const v of [
        s.rxBytes,
        s.rxPackets,
        s.rxErrs,
        s.rxDrop,
        s.txBytes,
        s.txPackets,
        s.txErrs,
        s.txDrop,
      ])
        w.hyper(BigInt(v));
    };
  });
  // virDomainBlockStats (the legacy domblkstat call): one disk by target or source, "" for all
  def(Proc.DOMAIN_BLOCK_STATS, async (r) => {
    const d = lookup(readDomain(r));
    const s = await driver.blockStats(d.name, str(r));
    return (w) => {
      for (const v of [s.rdReq, s.rdBytes, s.wrReq, s.wrBytes, s.errs]) w.hyper(BigInt(v));
    };
  });
  // virDomainBlockStatsFlags: nparams = 0 asks how many there are (virsh asks that first)
  def(Proc.DOMAIN_BLOCK_STATS_FLAGS, async (r) => {
    const d = lookup(readDomain(r));
    const disk = str(r);
    const nparams = r.int();
    const flags = r.uint();
    if (nparams < 0) throw internalError('nparams must be non-negative');
    if (nparams > REMOTE_DOMAIN_BLOCK_STATS_PARAMETERS_MAX) throw internalError('nparams too large');
    checkFlags(flags, TYPED_PARAM_STRING_OKAY, 'qemuDomainBlockStatsFlags');
    const s = await driver.blockStats(d.name, disk);
    if (nparams === 0) return (w) => w.array([], () => {}).int(s.nstats);
    const params = blockStatsParams(s, Math.min(nparams, s.nstats));
    return (w) =>
      w
        .array(
          params,
          (w, p) => writeLLongParam(w, p.field, p.value),
          REMOTE_DOMAIN_BLOCK_STATS_PARAMETERS_MAX,
        )
        .int(params.length);
  });
  // virDomainMemoryStats (virsh dommemstat): at most maxStats of them, in the driver's order
  def(Proc.DOMAIN_MEMORY_STATS, async (r) => {
    const dom = readDomain(r);
    const maxStats = r.uint();
    const flags = r.uint();
    // remoteDispatchDomainMemoryStats checks the count before it looks the domain up
    if (maxStats > REMOTE_DOMAIN_MEMORY_STATS_MAX)
      throw internalError('maxStats > REMOTE_DOMAIN_MEMORY_STATS_MAX');
    const d = lookup(dom);
    checkFlags(flags, 0, 'qemuDomainMemoryStats');
    const stats = (await driver.memoryStats(d.name)).slice(0, maxStats);
    return (w) =>
      w.array(stats, (w, s) => w.int(s.tag).uhyper(BigInt(s.val)), REMOTE_DOMAIN_MEMORY_STATS_MAX);
  });
  def(Proc.DOMAIN_IS_ACTIVE, (r) => {
    const d = lookup(readDomain(r));
    return (w) => w.int(active(d) ? 1 : 0);
  });
  def(Proc.DOMAIN_IS_PERSISTENT, (r) => {
    const d = lookup(readDomain(r));
    return (w) => w.int(d.persistent ? 1 : 0);
  });
  def(Proc.DOMAIN_IS_UPDATED, (r) => {
    lookup(readDomain(r));
    return (w) => w.int(0);
  });
  def(Proc.DOMAIN_HAS_MANAGED_SAVE_IMAGE, (r) => {
    lookup(readDomain(r));
    r.uint();
    return (w) => w.int(0);
  });
  def(Proc.DOMAIN_GET_OS_TYPE, (r) => {
    const d = lookup(readDomain(r));
    const type = /<type[^>]*>\s*([a-z]+)\s*<\/type>/.exec(driver.getXMLDesc(d.name))?.[1] ?? 'hvm';
    return (w) => wStr(w, type);
  });
  def(Proc.DOMAIN_GET_MAX_MEMORY, (r) => {
    const info = driver.getInfo(lookup(readDomain(r)).name);
    return (w) => w.uhyper(BigInt(info.maxMem));
  });
  def(Proc.DOMAIN_GET_VCPUS_FLAGS, (r) => {
    const info = driver.getInfo(lookup(readDomain(r)).name);
    r.uint();
    return (w) => w.int(info.nrVirtCpu);
  });
  def(Proc.DOMAIN_GET_METADATA, (r) => {
    lookup(readDomain(r));
    throw RemoteError.of(
      'NO_DOMAIN_METADATA',
      'domain',
      'metadata not found: Requested metadata element is not present',
    );
  });
  const securityLabel = async (d: DomainSummary): Promise<{ label: string; enforcing: number }> => {
    const models = await driver.secModels().catch(() => []);
    if (!models[0] || models[0].model === 'none' || !active(d)) return { label: '', enforcing: 0 };
    const xml = driver.getXMLDesc(d.name);
    const m = /<seclabel[^>]*model=['"]([^'"]+)['"][^>]*>[\s\S]*?<label>([^<]*)<\/label>/.exec(xml);
    return m && m[1] === models[0].model ? { label: `${m[2]}\0`, enforcing: 1 } : { label: '', enforcing: 0 };
  };
  def(Proc.DOMAIN_GET_SECURITY_LABEL, async (r) => {
    const l = await securityLabel(lookup(readDomain(r)));
    return (w) => {
      writeCharArray(w, l.label, REMOTE_SECURITY_LABEL_MAX);
      w.int(l.enforcing);
    };
  });
  def(Proc.DOMAIN_GET_SECURITY_LABEL_LIST, async (r) => {
    const l = await securityLabel(lookup(readDomain(r)));
    return (w) => {
      w.array(
        [l],
        (x, v) => {
          writeCharArray(x, v.label, REMOTE_SECURITY_LABEL_MAX);
          x.int(v.enforcing);
        },
        REMOTE_SECURITY_LABEL_LIST_MAX,
      );
      w.int(1);
    };
  });

  // ---- conversions ------------------------------------------------------------------------

  def(
    Proc.CONNECT_DOMAIN_XML_TO_NATIVE,
    async (r) => {
      const format = str(r);
      const xml = str(r);
      r.uint();
      if (!opts.xmlToNative) throw noSupportError('virConnectDomainXMLToNative');
      const native = await opts.xmlToNative(format, xml);
      return (w) => wStr(w, native);
    },
    { mutating: true },
  );
  def(
    Proc.CONNECT_DOMAIN_XML_FROM_NATIVE,
    async (r) => {
      const format = str(r);
      const config = str(r);
      r.uint();
      if (!opts.xmlFromNative) throw noSupportError('virConnectDomainXMLFromNative');
      const xml = await opts.xmlFromNative(format, config);
      return (w) => wStr(w, xml);
    },
    { mutating: true },
  );

  // ---- events -----------------------------------------------------------------------------

  def(Proc.CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY, (r, ctx) => {
    const eventID = r.int();
    const dom = r.optional(readDomain);
    if (eventID < 0 || eventID > 30) {
      throw RemoteError.of('INVALID_ARG', 'none', `invalid argument: unsupported event ID ${eventID}`);
    }
    const id = ++nextCallbackId;
    state(ctx.client).callbacks.set(id, { eventID, uuid: dom ? lookup(dom).uuid : null, legacy: false });
    return (w) => w.int(id);
  });
  def(Proc.CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY, (r, ctx) => {
    const id = r.int();
    if (!state(ctx.client).callbacks.delete(id)) {
      throw RemoteError.of('INVALID_ARG', 'none', `invalid argument: callbackID ${id} is not registered`);
    }
    return undefined;
  });
  // The pre-1.2.1 form: one registration per event ID, events sent as DOMAIN_EVENT_LIFECYCLE.
  def(Proc.CONNECT_DOMAIN_EVENT_REGISTER_ANY, (r, ctx) => {
    const eventID = r.int();
    const s = state(ctx.client);
    if ([...s.callbacks.values()].some((c) => c.legacy && c.eventID === eventID)) {
      throw RemoteError.of(
        'INTERNAL_ERROR',
        'rpc',
        `internal error: domain event ${eventID} already registered`,
      );
    }
    s.callbacks.set(-1 - eventID, { eventID, uuid: null, legacy: true });
    return undefined;
  });
  def(Proc.CONNECT_DOMAIN_EVENT_DEREGISTER_ANY, (r, ctx) => {
    const eventID = r.int();
    if (!state(ctx.client).callbacks.delete(-1 - eventID)) {
      throw RemoteError.of('INTERNAL_ERROR', 'rpc', `internal error: domain event ${eventID} not registered`);
    }
    return undefined;
  });

  const unsubscribe = driver.onLifecycle((change) => {
    const ev = lifecycleEvent(change);
    if (!ev) return;
    const dom: RemoteDomain = { name: change.name, uuid: change.uuid, id: change.id };
    for (const c of clients) {
      if (c.isClosed) continue;
      for (const [id, cb] of state(c).callbacks) {
        if (cb.eventID !== DOMAIN_EVENT_ID_LIFECYCLE) continue;
        if (cb.uuid && cb.uuid !== change.uuid) continue;
        const msg = (w: XdrWriter) => {
          writeDomain(w, dom);
          w.int(ev.event).int(ev.detail);
        };
        if (cb.legacy)
          c.sendMessage(REMOTE_PROGRAM, REMOTE_PROTOCOL_VERSION, Proc.DOMAIN_EVENT_LIFECYCLE, msg);
        else
          c.sendMessage(
            REMOTE_PROGRAM,
            REMOTE_PROTOCOL_VERSION,
            Proc.DOMAIN_EVENT_CALLBACK_LIFECYCLE,
            (w) => {
              w.int(id);
              msg(w);
            },
          );
      }
    }
  });

  return {
    program: REMOTE_PROGRAM,
    version: REMOTE_PROTOCOL_VERSION,
    procedures: procs,
    unknownProcedure(proc: number) {
      const api = apiName(proc);
      if (api && REMOTE_PROCEDURE_NAMES[proc]) return noSupportError(api);
      return RemoteError.of('RPC', 'rpc', `unknown procedure: ${proc}`);
    },
    clientClosed(client: ServerClient) {
      clients.delete(client);
    },
    dispose() {
      unsubscribe();
      clients.clear();
    },
  };
}

/** The URIs this daemon answers virConnectOpen for. */
function acceptsUri(name: string): boolean {
  return /^qemu(\+[a-z0-9]+)?:\/\/[^/]*\/(system|session|embed)(\?.*)?$/.test(name);
}

const internalError = (msg: string) => RemoteError.of('INTERNAL_ERROR', 'rpc', `internal error: ${msg}`);

/** virCheckFlags in the driver function `fn`. */
function checkFlags(flags: number, supported: number, fn: string): void {
  const extra = flags & ~supported;
  if (extra) {
    throw RemoteError.of(
      'INVALID_ARG',
      'qemu',
      `invalid argument: unsupported flags (0x${(extra >>> 0).toString(16)}) in function ${fn}`,
    );
  }
}

function matchesListFlags(d: DomainSummary, flags: number): boolean {
  const isActive = d.state !== 'shutoff' && d.state !== 'nostate';
  /** A flag pair (e.g. ACTIVE / INACTIVE): with just one of the two set, the domain must match it. */
  const pair = (a: number, b: number, isA: boolean) => {
    const wantA = (flags & a) !== 0;
    const wantB = (flags & b) !== 0;
    if (wantA === wantB) return true;
    return wantA ? isA : !isA;
  };
  if (!pair(LIST.ACTIVE, LIST.INACTIVE, isActive)) return false;
  if (!pair(LIST.PERSISTENT, LIST.TRANSIENT, d.persistent)) return false;
  if (!pair(LIST.AUTOSTART, LIST.NO_AUTOSTART, d.autostart)) return false;
  if (!pair(LIST.MANAGEDSAVE, LIST.NO_MANAGEDSAVE, false)) return false;
  if (!pair(LIST.HAS_SNAPSHOT, LIST.NO_SNAPSHOT, false)) return false;
  if (!pair(LIST.HAS_CHECKPOINT, LIST.NO_CHECKPOINT, false)) return false;
  const stateBits = flags & (LIST.RUNNING | LIST.PAUSED | LIST.SHUTOFF | LIST.OTHER);
  if (stateBits) {
    const bit =
      d.state === 'running'
        ? LIST.RUNNING
        : d.state === 'paused'
          ? LIST.PAUSED
          : d.state === 'shutoff'
            ? LIST.SHUTOFF
            : LIST.OTHER;
    if (!(stateBits & bit)) return false;
  }
  return true;
}

/** A driver change as libvirt's (event, detail) pair, or undefined for changes libvirt does not announce. */
export function lifecycleEvent(c: LifecycleChange): { event: number; detail: number } | undefined {
  if (c.kind === 'defined') return { event: LifecycleEvent.DEFINED, detail: c.updated ? 1 : 0 };
  if (c.kind === 'undefined') return { event: LifecycleEvent.UNDEFINED, detail: 0 };
  if (c.previous === c.state) return undefined;
  switch (c.state) {
    case 'running':
      if (c.reason === 'unpaused' || c.previous === 'paused') {
        // QEMU's -S start ends in a resume that libvirt reports as STARTED/BOOTED.
        return c.reason === 'booted'
          ? { event: LifecycleEvent.STARTED, detail: 0 }
          : { event: LifecycleEvent.RESUMED, detail: 0 };
      }
      return { event: LifecycleEvent.STARTED, detail: 0 };
    case 'paused':
      if (c.reason === 'starting up') return undefined;
      return { event: LifecycleEvent.SUSPENDED, detail: 0 };
    case 'shutdown':
      return { event: LifecycleEvent.SHUTDOWN, detail: 0 };
    case 'shutoff': {
      const detail = { shutdown: 0, destroyed: 1, crashed: 2, failed: 5 }[c.reason as string] ?? 0;
      return { event: LifecycleEvent.STOPPED, detail };
    }
    case 'crashed':
      return { event: LifecycleEvent.CRASHED, detail: 0 };
    default:
      return undefined;
  }
}
