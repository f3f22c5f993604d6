/**
 * The domain's own cgroup in the resource controllers, placed as libvirt 9.0 places it
 * (qemu_cgroup.c qemuSetupCgroup / qemuProcessSetupEmulator / qemuProcessSetupVcpu /
 * qemuProcessSetupIOThread / qemuRemoveCgroup, vircgroupv1.c):
 *
 *   <controller>/machine/<machine name>.qvirt-qemu/            QEMU joins it before exec
 *                                                 emulator/    every thread once QMP answers
 *                                                 vcpuN/       vCPU N's thread
 *                                                 iothreadN/   IOThread N's thread
 *
 * The thread groups are made in the `cpu`, `cpuacct` and `cpuset` hierarchies, as libvirt's
 * virCgroupNewThread does; `memory` and `blkio` stay at the domain level. The devices controller
 * is `@qvirt/cgroup-devices`' (a security driver), which names its group the same way.
 *
 * cgroup v1 hierarchies only: on a hybrid host (v1 controllers, an empty cgroup2 mount) that is
 * where libvirt puts them too. A controller that is not mounted, or that qemu.conf's
 * `cgroup_controllers` leaves out, is simply absent, and the APIs then refuse as libvirt does
 * ("cgroup memory controller is not mounted"). Nothing is made for an unprivileged instance.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { domainCgroupPath, machineName } from '@qvirt/cgroup-devices';
import { type DomainDef, virReportSystemError } from '@qvirt/core';
import { applyThreadAffinity, cpusetText, definedCpumask } from './cpu-affinity.js';

/** The controllers this module manages (libvirt's VIR_CGROUP_CONTROLLER_* minus devices/freezer). */
export const RESOURCE_CONTROLLERS = ['cpu', 'cpuacct', 'cpuset', 'memory', 'blkio'] as const;
export type ResourceController = (typeof RESOURCE_CONTROLLERS)[number];
/** Where the per-thread groups go (virCgroupNewThread's controllers). */
const THREAD_CONTROLLERS: readonly ResourceController[] = ['cpu', 'cpuacct', 'cpuset'];

export type ThreadKind = 'emulator' | 'vcpu' | 'iothread';

/** The v1 mount point of each resource controller (`/proc/self/mounts`). */
function v1Mounts(): Map<ResourceController, string> {
  const out = new Map<ResourceController, string>();
  let text = '';
  try {
    text = readFileSync('/proc/self/mounts', 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    const [, dir, type, opts] = line.split(' ');
    if (type !== 'cgroup' || !dir || !opts) continue;
    const options = opts.split(',');
    // a read-only hierarchy (a container's) cannot hold the domain's groups
    if (options.includes('ro')) continue;
    for (const c of RESOURCE_CONTROLLERS) if (options.includes(c) && !out.has(c)) out.set(c, dir);
  }
  return out;
}

/** One domain run's groups: a directory per controller. */
export class DomainCgroup {
  constructor(
    /** The group's path inside each hierarchy, e.g. `/machine/qemu-1-demo.qvirt-qemu`. */
    readonly path: string,
    readonly dirs: ReadonlyMap<ResourceController, string>,
  ) {}

  has(c: ResourceController): boolean {
    return this.dirs.has(c);
  }

  /** The group's directory in a controller (undefined when the controller is absent). */
  dir(c: ResourceController): string | undefined {
    return this.dirs.get(c);
  }

  /** A thread group's directory (`emulator`, `vcpu0`, `iothread1`); the domain's own without `kind`. */
  threadDir(c: ResourceController, kind?: ThreadKind, id = 0): string | undefined {
    const d = this.dirs.get(c);
    if (!d || !kind || !THREAD_CONTROLLERS.includes(c)) return d;
    return path.join(d, kind === 'emulator' ? 'emulator' : `${kind}${id}`);
  }

  /** virCgroupGetValueStr. */
  async read(c: ResourceController, file: string, kind?: ThreadKind, id?: number): Promise<string> {
    const f = path.join(this.threadDir(c, kind, id)!, file);
    try {
      return (await readFile(f, 'utf8')).trim();
    } catch (err) {
      throw virReportSystemError(err, 'cgroup', `Unable to read from '${f}'`);
    }
  }

  /** virCgroupSetValueStr: one write, libvirt's message on failure. */
  async write(
    c: ResourceController,
    file: string,
    value: string,
    kind?: ThreadKind,
    id?: number,
  ): Promise<void> {
    const f = path.join(this.threadDir(c, kind, id)!, file);
    try {
      await writeFile(f, value);
    } catch (err) {
      throw virReportSystemError(err, 'cgroup', `Unable to write to '${f}'`);
    }
  }

  /** virCgroupNewThread(create=true) in every thread controller, cpuset initialised. */
  async makeThreadGroup(kind: ThreadKind, id = 0): Promise<void> {
    // each controller's hierarchy is its own: made side by side (a start waits for these)
    await Promise.all(
      THREAD_CONTROLLERS.map((c) => {
        const d = this.threadDir(c, kind, id);
        return d ? makeGroup(d, c) : undefined;
      }),
    );
  }

  /** virCgroupAddThread: a thread into a thread group (v1 `tasks`). */
  async addThread(kind: ThreadKind, id: number, tid: number): Promise<void> {
    await Promise.all(
      uniqueDirs(this, THREAD_CONTROLLERS).map((c) => this.write(c, 'tasks', String(tid), kind, id)),
    );
  }

  /** virCgroupRemove of a thread group (an IOThread deleted live). */
  async removeThreadGroup(kind: ThreadKind, id: number): Promise<void> {
    const dirs = THREAD_CONTROLLERS.flatMap((c) => this.threadDir(c, kind, id) ?? []);
    // the thread leaves its group only once it has exited: a moment after QEMU answers
    for (let attempt = 0; attempt < 40; attempt++) {
      const left = await removeAll(dirs);
      if (left.length === 0) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    retryInBackground(dirs);
  }
}

/** The controllers whose directories differ (cpu and cpuacct may be mounted together). */
function uniqueDirs(cg: DomainCgroup, list: readonly ResourceController[]): ResourceController[] {
  const seen = new Set<string>();
  return list.filter((c) => {
    const d = cg.dir(c);
    if (!d || seen.has(d)) return false;
    seen.add(d);
    return true;
  });
}

/**
 * virDomainCgroupSetupCpusetCpus of a thread group, when the definition gives its CPUs (otherwise
 * the group keeps its parent's, copied at mkdir).
 */
async function setThreadCpuset(
  cg: DomainCgroup,
  kind: ThreadKind,
  id: number,
  cpumask: number[] | undefined,
): Promise<void> {
  if (cpumask && cg.has('cpuset')) await cg.write('cpuset', 'cpuset.cpus', cpusetText(cpumask), kind, id);
}

/** mkdir of one group; a new cpuset group gets its parent's CPUs and nodes (v1 starts empty). */
async function makeGroup(dir: string, c: ResourceController): Promise<void> {
  if (c === 'cpuset' && !existsSync(path.dirname(dir))) await makeGroup(path.dirname(dir), c);
  await mkdir(dir, { recursive: true });
  if (c !== 'cpuset') return;
  for (const f of ['cpuset.cpus', 'cpuset.mems']) {
    const own = (await readFile(path.join(dir, f), 'utf8')).trim();
    if (own !== '') continue;
    const parent = (await readFile(path.join(path.dirname(dir), f), 'utf8')).trim();
    await writeFile(path.join(dir, f), parent);
  }
}

export interface DomainCgroupsOptions {
  privileged: boolean;
  /** An embed instance's root: the machine name carries its hash (libvirt's embed driver). */
  embedRoot?: string;
  /** qemu.conf `cgroup_controllers` (undefined: all). */
  controllers?: readonly string[];
}

/** The domain groups of one driver instance. */
export class DomainCgroups {
  #mounts: Map<ResourceController, string> | undefined;
  constructor(private readonly options: DomainCgroupsOptions) {}

  #wanted(): Map<ResourceController, string> {
    this.#mounts ??= v1Mounts();
    const out = new Map<ResourceController, string>();
    if (!this.options.privileged) return out;
    for (const [c, mount] of this.#mounts) {
      if (!this.options.controllers || this.options.controllers.includes(c)) out.set(c, mount);
    }
    return out;
  }

  /** The groups of a run (by its name, id and partition), whether made yet or not. */
  of(def: Pick<DomainDef, 'name' | 'resource'>, id: number): DomainCgroup | undefined {
    const mounts = this.#wanted();
    if (mounts.size === 0 || id < 0) return undefined;
    const name = machineName({
      drivername: 'qemu',
      id,
      name: def.name,
      privileged: true,
      ...(this.options.embedRoot !== undefined ? { embedRoot: this.options.embedRoot } : {}),
    });
    const p = domainCgroupPath({
      machineName: name,
      partition: (def.resource as { partition?: string } | undefined)?.partition ?? '/machine',
      controllers: [...RESOURCE_CONTROLLERS],
    });
    return new DomainCgroup(p, new Map([...mounts].map(([c, m]) => [c, `${m}${p}`])));
  }

  /** The groups of a running domain that exist (after a daemon restart too). */
  existing(def: Pick<DomainDef, 'name' | 'resource'>, id: number): DomainCgroup | undefined {
    const cg = this.of(def, id);
    if (!cg) return undefined;
    const dirs = new Map([...cg.dirs].filter(([, d]) => existsSync(d)));
    return dirs.size ? new DomainCgroup(cg.path, dirs) : undefined;
  }

  /**
   * qemuSetupCgroup and qemuProcessSetupEmulator (before exec): the domain's groups made with the
   * definition's tuning, and its `emulator/` group with the emulator's CPU set and bandwidth; the
   * launch spec joins `emulator/` where there are thread groups and the domain's group elsewhere,
   * so QEMU's first instruction runs there and every thread it makes inherits it, as libvirt
   * moves the not-yet-exec'd child into `emulator/`.
   */
  async prepare(def: DomainDef, id: number, spec: { cgroupPaths: string[] }): Promise<void> {
    const cg = this.of(def, id);
    if (!cg) return;
    const tune = (def.cputune ?? {}) as Record<string, unknown>;
    const threads = THREAD_CONTROLLERS.some((c) => cg.has(c));
    try {
      // one hierarchy per controller: made side by side, as a start waits for them
      await Promise.all([...cg.dirs].map(([c, d]) => makeGroup(d, c)));
      await applyDomainTuning(cg, def);
      if (threads) {
        await cg.makeThreadGroup('emulator');
        await setThreadCpuset(cg, 'emulator', 0, definedCpumask(def, { kind: 'emulator' }));
        await setBandwidth(cg, 'emulator', 0, num(tune.emulator_period), num(tune.emulator_quota));
      }
    } catch (err) {
      await this.remove(def, id);
      throw err;
    }
    for (const c of uniqueDirs(cg, RESOURCE_CONTROLLERS)) {
      const d = cg.threadDir(c, threads ? 'emulator' : undefined)!;
      if (!spec.cgroupPaths.includes(d)) spec.cgroupPaths.push(d);
    }
  }

  /**
   * qemuProcessSetupVcpus and qemuProcessSetupIOThreads (before the guest runs): each vCPU's and
   * IOThread's thread into its own group, with its CPU set and the definition's bandwidth, then
   * its affinity. The other threads stay in `emulator/`, joined before exec.
   */
  async placeThreads(
    def: DomainDef,
    id: number,
    pid: number,
    vcpus: ReadonlyMap<number, number>,
    iothreads: ReadonlyMap<number, number>,
  ): Promise<void> {
    const cg = this.existing(def, id);
    const grouped = cg && THREAD_CONTROLLERS.some((c) => cg.has(c)) ? cg : undefined;
    await Promise.all([
      ...[...vcpus].map(([n, tid]) => this.placeThread(grouped, def, 'vcpu', n, tid, pid)),
      ...[...iothreads].map(([n, tid]) => this.placeThread(grouped, def, 'iothread', n, tid, pid)),
    ]);
  }

  /** placeThreads with the threads QEMU names (`query-cpus-fast`, `query-iothreads`). */
  async placeFromMonitor(
    def: DomainDef,
    id: number,
    pid: number,
    mon: { execute<T>(cmd: string, args?: Record<string, unknown>): Promise<T> },
  ): Promise<void> {
    // both asked at once: QMP answers in order, without a round trip between them
    const [cpus, io] = await Promise.all([
      mon.execute<Array<{ 'cpu-index': number; 'thread-id': number }>>('query-cpus-fast'),
      mon.execute<Array<{ id: string; 'thread-id': number }>>('query-iothreads'),
    ]);
    const iothreads = new Map(
      io.flatMap((t) => {
        const m = /^iothread(\d+)$/.exec(t.id);
        return m ? [[Number(m[1]), t['thread-id']] as [number, number]] : [];
      }),
    );
    await this.placeThreads(
      def,
      id,
      pid,
      new Map(cpus.map((c) => [c['cpu-index'], c['thread-id']])),
      iothreads,
    );
  }

  /**
   * After a live vCPU change (qemuDomainHotplugAddVcpu / qemuDomainRemoveVcpu): each present
   * vCPU's thread in its `vcpuN/` group with its affinity, the groups of vCPUs gone removed.
   */
  async syncVcpus(
    def: DomainDef,
    id: number,
    pid: number,
    mon: { execute<T>(cmd: string, args?: Record<string, unknown>): Promise<T> },
  ): Promise<void> {
    const found = this.existing(def, id);
    const cg = found && THREAD_CONTROLLERS.some((c) => found.has(c)) ? found : undefined;
    const cpus = await mon.execute<Array<{ 'cpu-index': number; 'thread-id': number }>>('query-cpus-fast');
    const present = new Set(cpus.map((c) => c['cpu-index']));
    for (const c of cpus) await this.placeThread(cg, def, 'vcpu', c['cpu-index'], c['thread-id'], pid);
    if (!cg) return;
    const dir = cg.dir('cpu') ?? cg.dir('cpuset') ?? cg.dir('cpuacct')!;
    for (const e of readdirSync(dir)) {
      const m = /^vcpu(\d+)$/.exec(e);
      if (m && !present.has(Number(m[1]))) await cg.removeThreadGroup('vcpu', Number(m[1]));
    }
  }

  /**
   * qemuProcessSetupPid for one vCPU or IOThread (also after a hotplug): its group made, given
   * its CPU set and bandwidth, and joined; then the thread's affinity. Without thread groups
   * (`cg` undefined: unprivileged, or no cpu/cpuacct/cpuset) only the affinity.
   */
  async placeThread(
    cg: DomainCgroup | undefined,
    def: DomainDef,
    kind: 'vcpu' | 'iothread',
    n: number,
    tid: number,
    pid: number,
  ): Promise<void> {
    const cpumask = definedCpumask(def, { kind, id: n });
    if (cg) {
      await cg.makeThreadGroup(kind, n);
      await setThreadCpuset(cg, kind, n, cpumask);
      const tune = (def.cputune ?? {}) as Record<string, unknown>;
      const period = num(kind === 'vcpu' ? tune.period : tune.iothread_period);
      const quota = num(kind === 'vcpu' ? tune.quota : tune.iothread_quota);
      await setBandwidth(cg, kind, n, period, quota);
      await cg.addThread(kind, n, tid);
    }
    applyThreadAffinity(pid, tid, cpumask);
  }

  /**
   * qemuRemoveCgroup: the thread groups, then the domain's. A QEMU just killed can linger in
   * them for a moment while its threads exit: removal is retried, then left to a background
   * retry (libvirt's virCgroupRemove retries too, and leaves a busy group behind).
   */
  async remove(def: Pick<DomainDef, 'name' | 'resource'>, id: number): Promise<void> {
    const cg = this.existing(def, id);
    if (!cg) return;
    const dirs = [...new Set(cg.dirs.values())];
    for (let attempt = 0; ; attempt++) {
      const left = await removeAll(dirs);
      if (left.length === 0) return;
      if (attempt >= 100) {
        retryInBackground(left);
        return;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** rmdir of each group's children then itself; answers the groups still there. */
async function removeAll(dirs: string[]): Promise<string[]> {
  const left: string[] = [];
  for (const d of dirs) {
    if (!existsSync(d)) continue;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) await rmdir(path.join(d, e.name)).catch(() => {});
    }
    await rmdir(d).catch(() => left.push(d));
  }
  return left;
}

function retryInBackground(dirs: string[], since = Date.now()): void {
  const t = setTimeout(async () => {
    const left = await removeAll(dirs);
    if (left.length && Date.now() - since < 60_000) retryInBackground(left, since);
  }, 500);
  t.unref();
}

const num = (v: unknown): number => {
  const x = typeof v === 'object' && v !== null ? (v as { value?: unknown }).value : v;
  return x === undefined || x === null || x === '' ? 0 : Number(x);
};

/** virDomainCgroupSetupVcpuBW: period first, then quota (0 leaves either as it is). */
export async function setBandwidth(
  cg: DomainCgroup,
  kind: ThreadKind | undefined,
  id: number,
  period: number,
  quota: number,
): Promise<void> {
  if (!cg.has('cpu')) return;
  if (period) await cg.write('cpu', 'cpu.cfs_period_us', String(period), kind, id);
  if (quota) await cg.write('cpu', 'cpu.cfs_quota_us', String(quota < 0 ? -1 : quota), kind, id);
}

/** virCgroupGetCpuPeriodQuota (v1). */
export async function getBandwidth(
  cg: DomainCgroup,
  kind: ThreadKind | undefined,
  id: number,
): Promise<{ period: number; quota: number }> {
  const period = Number(await cg.read('cpu', 'cpu.cfs_period_us', kind, id));
  const quota = Number(await cg.read('cpu', 'cpu.cfs_quota_us', kind, id));
  return { period, quota };
}

/** VIR_DOMAIN_MEMORY_PARAM_UNLIMITED. */
export const MEMORY_UNLIMITED = 9007199254740991;

/** virCgroupV1SetMemory and friends: KiB into bytes, -1 for unlimited. */
export async function setMemoryLimit(cg: DomainCgroup, file: string, kib: number): Promise<void> {
  await cg.write('memory', file, kib >= MEMORY_UNLIMITED ? '-1' : String(BigInt(kib) << 10n));
}

/** virCgroupV1GetMemoryHardLimit and friends: bytes into KiB, the kernel's "no limit" as unlimited. */
export async function getMemoryLimit(cg: DomainCgroup, file: string): Promise<number> {
  const kib = BigInt(await cg.read('memory', file)) >> 10n;
  return kib >= unlimitedKiB() ? MEMORY_UNLIMITED : Number(kib);
}

let unlimitedCache: bigint | undefined;
/** virCgroupV1GetMemoryUnlimitedKB: the root group's limit is the kernel's "unlimited". */
function unlimitedKiB(): bigint {
  if (unlimitedCache === undefined) {
    const mount = v1Mounts().get('memory');
    try {
      unlimitedCache = BigInt(readFileSync(`${mount}/memory.limit_in_bytes`, 'utf8').trim()) >> 10n;
    } catch {
      unlimitedCache = BigInt(MEMORY_UNLIMITED);
    }
    if (unlimitedCache > BigInt(MEMORY_UNLIMITED)) unlimitedCache = BigInt(MEMORY_UNLIMITED);
  }
  return unlimitedCache;
}

/** The definition's `<memtune>` value in KiB (canonical definitions store KiB), or undefined. */
export function memtuneKiB(def: DomainDef, key: string): number | undefined {
  const v = (def.memtune as Record<string, { value?: number; unit?: string } | undefined> | undefined)?.[key];
  if (v?.value === undefined) return undefined;
  const unit = (v.unit ?? 'KiB').toLowerCase();
  const mul: Record<string, number> = {
    b: 1 / 1024,
    bytes: 1 / 1024,
    k: 1,
    kib: 1,
    m: 1024,
    mib: 1024,
    g: 1 << 20,
    gib: 1 << 20,
  };
  return Math.floor(Number(v.value) * (mul[unit] ?? 1));
}

/**
 * qemuSetupMemoryCgroup, qemuSetupCpuCgroup, qemuSetupBlkioCgroup and the cpuset part of
 * qemuSetupCpusetCgroup: the definition's tuning written into the new groups.
 */
async function applyDomainTuning(cg: DomainCgroup, def: DomainDef): Promise<void> {
  if (cg.has('memory')) {
    const hard = memtuneKiB(def, 'hard_limit');
    const soft = memtuneKiB(def, 'soft_limit');
    const swap = memtuneKiB(def, 'swap_hard_limit');
    if (hard !== undefined) await setMemoryLimit(cg, 'memory.limit_in_bytes', hard);
    if (soft !== undefined) await setMemoryLimit(cg, 'memory.soft_limit_in_bytes', soft);
    if (swap !== undefined && existsSync(`${cg.dir('memory')}/memory.memsw.limit_in_bytes`))
      await setMemoryLimit(cg, 'memory.memsw.limit_in_bytes', swap);
  }
  const tune = (def.cputune ?? {}) as Record<string, unknown>;
  if (cg.has('cpu')) {
    if (num(tune.shares)) await cg.write('cpu', 'cpu.shares', String(num(tune.shares)));
    await setBandwidth(cg, undefined, 0, num(tune.global_period), num(tune.global_quota));
  }
  const numaMem = (def.numatune as { memory?: { mode?: string; nodeset?: string } } | undefined)?.memory;
  // qemuSetupCpusetMems: strict and restrictive node sets bind the domain's memory
  if (cg.has('cpuset') && numaMem?.nodeset && ['strict', 'restrictive'].includes(numaMem.mode ?? 'strict')) {
    await cg.write('cpuset', 'cpuset.mems', numaMem.nodeset);
  }
}
