/**
 * The REMOTE and QEMU programs (remote_protocol.x, qemu_protocol.x) over any hypervisor contract
 * implementation: every procedure of the dispatch table (../protocol/dispatch-table.ts) decoded,
 * called and encoded the same way; what belongs to the connection rather than the hypervisor
 * (open, close, auth list, keepalive, event callbacks) here.
 *
 * Procedures libvirt 9.0 has but qvirt does not serve answer "this function is not supported by
 * the connection driver: virXxx" (VIR_ERR_NO_SUPPORT), as a libvirt driver without the method
 * does; numbers libvirt does not know, and procedures that are not APIs, "unknown procedure: N".
 */

import type { VirStream } from '@qvirt/core/hypervisor';
import {
  type DomainEvent,
  type DomainEventCallback,
  DomainEventCallbacks,
  VIR_DOMAIN_EVENT_ID_LAST,
  VIR_DRV_FEATURE,
} from '@qvirt/core/hypervisor';
import { codecFor } from '../protocol/codec.js';
import { argsFor, type BoundRow, type Drivers, dispatchRows, serveRow } from '../protocol/dispatch-table.js';
import { PROTOCOL, type ProcedureFact, procedureByName, procedureFact } from '../protocol/facts.js';
import { AuthType, REMOTE_AUTH_TYPE_LIST_MAX } from '../rpc/constants.js';
import { noSupportError, RemoteError, readOnlyError } from '../rpc/error.js';
import type { CallContext, Procedure, Program, ReplyBody, ServerClient } from '../server/server.js';
import { closeServerStreams, registerServerStream, serverStreamPacket } from '../stream/server-streams.js';
import type { XdrReader, XdrWriter } from '../xdr/xdr.js';
import { DOMAIN_EVENT_WIRE } from './domain-events.js';
import { SECRET_EVENTS, STORAGE_POOL_EVENTS, serveObjectEvents } from './object-events.js';

export { argsFor };

export interface RemoteProgramOptions {
  /** The drivers this daemon serves (the hypervisor; storage and secrets when present). */
  drivers: Drivers;
  /** Events of every domain, to fan out to the clients that registered for them. */
  onDomainEvent: (listener: (event: DomainEvent) => void) => () => void;
  /** Auth types advertised by AUTH_LIST for a client (default: the client's method). */
  authTypes?: (client: ServerClient) => number[];
  /** Called with every call's procedure (for logging and tests). */
  trace?: (client: ServerClient, proc: number, name: string) => void;
}

interface ClientState {
  open: boolean;
  callbacks: DomainEventCallbacks;
  /** One marker callback per event id: the daemon's single relay per event (libvirt's domainEventCallbacks[]). */
  relays: Map<number, DomainEventCallback>;
  /** virConnectDomainEventRegisterAny's pre-1.2.1 form: event ids registered. */
  legacy: Set<number>;
  /** libvirt-qemu's monitor event registrations (the driver's callback ids). */
  qemuEvents: Set<number>;
}

const STATE_KEY = 'remote';
const program = (name: 'REMOTE' | 'QEMU') => PROTOCOL.programs[name]!;

/** remoteGetHypervisorConn: a call before CONNECT_OPEN. */
const notOpen = () =>
  RemoteError.of('INTERNAL_ERROR', 'rpc', 'internal error: hypervisor connection not open');

/** A procedure's reply struct, encoded (undefined for a void reply). */
const encodeRet = (fact: ProcedureFact, ret: unknown): ReplyBody =>
  fact.ret ? (w: XdrWriter) => codecFor(fact.ret!).encode(w, ret) : undefined;
const decodeArgs = (fact: ProcedureFact, r: XdrReader): Record<string, unknown> =>
  fact.args ? (codecFor(fact.args).decode(r) as Record<string, unknown>) : {};

/** Builds the REMOTE and QEMU programs. Call `dispose()` when the daemon stops (drops its event listener). */
export function createRemotePrograms(opts: RemoteProgramOptions): { programs: Program[]; dispose(): void } {
  const driver = opts.drivers.hypervisor;
  const clients = new Set<ServerClient>();

  const state = (c: ServerClient): ClientState => {
    let s = c.state.get(STATE_KEY) as ClientState | undefined;
    if (!s) {
      s = {
        open: false,
        callbacks: new DomainEventCallbacks(),
        relays: new Map(),
        legacy: new Set(),
        qemuEvents: new Set(),
      };
      c.state.set(STATE_KEY, s);
    }
    return s;
  };

  const procs = new Map<number, Procedure>();
  /** The QEMU program's procedures (qemu_protocol.x). */
  const qemuProcs = new Map<number, Procedure>();
  const programProcs = (fact: ProcedureFact) => (fact.program === 'QEMU' ? qemuProcs : procs);
  /** A procedure of the connection itself (not the hypervisor's). */
  const own = (
    name: string,
    handle: (args: Record<string, unknown>, ctx: CallContext) => unknown | Promise<unknown>,
    flags: { needOpen?: boolean; needAuth?: boolean } = {},
  ) => {
    const fact = procedureByName(name);
    programProcs(fact).set(fact.number, {
      name: fact.api ?? fact.name,
      mutating: fact.readonlyForbidden,
      needAuth: flags.needAuth,
      async handle(r, ctx) {
        opts.trace?.(ctx.client, fact.number, fact.name);
        const args = decodeArgs(fact, r);
        if (flags.needOpen !== false && !state(ctx.client).open) throw notOpen();
        return encodeRet(fact, await handle(args, ctx));
      },
    });
  };

  /** A table row: decode, call the contract, encode. */
  const served = (row: BoundRow): Procedure => ({
    name: row.fact.api ?? row.fact.name,
    mutating: row.fact.readonlyForbidden,
    async handle(r, ctx) {
      opts.trace?.(ctx.client, row.fact.number, row.fact.name);
      const args = decodeArgs(row.fact, r);
      if (!state(ctx.client).open) throw notOpen();
      if (ctx.client.readOnly && !row.spec.serve && refusedFlags(row.fact, args))
        throw readOnlyError(row.fact.api!);
      const ret = await serveRow(row, opts.drivers, args, { readOnly: ctx.client.readOnly });
      if (row.stream) {
        // the stream is the call's: its packets carry this serial (../stream/server-streams.ts)
        const sparse = ((args.flags as number) & row.stream.sparse) !== 0;
        ctx.afterReply = registerServerStream(
          ctx.client,
          ctx.header,
          ret as VirStream,
          row.stream.direction,
          sparse,
        );
        // (virDomainScreenshot's reply also carries a field: the stream object holds it)
        return encodeRet(row.fact, row.fact.ret ? ret : undefined);
      }
      return encodeRet(row.fact, ret);
    },
  });
  for (const row of dispatchRows().values()) programProcs(row.fact).set(row.fact.number, served(row));

  // ---- the connection ------------------------------------------------------------------------
  own(
    'REMOTE_PROC_CONNECT_OPEN',
    (a, ctx) => {
      const name = a.name as string | null;
      if (name && !acceptsUri(name)) {
        throw RemoteError.of('NO_CONNECT', 'none', `no connection driver available for ${name}`);
      }
      state(ctx.client).open = true;
      clients.add(ctx.client);
    },
    { needOpen: false },
  );
  own(
    'REMOTE_PROC_CONNECT_CLOSE',
    (_a, ctx) => {
      const s = state(ctx.client);
      s.open = false;
      s.callbacks.clear();
      s.relays.clear();
      s.legacy.clear();
      dropQemuEvents(ctx.client);
      clients.delete(ctx.client);
    },
    { needOpen: false },
  );
  own(
    'REMOTE_PROC_AUTH_LIST',
    (_a, ctx) => {
      const types = opts.authTypes?.(ctx.client) ?? [ctx.client.auth.type ?? AuthType.NONE];
      return { types: types.slice(0, REMOTE_AUTH_TYPE_LIST_MAX) };
    },
    { needOpen: false, needAuth: false },
  );
  // keepalive is the daemon's, asked before the connection is open; the rest is the driver's
  own(
    'REMOTE_PROC_CONNECT_SUPPORTS_FEATURE',
    async (a, ctx) => {
      const feature = a.feature as number;
      if (feature === VIR_DRV_FEATURE.PROGRAM_KEEPALIVE) {
        ctx.client.startKeepAlive();
        return { supported: 1 };
      }
      if (!state(ctx.client).open) throw notOpen();
      // the remote driver answers these for itself (remoteConnectSupportsFeature)
      if (
        feature === VIR_DRV_FEATURE.REMOTE_EVENT_CALLBACK ||
        feature === VIR_DRV_FEATURE.REMOTE_CLOSE_CALLBACK
      ) {
        return { supported: 1 };
      }
      return { supported: await driver.connectSupportsFeature(feature) };
    },
    { needOpen: false },
  );
  own('REMOTE_PROC_CONNECT_REGISTER_CLOSE_CALLBACK', () => undefined);
  own('REMOTE_PROC_CONNECT_UNREGISTER_CLOSE_CALLBACK', () => undefined);

  // ---- events ---------------------------------------------------------------------------------
  /** remoteDispatchConnectDomainEventCallbackRegisterAny. */
  own('REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY', async (a, ctx) => {
    const eventID = a.eventID as number;
    if (eventID < 0 || eventID >= VIR_DOMAIN_EVENT_ID_LAST) {
      throw RemoteError.of('INTERNAL_ERROR', 'rpc', `internal error: unsupported event ID ${eventID}`);
    }
    const s = state(ctx.client);
    let relay = s.relays.get(eventID);
    if (!relay) {
      relay = () => {};
      s.relays.set(eventID, relay);
    }
    const dom = a.dom ? await driver.domainLookupByUUID((a.dom as { uuid: string }).uuid) : null;
    return { callbackID: s.callbacks.register(dom, eventID, relay) };
  });
  own('REMOTE_PROC_CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY', (a, ctx) => {
    const id = a.callbackID as number;
    const s = state(ctx.client);
    if (!s.callbacks.has(id)) {
      throw RemoteError.of(
        'INTERNAL_ERROR',
        'rpc',
        `internal error: domain event callback ${id} not registered`,
      );
    }
    s.callbacks.deregister(id);
  });
  // the pre-1.2.1 form: one registration per event id, events sent without a callback id
  own('REMOTE_PROC_CONNECT_DOMAIN_EVENT_REGISTER_ANY', (a, ctx) => {
    const eventID = a.eventID as number;
    const s = state(ctx.client);
    if (s.legacy.has(eventID)) {
      throw RemoteError.of(
        'INTERNAL_ERROR',
        'rpc',
        `internal error: domain event ${eventID} already registered`,
      );
    }
    s.legacy.add(eventID);
  });
  own('REMOTE_PROC_CONNECT_DOMAIN_EVENT_DEREGISTER_ANY', (a, ctx) => {
    const eventID = a.eventID as number;
    if (!state(ctx.client).legacy.delete(eventID)) {
      throw RemoteError.of('INTERNAL_ERROR', 'rpc', `internal error: domain event ${eventID} not registered`);
    }
  });

  // ---- libvirt-qemu's monitor events: one driver registration per client registration ---------
  const qemuEventFact = procedureByName('QEMU_PROC_DOMAIN_MONITOR_EVENT');
  own('QEMU_PROC_CONNECT_DOMAIN_MONITOR_EVENT_REGISTER', async (a, ctx) => {
    const client = ctx.client;
    const dom = a.dom ? await driver.domainLookupByUUID((a.dom as { uuid: string }).uuid) : null;
    const q = program('QEMU');
    let callbackID = -1;
    callbackID = await driver.connectDomainQemuMonitorEventRegister(
      dom,
      (a.event as string | null) ?? null,
      (e) => {
        if (client.isClosed || callbackID < 0) return;
        client.sendMessage(q.program, q.version, qemuEventFact.number, (w) =>
          codecFor(qemuEventFact.msg!).encode(w, { callbackID, ...e }),
        );
      },
      a.flags as number,
    );
    state(client).qemuEvents.add(callbackID);
    return { callbackID };
  });
  own('QEMU_PROC_CONNECT_DOMAIN_MONITOR_EVENT_DEREGISTER', async (a, ctx) => {
    const id = a.callbackID as number;
    if (!state(ctx.client).qemuEvents.delete(id)) {
      throw RemoteError.of(
        'INTERNAL_ERROR',
        'rpc',
        `internal error: qemu monitor event callback ${id} not registered`,
      );
    }
    await driver.connectDomainQemuMonitorEventDeregister(id);
  });
  const dropQemuEvents = (c: ServerClient) => {
    const s = state(c);
    for (const id of s.qemuEvents) void driver.connectDomainQemuMonitorEventDeregister(id).catch(() => {});
    s.qemuEvents.clear();
  };

  const poolEvents = serveObjectEvents(own, opts.drivers, STORAGE_POOL_EVENTS);
  const secretEvents = serveObjectEvents(own, opts.drivers, SECRET_EVENTS);

  const unsubscribe = opts.onDomainEvent((event) => {
    const sender = EVENT_SENDERS.get(event.eventID);
    if (!sender) return;
    for (const c of clients) {
      if (c.isClosed) continue;
      const s = state(c);
      for (const id of s.callbacks.matching(event.eventID, event.dom.uuid)) sender.callback(c, id, event);
      if (s.legacy.has(event.eventID)) sender.legacy?.(c, event);
    }
  });

  const remote: Program = {
    program: program('REMOTE').program,
    version: program('REMOTE').version,
    procedures: procs,
    unknownProcedure: (n) => unknownProcedure('REMOTE', n),
    clientClosed(client: ServerClient) {
      clients.delete(client);
      closeServerStreams(client);
      poolEvents.clientClosed(client);
      secretEvents.clientClosed(client);
    },
    streamPacket: serverStreamPacket,
  };
  // qemu_protocol.x: its table rows and monitor events; the rest answer as an unsupporting driver
  const qemu: Program = {
    program: program('QEMU').program,
    version: program('QEMU').version,
    procedures: qemuProcs,
    unknownProcedure: (n) => unknownProcedure('QEMU', n),
    clientClosed: dropQemuEvents,
  };
  return {
    programs: [remote, qemu],
    dispose() {
      unsubscribe();
      poolEvents.dispose();
      secretEvents.dispose();
      clients.clear();
    },
  };
}

/** An API that refuses a read-only connection only for some of its flags (virCheckReadOnlyGoto under an `if`). */
function refusedFlags(fact: ProcedureFact, args: Record<string, unknown>): boolean {
  if (!fact.readonlyFlagCheck || !fact.readonlyFlags) return false;
  const mask = Object.values(fact.readonlyFlags).reduce((a, b) => a | b, 0);
  const flags = typeof args.flags === 'number' ? args.flags : 0;
  return (flags & mask) !== 0;
}

function unknownProcedure(prog: 'REMOTE' | 'QEMU', n: number): RemoteError {
  const fact = procedureFact(prog, n);
  if (fact?.api) return noSupportError(fact.api);
  return RemoteError.of('RPC', 'rpc', `unknown procedure: ${n}`);
}

interface EventSender {
  callback(c: ServerClient, callbackID: number, e: DomainEvent): void;
  legacy?(c: ServerClient, e: DomainEvent): void;
}

/** How each event id travels: the callback form's procedure and message, and the legacy form's. */
const EVENT_SENDERS = new Map<number, EventSender>();
{
  const send = (c: ServerClient, name: string, value: unknown) => {
    const fact = procedureByName(name);
    const p = program('REMOTE');
    c.sendMessage(p.program, p.version, fact.number, (w) =>
      codecFor(fact.msg ?? fact.args!).encode(w, value),
    );
  };
  // one entry per event id, with its message struct (domain-events.ts)
  for (const wire of DOMAIN_EVENT_WIRE) {
    const legacy = wire.legacy;
    EVENT_SENDERS.set(wire.eventID, {
      callback: (c, callbackID, e) => send(c, wire.callback, wire.toCallback(callbackID, e)),
      ...(legacy
        ? { legacy: (c: ServerClient, e: DomainEvent) => send(c, legacy.proc, legacy.toMsg(e)) }
        : {}),
    });
  }
}

/** The URIs this daemon answers virConnectOpen for. */
function acceptsUri(name: string): boolean {
  return /^qemu(\+[a-z0-9]+)?:\/\/[^/]*\/(system|session|embed)(\?.*)?$/.test(name);
}
