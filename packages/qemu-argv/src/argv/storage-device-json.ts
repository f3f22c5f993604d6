/**
 * The `-device` argument of a property object (qemuBuildDeviceCommandlineFromJSON): the
 * `<qemu:override>` frontend properties of the device's alias are applied (a property is removed,
 * then appended with its new value), and integers beyond 2^53 stay exact.
 */
import type { DomainDef } from '@qvirt/core';
import { jsonProps, type PropObject, type PropValue } from './props.js';

const MARK = '\u0000';

/** An integer printed exactly in JSON output of `deviceJson`, whatever its size. */
export function exactInteger(value: bigint | string): PropValue {
  return `${MARK}${value.toString()}${MARK}`;
}

/** JSON text of `props` with `exactInteger` values printed as bare numbers. */
export function exactJson(props: PropObject): string {
  return jsonProps(props).replace(/"\\u0000(-?\d+)\\u0000"/g, '$1');
}

/** Applies `<qemu:override><qemu:device alias=…><qemu:frontend>` properties to a -device. */
export function applyDeviceOverrides(def: DomainDef, props: PropObject): PropObject {
  const alias = props.id;
  if (typeof alias !== 'string') return props;
  let out = props;
  for (const dev of def.qemuOverride?.device ?? []) {
    if (dev.alias !== alias) continue;
    for (const p of dev.frontend?.property ?? []) {
      const name = p.name ?? '';
      if (out === props) out = { ...props };
      delete out[name];
      const v = p.value ?? '';
      switch (p.type) {
        case 'string':
          out[name] = v;
          break;
        case 'signed':
        case 'unsigned':
          out[name] = exactInteger(BigInt(v));
          break;
        case 'bool':
          out[name] = v === 'true';
          break;
        default:
          break;
      }
    }
  }
  return out;
}

/** The `-device` argument for `props`: overrides applied, exact integers kept. */
export function deviceJson(def: DomainDef, props: PropObject): string {
  return exactJson(applyDeviceOverrides(def, props));
}
