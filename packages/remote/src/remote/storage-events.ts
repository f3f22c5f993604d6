/**
 * Storage pool events over the wire (remoteDispatchConnectStoragePoolEventRegisterAny and its
 * deregistration, remoteRelayStoragePoolEvent*): each client registration is one registration on
 * the daemon's storage driver, whose callback sends REMOTE_PROC_STORAGE_POOL_EVENT_LIFECYCLE or
 * _REFRESH with the registration's id.
 */
import {
  type StoragePool,
  type StoragePoolEvent,
  VIR_STORAGE_POOL_EVENT_ID,
  VIR_STORAGE_POOL_EVENT_ID_LAST,
} from '@qvirt/core/hypervisor';
import { codecFor } from '../protocol/codec.js';
import { type Drivers, driverOf } from '../protocol/dispatch-table.js';
import { PROTOCOL, procedureByName } from '../protocol/facts.js';
import { noSupportError, RemoteError } from '../rpc/error.js';
import type { CallContext, ServerClient } from '../server/server.js';

type Own = (
  name: string,
  handle: (args: Record<string, unknown>, ctx: CallContext) => unknown | Promise<unknown>,
) => void;

export function storagePoolEvents(own: Own, drivers: Drivers) {
  const byClient = new Map<ServerClient, Set<number>>();
  const send = (c: ServerClient, name: string, value: unknown) => {
    if (c.isClosed) return;
    const fact = procedureByName(name);
    const p = PROTOCOL.programs.REMOTE!;
    c.sendMessage(p.program, p.version, fact.number, (w) => codecFor(fact.msg!).encode(w, value));
  };

  own('REMOTE_PROC_CONNECT_STORAGE_POOL_EVENT_REGISTER_ANY', async (a, ctx) => {
    const storage = await driverOf(drivers, 'storage');
    if (!storage) throw noSupportError('virConnectStoragePoolEventRegisterAny');
    const eventID = a.eventID as number;
    if (eventID < 0 || eventID >= VIR_STORAGE_POOL_EVENT_ID_LAST) {
      throw RemoteError.of(
        'INTERNAL_ERROR',
        'rpc',
        `internal error: unsupported storage pool event ID ${eventID}`,
      );
    }
    const pool = a.pool ? await storage.storagePoolLookupByUUID((a.pool as StoragePool).uuid) : null;
    let id = 0;
    id = await storage.connectStoragePoolEventRegisterAny(pool, eventID, (e: StoragePoolEvent) => {
      if (e.eventID === VIR_STORAGE_POOL_EVENT_ID.LIFECYCLE) {
        send(ctx.client, 'REMOTE_PROC_STORAGE_POOL_EVENT_LIFECYCLE', {
          callbackID: id,
          pool: e.pool,
          event: e.event ?? 0,
          detail: e.detail ?? 0,
        });
      } else {
        send(ctx.client, 'REMOTE_PROC_STORAGE_POOL_EVENT_REFRESH', { callbackID: id, pool: e.pool });
      }
    });
    let ids = byClient.get(ctx.client);
    if (!ids) byClient.set(ctx.client, (ids = new Set()));
    ids.add(id);
    return { callbackID: id };
  });

  own('REMOTE_PROC_CONNECT_STORAGE_POOL_EVENT_DEREGISTER_ANY', async (a, ctx) => {
    const id = a.callbackID as number;
    const ids = byClient.get(ctx.client);
    if (!ids?.has(id)) {
      throw RemoteError.of(
        'INTERNAL_ERROR',
        'rpc',
        `internal error: storage pool event callback ${id} not registered`,
      );
    }
    ids.delete(id);
    await (await driverOf(drivers, 'storage'))?.connectStoragePoolEventDeregisterAny(id);
  });

  const drop = (c: ServerClient) => {
    const ids = [...(byClient.get(c) ?? [])];
    byClient.delete(c);
    if (ids.length === 0) return;
    void driverOf(drivers, 'storage')
      .then((storage) => {
        for (const id of ids) void storage?.connectStoragePoolEventDeregisterAny(id).catch(() => {});
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
