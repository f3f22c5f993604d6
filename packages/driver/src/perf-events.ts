/**
 * Host perf counters of a running domain, as libvirt 9.0 keeps them (util/virperf.c,
 * qemu_driver.c qemuDomainGetPerfEvents / qemuDomainSetPerfEvents, qemuDomainGetStatsPerf):
 * each enabled event is one perf_event_open(2) counter on QEMU's process (inherited by its
 * threads), read for `domstats --perf`. The Intel RDT events (cmt, mbmt, mbml) need the kernel's
 * intel_cqm PMU; the others the hardware or software PMU, as the kernel answers.
 *
 * Node has no perf_event_open or ioctl: both go through koffi (libc's syscall and ioctl), loaded
 * on first use, as net-tap.ts and @qvirt/cgroup-devices do.
 */
import { closeSync, existsSync, readFileSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';
import {
  type DomainDef,
  PERF_EVENTS,
  virCheckFlags,
  virReportError,
  virReportSystemError,
} from '@qvirt/core';
import { type TypedParam, VIR_DOMAIN_AFFECT, VIR_TYPED_PARAM } from '@qvirt/core/hypervisor';
import { validateTypedParams } from './cgroup-tuning.js';
import { affectedDefs, copyDef, type LiveDomain } from './live-domain.js';

const A = VIR_DOMAIN_AFFECT;

/** virPerfEventType, in libvirt's order (the order every listing uses): the domain model's list. */
export { PERF_EVENTS };

type PerfEvent = (typeof PERF_EVENTS)[number];

/** virPerfEventAttr: PERF_TYPE_HARDWARE (0) and PERF_TYPE_SOFTWARE (1) counters by config. */
const ATTRS: Record<PerfEvent, { type: number | 'rdt'; config: number }> = {
  cmt: { type: 'rdt', config: 1 },
  mbmt: { type: 'rdt', config: 2 },
  mbml: { type: 'rdt', config: 3 },
  cpu_cycles: { type: 0, config: 0 },
  instructions: { type: 0, config: 1 },
  cache_references: { type: 0, config: 2 },
  cache_misses: { type: 0, config: 3 },
  branch_instructions: { type: 0, config: 4 },
  branch_misses: { type: 0, config: 5 },
  bus_cycles: { type: 0, config: 6 },
  stalled_cycles_frontend: { type: 0, config: 7 },
  stalled_cycles_backend: { type: 0, config: 8 },
  ref_cpu_cycles: { type: 0, config: 9 },
  cpu_clock: { type: 1, config: 0 },
  task_clock: { type: 1, config: 1 },
  page_faults: { type: 1, config: 2 },
  context_switches: { type: 1, config: 3 },
  cpu_migrations: { type: 1, config: 4 },
  page_faults_min: { type: 1, config: 5 },
  page_faults_maj: { type: 1, config: 6 },
  alignment_faults: { type: 1, config: 7 },
  emulation_faults: { type: 1, config: 8 },
};

const NR_PERF_EVENT_OPEN = 298; // x86-64
const PERF_EVENT_IOC_ENABLE = 0x2400;
const PERF_ATTR_SIZE_VER0 = 64;

interface Sys {
  open(attr: Buffer, pid: number): number;
  enable(fd: number): number;
  errno(): number;
}
let sys: Sys | undefined;
function ffi(): Sys {
  if (sys) return sys;
  if (process.platform !== 'linux' || process.arch !== 'x64')
    throw virReportSystemError('ENXIO', 'perf', 'Perf not supported on this platform');
  const koffi = createRequire(import.meta.url)('koffi') as {
    load(lib: string): { func(sig: string): (...a: unknown[]) => unknown };
    errno(): number;
  };
  const libc = koffi.load('libc.so.6');
  const syscall = libc.func(
    'long syscall(long nr, void *attr, int pid, int cpu, int group, unsigned long flags)',
  );
  const ioctl = libc.func('int ioctl(int fd, unsigned long request, unsigned long arg)');
  sys = {
    open: (attr, pid) => Number(syscall(NR_PERF_EVENT_OPEN, attr, pid, -1, -1, 0)),
    enable: (fd) => ioctl(fd, PERF_EVENT_IOC_ENABLE, 0) as number,
    errno: () => koffi.errno(),
  };
  return sys;
}

/** One domain run's counters (priv->perf), keyed by QEMU's pid. */
interface Run {
  pid: number;
  fds: Map<PerfEvent, number>;
}

/** The perf counters of one driver instance's running domains. */
export class PerfEvents {
  readonly #runs = new Map<string, Run>();

  /** The run of a domain, dropping one whose QEMU has gone (its counters closed). */
  #run(dom: LiveDomain): Run | undefined {
    for (const [k, r] of this.#runs) {
      if (!existsSync(`/proc/${r.pid}`)) {
        for (const fd of r.fds.values()) closeSync(fd);
        this.#runs.delete(k);
      }
    }
    const r = this.#runs.get(dom.uuid);
    if (r && r.pid !== dom.pid) {
      for (const fd of r.fds.values()) closeSync(fd);
      this.#runs.delete(dom.uuid);
      return undefined;
    }
    return r;
  }

  enabled(dom: LiveDomain, e: PerfEvent): boolean {
    return dom.active ? (this.#run(dom)?.fds.has(e) ?? false) : false;
  }

  /** virPerfEventEnable. */
  enable(dom: LiveDomain, e: PerfEvent): void {
    if (this.enabled(dom, e)) return;
    let type = ATTRS[e].type;
    if (type === 'rdt') {
      // virPerfRdtAttrInit: the intel_cqm PMU's type, when the kernel has one
      try {
        type = Number(readFileSync('/sys/devices/intel_cqm/type', 'utf8').trim());
      } catch {
        throw virReportError('ARGUMENT_UNSUPPORTED', 'perf', `unable to enable host cpu perf event for ${e}`);
      }
    }
    const attr = Buffer.alloc(PERF_ATTR_SIZE_VER0);
    attr.writeUInt32LE(type, 0);
    attr.writeUInt32LE(PERF_ATTR_SIZE_VER0, 4);
    attr.writeBigUInt64LE(BigInt(ATTRS[e].config), 8);
    attr.writeBigUInt64LE(0b11n, 40); // disabled, inherit
    const f = ffi();
    const fd = f.open(attr, dom.pid!);
    if (fd < 0) throw virReportSystemError(f.errno(), 'perf', `unable to open host cpu perf event for ${e}`);
    if (f.enable(fd) < 0) {
      const errno = f.errno();
      closeSync(fd);
      throw virReportSystemError(errno, 'perf', `unable to enable host cpu perf event for ${e}`);
    }
    let r = this.#run(dom);
    if (!r) {
      r = { pid: dom.pid!, fds: new Map() };
      this.#runs.set(dom.uuid, r);
    }
    r.fds.set(e, fd);
  }

  /** virPerfEventDisable. */
  disable(dom: LiveDomain, e: PerfEvent): void {
    const r = this.#run(dom);
    const fd = r?.fds.get(e);
    if (fd === undefined) return;
    closeSync(fd);
    r!.fds.delete(e);
  }

  /** qemuDomainGetStatsPerf: `perf.<event>` for each enabled counter (virPerfReadEvent). */
  stats(dom: LiveDomain): TypedParam[] {
    const r = dom.active ? this.#run(dom) : undefined;
    if (!r) return [];
    const out: TypedParam[] = [];
    for (const e of PERF_EVENTS) {
      const fd = r.fds.get(e);
      if (fd === undefined) continue;
      const b = Buffer.alloc(8);
      readSync(fd, b, 0, 8, null);
      out.push({ field: `perf.${e}`, type: VIR_TYPED_PARAM.ULLONG, value: Number(b.readBigUInt64LE(0)) });
    }
    return out;
  }
}

const perfOf = (def: DomainDef) =>
  (def.perf as { event?: Array<{ name: string; enabled?: string }> } | undefined)?.event ?? [];

function setDefEvent(def: DomainDef, name: PerfEvent, enabled: boolean): void {
  const perf = ((def as { perf?: { event?: Array<{ name: string; enabled?: string }> } }).perf ??= {});
  const list = (perf.event ??= []);
  const cur = list.find((e) => e.name === name);
  if (cur) cur.enabled = enabled ? 'yes' : 'no';
  else list.push({ name, enabled: enabled ? 'yes' : 'no' });
  // virDomainPerfDefFormat prints the events in libvirt's order
  list.sort((a, b) => PERF_EVENTS.indexOf(a.name as PerfEvent) - PERF_EVENTS.indexOf(b.name as PerfEvent));
}

/** qemuDomainGetPerfEvents: every event, enabled or not. */
export function getPerfEvents(dom: LiveDomain, perf: PerfEvents, flags: number): TypedParam[] {
  virCheckFlags(flags, A.LIVE | A.CONFIG, 'qemuDomainGetPerfEvents');
  const defs = affectedDefs(dom, flags);
  return PERF_EVENTS.map((e) => ({
    field: e,
    type: VIR_TYPED_PARAM.BOOLEAN,
    value: defs.config
      ? perfOf(defs.config).some((x) => x.name === e && x.enabled === 'yes')
      : perf.enabled(dom, e),
  }));
}

/** qemuDomainSetPerfEvents. */
export async function setPerfEvents(
  dom: LiveDomain,
  perf: PerfEvents,
  params: TypedParam[],
  flags: number,
): Promise<void> {
  virCheckFlags(flags, A.LIVE | A.CONFIG, 'qemuDomainSetPerfEvents');
  validateTypedParams(params, Object.fromEntries(PERF_EVENTS.map((e) => [e, VIR_TYPED_PARAM.BOOLEAN])));
  const defs = affectedDefs(dom, flags);
  if (defs.live) {
    const live = copyDef(defs.live);
    try {
      for (const p of params) {
        const e = p.field as PerfEvent;
        if (p.value) perf.enable(dom, e);
        else perf.disable(dom, e);
        setDefEvent(live, e, Boolean(p.value));
      }
    } finally {
      await dom.saveLive(live);
    }
  }
  if (defs.config) {
    const config = copyDef(defs.config);
    for (const p of params) setDefEvent(config, p.field as PerfEvent, Boolean(p.value));
    await dom.saveConfig(config);
  }
}

/** qemuProcessEnablePerf: the events `<perf>` enables, at start (a failure fails the start). */
export function enablePerfFromDef(dom: LiveDomain, perf: PerfEvents): void {
  const def = dom.live ?? dom.config;
  for (const e of perfOf(def)) if (e.enabled === 'yes') perf.enable(dom, e.name as PerfEvent);
}
