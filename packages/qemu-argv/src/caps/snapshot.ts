import { readFileSync } from 'node:fs';
import { parseQemuCapsXml, type QemuCaps } from './qemu-caps.js';

const SNAPSHOT = new URL('../../data/qemu-7.2.0-x86_64.caps.xml', import.meta.url);
let cached: QemuCaps | undefined;

/**
 * QEMU 7.2 for x86_64 as libvirt 9.0's test suite probed it (tests/qemucapabilitiesdata), so that
 * conversion and its tests need no QEMU installed.
 */
export function qemu72Caps(): QemuCaps {
  cached ??= parseQemuCapsXml(readFileSync(SNAPSHOT, 'utf8'), 'qemu-7.2.0-x86_64.caps.xml');
  return cached;
}
