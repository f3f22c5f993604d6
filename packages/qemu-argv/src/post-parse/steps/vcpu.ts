import type { DomainDef } from '@qvirt/core';
import { VirError, virReportError } from '@qvirt/core';
import { canonicalBitmap, formatBitmap, parseBitmap } from './general-bitmap.js';

type CpuTune = NonNullable<DomainDef['cputune']>;
type Sched = { scheduler?: 'batch' | 'idle' | 'fifo' | 'rr' | undefined; priority?: number | undefined };

const unsupported = (msg: string): VirError => virReportError('CONFIG_UNSUPPORTED', 'domain', msg);
const xmlError = (msg: string): VirError => virReportError('XML_ERROR', 'domain', msg);

/** A non-empty CPU set written back as libvirt formats it. */
function cpuset(value: string, what = 'cpuset'): string {
  const bits = parseBitmap(value);
  if (!bits.size) throw unsupported(`Invalid value of '${what}': ${value}`);
  return canonicalBitmap(value);
}

function maxVcpus(def: DomainDef): number {
  return def.vcpu?.value ?? 1;
}

/**
 * `<vcpu>` and `<vcpus>` (virDomainVcpuParse, virDomainCpuDefFormat): placement defaults to
 * static, the cpuset is a canonical bitmap (ignored with automatic placement), `current` is
 * written only when some vCPUs are offline, per-vCPU entries cover every vCPU with their
 * hotpluggable default (virDomainVcpuDefPostParse) and QEMU's ordering rules
 * (qemuDomainDefVcpusPostParse).
 */
export function vcpuPlacement(def: DomainDef): void {
  const vcpu = { ...def.vcpu };
  const max = vcpu.value ?? 1;
  const placement = vcpu.placement ?? 'static';
  const out: NonNullable<DomainDef['vcpu']> = { placement, value: max };
  if (placement !== 'auto' && vcpu.cpuset !== undefined) out.cpuset = cpuset(vcpu.cpuset);

  const listed = def.vcpus?.vcpu ?? [];
  if (listed.length) {
    const states = Array.from({ length: max }, (_, id) => ({
      id,
      enabled: 'no' as 'yes' | 'no',
      hotpluggable: undefined as 'yes' | 'no' | undefined,
      order: 0,
    }));
    for (const v of listed) {
      if (v.id === undefined) throw xmlError("Missing required attribute 'id' in element 'vcpu'");
      if (v.id >= max) throw xmlError(`vcpu id '${v.id}' is out of range of maximum vcpu count`);
      if (v.enabled === undefined) throw xmlError("Missing required attribute 'enabled' in element 'vcpu'");
      const s = states[v.id]!;
      s.enabled = v.enabled;
      s.hotpluggable = v.hotpluggable;
      s.order = v.order ?? 0;
    }
    for (const [i, s] of states.entries()) {
      if (s.hotpluggable === undefined) s.hotpluggable = s.enabled === 'yes' ? 'no' : 'yes';
      else if (s.hotpluggable === 'no' && s.enabled === 'no')
        throw unsupported(`vcpu '${i}' is both offline and not hotpluggable`);
    }
    checkVcpuOrder(states);
    const online = states.filter((s) => s.enabled === 'yes').length;
    if (online < max) out.current = online;
    def.vcpus = {
      vcpu: states.map((s) => ({
        id: s.id,
        enabled: s.enabled,
        hotpluggable: s.hotpluggable,
        ...(s.order ? { order: s.order } : {}),
      })),
    };
  } else {
    delete def.vcpus;
    const current = vcpu.current ?? max;
    if (current > max) throw unsupported('maximum vCPU count must not be less than current vCPU count');
    if (current < max) out.current = current;
  }
  def.vcpu = out;
}

/** qemuDomainDefVcpusPostParse: vCPU 0 online and first, orders consistent and ascending. */
function checkVcpuOrder(
  states: { enabled: string; hotpluggable?: string | undefined; order: number }[],
): void {
  const first = states[0];
  if (!first) return;
  if (first.enabled !== 'yes') throw unsupported("vcpu 0 can't be offline");
  if (first.hotpluggable === 'yes') throw unsupported("vcpu0 can't be hotpluggable");
  if (first.order !== 0 && first.order !== 1) throw unsupported('vcpu0 must be enabled first');
  const hasOrder = first.order !== 0;
  let prev = first;
  for (const v of states.slice(1)) {
    if (v.enabled === 'yes' && (v.order !== 0) !== hasOrder)
      throw unsupported('all vcpus must have either set or unset order');
    if (v.hotpluggable === 'no') {
      if (prev.hotpluggable === 'yes')
        throw unsupported('online non-hotpluggable vcpus need to be ordered prior to hotplugable vcpus');
      if (prev.order > v.order)
        throw unsupported('online non-hotpluggable vcpus must be ordered in ascending order');
    }
    prev = v;
  }
}

/**
 * `<iothreads>` and `<iothreadids>` (virDomainDefParseIOThreads, virDomainIOThreadIDDefArrayInit):
 * the count covers the listed ids, missing ids are filled in from 1 up, and the list is written
 * only when the user gave one. Returns the ids in definition order.
 */
export function iothreadIds(def: DomainDef): void {
  const listed = def.iothreadids?.iothread ?? [];
  const seen = new Set<number>();
  for (const t of listed) {
    if (t.id === undefined) throw xmlError("Missing required attribute 'id' in element 'iothread'");
    if (t.id === 0)
      throw xmlError("Invalid value for attribute 'id' in element 'iothread': Zero is not permitted");
    if (seen.has(t.id)) throw xmlError(`duplicate iothread id '${t.id}' found`);
    seen.add(t.id);
  }
  const count = Math.max(def.iothreads ?? 0, listed.length);
  const all = listed.map((t) => ({ ...t }));
  for (let id = 1; all.length < count; id++) if (!seen.has(id)) all.push({ id });
  if (count > 0) def.iothreads = count;
  else delete def.iothreads;
  if (listed.length) def.iothreadids = { iothread: all };
  else delete def.iothreadids;
}

function allIothreadIds(def: DomainDef): number[] {
  const listed = (def.iothreadids?.iothread ?? []).map((t) => t.id!);
  const seen = new Set(listed);
  const count = def.iothreads ?? 0;
  for (let id = 1; listed.length < count; id++) if (!seen.has(id)) listed.push(id);
  return listed;
}

function schedAttrs(s: Sched, element: string): Sched {
  if (!s.scheduler) throw xmlError(`Missing required attribute 'scheduler' in element '${element}'`);
  if (s.scheduler === 'fifo' || s.scheduler === 'rr') {
    if (s.priority === undefined)
      throw xmlError(`Missing required attribute 'priority' in element '${element}'`);
    return { scheduler: s.scheduler, priority: s.priority };
  }
  return { scheduler: s.scheduler };
}

/**
 * `<cputune>` as virDomainCputuneDefFormat writes it: pins per vCPU / I/O thread in id order with
 * canonical CPU sets (pins of absent vCPUs dropped), schedulers expanded to one entry per thread,
 * zero periods and quotas left out, an empty `<cputune>` dropped.
 */
export function cputuneCanonical(def: DomainDef): void {
  const ct = def.cputune;
  if (!ct) return;
  const max = maxVcpus(def);
  const out: CpuTune = {};
  if (ct.shares !== undefined) out.shares = ct.shares;
  for (const k of [
    'period',
    'quota',
    'global_period',
    'global_quota',
    'emulator_period',
    'emulator_quota',
    'iothread_period',
    'iothread_quota',
  ] as const) {
    if (ct[k]) out[k] = ct[k];
  }
  const pins = new Map<number, string>();
  for (const pin of ct.vcpupin ?? []) {
    if (pin.vcpu === undefined) throw xmlError("Missing required attribute 'vcpu' in element 'vcpupin'");
    if (pin.vcpu >= max) continue;
    if (pin.cpuset === undefined)
      throw virReportError('INTERNAL_ERROR', 'domain', 'missing cpuset for vcpupin');
    if (pins.has(pin.vcpu))
      throw virReportError('INTERNAL_ERROR', 'domain', `duplicate vcpupin for vcpu '${pin.vcpu}'`);
    pins.set(pin.vcpu, cpuset(pin.cpuset));
  }
  if (pins.size) {
    out.vcpupin = [...pins.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([vcpu, set]) => ({ vcpu, cpuset: set }));
  }
  if (ct.emulatorpin) {
    if (ct.emulatorpin.cpuset === undefined)
      throw virReportError('INTERNAL_ERROR', 'domain', 'missing cpuset for emulatorpin');
    out.emulatorpin = { cpuset: cpuset(ct.emulatorpin.cpuset) };
  }
  const threads = allIothreadIds(def);
  const iopins = new Map<number, string>();
  for (const pin of ct.iothreadpin ?? []) {
    const id = pin.iothread;
    if (id === undefined) throw xmlError("Missing required attribute 'iothread' in element 'iothreadpin'");
    if (!threads.includes(id)) throw unsupported(`Cannot find 'iothread' : ${id}`);
    if (pin.cpuset === undefined)
      throw virReportError('INTERNAL_ERROR', 'domain', 'missing cpuset for iothreadpin');
    const set = cpuset(pin.cpuset);
    if (iopins.has(id)) {
      throw virReportError('INTERNAL_ERROR', 'domain', `duplicate iothreadpin for same iothread '${id}'`);
    }
    iopins.set(id, set);
  }
  const iothreadpin = threads
    .filter((id) => iopins.has(id))
    .map((id) => ({ iothread: id, cpuset: iopins.get(id)! }));
  if (iothreadpin.length) out.iothreadpin = iothreadpin;
  if (ct.emulatorsched) out.emulatorsched = schedAttrs(ct.emulatorsched, 'emulatorsched');

  const expand = (
    entries: (Sched & Record<string, unknown>)[],
    element: string,
    attribute: string,
    exists: (id: number) => boolean,
    missing: (id: number) => VirError,
  ): Map<number, Sched> => {
    const map = new Map<number, Sched>();
    for (const e of entries) {
      const raw = e[attribute] as string | undefined;
      if (raw === undefined) throw xmlError(`Missing attribute '${attribute}' in element '${element}'`);
      const bits = parseBitmap(raw);
      if (!bits.size) throw unsupported(`'${attribute}' scheduler bitmap '${raw}' is empty`);
      const sched = schedAttrs(e, element);
      for (const id of [...bits].sort((a, b) => a - b)) {
        if (!exists(id)) throw missing(id);
        if (map.has(id))
          throw new VirError(
            'XML_DETAIL',
            'domain',
            `'${element}' attributes '${attribute}' must not overlap`,
          );
        map.set(id, sched);
      }
    }
    return map;
  };
  const vsched = expand(
    (ct.vcpusched ?? []) as (Sched & Record<string, unknown>)[],
    'vcpusched',
    'vcpus',
    (id) => id < max,
    (id) => unsupported(`vCPU '${id}' is not present in domain definition`),
  );
  if (vsched.size) {
    out.vcpusched = [...vsched.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([id, s]) => ({ vcpus: `${id}`, ...s }));
  }
  const isched = expand(
    (ct.iothreadsched ?? []) as (Sched & Record<string, unknown>)[],
    'iothreadsched',
    'iothreads',
    (id) => threads.includes(id),
    (id) => unsupported(`Cannot find 'iothread' : ${id}`),
  );
  if (isched.size) {
    out.iothreadsched = threads
      .filter((id) => isched.has(id))
      .map((id) => ({ iothreads: `${id}`, ...isched.get(id)! }));
  }
  if (ct.cachetune) out.cachetune = ct.cachetune;
  if (ct.memorytune) out.memorytune = ct.memorytune;
  if (Object.keys(out).length) def.cputune = out;
  else delete def.cputune;
}

function hasPins(def: DomainDef): boolean {
  return Boolean(
    def.vcpu?.cpuset ||
      def.cputune?.vcpupin?.length ||
      def.cputune?.emulatorpin ||
      def.cputune?.iothreadpin?.length,
  );
}

/**
 * `<numatune>` (virDomainNumatuneParseXML, virDomainNumatuneSet): mode defaults to strict,
 * placement follows the nodeset (static) or the vCPU placement (auto, which drops the nodeset);
 * per-cell `<memnode>` entries are ordered by cell. Automatic memory placement without any
 * pinning makes the vCPU placement automatic too.
 */
export function numatuneCanonical(def: DomainDef): void {
  const nt = def.numatune;
  const cells = def.cpu?.numa?.cell?.length ?? 0;
  const placementStatic = (def.vcpu?.placement ?? 'static') === 'static';
  const mem = nt?.memory;
  let memory: NonNullable<NonNullable<DomainDef['numatune']>['memory']> | undefined;
  const mode = mem?.mode;
  let placement: string | undefined = mem ? mem.placement : placementStatic ? undefined : 'auto';
  const nodeset = mem?.nodeset !== undefined ? cpuset(mem.nodeset, 'nodeset') : undefined;
  if (mode !== undefined || placement !== undefined || nodeset !== undefined) {
    placement ??= nodeset !== undefined || placementStatic ? 'static' : 'auto';
    if (placement === 'static' && nodeset === undefined) {
      throw unsupported("nodeset for NUMA memory tuning must be set if 'placement' is 'static'");
    }
    memory = { mode: mode ?? 'strict' };
    if (placement === 'static') memory.nodeset = nodeset!;
    else memory.placement = 'auto';
  }
  const memnodes = nt?.memnode ?? [];
  let memnode: NonNullable<DomainDef['numatune']>['memnode'];
  if (memnodes.length) {
    if (memory?.placement === 'auto')
      throw unsupported('Per-node binding is not compatible with automatic NUMA placement.');
    if (!cells) throw xmlError("Element 'memnode' is invalid without any guest NUMA cells");
    const byCell = new Map<number, { cellid: number; mode: string; nodeset: string }>();
    for (const n of memnodes) {
      if (n.cellid === undefined) throw xmlError("Missing required attribute 'cellid' in element 'memnode'");
      if (n.cellid >= cells) {
        throw xmlError("Argument 'cellid' in memnode element must correspond to existing guest's NUMA cell");
      }
      if (byCell.has(n.cellid)) throw xmlError(`Multiple memnode elements with cellid ${n.cellid}`);
      const mode = n.mode ?? 'strict';
      if (memory?.mode === 'restrictive' && mode !== 'restrictive') {
        throw xmlError(
          "'restrictive' mode is required in memnode element when mode is 'restrictive' in memory element",
        );
      }
      if (n.nodeset === undefined) throw xmlError('Missing required nodeset attribute in memnode element');
      byCell.set(n.cellid, { cellid: n.cellid, mode, nodeset: cpuset(n.nodeset, 'nodeset') });
    }
    memnode = [...byCell.values()].sort((a, b) => a.cellid - b.cellid) as typeof memnode;
  }
  if (memory || memnode?.length) {
    def.numatune = { ...(memory ? { memory } : {}), ...(memnode?.length ? { memnode } : {}) };
  } else {
    delete def.numatune;
  }
  if (memory?.placement === 'auto' && !hasPins(def) && def.vcpu) def.vcpu.placement = 'auto';
}

/**
 * With guest NUMA cells covering fewer vCPUs than the domain has, the remaining vCPUs go to
 * cell 0 (qemuDomainDefNumaCPUsRectify). Cells may not name more or higher vCPUs than exist.
 */
export function numaVcpus(def: DomainDef): void {
  const cells = def.cpu?.numa?.cell;
  if (!cells?.length) return;
  const max = maxVcpus(def);
  const sets = cells.map((c) => (c.cpus !== undefined ? parseBitmap(c.cpus) : new Set<number>()));
  const total = sets.reduce((n, s) => n + s.size, 0);
  if (total > max) {
    throw virReportError('INTERNAL_ERROR', 'domain', 'Number of CPUs in <numa> exceeds the <vcpu> count');
  }
  if (sets.some((s) => [...s].some((b) => b >= max))) {
    throw virReportError('INTERNAL_ERROR', 'domain', 'CPU IDs in <numa> exceed the <vcpu> count');
  }
  if (total < max) {
    const others = new Set(sets.slice(1).flatMap((s) => [...s]));
    const fill: number[] = [];
    for (let i = 0; i < max; i++) if (!others.has(i)) fill.push(i);
    cells[0]!.cpus = formatBitmap(fill);
  }
}
