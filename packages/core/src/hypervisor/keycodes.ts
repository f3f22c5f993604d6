/**
 * libvirt's keycode sets (virkeycode.c): the codeset names of virDomainSendKey, a key name's code
 * (virKeycodeValueFromString) and a code's translation between sets (virKeycodeValueTranslate),
 * over the tables tools/keymaps generates from libvirt's keymaps.csv.
 */
import { KEYCODE_TABLES, KEYNAME_TABLES } from './keycode-tables.js';

/** virKeycodeSet, in libvirt's order (the wire's `codeset` numbers). */
export const VIR_KEYCODE_SET_NAMES = [
  'linux',
  'xt',
  'atset1',
  'atset2',
  'atset3',
  'os_x',
  'xt_kbd',
  'usb',
  'win32',
  'qnum',
] as const;

export const VIR_KEYCODE_SET_QNUM = 9;

/** virKeymapValues: XT is AT set 1 ("included by mistake", libvirt says). */
const VALUES: readonly (readonly number[])[] = [
  'linux',
  'atset1',
  'atset1',
  'atset2',
  'atset3',
  'osx',
  'xtkbd',
  'usb',
  'win32',
  'qnum',
].map((t) => KEYCODE_TABLES[t]!);

/** virKeymapNames: only Linux, OS X and Win32 have names. */
const NAMES: readonly (readonly (string | null)[] | undefined)[] = VIR_KEYCODE_SET_NAMES.map((s) =>
  s === 'linux'
    ? KEYNAME_TABLES.linux
    : s === 'os_x'
      ? KEYNAME_TABLES.osx
      : s === 'win32'
        ? KEYNAME_TABLES.win32
        : undefined,
);

/** virKeycodeSetTypeFromString: the set's number, or -1. */
export function virKeycodeSetTypeFromString(name: string): number {
  return (VIR_KEYCODE_SET_NAMES as readonly string[]).indexOf(name);
}

/** virKeycodeValueFromString: a key name's code in `codeset`, or -1. */
export function virKeycodeValueFromString(codeset: number, name: string): number {
  const names = NAMES[codeset];
  const values = VALUES[codeset];
  if (!names || !values) return -1;
  const i = names.indexOf(name);
  return i < 0 ? -1 : values[i]!;
}

/** virKeycodeValueTranslate: a code of one set in another, or -1. */
export function virKeycodeValueTranslate(from: number, to: number, value: number): number {
  const src = VALUES[from];
  const dst = VALUES[to];
  if (value < 0 || !src || !dst) return -1;
  const i = src.indexOf(value);
  return i < 0 ? -1 : dst[i]!;
}
