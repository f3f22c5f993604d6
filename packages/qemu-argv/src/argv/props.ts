/**
 * The two syntaxes of QEMU options. JSON (`-device`, `-blockdev`, `-object`, `-netdev`,
 * `-audiodev`) is safe for any value. The legacy `key=value,…` syntax (`-machine`, `-chardev`,
 * `-smp`, …) must double every comma inside a value, or a hostile name or path would become a
 * second option; `optsValue` is the one place that does it.
 */

export type PropValue = string | number | boolean | PropObject | PropValue[] | undefined;
export interface PropObject {
  [key: string]: PropValue;
}

/** JSON text of a property object in insertion order, without undefined members (as libvirt's). */
export function jsonProps(props: PropObject): string {
  return JSON.stringify(props, (_k, v) => (v === undefined ? undefined : v));
}

/** A value in QEMU's `key=value,…` syntax: commas doubled. */
export function optsValue(value: string | number | boolean): string {
  return String(value).replace(/,/g, ',,');
}

/** `key=value,…` with `undefined` members left out; a `true` flag prints as `key=on`. */
export function opts(
  first: string | undefined,
  props: Array<[string, string | number | boolean | undefined]>,
): string {
  const parts: string[] = first === undefined ? [] : [optsValue(first)];
  for (const [k, v] of props) {
    if (v === undefined) continue;
    parts.push(`${k}=${typeof v === 'boolean' ? (v ? 'on' : 'off') : optsValue(v)}`);
  }
  return parts.join(',');
}
