/**
 * The tables from libvirt's procedures to the contracts (hypervisor-table.ts, storage-table.ts,
 * secret-table.ts), bound to the protocol facts: for each contract method, the REMOTE procedure
 * that carries it. Everything else is derived: numbers, API names, the
 * read-only refusal and the priority from the protocol facts; the codecs from the .x types; and
 * the default mapping, which puts a method's parameters onto the args struct's fields in order
 * and answers the ret struct's only field (or the struct). A row says more only where libvirt's
 * C API and its wire struct differ in shape.
 *
 * qvirtd dispatches from it (../remote/program.ts) and the client calls through it
 * (../client/client.ts), so both sides always agree.
 */

import { VirError } from '@qvirt/core/errors';
import { PROTOCOL, type ProcedureFact, procedureByName } from './facts.js';
import { HYPERVISOR_TABLE } from './hypervisor-table.js';
import { QEMU_TABLE } from './qemu-table.js';
import type { AllContracts, CallerInfo, DriverKind, Drivers, RowSpec, TableMethod } from './rows.js';
import { SECRET_TABLE } from './secret-table.js';
import { STORAGE_TABLE } from './storage-table.js';

export * from './rows.js';
export { HYPERVISOR_TABLE, QEMU_TABLE, SECRET_TABLE, STORAGE_TABLE };

/** A table row with its facts, ready for either side. */
export interface BoundRow {
  method: TableMethod;
  /** Which of the connection's drivers serves it. */
  kind: DriverKind;
  fact: ProcedureFact;
  /** The args struct's field names, in order. */
  argFields: string[];
  /** The ret struct's field names, in order. */
  retFields: string[];
  spec: RowSpec<TableMethod>;
  /**
   * `@readstream` / `@writestream` in the facts: the method resolves with a VirStream whose data
   * travels as stream packets after the reply (../stream/), and `sparse` is its sparse flag.
   */
  stream?: { direction: 'read' | 'write'; sparse: number };
}

const fieldsOf = (type: string | null): string[] => {
  if (!type) return [];
  const def = PROTOCOL.types[type];
  return def?.kind === 'struct' ? def.fields.map((f) => f.name) : [];
};

let bound: Map<TableMethod, BoundRow> | undefined;
/** Each contract's table, by the driver that serves it (a new contract adds its table here). */
const TABLES: Array<[DriverKind, object]> = [
  ['hypervisor', HYPERVISOR_TABLE],
  ['hypervisor', QEMU_TABLE],
  ['storage', STORAGE_TABLE],
  ['secret', SECRET_TABLE],
];

/** The rows, bound to libvirt's facts (checked once: a procedure libvirt lacks is a bug here). */
export function dispatchRows(): ReadonlyMap<TableMethod, BoundRow> {
  if (bound) return bound;
  bound = new Map();
  for (const [kind, table] of TABLES) {
    for (const [method, spec] of Object.entries(table) as Array<[TableMethod, RowSpec<TableMethod>]>) {
      if (bound.has(method)) throw new Error(`${method} is in two dispatch tables`);
      const fact = procedureByName(spec.proc);
      bound.set(method, {
        method,
        kind,
        fact,
        argFields: fieldsOf(fact.args),
        retFields: fieldsOf(fact.ret),
        spec,
        stream: streamOf(fact),
      });
    }
  }
  return bound;
}

/** The stream a procedure opens, from its annotations (sparse flags are all 1 in libvirt 9.0). */
function streamOf(fact: ProcedureFact): BoundRow['stream'] {
  const a = fact.annotations;
  const direction = a.readstream ? 'read' : a.writestream ? 'write' : undefined;
  return direction && { direction, sparse: a.sparseflag ? 1 : 0 };
}

/** Client side: the args struct for a call of `row` with the contract's parameters. */
export function argsFor(row: BoundRow, params: unknown[]): Record<string, unknown> {
  if (row.spec.toArgs) return (row.spec.toArgs as (...p: unknown[]) => Record<string, unknown>)(...params);
  const args: Record<string, unknown> = {};
  row.argFields.forEach((f, i) => {
    args[f] = params[i] ?? null;
  });
  return args;
}

/** Client side: the contract's result from the ret struct. */
export function resultOf(row: BoundRow, ret: Record<string, unknown> | undefined): unknown {
  if (row.spec.fromRet) return row.spec.fromRet(ret ?? {});
  if (row.retFields.length === 0) return undefined;
  if (row.retFields.length === 1) return ret?.[row.retFields[0]!];
  return ret;
}

/** The driver of one kind itself (not how to open it). */
export type DriverOf<K extends DriverKind> = Exclude<NonNullable<Drivers[K]>, () => unknown>;

/** A connection's driver of one kind, opened now if it is opened on first use (undefined: none). */
export async function driverOf<K extends DriverKind>(
  drivers: Drivers,
  kind: K,
): Promise<DriverOf<K> | undefined> {
  const given = drivers[kind];
  // libvirt's daemon loads each secondary driver when it is first needed
  return (typeof given === 'function' ? await given() : given) as DriverOf<K> | undefined;
}

/** Server side: runs the call on the connection's driver of its kind and gives the ret struct. */
export async function serveRow(
  row: BoundRow,
  drivers: Drivers,
  args: Record<string, unknown>,
  caller: CallerInfo,
): Promise<unknown> {
  const driver = (await driverOf(drivers, row.kind)) as AllContracts | undefined;
  if (!driver)
    throw new VirError(
      'NO_SUPPORT',
      'none',
      `this function is not supported by the connection driver: ${row.fact.api}`,
    );
  if (row.spec.serve) return row.spec.serve(driver, args, caller);
  const fn = driver[row.method] as (...p: unknown[]) => Promise<unknown>;
  const result = await fn.apply(
    driver,
    row.argFields.map((f) => args[f]),
  );
  // a stream API's result is its VirStream, for the caller to attach to the call
  if (row.stream) return result;
  if (row.retFields.length === 0) return undefined;
  if (row.retFields.length === 1) return { [row.retFields[0]!]: result };
  return result;
}
