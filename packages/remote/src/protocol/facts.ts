/**
 * libvirt 9.0's wire protocol as facts: programs, constants, XDR types and procedures of the
 * REMOTE, QEMU and KEEPALIVE programs, generated from libvirt's .x files by tools/protocol-facts
 * (checked in as libvirt-protocol.json; never edited by hand).
 */
import protocol from './libvirt-protocol.json' with { type: 'json' };

export type XdrType =
  | {
      t:
        | 'int'
        | 'uint'
        | 'hyper'
        | 'uhyper'
        | 'bool'
        | 'float'
        | 'double'
        | 'char'
        | 'uchar'
        | 'short'
        | 'ushort';
    }
  | { t: 'string'; max: number | null; maxName?: string | null }
  | { t: 'opaque'; fixed?: number; max?: number | null; maxName?: string | null }
  | { t: 'array'; of: XdrType; max: number | null; maxName?: string | null }
  | { t: 'fixedArray'; of: XdrType; len: number }
  | { t: 'optional'; of: XdrType }
  | { t: 'ref'; name: string }
  | { t: 'void' };

export interface XdrField {
  name: string;
  type: XdrType;
}

export type XdrTypeDef =
  | { kind: 'struct'; fields: XdrField[] }
  | {
      kind: 'union';
      discriminant: XdrField;
      cases: Array<{ values: Array<number | string>; field: XdrField | null }>;
      default: XdrField | null;
    }
  | { kind: 'enum'; values: Record<string, number> }
  | { kind: 'typedef'; type: XdrType };

export interface ProcedureFact {
  program: 'REMOTE' | 'QEMU' | 'KEEPALIVE';
  number: number;
  /** REMOTE_PROC_DOMAIN_GET_INFO */
  name: string;
  /** The public API (virDomainGetInfo), or null for procedures that are not one (auth, events). */
  api: string | null;
  args: string | null;
  ret: string | null;
  /** The message struct of an event procedure. */
  msg?: string | null;
  priority: 'high' | 'low';
  annotations: Record<string, string | string[]>;
  /** The API refuses a read-only connection (virCheckReadOnlyGoto). */
  readonlyForbidden: boolean;
  /** …only when some of its flags are given (readonlyFlags: their names and values). */
  readonlyFlagCheck?: boolean;
  readonlyFlags?: Record<string, number>;
}

interface ProtocolFacts {
  libvirt: string;
  programs: Record<string, { program: number; version: number }>;
  constants: Record<string, number>;
  types: Record<string, XdrTypeDef>;
  procedures: ProcedureFact[];
}

export const PROTOCOL = protocol as unknown as ProtocolFacts;

const byKey = new Map<string, ProcedureFact>();
const byName = new Map<string, ProcedureFact>();
for (const p of PROTOCOL.procedures) {
  byKey.set(`${p.program}/${p.number}`, p);
  byName.set(p.name, p);
}

/** A procedure by program and number (undefined when libvirt 9.0 has no such procedure). */
export function procedureFact(program: ProcedureFact['program'], number: number): ProcedureFact | undefined {
  return byKey.get(`${program}/${number}`);
}

/** A procedure by its libvirt name (REMOTE_PROC_…, QEMU_PROC_…); throws for a name libvirt lacks. */
export function procedureByName(name: string): ProcedureFact {
  const p = byName.get(name);
  if (!p) throw new Error(`libvirt 9.0 has no procedure ${name}`);
  return p;
}

export function protocolConstant(name: string): number {
  const v = PROTOCOL.constants[name];
  if (v === undefined) throw new Error(`libvirt 9.0's protocol has no constant ${name}`);
  return v;
}
