/**
 * Backing chains read from image headers, as libvirt's virStorageSourceGetMetadata does without
 * format probing: only a qcow2 image names a backing file, and a backing file is followed only
 * when the header records its format (else libvirt drops it, so no rule is made for it).
 */
import { dirname } from './path-policy.js';
import type { RulesFs } from './rules.js';

const HEADER_BYTES = 64 * 1024;
const BACKING_FORMAT_EXT = 0xe2792aca;
const MAX_DEPTH = 200;

interface Qcow2Backing {
  name: string;
  format?: string;
}

/** The backing file and its recorded format from a qcow2 header, if any. */
export function qcow2Backing(head: Uint8Array): Qcow2Backing | undefined {
  if (head.length < 72) return undefined;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (view.getUint32(0) !== 0x514649fb) return undefined;
  const version = view.getUint32(4);
  const offset = Number(view.getBigUint64(8));
  const size = view.getUint32(16);
  if (offset === 0 || size === 0 || offset + size > head.length) return undefined;
  const name = Buffer.from(head.subarray(offset, offset + size)).toString('utf8');
  let ext = version >= 3 && head.length >= 104 ? view.getUint32(100) : 72;
  let format: string | undefined;
  while (ext + 8 <= head.length && ext + 8 <= offset) {
    const type = view.getUint32(ext);
    const len = view.getUint32(ext + 4);
    if (type === 0) break;
    if (type === BACKING_FORMAT_EXT && ext + 8 + len <= head.length) {
      format = Buffer.from(head.subarray(ext + 8, ext + 8 + len)).toString('utf8');
    }
    ext += 8 + Math.ceil(len / 8) * 8;
  }
  return format === undefined ? { name } : { name, format };
}

/** The local backing layers below `top` (not `top` itself), top first. */
export async function probeBackingChain(
  top: string,
  format: string | undefined,
  fs: RulesFs,
): Promise<string[]> {
  const out: string[] = [];
  let path = top;
  let fmt = format;
  for (let depth = 0; depth < MAX_DEPTH && fmt === 'qcow2'; depth++) {
    const head = await fs.readHead?.(path, HEADER_BYTES);
    if (!head) break;
    const backing = qcow2Backing(head);
    if (!backing?.format) break;
    // A protocol (nbd:, json:, https://…) is not a local file.
    if (/^[a-z0-9+.-]+:/i.test(backing.name) && !backing.name.startsWith('/')) break;
    const next = backing.name.startsWith('/') ? backing.name : `${dirname(path)}/${backing.name}`;
    if (!(await fs.exists(next))) break;
    out.push(next);
    path = next;
    fmt = backing.format;
  }
  return out;
}
