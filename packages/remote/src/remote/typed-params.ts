/**
 * remote_typed_param (remote_protocol.x): a field name and a value whose XDR type is chosen by
 * virTypedParameterType, as the statistics procedures carry them; and their array limits.
 */
import { XdrError, type XdrReader, type XdrWriter } from '../xdr/xdr.js';
import { str, wStr } from './types.js';

/** remote_protocol.x's limits for the statistics procedures served here. */
export const REMOTE_DOMAIN_BLOCK_STATS_PARAMETERS_MAX = 16;
export const REMOTE_DOMAIN_MEMORY_STATS_MAX = 1024;

/** virTypedParameterType. */
export const TypedParamType = {
  INT: 1,
  UINT: 2,
  LLONG: 3,
  ULLONG: 4,
  DOUBLE: 5,
  BOOLEAN: 6,
  STRING: 7,
} as const;

/** virTypedParameterFlags: the client can take string values. */
export const TYPED_PARAM_STRING_OKAY = 1 << 2;

export interface TypedParam {
  field: string;
  type: number;
  value: number | bigint | boolean | string;
}

/** remote_typed_param holding a long long. */
export function writeLLongParam(w: XdrWriter, field: string, value: number | bigint): void {
  wStr(w, field);
  w.union(TypedParamType.LLONG, (w) => w.hyper(BigInt(value)));
}

/** One remote_typed_param; a type libvirt does not define is undecodable, as for libvirt. */
export function readTypedParam(r: XdrReader): TypedParam {
  const field = str(r);
  const type = r.int();
  switch (type) {
    case TypedParamType.INT:
      return { field, type, value: r.int() };
    case TypedParamType.UINT:
      return { field, type, value: r.uint() };
    case TypedParamType.LLONG:
      return { field, type, value: r.hyper() };
    case TypedParamType.ULLONG:
      return { field, type, value: r.uhyper() };
    case TypedParamType.DOUBLE:
      return { field, type, value: Buffer.from(r.fixedOpaque(8)).readDoubleBE(0) };
    case TypedParamType.BOOLEAN:
      return { field, type, value: r.int() !== 0 };
    case TypedParamType.STRING:
      return { field, type, value: str(r) };
    default:
      throw new XdrError(`remote_typed_param: unknown type ${type} for '${field}'`);
  }
}
