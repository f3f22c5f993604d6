import { readFileSync } from 'node:fs';
import { parseQemuCapsXml, type QemuCaps } from './qemu-caps.js';

const SNAPSHOT = new URL('../../data/qemu-7.2.0-x86_64.caps.xml', import.meta.url);
/** Written by the build (scripts/caps-json.mjs) from the XML above. */
const SNAPSHOT_JSON = new URL('../data/qemu-7.2.0-x86_64.caps.json', import.meta.url);
let cached: QemuCaps | undefined;

function load(): QemuCaps {
  try {
    const json = JSON.parse(readFileSync(SNAPSHOT_JSON, 'utf8')) as Omit<QemuCaps, 'flags'> & {
      flags: string[];
    };
    return { ...json, flags: new Set(json.flags) };
  } catch {
    return parseQemuCapsXml(readFileSync(SNAPSHOT, 'utf8'), 'qemu-7.2.0-x86_64.caps.xml');
  }
}

/**
 * QEMU 7.2 for x86_64 as libvirt 9.0's test suite probed it (tests/qemucapabilitiesdata), so that
 * conversion and its tests need no QEMU installed.
 */
export function qemu72Caps(): QemuCaps {
  cached ??= load();
  return cached;
}
