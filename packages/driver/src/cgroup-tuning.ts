/**
 * Resource tuning through the domain's cgroup, as libvirt 9.0's QEMU driver does it
 * (qemu_driver.c, hypervisor/domain_cgroup.c, vircgroupv1.c):
 *
 * - virDomainGet/SetMemoryParameters (`memtune`): memory.limit_in_bytes, soft_limit_in_bytes,
 *   memsw.limit_in_bytes; `<memtune>` in the config.
 * - virDomainGet/SetBlkioParameters (`blkiotune`): blkio.weight (bfq/cfq only), the throttle
 *   files per device; `<blkiotune>`.
 * - virDomainGet/SetNumaParameters (`numatune`): cpuset.mems of every thread group; `<numatune>`.
 * - virDomainGetSchedulerType / Get/SetSchedulerParameters(Flags) (`schedinfo`): cpu.shares and
 *   the CFS bandwidth of the domain (global), `emulator/`, `vcpuN/` and `iothreadN/` groups.
 *
 * The live values are read back from the cgroup files themselves; the groups are domain-cgroup.ts'.
 */
import { readFileSync, statSync } from 'node:fs';
import { type DomainDef, virCheckFlags, virReportError, virReportSystemError } from '@qvirt/core';
import {
  type TypedParam,
  type TypedParamsReply,
  VIR_DOMAIN_AFFECT,
  VIR_DOMAIN_EVENT_ID,
  VIR_TYPED_PARAM,
  VIR_TYPED_PARAM_STRING_OKAY,
} from '@qvirt/core/hypervisor';
import {
  type DomainCgroup,
  type DomainCgroups,
  getBandwidth,
  getMemoryLimit,
  MEMORY_UNLIMITED,
  memtuneKiB,
  setBandwidth,
  setMemoryLimit,
} from './domain-cgroup.js';
import { affectedDefs, copyDef, type LiveDomain, operationInvalid } from './live-domain.js';
import { domainCgroup } from './stats.js';
import { vcpuOnline } from './vcpus.js';

const T = VIR_TYPED_PARAM;
const A = VIR_DOMAIN_AFFECT;
const TYPE_NAMES: Record<number, string> = {
  1: 'int',
  2: 'uint',
  3: 'llong',
  4: 'ullong',
  5: 'double',
  6: 'boolean',
  7: 'string',
};

/** virTypedParamsValidate: known names, each once, of the declared type. */
export function validateTypedParams(params: TypedParam[], allowed: Record<string, number>): void {
  const seen = new Set<string>();
  for (const p of params) {
    const want = allowed[p.field];
    if (want === undefined)
      throw virReportError('ARGUMENT_UNSUPPORTED', 'none', `parameter '${p.field}' not supported`);
    if (seen.has(p.field))
      throw virReportError('INVALID_ARG', 'none', `parameter '${p.field}' occurs multiple times`);
    seen.add(p.field);
    if (p.type !== want)
      throw virReportError(
        'INVALID_ARG',
        'none',
        `invalid type '${TYPE_NAMES[p.type] ?? p.type}' for parameter '${p.field}', expected '${TYPE_NAMES[want]}'`,
      );
  }
}

const value = (params: TypedParam[], field: string) => params.find((p) => p.field === field)?.value;

/** The domain's groups of a running domain (priv->cgroup). */
function liveCgroup(dom: LiveDomain, cgroups: DomainCgroups): DomainCgroup | undefined {
  return dom.active && dom.live ? cgroups.existing(dom.live, dom.id) : undefined;
}

// ---- memory ---------------------------------------------------------------------------------

const MEM_FILES = {
  hard_limit: 'memory.limit_in_bytes',
  soft_limit: 'memory.soft_limit_in_bytes',
  swap_hard_limit: 'memory.memsw.limit_in_bytes',
} as const;

/** qemuDomainGetMemoryParameters. */
export async function getMemoryParameters(
  dom: LiveDomain,
  cgroups: DomainCgroups,
  nparams: number,
  flags: number,
  privileged: boolean,
): Promise<TypedParamsReply> {
  virCheckFlags(flags, A.LIVE | A.CONFIG | VIR_TYPED_PARAM_STRING_OKAY, 'qemuDomainGetMemoryParameters');
  if (!privileged)
    throw virReportError('OPERATION_UNSUPPORTED', 'qemu', 'Memory tuning is not available in session mode');
  const defs = affectedDefs(dom, flags & ~VIR_TYPED_PARAM_STRING_OKAY);
  if (nparams === 0) return { params: [], nparams: 3 };
  const values: Record<string, number> = {};
  if (defs.config) {
    for (const k of Object.keys(MEM_FILES)) values[k] = memtuneKiB(defs.config, k) ?? MEMORY_UNLIMITED;
  } else {
    const cg = liveCgroup(dom, cgroups);
    if (!cg?.has('memory')) throw operationInvalid('cgroup memory controller is not mounted');
    values.hard_limit = await getMemoryLimit(cg, MEM_FILES.hard_limit);
    values.soft_limit = await getMemoryLimit(cg, MEM_FILES.soft_limit);
    // a kernel without swap accounting has no memsw files: unlimited, as libvirt answers
    values.swap_hard_limit = await getMemoryLimit(cg, MEM_FILES.swap_hard_limit).catch(
      () => MEMORY_UNLIMITED,
    );
  }
  const params = Object.keys(MEM_FILES)
    .slice(0, nparams)
    .map((field) => ({ field, type: T.ULLONG, value: values[field]! }));
  return { params, nparams: params.length };
}

function setMemtune(def: DomainDef, key: string, kib: number): void {
  const tune = ((def as { memtune?: Record<string, unknown> }).memtune ??= {});
  // the definition keeps "unlimited" as no element (virDomainMemtuneFormat skips it)
  if (kib >= MEMORY_UNLIMITED) delete tune[key];
  else tune[key] = { value: kib, unit: 'KiB' };
  if (Object.keys(tune).length === 0) delete (def as { memtune?: unknown }).memtune;
}

/** qemuDomainSetMemoryParameters (virDomainCgroupSetMemoryLimitParameters). */
export async function setMemoryParameters(
  dom: LiveDomain,
  cgroups: DomainCgroups,
  params: TypedParam[],
  flags: number,
  privileged: boolean,
): Promise<void> {
  virCheckFlags(flags, A.LIVE | A.CONFIG, 'qemuDomainSetMemoryParameters');
  validateTypedParams(params, { hard_limit: T.ULLONG, soft_limit: T.ULLONG, swap_hard_limit: T.ULLONG });
  if (!privileged)
    throw virReportError('OPERATION_UNSUPPORTED', 'qemu', 'Memory tuning is not available in session mode');
  const defs = affectedDefs(dom, flags);
  const cg = defs.live ? liveCgroup(dom, cgroups) : undefined;
  if (defs.live && !cg?.has('memory')) throw operationInvalid('cgroup memory controller is not mounted');
  const want = {
    hard_limit: value(params, 'hard_limit') as number | undefined,
    soft_limit: value(params, 'soft_limit') as number | undefined,
    swap_hard_limit: value(params, 'swap_hard_limit') as number | undefined,
  };
  for (const v of Object.values(want)) {
    if (v !== undefined && v > MEMORY_UNLIMITED)
      throw virReportError('INVALID_ARG', 'cgroup', `Memory '${v}' must be less than ${MEMORY_UNLIMITED}`);
  }
  // vm->def: the live definition of a running domain, else the config
  const cur = defs.live ?? dom.config;
  if (want.hard_limit !== undefined || want.swap_hard_limit !== undefined) {
    const mem = want.hard_limit ?? memtuneKiB(cur, 'hard_limit') ?? MEMORY_UNLIMITED;
    const swap = want.swap_hard_limit ?? memtuneKiB(cur, 'swap_hard_limit') ?? MEMORY_UNLIMITED;
    if (mem > swap)
      throw virReportError(
        'INVALID_ARG',
        'qemu',
        'memory hard_limit tunable value must be lower than or equal to swap_hard_limit',
      );
  }
  const live = defs.live ? copyDef(defs.live) : undefined;
  const config = defs.config ? copyDef(defs.config) : undefined;
  const apply = async (key: keyof typeof want) => {
    const v = want[key];
    if (v === undefined) return;
    if (live && cg) {
      await setMemoryLimit(cg, MEM_FILES[key], v);
      setMemtune(live, key, v);
    }
    if (config) setMemtune(config, key, v);
  };
  try {
    await apply('soft_limit');
    // the hard limit before the swap limit when it goes down, after it otherwise
    const liveHard = live ? (memtuneKiB(live, 'hard_limit') ?? MEMORY_UNLIMITED) : 0;
    const hardFirst = live !== undefined && want.hard_limit !== undefined && liveHard > want.hard_limit;
    if (hardFirst) await apply('hard_limit');
    await apply('swap_hard_limit');
    if (!hardFirst) await apply('hard_limit');
  } finally {
    if (live) await dom.saveLive(live);
  }
  if (config) await dom.saveConfig(config);
}

// ---- blkio ----------------------------------------------------------------------------------

const BLKIO_DEVICE_FIELDS = {
  device_weight: 'weight',
  device_read_iops_sec: 'read_iops_sec',
  device_write_iops_sec: 'write_iops_sec',
  device_read_bytes_sec: 'read_bytes_sec',
  device_write_bytes_sec: 'write_bytes_sec',
} as const;
type BlkioField = keyof typeof BLKIO_DEVICE_FIELDS;
const THROTTLE_FILES: Partial<Record<BlkioField, string>> = {
  device_read_iops_sec: 'blkio.throttle.read_iops_device',
  device_write_iops_sec: 'blkio.throttle.write_iops_device',
  device_read_bytes_sec: 'blkio.throttle.read_bps_device',
  device_write_bytes_sec: 'blkio.throttle.write_bps_device',
};

interface BlkioDevice {
  path: string;
  weight?: number;
  read_iops_sec?: number;
  write_iops_sec?: number;
  read_bytes_sec?: number;
  write_bytes_sec?: number;
}
const devicesOf = (def: DomainDef): BlkioDevice[] =>
  ((def.blkiotune as { device?: BlkioDevice[] } | undefined)?.device ?? []) as BlkioDevice[];

/** virCgroupV1GetBlkioWeight's file: bfq's, else cfq's, else libvirt's refusal. */
function weightFile(cg: DomainCgroup, device: boolean): string {
  const dir = cg.dir('blkio')!;
  const names = device
    ? ['blkio.bfq.weight_device', 'blkio.weight_device']
    : ['blkio.bfq.weight', 'blkio.weight'];
  for (const n of names) {
    try {
      statSync(`${dir}/${n}`);
      return n;
    } catch {
      // the next candidate
    }
  }
  throw operationInvalid('blkio device weight is valid only for bfq or cfq scheduler');
}

/** qemuDomainGetBlkioParameters. */
export async function getBlkioParameters(
  dom: LiveDomain,
  cgroups: DomainCgroups,
  nparams: number,
  flags: number,
  privileged: boolean,
): Promise<TypedParamsReply> {
  virCheckFlags(flags, A.LIVE | A.CONFIG | VIR_TYPED_PARAM_STRING_OKAY, 'qemuDomainGetBlkioParameters');
  if (!privileged)
    throw virReportError('CONFIG_UNSUPPORTED', 'qemu', 'Block I/O tuning is not available in session mode');
  if (nparams === 0) return { params: [], nparams: 6 };
  const defs = affectedDefs(dom, flags & ~VIR_TYPED_PARAM_STRING_OKAY);
  let weight: number;
  const def = (defs.live ?? defs.config)!;
  if (defs.live) {
    const cg = liveCgroup(dom, cgroups);
    if (!cg?.has('blkio')) throw operationInvalid("blkio cgroup isn't mounted");
    weight = Number(await cg.read('blkio', weightFile(cg, false)));
  } else {
    weight = Number((def.blkiotune as { weight?: number } | undefined)?.weight ?? 0);
  }
  const params: TypedParam[] = [{ field: 'weight', type: T.UINT, value: weight }];
  // virDomainGetBlkioParametersAssignFromDef: "path,value,…" of the devices that set each one
  for (const [field, key] of Object.entries(BLKIO_DEVICE_FIELDS)) {
    const text = devicesOf(def)
      .filter((d) => Number(d[key] ?? 0) > 0)
      .map((d) => `${d.path},${d[key]}`)
      .join(',');
    params.push({ field, type: T.STRING, value: text });
  }
  const out = params.slice(0, nparams);
  return { params: out, nparams: out.length };
}

/** virDomainDriverParseBlkioDeviceStr: "path,value[,path,value…]". */
function parseBlkioDevices(text: string, field: BlkioField): Array<{ path: string; value: number }> {
  const parts = text.split(',');
  const bad = () =>
    virReportError('INVALID_ARG', 'none', `unable to parse blkio device '${text}' '${field}'`);
  if (text === '' || parts.length % 2 !== 0) throw bad();
  const out: Array<{ path: string; value: number }> = [];
  for (let i = 0; i < parts.length; i += 2) {
    const v = parts[i + 1]!;
    if (!/^\d+$/.test(v) || parts[i] === '') throw bad();
    out.push({ path: parts[i]!, value: Number(v) });
  }
  return out;
}

/** virCgroupGetBlockDevString: "MAJ:MIN " of a block device. */
function blockDevString(path: string): string {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch (err) {
    throw virReportSystemError(err, 'cgroup', `Path '${path}' is not accessible`);
  }
  if (!st.isBlockDevice())
    throw virReportSystemError('EINVAL', 'cgroup', `Path '${path}' must be a block device`);
  const rdev = Number(st.rdev);
  const major = (rdev >> 8) & 0xfff;
  const minor = (rdev & 0xff) | ((rdev >> 12) & 0xfff00);
  return `${major}:${minor} `;
}

/** virDomainDriverMergeBlkioDevice: a device's value replaced or added (0 removes it when empty). */
function mergeBlkio(def: DomainDef, field: BlkioField, devs: Array<{ path: string; value: number }>): void {
  const tune = ((def as { blkiotune?: { weight?: number; device?: BlkioDevice[] } }).blkiotune ??= {});
  const list = (tune.device ??= []);
  const key = BLKIO_DEVICE_FIELDS[field];
  for (const d of devs) {
    let cur = list.find((x) => x.path === d.path);
    if (!cur) {
      if (d.value === 0) continue;
      cur = { path: d.path };
      list.push(cur);
    }
    if (d.value === 0) delete cur[key];
    else cur[key] = d.value;
  }
  tune.device = list.filter((d) => Object.keys(d).length > 1);
  if (tune.device.length === 0) delete tune.device;
}

/** qemuDomainSetBlkioParameters. */
export async function setBlkioParameters(
  dom: LiveDomain,
  cgroups: DomainCgroups,
  params: TypedParam[],
  flags: number,
  privileged: boolean,
): Promise<void> {
  virCheckFlags(flags, A.LIVE | A.CONFIG, 'qemuDomainSetBlkioParameters');
  validateTypedParams(params, {
    weight: T.UINT,
    device_weight: T.STRING,
    device_read_iops_sec: T.STRING,
    device_write_iops_sec: T.STRING,
    device_read_bytes_sec: T.STRING,
    device_write_bytes_sec: T.STRING,
  });
  if (!privileged)
    throw virReportError('CONFIG_UNSUPPORTED', 'qemu', 'Block I/O tuning is not available in session mode');
  const defs = affectedDefs(dom, flags);
  let failure: unknown;
  if (defs.live) {
    const cg = liveCgroup(dom, cgroups);
    if (!cg?.has('blkio')) throw operationInvalid("blkio cgroup isn't mounted");
    const live = copyDef(defs.live);
    // virDomainCgroupSetupDomainBlkioParameters: every parameter tried, the first failure kept
    for (const p of params) {
      try {
        if (p.field === 'weight') {
          const file = weightFile(cg, false);
          await cg.write('blkio', file, String(p.value));
          ((live as { blkiotune?: { weight?: number } }).blkiotune ??= {}).weight = Number(
            await cg.read('blkio', file),
          );
          continue;
        }
        const field = p.field as BlkioField;
        const devs = parseBlkioDevices(String(p.value), field);
        const file = THROTTLE_FILES[field] ?? weightFile(cg, true);
        for (const d of devs) await cg.write('blkio', file, `${blockDevString(d.path)}${d.value}`);
        mergeBlkio(live, field, devs);
      } catch (err) {
        failure ??= err;
      }
    }
    await dom.saveLive(live);
    if (failure) throw failure;
  }
  if (defs.config) {
    const config = copyDef(defs.config);
    for (const p of params) {
      if (p.field === 'weight')
        ((config as { blkiotune?: { weight?: number } }).blkiotune ??= {}).weight = Number(p.value);
      else
        mergeBlkio(config, p.field as BlkioField, parseBlkioDevices(String(p.value), p.field as BlkioField));
    }
    await dom.saveConfig(config);
  }
}

// ---- NUMA -----------------------------------------------------------------------------------

/** virDomainNumatuneMemMode, in libvirt's numbers. */
const NUMA_MODES = ['strict', 'preferred', 'interleave', 'restrictive'] as const;

interface NumaMemory {
  mode?: string;
  nodeset?: string;
  placement?: string;
}
const numaMemory = (def: DomainDef): NumaMemory | undefined =>
  (def.numatune as { memory?: NumaMemory } | undefined)?.memory;

/** qemuDomainGetNumaParameters. */
export function getNumaParameters(dom: LiveDomain, nparams: number, flags: number): TypedParamsReply {
  virCheckFlags(flags, A.LIVE | A.CONFIG | VIR_TYPED_PARAM_STRING_OKAY, 'qemuDomainGetNumaParameters');
  const defs = affectedDefs(dom, flags & ~VIR_TYPED_PARAM_STRING_OKAY);
  if (nparams === 0) return { params: [], nparams: 2 };
  const def = (defs.live ?? defs.config)!;
  const mem = numaMemory(def);
  const params: TypedParam[] = [
    { field: 'numa_mode', type: T.INT, value: NUMA_MODES.indexOf((mem?.mode ?? 'strict') as 'strict') },
    { field: 'numa_nodeset', type: T.STRING, value: mem?.nodeset ?? '' },
  ].slice(0, nparams);
  return { params, nparams: params.length };
}

/** virBitmapParse + virBitmapFormat: a node set in its canonical form ("0-2,4"). */
function canonicalNodeset(text: string): number[] {
  const set = new Set<number>();
  const off = new Set<number>();
  for (const part of text.split(',')) {
    const neg = part.startsWith('^');
    const m = /^\s*(\d+)(?:-(\d+))?\s*$/.exec(neg ? part.slice(1) : part);
    if (!m) throw virReportError('INVALID_ARG', 'none', `Failed to parse bitmap '${text}'`);
    for (let n = Number(m[1]); n <= Number(m[2] ?? m[1]); n++) (neg ? off : set).add(n);
  }
  for (const n of off) set.delete(n);
  return [...set].sort((a, b) => a - b);
}

function formatNodes(nodes: number[]): string {
  const out: string[] = [];
  for (let i = 0; i < nodes.length; ) {
    let j = i;
    while (j + 1 < nodes.length && nodes[j + 1] === nodes[j]! + 1) j++;
    out.push(i === j ? `${nodes[i]}` : `${nodes[i]}-${nodes[j]}`);
    i = j + 1;
  }
  return out.join(',');
}

/** virDomainNumatuneSet for the whole-domain `<memory>` element. */
function setNumatune(def: DomainDef, mode: number, nodeset: string | undefined): void {
  const tune = ((def as { numatune?: { memory?: NumaMemory } }).numatune ??= {});
  const mem = (tune.memory ??= {});
  // a new <memory> element starts in strict mode (virDomainNumatuneSet)
  if (mode !== -1) mem.mode = NUMA_MODES[mode];
  else mem.mode ??= 'strict';
  if (nodeset !== undefined) {
    mem.nodeset = nodeset;
    mem.placement = 'static';
  }
}

/** The host's NUMA nodes (virNumaNodesetIsAvailable). */
function hostNodes(): Set<number> {
  try {
    return new Set(canonicalNodeset(readFileSync('/sys/devices/system/node/online', 'utf8').trim()));
  } catch {
    return new Set([0]);
  }
}

/** qemuDomainSetNumaParameters. */
export async function setNumaParameters(
  dom: LiveDomain,
  cgroups: DomainCgroups,
  params: TypedParam[],
  flags: number,
  privileged: boolean,
): Promise<void> {
  virCheckFlags(flags, A.LIVE | A.CONFIG, 'qemuDomainSetNumaParameters');
  validateTypedParams(params, { numa_mode: T.INT, numa_nodeset: T.STRING });
  let mode = -1;
  let nodes: number[] | undefined;
  for (const p of params) {
    if (p.field === 'numa_mode') {
      mode = Number(p.value);
      if (mode < 0 || mode >= NUMA_MODES.length)
        throw virReportError('INVALID_ARG', 'qemu', `unsupported numatune mode: '${mode}'`);
    } else {
      nodes = canonicalNodeset(String(p.value));
      if (nodes.length === 0) throw operationInvalid(`Invalid nodeset of 'numatune': ${p.value}`);
    }
  }
  const nodeset = nodes ? formatNodes(nodes) : undefined;
  const defs = affectedDefs(dom, flags);
  if (defs.live) {
    if (!privileged)
      throw virReportError('OPERATION_UNSUPPORTED', 'qemu', 'NUMA tuning is not available in session mode');
    const cg = liveCgroup(dom, cgroups);
    if (!cg?.has('cpuset')) throw operationInvalid('cgroup cpuset controller is not mounted');
    const cur = numaMemory(defs.live);
    const curMode = cur?.mode ? NUMA_MODES.indexOf(cur.mode as 'strict') : undefined;
    if (mode !== -1 && curMode !== undefined && curMode !== mode)
      throw operationInvalid("can't change numatune mode for running domain");
    if (mode === 0) {
      if ((nodeset ?? '') !== (cur?.nodeset ? formatNodes(canonicalNodeset(cur.nodeset)) : ''))
        throw operationInvalid("can't change nodeset for strict mode for running domain");
    } else {
      if (nodeset !== undefined) {
        // qemuDomainSetNumaParamsLive
        if (curMode !== undefined && curMode !== 3)
          throw operationInvalid('change of nodeset for running domain requires restrictive numa mode');
        const host = hostNodes();
        const missing = nodes!.find((n) => !host.has(n));
        if (missing !== undefined)
          throw virReportError('INVALID_ARG', 'qemu', `NUMA node ${missing} is unavailable`);
        await writeMems(cg, defs.live, nodeset);
      }
      const live = copyDef(defs.live);
      setNumatune(live, mode, nodeset);
      await dom.saveLive(live);
    }
  }
  if (defs.config) {
    const config = copyDef(defs.config);
    setNumatune(config, mode, nodeset);
    await dom.saveConfig(config);
  }
}

/** cpuset.mems of the emulator, each online vCPU and each IOThread group. */
async function writeMems(cg: DomainCgroup, def: DomainDef, nodeset: string): Promise<void> {
  await cg.write('cpuset', 'cpuset.mems', nodeset, 'emulator');
  const online = vcpuOnline(def);
  for (let i = 0; i < online.length; i++) {
    if (online[i]) await cg.write('cpuset', 'cpuset.mems', nodeset, 'vcpu', i);
  }
  for (const id of iothreadIds(def)) await cg.write('cpuset', 'cpuset.mems', nodeset, 'iothread', id);
}

/** The definition's IOThread ids (`<iothreadids>`, else 1..`<iothreads>`). */
export function iothreadIds(def: DomainDef): number[] {
  const ids = (def.iothreadids as { iothread?: Array<{ id?: number }> } | undefined)?.iothread;
  if (ids?.length) return ids.map((t) => Number(t.id));
  const n = Number(def.iothreads ?? 0);
  return Array.from({ length: n }, (_, i) => i + 1);
}

// ---- scheduler ------------------------------------------------------------------------------

const PERIOD_MIN = 1000;
const PERIOD_MAX = 1000000;
const QUOTA_MIN = 1000;
const QUOTA_MAX = 17592186044415;

const SCHED_PARAMS = [
  ['cpu_shares', 'shares', T.ULLONG],
  ['vcpu_period', 'period', T.ULLONG],
  ['vcpu_quota', 'quota', T.LLONG],
  ['emulator_period', 'emulator_period', T.ULLONG],
  ['emulator_quota', 'emulator_quota', T.LLONG],
  ['global_period', 'global_period', T.ULLONG],
  ['global_quota', 'global_quota', T.LLONG],
  ['iothread_period', 'iothread_period', T.ULLONG],
  ['iothread_quota', 'iothread_quota', T.LLONG],
] as const;

const sessionCpuTune = () =>
  virReportError('CONFIG_UNSUPPORTED', 'qemu', 'CPU tuning is not available in session mode');

/** qemuDomainGetSchedulerType. */
export function getSchedulerType(
  dom: LiveDomain,
  cgroups: DomainCgroups,
  privileged: boolean,
): { type: string; nparams: number } {
  if (!privileged)
    throw virReportError('OPERATION_UNSUPPORTED', 'qemu', 'CPU tuning is not available in session mode');
  if (dom.active && !liveCgroup(dom, cgroups)?.has('cpu') && !domainCgroup(dom.pid)?.controllers.has('cpu'))
    throw operationInvalid('cgroup CPU controller is not mounted');
  return { type: 'posix', nparams: SCHED_PARAMS.length };
}

const tuneNum = (def: DomainDef, key: string): number => {
  const v = (def.cputune as Record<string, unknown> | undefined)?.[key];
  const x = typeof v === 'object' && v !== null ? (v as { value?: unknown }).value : v;
  return x === undefined ? 0 : Number(x);
};

/** qemuDomainGetSchedulerParametersFlags: the config's values, or the live groups' files. */
export async function getSchedulerParameters(
  dom: LiveDomain,
  cgroups: DomainCgroups,
  nparams: number,
  flags: number,
  privileged: boolean,
): Promise<TypedParam[]> {
  virCheckFlags(
    flags,
    A.LIVE | A.CONFIG | VIR_TYPED_PARAM_STRING_OKAY,
    'qemuDomainGetSchedulerParametersFlags',
  );
  if (!privileged) throw sessionCpuTune();
  const defs = affectedDefs(dom, flags & ~VIR_TYPED_PARAM_STRING_OKAY);
  const values: Record<string, number> = {};
  if (defs.config) {
    for (const [, key] of SCHED_PARAMS) values[key] = tuneNum(defs.config, key);
  } else {
    const cg = liveCgroup(dom, cgroups);
    if (!cg?.has('cpu')) return v2SchedulerParameters(dom, nparams);
    values.shares = Number(await cg.read('cpu', 'cpu.shares'));
    // qemuGetVcpusBWLive: vcpu0's group
    const vcpu = await getBandwidth(cg, 'vcpu', 0);
    const emulator = await getBandwidth(cg, 'emulator', 0);
    const global = await getBandwidth(cg, undefined, 0);
    // qemuGetIOThreadsBWLive: the first IOThread's group, the domain's without one
    const first = iothreadIds(defs.live!)[0];
    const io = first === undefined ? global : await getBandwidth(cg, 'iothread', first);
    Object.assign(values, {
      period: vcpu.period,
      quota: vcpu.quota,
      emulator_period: emulator.period,
      emulator_quota: emulator.quota,
      global_period: global.period,
      global_quota: global.quota,
      iothread_period: io.period,
      iothread_quota: io.quota,
    });
  }
  return SCHED_PARAMS.slice(0, Math.max(0, nparams)).map(([field, key, type]) => ({
    field,
    type,
    value: values[key] ?? 0,
  }));
}

/**
 * A host whose cpu controller is cgroup v2's (no v1 groups here): the figures of the v2 group
 * QEMU has to itself, read only (virCgroupV2GetCpuShares: cpu.weight; cpu.max).
 */
function v2SchedulerParameters(dom: LiveDomain, nparams: number): TypedParam[] {
  const cg = domainCgroup(dom.pid);
  if (!cg?.controllers.has('cpu')) throw operationInvalid('cgroup CPU controller is not mounted');
  const weight = Number(readFileSync(`${cg.dir}/cpu.weight`, 'utf8').trim());
  const [quota, period] = readFileSync(`${cg.dir}/cpu.max`, 'utf8').trim().split(' ');
  const q = quota === 'max' ? -1 : Number(quota);
  const values: Record<string, number> = {
    shares: weight,
    period: Number(period),
    quota: q,
    emulator_period: Number(period),
    emulator_quota: q,
    global_period: Number(period),
    global_quota: q,
    iothread_period: 0,
    iothread_quota: 0,
  };
  return SCHED_PARAMS.slice(0, Math.max(0, nparams)).map(([field, key, type]) => ({
    field,
    type,
    value: values[key] ?? 0,
  }));
}

/** qemuDomainSetSchedulerParametersFlags. */
export async function setSchedulerParameters(
  dom: LiveDomain,
  cgroups: DomainCgroups,
  params: TypedParam[],
  flags: number,
  privileged: boolean,
): Promise<void> {
  virCheckFlags(flags, A.LIVE | A.CONFIG, 'qemuDomainSetSchedulerParametersFlags');
  validateTypedParams(params, Object.fromEntries(SCHED_PARAMS.map(([f, , t]) => [f, t])));
  if (!privileged) throw sessionCpuTune();
  const defs = affectedDefs(dom, flags);
  const cg = defs.live ? liveCgroup(dom, cgroups) : undefined;
  if (defs.live && !cg?.has('cpu')) throw operationInvalid('cgroup CPU controller is not mounted');
  const live = defs.live ? copyDef(defs.live) : undefined;
  const config = defs.config ? copyDef(defs.config) : undefined;
  const events: TypedParam[] = [];
  const setTune = (def: DomainDef, key: string, v: number) => {
    ((def as { cputune?: Record<string, unknown> }).cputune ??= {})[key] = v;
  };
  let failure: unknown;
  try {
    for (const p of params) {
      const [field, key, type] = SCHED_PARAMS.find(([f]) => f === p.field)!;
      const v = Number(p.value);
      if (field !== 'cpu_shares') {
        const [min, max] = field.endsWith('period') ? [PERIOD_MIN, PERIOD_MAX] : [QUOTA_MIN, QUOTA_MAX];
        if ((v > 0 && v < min) || v > max)
          throw virReportError('INVALID_ARG', 'qemu', `value of '${field}' is out of range [${min}, ${max}]`);
      }
      if (live && cg && (field === 'cpu_shares' || v)) {
        await applySched(cg, live, field, v);
        setTune(live, key, v);
        events.push({ field: `cputune.${field}`, type, value: v });
      }
      if (config) setTune(config, key, v);
    }
  } catch (err) {
    failure = err;
  }
  if (live) await dom.saveLive(live);
  if (events.length) dom.emit({ eventID: VIR_DOMAIN_EVENT_ID.TUNABLE, params: events });
  if (failure) throw failure;
  if (config) await dom.saveConfig(config);
}

/** One parameter into the groups it governs (qemuSetVcpusBWLive, qemuSetEmulatorBandwidthLive…). */
async function applySched(cg: DomainCgroup, def: DomainDef, field: string, v: number): Promise<void> {
  const period = field.endsWith('period') ? v : 0;
  const quota = field.endsWith('quota') ? v : 0;
  if (field === 'cpu_shares') {
    await cg.write('cpu', 'cpu.shares', String(v));
  } else if (field.startsWith('vcpu')) {
    const online = vcpuOnline(def);
    for (let i = 0; i < online.length; i++) if (online[i]) await setBandwidth(cg, 'vcpu', i, period, quota);
  } else if (field.startsWith('emulator')) {
    await setBandwidth(cg, 'emulator', 0, period, quota);
  } else if (field.startsWith('global')) {
    await setBandwidth(cg, undefined, 0, period, quota);
  } else {
    for (const id of iothreadIds(def)) await setBandwidth(cg, 'iothread', id, period, quota);
  }
}
