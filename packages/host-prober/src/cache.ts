/**
 * One cache file per binary (`<sha256 of path>.xml`, libvirt's cache format with qvirt's keys in a
 * `<qvirtCacheKey>` element). A file is reused only while the binary's size, mtime and ctime,
 * qvirt's version and the KVM usability it was probed with are unchanged.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseXml, type XmlElement } from '@qvirt/core';
import { escapeXml, formatQemuCapsXml } from './caps-xml.js';
import type { ProbeResult } from './probe.js';
import { parseQemuCapsCache, withoutBulk } from './qemu-caps-detail.js';

/**
 * The cache layout's version: a file of an earlier layout (one without the host CPU expansions)
 * is probed again.
 */
const CACHE_FORMAT = '2';

export interface CacheKey {
  path: string;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  qvirtVersion: string;
  kvmUsable: boolean;
}

export async function cacheKeyFor(path: string, qvirtVersion: string, kvmUsable: boolean): Promise<CacheKey> {
  const st = await stat(path);
  return { path, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, qvirtVersion, kvmUsable };
}

export function cacheFile(cacheDir: string, binary: string): string {
  return join(cacheDir, `${createHash('sha256').update(binary).digest('hex')}.xml`);
}

function keyElement(k: CacheKey): string {
  return (
    `<qvirtCacheKey path='${escapeXml(k.path)}' size='${k.size}' mtimeMs='${k.mtimeMs}'` +
    ` ctimeMs='${k.ctimeMs}' qvirtVersion='${escapeXml(k.qvirtVersion)}' kvmUsable='${k.kvmUsable ? 'yes' : 'no'}'` +
    ` format='${CACHE_FORMAT}'/>`
  );
}

const children = (el: XmlElement, name: string): XmlElement[] =>
  el.children.filter((c): c is XmlElement => typeof c !== 'string' && c.name === name);

/** The cached probe when its key matches `key`, else undefined (missing, stale or unreadable). */
export async function readCache(cacheDir: string, key: CacheKey): Promise<ProbeResult | undefined> {
  let text: string;
  try {
    text = await readFile(cacheFile(cacheDir, key.path), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const root = parseXml(withoutBulk(text), 'qemuCaps cache');
    const k = children(root, 'qvirtCacheKey')[0]?.attributes;
    if (
      !k ||
      k.path !== key.path ||
      Number(k.size) !== key.size ||
      Number(k.mtimeMs) !== key.mtimeMs ||
      Number(k.ctimeMs) !== key.ctimeMs ||
      k.qvirtVersion !== key.qvirtVersion ||
      (k.kvmUsable === 'yes') !== key.kvmUsable ||
      k.format !== CACHE_FORMAT
    ) {
      return undefined;
    }
    return parseQemuCapsCache(text, cacheFile(cacheDir, key.path));
  } catch {
    return undefined;
  }
}

export async function writeCache(cacheDir: string, key: CacheKey, result: ProbeResult): Promise<void> {
  await mkdir(cacheDir, { recursive: true, mode: 0o755 });
  const file = cacheFile(cacheDir, key.path);
  const xml = formatQemuCapsXml(result.caps, {
    package: result.package,
    qemuctime: Math.floor(key.ctimeMs / 1000),
    cpuBlockers: result.cpuBlockers,
    extras: result,
    extra: [keyElement(key)],
  });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, xml, { mode: 0o644 });
  await rename(tmp, file);
}
