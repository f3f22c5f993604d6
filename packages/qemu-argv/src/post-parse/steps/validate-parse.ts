/**
 * Checks libvirt 9.0 makes while it parses a domain (domain_conf.c, numa_conf.c) and in its
 * generic post-parse (domain_postparse.c) that the core parser leaves to the driver. They run on
 * the canonical copy, so each check only reads what earlier steps never change.
 */
import type { DomainDef } from '@qvirt/core';
import { scaledToBytes } from '../../domain-util.js';
import { chrDevices, maxVcpus, parseCpuSet, plainError, unsupported, xmlError } from './validate-util.js';

/** The NUMA cells of `<cpu><numa>`. */
function numaCells(def: DomainDef) {
  return def.cpu?.numa?.cell ?? [];
}

/**
 * The name becomes part of file names (`NAME.xml`, `domain-ID-NAME/`, `NAME.log`): no `/` (as
 * libvirt refuses it for every other object it stores by name), and not `.` or `..`, so that no
 * path made of it leaves its directory.
 */
export function checkName(def: DomainDef): void {
  const name = def.name;
  if (name === undefined) return;
  if (name.includes('/')) throw xmlError(`name ${name} cannot contain '/'`);
  if (name === '.' || name === '..') throw xmlError(`name ${name} is not a valid domain name`);
}

/** Domain and device `<seclabel>`s: one label per security model (virSecurityLabelDefsParseXML). */
export function checkSeclabels(def: DomainDef): void {
  const labels = def.seclabel ?? [];
  for (let i = 0; i < labels.length; i++) {
    for (let j = 0; j < i; j++) {
      if (labels[i]!.model === labels[j]!.model)
        throw plainError(`seclabel for model ${labels[i]!.model ?? '(null)'} is already provided`);
    }
  }
  // More than one label needs a model on each (virSecurityLabelDefParseXML).
  if (labels.length > 1 && labels.some((l) => l.model === undefined || l.model === ''))
    throw xmlError('missing security model when using multiple labels');
}

/** `<cpu><numa>` cells: ids 0..n-1, each once (virDomainNumaDefParseXML). */
export function checkNumaCells(def: DomainDef): void {
  const cells = numaCells(def);
  const seen = new Set<number>();
  cells.forEach((cell, i) => {
    const id = cell.id ?? i;
    if (id >= cells.length) {
      throw xmlError(
        "Exactly one 'cell' element per guest NUMA cell allowed, non-contiguous ranges or ranges not starting from 0 are not allowed",
      );
    }
    if (seen.has(id)) throw xmlError(`Duplicate NUMA cell info for cell id '${id}'`);
    seen.add(id);
  });
}

/** `<numatune>` (virDomainNumatuneParseXML, virDomainNumatuneSet, virDomainNumatuneNodeParseXML). */
export function checkNumatune(def: DomainDef): void {
  const nt = def.numatune;
  const placementStatic = def.vcpu?.placement !== 'auto';
  let placement: 'static' | 'auto' | undefined;
  let hasNodeset = false;
  const mem = nt?.memory;
  if (mem) {
    if (mem.nodeset !== undefined) {
      const set = parseCpuSet(mem.nodeset);
      if (set !== undefined && set.size === 0)
        throw unsupported(`Invalid value of 'nodeset': ${mem.nodeset}`);
      hasNodeset = set !== undefined;
    }
    placement = mem.placement;
    if (hasNodeset && placement === undefined) placement = 'static';
    if (placement === undefined) placement = hasNodeset || placementStatic ? 'static' : 'auto';
    if (placement === 'static' && !hasNodeset)
      throw unsupported("nodeset for NUMA memory tuning must be set if 'placement' is 'static'");
  } else if (!placementStatic) {
    placement = 'auto';
  }
  const memnodes = nt?.memnode ?? [];
  if (memnodes.length === 0) return;
  if (mem && placement === 'auto')
    throw unsupported('Per-node binding is not compatible with automatic NUMA placement.');
  const ncells = numaCells(def).length;
  if (ncells === 0) throw xmlError("Element 'memnode' is invalid without any guest NUMA cells");
  const seen = new Set<number>();
  for (const node of memnodes) {
    const cellid = node.cellid ?? 0;
    if (cellid >= ncells)
      throw xmlError("Argument 'cellid' in memnode element must correspond to existing guest's NUMA cell");
    if (seen.has(cellid)) throw xmlError(`Multiple memnode elements with cellid ${cellid}`);
    seen.add(cellid);
    if (mem?.mode === 'restrictive' && (node.mode ?? 'strict') !== 'restrictive') {
      throw xmlError(
        "'restrictive' mode is required in memnode element when mode is 'restrictive' in memory element",
      );
    }
    if (node.nodeset === undefined) throw xmlError('Missing required nodeset attribute in memnode element');
    const set = parseCpuSet(node.nodeset);
    if (set !== undefined && set.size === 0) throw unsupported(`Invalid value of 'nodeset': ${node.nodeset}`);
  }
}

/** The iothread ids of a domain: `<iothreadids>`, else 1..`<iothreads>`. */
export function iothreadIds(def: DomainDef): number[] {
  const ids = (def.iothreadids?.iothread ?? []).map((t) => t.id ?? 0);
  const count = def.iothreads ?? 0;
  for (let id = 1; ids.length < count; id++) if (!ids.includes(id)) ids.push(id);
  return ids;
}

/** `<vcpusched>`/`<iothreadsched>`: existing vCPUs and threads, no overlaps (virDomainThreadSchedParseHelper). */
export function checkThreadSched(def: DomainDef): void {
  const ct = def.cputune;
  if (!ct) return;
  const vcpus = maxVcpus(def);
  const vcpuSeen = new Set<number>();
  for (const s of ct.vcpusched ?? []) {
    if (s.vcpus === undefined) throw xmlError("Missing attribute 'vcpus' in element 'vcpusched'");
    const set = parseCpuSet(s.vcpus);
    if (!set) continue;
    if (set.size === 0) throw unsupported(`'vcpus' scheduler bitmap '${s.vcpus}' is empty`);
    for (const v of [...set].sort((a, b) => a - b)) {
      if (v >= vcpus) throw unsupported(`vCPU '${v}' is not present in domain definition`);
      if (vcpuSeen.has(v)) throw plainError("'vcpusched' attributes 'vcpus' must not overlap");
      vcpuSeen.add(v);
    }
  }
  const ids = iothreadIds(def);
  const ioSeen = new Set<number>();
  for (const s of ct.iothreadsched ?? []) {
    if (s.iothreads === undefined) throw xmlError("Missing attribute 'iothreads' in element 'iothreadsched'");
    const set = parseCpuSet(s.iothreads);
    if (!set) continue;
    if (set.size === 0) throw unsupported(`'iothreads' scheduler bitmap '${s.iothreads}' is empty`);
    for (const t of [...set].sort((a, b) => a - b)) {
      if (!ids.includes(t)) throw unsupported(`Cannot find 'iothread' : ${t}`);
      if (ioSeen.has(t)) throw plainError("'iothreadsched' attributes 'iothreads' must not overlap");
      ioSeen.add(t);
    }
  }
}

/** Per-device parse checks: TPM backend, shmem msi, disk auth (virDomain*DefParseXML). */
export function checkDeviceParse(def: DomainDef): void {
  const d = def.devices ?? {};
  for (const disk of d.disk ?? []) {
    if (disk.auth && disk.source?.auth)
      throw unsupported('an <auth> definition already found for disk source');
    if (disk.encryption && disk.source?.encryption)
      throw unsupported('an <encryption> definition already found for disk source');
  }
  for (const tpm of d.tpm ?? []) if (!tpm.backend) throw xmlError('missing TPM device backend');
  for (const shm of d.shmem ?? []) {
    if (shm.msi && !shm.server) throw xmlError('msi option is only supported with a server');
  }
}

/** Per-device `<boot order>` together with `<os><boot>` (virDomainDefBootOrderPostParse). */
export function checkBootOrder(def: DomainDef): void {
  const osBoot = def.os?.boot ?? [];
  if (osBoot.length === 0) return;
  if (JSON.stringify(def.devices ?? {}).includes('"boot":{"order"'))
    throw unsupported('per-device boot elements cannot be used together with os/boot elements');
}

/** `<memory>` or NUMA cells must give a size (virDomainDefPostParseMemory). */
export function checkMemorySize(def: DomainDef): void {
  let total = 0n;
  for (const cell of numaCells(def)) total += scaledToBytes(cell.memory ?? 0, cell.unit) ?? 0n;
  if (total > 0n) return;
  const mem = def.memory;
  if (!mem || (scaledToBytes(mem.value ?? 0, mem.unit) ?? 0n) === 0n)
    throw xmlError('Memory size must be specified via <memory> or in the <numa> configuration');
}

/** `<os><firmware>` features (virDomainDefPostParseOs). */
export function checkFirmwareFeatures(def: DomainDef): void {
  const features = def.os?.firmwareFeatures?.feature ?? [];
  const state = (name: string) => features.find((f) => f.name === name)?.enabled;
  if (state('enrolled-keys') === 'yes' && state('secure-boot') === 'no') {
    throw plainError(
      "firmware feature 'enrolled-keys' cannot be enabled when firmware feature 'secure-boot' is disabled",
    );
  }
}

/** Controllers of one type share no index, except USB (virDomainDefRejectDuplicateControllers). */
export function checkDuplicateControllers(def: DomainDef): void {
  const seen = new Set<string>();
  for (const c of def.devices?.controller ?? []) {
    // USB controllers may share an index; one without an index gets the next free one.
    if (c.type === 'usb' || c.type === undefined || c.index === undefined) continue;
    const key = `${c.type}/${c.index}`;
    if (seen.has(key)) throw xmlError(`Multiple '${c.type}' controllers with index '${c.index}'`);
    seen.add(key);
  }
}

/**
 * A unix chardev's effective listen flag: `mode='bind'`, or a path-less source (QEMU generates one
 * and binds), including a virtio channel path that qemuDomainChrDefDropDefaultPath drops.
 */
export function chrListens(
  source: { mode?: string; path?: string } | undefined,
  type: string | undefined,
  channelTarget?: { type?: string; name?: string },
  channelTargetDir?: string,
): boolean {
  if (source?.mode === 'bind') return true;
  if (type !== 'unix' || !channelTarget) return false;
  if (channelTarget.type !== 'virtio') return false;
  const path = source?.path;
  if (path === undefined) return true;
  return droppedDefaultPath(path, channelTarget.name, channelTargetDir ?? '');
}

const escapeRegex = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * qemuDomainChrDefDropDefaultPath's pattern, kept exactly: `^DIR/([^/]+\.)|(domain-[^/]+/)NAME$`,
 * whose alternation makes the second branch match anywhere in the path. Without a target name
 * virBufferEscapeRegex adds nothing, not even the `$`: any `domain-X/` in the path matches.
 */
export function droppedDefaultPath(path: string, name: string | undefined, dir: string): boolean {
  const tail = name === undefined ? '' : `${escapeRegex(name)}$`;
  const re = new RegExp(`^${escapeRegex(dir)}/([^/]+\\.)|(domain-[^/]+/)${tail}`);
  return re.test(path);
}

export { chrDevices };
