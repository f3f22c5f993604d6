/**
 * Events of the objects of the drivers beside the hypervisor (storage pools, secrets) over the
 * wire, as libvirt's
 * remoteDispatchConnect*EventRegisterAny / DeregisterAny and remoteRelay*Event*: each client
 * registration is one registration on the daemon's driver, whose callback sends the event id's
 * message with the registration's id; a client's registrations go when it closes.
 *
 * A kind of object is one {@link ObjectEventFamily}: its procedures, its driver and the message of
 * each event id. Adding a kind is a family, not another copy of this code.
 */
import type { SecretEvent, StoragePool, StoragePoolEvent } from '@qvirt/core/hypervisor';
import {
  VIR_SECRET_EVENT_ID,
  VIR_SECRET_EVENT_ID_LAST,
  VIR_STORAGE_POOL_EVENT_ID,
  VIR_STORAGE_POOL_EVENT_ID_LAST,
} from '@qvirt/core/hypervisor';
import { codecFor } from '../protocol/codec.js';
import { type DriverOf, type Drivers, driverOf } from '../protocol/dispatch-table.js';
import { PROTOCOL, procedureByName } from '../protocol/facts.js';
import { noSupportError, RemoteError } from '../rpc/error.js';
import type { CallContext, ServerClient } from '../server/server.js';

type Own = (
  name: string,
  handle: (args: Record<string, unknown>, ctx: CallContext) => unknown | Promise<unknown>,
) => void;

type DriverKind = Exclude<keyof Drivers, 'hypervisor'>;

export interface ObjectEventFamily<K extends DriverKind, E extends { eventID: number }> {
  /** Names the kind in libvirt's errors ("unsupported secret event ID 9"). */
  noun: string;
  /** …where libvirt's deregister error names another kind (9.0's secret one says "node device"). */
  deregisterNoun?: string;
  register: string;
  deregister: string;
  driver: K;
  /** The register args' field naming the object (null: every object). */
  objectField: string;
  idLast: number;
  listen(driver: DriverOf<K>, obj: unknown, eventID: number, callback: (event: E) => void): Promise<number>;
  unlisten(driver: DriverOf<K>, callbackID: number): Promise<void>;
  /** The message procedure of an event and its body. */
  message(callbackID: number, event: E): [proc: string, body: unknown];
}

/** Serves one family's register and deregister procedures; the caller forwards client closes and disposal. */
export function serveObjectEvents<K extends DriverKind, E extends { eventID: number }>(
  own: Own,
  drivers: Drivers,
  f: ObjectEventFamily<K, E>,
) {
  const byClient = new Map<ServerClient, Set<number>>();
  const send = (c: ServerClient, name: string, value: unknown) => {
    if (c.isClosed) return;
    const fact = procedureByName(name);
    const p = PROTOCOL.programs.REMOTE!;
    c.sendMessage(p.program, p.version, fact.number, (w) => codecFor(fact.msg!).encode(w, value));
  };

  own(f.register, async (a, ctx) => {
    const driver = await driverOf(drivers, f.driver);
    if (!driver) throw noSupportError(procedureByName(f.register).api!);
    const eventID = a.eventID as number;
    if (eventID < 0 || eventID >= f.idLast) {
      throw RemoteError.of(
        'INTERNAL_ERROR',
        'rpc',
        `internal error: unsupported ${f.noun} event ID ${eventID}`,
      );
    }
    let id = 0;
    id = await f.listen(driver, a[f.objectField] ?? null, eventID, (e) => {
      const [proc, body] = f.message(id, e);
      send(ctx.client, proc, body);
    });
    let ids = byClient.get(ctx.client);
    if (!ids) byClient.set(ctx.client, (ids = new Set()));
    ids.add(id);
    return { callbackID: id };
  });

  own(f.deregister, async (a, ctx) => {
    const id = a.callbackID as number;
    const ids = byClient.get(ctx.client);
    if (!ids?.has(id)) {
      throw RemoteError.of(
        'INTERNAL_ERROR',
        'rpc',
        `internal error: ${f.deregisterNoun ?? f.noun} event callback ${id} not registered`,
      );
    }
    ids.delete(id);
    const driver = await driverOf(drivers, f.driver);
    if (driver) await f.unlisten(driver, id);
  });

  const drop = (c: ServerClient) => {
    const ids = [...(byClient.get(c) ?? [])];
    byClient.delete(c);
    if (ids.length === 0) return;
    void driverOf(drivers, f.driver)
      .then((driver) => {
        for (const id of ids) if (driver) void f.unlisten(driver, id).catch(() => {});
      })
      .catch(() => {});
  };
  return {
    clientClosed: drop,
    dispose() {
      for (const c of [...byClient.keys()]) drop(c);
    },
  };
}

/** Secret events (remoteDispatchConnectSecretEventRegisterAny; the secret is taken as sent, unchecked). */
export const SECRET_EVENTS: ObjectEventFamily<'secret', SecretEvent> = {
  noun: 'secret',
  deregisterNoun: 'node device',
  register: 'REMOTE_PROC_CONNECT_SECRET_EVENT_REGISTER_ANY',
  deregister: 'REMOTE_PROC_CONNECT_SECRET_EVENT_DEREGISTER_ANY',
  driver: 'secret',
  objectField: 'secret',
  idLast: VIR_SECRET_EVENT_ID_LAST,
  listen: (d, obj, id, cb) => d.connectSecretEventRegisterAny(obj as SecretEvent['secret'] | null, id, cb),
  unlisten: (d, id) => d.connectSecretEventDeregisterAny(id),
  message: (callbackID, e) =>
    e.eventID === VIR_SECRET_EVENT_ID.LIFECYCLE
      ? [
          'REMOTE_PROC_SECRET_EVENT_LIFECYCLE',
          { callbackID, secret: e.secret, event: e.event ?? 0, detail: e.detail ?? 0 },
        ]
      : ['REMOTE_PROC_SECRET_EVENT_VALUE_CHANGED', { callbackID, secret: e.secret }],
};

/**
 * Storage pool events (remoteDispatchConnectStoragePoolEventRegisterAny): the pool is looked up
 * by its UUID first, so an unknown one fails the registration as libvirt's lookup does.
 */
export const STORAGE_POOL_EVENTS: ObjectEventFamily<'storage', StoragePoolEvent> = {
  noun: 'storage pool',
  register: 'REMOTE_PROC_CONNECT_STORAGE_POOL_EVENT_REGISTER_ANY',
  deregister: 'REMOTE_PROC_CONNECT_STORAGE_POOL_EVENT_DEREGISTER_ANY',
  driver: 'storage',
  objectField: 'pool',
  idLast: VIR_STORAGE_POOL_EVENT_ID_LAST,
  listen: async (d, obj, id, cb) =>
    d.connectStoragePoolEventRegisterAny(
      obj ? await d.storagePoolLookupByUUID((obj as StoragePool).uuid) : null,
      id,
      cb,
    ),
  unlisten: (d, id) => d.connectStoragePoolEventDeregisterAny(id),
  message: (callbackID, e) =>
    e.eventID === VIR_STORAGE_POOL_EVENT_ID.LIFECYCLE
      ? [
          'REMOTE_PROC_STORAGE_POOL_EVENT_LIFECYCLE',
          { callbackID, pool: e.pool, event: e.event ?? 0, detail: e.detail ?? 0 },
        ]
      : ['REMOTE_PROC_STORAGE_POOL_EVENT_REFRESH', { callbackID, pool: e.pool }],
};
