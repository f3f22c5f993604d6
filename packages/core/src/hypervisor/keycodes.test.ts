import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  VIR_KEYCODE_SET_NAMES,
  VIR_KEYCODE_SET_QNUM,
  virKeycodeSetTypeFromString,
  virKeycodeValueFromString,
  virKeycodeValueTranslate,
} from './keycodes.js';

const LIBVIRT_CSV = '/tmp/libvirt-9.0.0/src/keycodemapdb/data/keymaps.csv';

describe("libvirt's keycode sets", () => {
  it('names the sets in virKeycodeSet order', () => {
    expect(VIR_KEYCODE_SET_NAMES.indexOf('qnum')).toBe(VIR_KEYCODE_SET_QNUM);
    expect(virKeycodeSetTypeFromString('linux')).toBe(0);
    expect(virKeycodeSetTypeFromString('usb')).toBe(7);
    // virsh maps the old name rfb to qnum itself; the library does not know it
    expect(virKeycodeSetTypeFromString('rfb')).toBe(-1);
  });

  it('finds key names only in the sets that have names', () => {
    expect(virKeycodeValueFromString(0, 'KEY_A')).toBe(30);
    expect(virKeycodeValueFromString(5, 'ANSI_A')).toBe(0);
    expect(virKeycodeValueFromString(8, 'VK_RETURN')).toBe(0x0d);
    expect(virKeycodeValueFromString(7, 'KEY_A')).toBe(-1);
    expect(virKeycodeValueFromString(0, 'BOGUS')).toBe(-1);
  });

  it('translates to QNUM as QEMU numbers keys: AT set 1 with 0xe0 folded into 0x80', () => {
    const q = (set: string, code: number) =>
      virKeycodeValueTranslate(virKeycodeSetTypeFromString(set), VIR_KEYCODE_SET_QNUM, code);
    expect(q('linux', 30)).toBe(0x1e); // KEY_A
    expect(q('linux', 97)).toBe(0x9d); // KEY_RIGHTCTRL (AT set 1: 0xe01d)
    expect(q('xt', 0x1e)).toBe(0x1e);
    expect(q('usb', 4)).toBe(0x1e);
    expect(q('xt_kbd', 0x11d)).toBe(0x9d);
    expect(q('linux', 9999)).toBe(-1);
  });

  it.skipIf(!existsSync(LIBVIRT_CSV))('is what tools/keymaps generates from libvirt 9.0 keymaps.csv', () => {
    const here = path.dirname(fileURLToPath(import.meta.url));
    const checkedIn = readFileSync(path.join(here, 'keycode-tables.ts'), 'utf8');
    const generator = path.resolve(here, '../../../../tools/keymaps/bin/generate.mjs');
    const fresh = execFileSync(process.execPath, [generator, LIBVIRT_CSV, '--stdout'], { encoding: 'utf8' });
    expect(fresh).toBe(checkedIn);
  });
});
