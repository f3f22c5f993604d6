/**
 * The host a corpus was recorded on, from its `host/` folder: `capabilities*.xml` (`virsh
 * capabilities`: host CPU, NUMA cells), `domcapabilities*.xml` (`virsh domcapabilities`: one
 * host-model CPU per emulator and virt type) and `caps_*.xml` (libvirt's QEMU capabilities cache,
 * for which host CPU features QEMU keeps out of a migratable CPU). Absent folder → undefined,
 * and conversion runs without a host description.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { type HostDescription, hostDescriptionFromXml } from '@qvirt/core';
import { nonMigratableHostCpuFeatures } from '@qvirt/qemu-argv';
import { readText } from './corpus.js';

const cache = new Map<string, HostDescription | undefined>();

export function corpusHost(root: string): HostDescription | undefined {
  if (cache.has(root)) return cache.get(root);
  const dir = path.join(root, 'host');
  let host: HostDescription | undefined;
  if (existsSync(dir)) {
    const files = readdirSync(dir).sort();
    const doc = (f: string) => ({ xml: readText(path.join(dir, f)), source: f });
    const capabilities = files.find((f) => /^capabilities(\..+)?\.xml$/.test(f));
    const nonMigratable = files
      .filter((f) => /^caps_.+\.xml$/.test(f))
      .flatMap((f) => nonMigratableHostCpuFeatures(readText(path.join(dir, f)), f));
    host = hostDescriptionFromXml({
      ...(capabilities ? { capabilities: doc(capabilities) } : {}),
      domainCapabilities: files.filter((f) => /^domcapabilities(\..+)?\.xml$/.test(f)).map(doc),
      nonMigratableFeatures: [...new Set(nonMigratable)],
    });
  }
  cache.set(root, host);
  return host;
}
