/**
 * Probing one QEMU binary over QMP the way libvirt 9.0 does (virQEMUCapsInitQMPMonitor, then a
 * second TCG-only run when KVM was on): version, target, QAPI schema, commands, KVM state, QOM
 * types, device and object properties, machine types, CPU models, TPM, command-line options and
 * migration capabilities, turned into libvirt's capability flag names.
 */
import type { Accel, CpuModel, MachineType, QemuCaps } from '@qvirt/qemu-argv';
import {
  COMMAND_FLAGS,
  COMMAND_LINE_FLAGS,
  DEVICE_PROP_FLAGS,
  FLAG_ORDER,
  MACHINE_PROP_FLAGS,
  MIGRATION_FLAGS,
  OBJECT_PROP_FLAGS,
  OBJECT_TYPE_FLAGS,
  SCHEMA_QUERY_FLAGS,
  VIRTIO_BLK_SCSI_DEFAULT_DISABLED,
} from './libvirt-tables.js';
import { probeHostCpu, probeSev, probeSgx } from './probe-host-cpu.js';
import { indexSchema, schemaPathExists } from './qapi-schema.js';
import type { CpuModelInfo, QemuCapsExtras } from './qemu-caps-detail.js';
import { ProbeError, QmpSession } from './qmp.js';

/** libvirt 9.0's minimum QEMU (drvqemu.rst). */
export const MIN_QEMU_VERSION = 4_002_000;

export interface ProbeOptions {
  /**
   * Whether to offer QEMU KVM (`accel=kvm:tcg`, libvirt's probe on Linux) or only TCG: true when
   * /dev/kvm exists; QEMU itself then finds out whether it may use it.
   */
  kvmUsable: boolean;
  /** Per QEMU process; default 30 s. */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Run the binary as this user/group (the QEMU user), as libvirt does. */
  uid?: number;
  gid?: number;
  /** The QEMU user's groups (virGetGroupList), for a probe run as that user. */
  groups?: number[];
  /** Called before each QMP process and step, for progress display. */
  onStep?: (step: string) => void;
}

/** What a probe finds beyond `QemuCaps`: what libvirt's cache also stores. */
export interface ProbeResult extends QemuCapsExtras {
  caps: QemuCaps;
  package: string;
  /** Blockers (unavailable features) per accelerator and CPU model. */
  cpuBlockers: Record<Accel, Record<string, string[]>>;
}

/** QEMU target names to libvirt arch names (virQEMUCapsArchFromString). */
export function archFromQemu(target: string): string {
  if (target === 'i386') return 'i686';
  if (target === 'arm') return 'armv7l';
  if (target === 'or1k') return 'openrisc';
  return target;
}

/** libvirt's preferred default machine per arch (preferredMachines in qemu_capabilities.c). */
const PREFERRED_MACHINE: Record<string, string> = {
  alpha: 'clipper',
  armv6l: 'integratorcp',
  armv7l: 'integratorcp',
  armv7b: 'integratorcp',
  aarch64: 'integratorcp',
  cris: 'axis-dev88',
  i686: 'pc',
  lm32: 'lm32-evr',
  m68k: 'mcf5208evb',
  microblaze: 'petalogix-s3adsp1800',
  microblazeel: 'petalogix-s3adsp1800',
  mips: 'malta',
  mipsel: 'malta',
  mips64: 'malta',
  mips64el: 'malta',
  openrisc: 'or1k-sim',
  ppc: 'g3beige',
  ppcle: 'g3beige',
  ppc64: 'pseries',
  ppc64le: 'pseries',
  ppcemb: 'bamboo',
  riscv32: 'spike_v1.10',
  riscv64: 'spike_v1.10',
  s390x: 's390-ccw-virtio',
  sh4: 'shix',
  sh4eb: 'shix',
  sparc: 'SS-5',
  sparc64: 'sun4u',
  unicore32: 'puv3',
  x86_64: 'pc',
  xtensa: 'sim',
  xtensaeb: 'sim',
};

const FLAG_RANK = new Map<string, number>();
FLAG_ORDER.forEach((name, i) => {
  if (name !== null) FLAG_RANK.set(name, i);
});

/** Flags in libvirt's enum order, the order its cache file lists them in. */
export function sortFlags(flags: Iterable<string>): string[] {
  return [...flags].sort(
    (a, b) => (FLAG_RANK.get(a) ?? Number.MAX_SAFE_INTEGER) - (FLAG_RANK.get(b) ?? Number.MAX_SAFE_INTEGER),
  );
}

const strings = (v: unknown, key = 'name'): string[] =>
  Array.isArray(v)
    ? v.map((x) => (typeof x === 'string' ? x : x?.[key])).filter((x) => typeof x === 'string')
    : [];

async function probeMachines(s: QmpSession, arch: string): Promise<MachineType[]> {
  const reply = await s.execute<any[]>('query-machines');
  const list: MachineType[] = [];
  let defIdx = -1;
  let prefIdx = -1;
  const preferred = PREFERRED_MACHINE[arch];
  for (const m of Array.isArray(reply) ? reply : []) {
    if (typeof m?.name !== 'string' || m.name === 'none') continue;
    list.push({
      name: m.name,
      ...(typeof m.alias === 'string' ? { alias: m.alias } : {}),
      maxCpus: Number(m['cpu-max'] ?? 0),
      isDefault: m['is-default'] === true,
      hotplugCpus: m['hotpluggable-cpus'] === true,
      ...(typeof m['default-cpu-type'] === 'string' ? { defaultCPU: m['default-cpu-type'] } : {}),
      ...(typeof m['default-ram-id'] === 'string' ? { defaultRAMid: m['default-ram-id'] } : {}),
      numaMemSupported: m['numa-mem-supported'] === true,
      deprecated: m.deprecated === true,
    });
    if (preferred && (m.alias === preferred || m.name === preferred)) prefIdx = list.length - 1;
    if (m['is-default'] === true) defIdx = list.length - 1;
  }
  const idx = prefIdx >= 0 ? prefIdx : defIdx;
  if (idx > 0) list.unshift(...list.splice(idx, 1));
  return list;
}

async function probeCpuModels(
  s: QmpSession,
  flags: Set<string>,
): Promise<{ models: CpuModel[]; blockers: Record<string, string[]> }> {
  const blockers: Record<string, string[]> = {};
  if (!flags.has('query-cpu-definitions')) return { models: [], blockers };
  const reply = await s.tryExecute<any[]>('query-cpu-definitions');
  const models: CpuModel[] = [];
  for (const c of Array.isArray(reply) ? reply : []) {
    if (typeof c?.name !== 'string') continue;
    const unavailable = c['unavailable-features'];
    models.push({
      name: c.name,
      ...(typeof c.typename === 'string' ? { typename: c.typename } : {}),
      ...(Array.isArray(unavailable) ? { usable: unavailable.length === 0 } : {}),
      ...(c.deprecated === true ? { deprecated: true } : {}),
    });
    if (Array.isArray(unavailable) && unavailable.length > 0) blockers[c.name] = unavailable.map(String);
    if (c.name === 'max') flags.add('cpu-max');
  }
  return { models, blockers };
}

function processStrings(flags: Set<string>, table: readonly (readonly [string, string])[], values: string[]) {
  const have = new Set(values);
  for (const [value, flag] of table) if (have.has(value)) flags.add(flag);
}

/** The first (full) probe: everything libvirt's virQEMUCapsInitQMPMonitor asks. */
async function probeFull(s: QmpSession, opts: ProbeOptions) {
  const flags = new Set<string>();
  const version = await s.execute<any>('query-version');
  const q = version?.qemu;
  if (!q || typeof q.major !== 'number')
    throw new ProbeError(s.binary, 'answered query-version without a version');
  const ver = q.major * 1_000_000 + q.minor * 1_000 + q.micro;
  if (ver < MIN_QEMU_VERSION) {
    throw new ProbeError(
      s.binary,
      `QEMU version >= 4.2.0 is required, but ${q.major}.${q.minor}.${q.micro} found`,
    );
  }
  const target = await s.execute<any>('query-target');
  const arch = archFromQemu(String(target?.arch ?? ''));
  if (!arch) throw new ProbeError(s.binary, 'answered query-target without an arch');

  // virQEMUCapsInitQMPBasicArch / VersionCaps
  if (arch === 'i686' || arch === 'x86_64') flags.add('no-acpi').add('no-hpet');
  if (arch === 'aarch64') flags.add('no-acpi').add('aarch64-off').add('gic-version');
  if (arch === 's390' || arch === 's390x') flags.add('aes-key-wrap').add('dea-key-wrap').add('loadparm');
  if (ver < 5_002_000) flags.add('enable-fips');

  opts.onStep?.('schema');
  const schema = indexSchema(await s.tryExecute('query-qmp-schema'));
  for (const [query, flag] of SCHEMA_QUERY_FLAGS) if (schemaPathExists(query, schema)) flags.add(flag);

  const commands = strings(await s.execute('query-commands'));
  processStrings(flags, COMMAND_FLAGS, commands);

  const kvm = await s.tryExecute<any>('query-kvm');
  if (kvm?.enabled === true && kvm?.present === true) flags.add('kvm');
  const accel: Accel = flags.has('kvm') ? 'kvm' : 'tcg';

  opts.onStep?.('types');
  const types = strings(await s.execute('qom-list-types'));
  processStrings(flags, OBJECT_TYPE_FLAGS, types);

  opts.onStep?.('device properties');
  for (const dev of DEVICE_PROP_FLAGS) {
    if (dev.condition !== null && !flags.has(dev.condition)) continue;
    const props = await s.tryExecute<any[]>('device-list-properties', { typename: dev.type });
    const byName = new Map((Array.isArray(props) ? props : []).map((p) => [p?.name, p]));
    for (const [prop, flag] of dev.props) {
      const entry = byName.get(prop);
      if (!entry) continue;
      flags.add(flag);
      if (flag === 'virtio-blk-pci.scsi' && entry['default-value'] === false) {
        flags.add(VIRTIO_BLK_SCSI_DEFAULT_DISABLED);
      }
    }
  }
  for (const obj of OBJECT_PROP_FLAGS) {
    if (obj.condition !== null && !flags.has(obj.condition)) continue;
    const props = strings(await s.tryExecute('qom-list-properties', { typename: obj.type }));
    processStrings(flags, obj.props, props);
  }

  opts.onStep?.('machines');
  const machines = await probeMachines(s, arch);
  for (const mp of MACHINE_PROP_FLAGS) {
    const m = machines.find((x) => x.name === mp.machine || x.alias === mp.machine);
    const canon = m?.name ?? mp.machine;
    if (canon !== 'none' && !m) continue;
    const props = strings(await s.tryExecute('qom-list-properties', { typename: `${canon}-machine` }));
    processStrings(flags, mp.props, props);
  }

  opts.onStep?.('cpu models');
  const cpus = await probeCpuModels(s, flags);

  const tpmModels = strings(await s.tryExecute('query-tpm-models'), '');
  if (tpmModels.length > 0) {
    for (const [m, flag] of [
      ['tpm-tis', 'tpm-tis'],
      ['tpm-crb', 'tpm-crb'],
      ['tpm-spapr', 'tpm-spapr'],
    ] as const) {
      if (tpmModels.includes(m)) flags.add(flag);
    }
    const tpmTypes = strings(await s.tryExecute('query-tpm-types'), '');
    if (tpmTypes.includes('passthrough')) flags.add('tpm-passthrough');
    if (tpmTypes.includes('emulator')) flags.add('tpm-emulator');
  }

  const cmdline = await s.tryExecute<any[]>('query-command-line-options');
  const options = new Map<string, any>(
    (Array.isArray(cmdline) ? cmdline : []).map((o) => [o?.option, o?.parameters ?? []]),
  );
  for (const c of COMMAND_LINE_FLAGS) {
    const params = options.get(c.option);
    if (!params) continue;
    if (c.param === null || strings(params).includes(c.param)) flags.add(c.flag);
  }

  const migration = strings(await s.tryExecute('query-migrate-capabilities'), 'capability');
  processStrings(flags, MIGRATION_FLAGS, migration);

  const sev = flags.has('sev-guest') ? await probeSev(s) : undefined;
  if (!sev) flags.delete('sev-guest');
  const sgx = flags.has('sgx-epc') ? await probeSgx(s) : undefined;
  if (!sgx) flags.delete('sgx-epc');

  // virQEMUCapsInitProcessCaps
  if (flags.has('query-cpu-model-expansion') && (arch === 'i686' || arch === 'x86_64'))
    flags.add('cpu-cache');
  if (flags.has('cpu-unavailable-features')) flags.add('canonical-cpu-features');
  if (arch === 'sparc' || arch === 'm68k' || arch === 'mips') flags.add('ncr53c90');
  if (flags.has('blockdev-reopen') && flags.has('migration-param.block-bitmap-mapping')) {
    flags.add('incremental-backup');
  }
  if (flags.has('object.qapified')) flags.add('compat-deprecated');
  if (flags.has('machine-hpet')) flags.delete('no-hpet');

  opts.onStep?.('host cpu');
  const hostCpu = await probeHostCpu(s, flags, arch, accel === 'kvm');

  return {
    hostCpu,
    sev,
    sgx,
    version: ver,
    package: typeof version.package === 'string' ? version.package : '',
    arch,
    flags,
    accel,
    machines,
    cpus,
  };
}

async function withSession<T>(
  binary: string,
  accel: string,
  opts: ProbeOptions,
  fn: (s: QmpSession) => Promise<T>,
): Promise<T> {
  const s = new QmpSession(binary, {
    accel,
    timeoutMs: opts.timeoutMs ?? 30_000,
    ...(opts.env ? { env: opts.env } : {}),
    ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
    ...(opts.gid !== undefined ? { gid: opts.gid } : {}),
    ...(opts.groups !== undefined ? { groups: opts.groups } : {}),
  });
  try {
    await s.start();
    return await fn(s);
  } catch (err) {
    if (err instanceof ProbeError) throw err;
    throw new ProbeError(binary, `probe failed: ${(err as Error).message.split('\n')[0]}`);
  } finally {
    await s.close();
  }
}

/**
 * Probes one binary. Throws `ProbeError` (one line, naming the binary) when it hangs, exits,
 * is not QEMU, is too old or answers nonsense.
 */
export async function probeBinary(binary: string, opts: ProbeOptions): Promise<ProbeResult> {
  opts.onStep?.(opts.kvmUsable ? 'accel=kvm:tcg' : 'accel=tcg');
  const full = await withSession(binary, opts.kvmUsable ? 'kvm:tcg' : 'tcg', opts, (s) => probeFull(s, opts));
  const machines: Record<Accel, MachineType[]> = { kvm: [], tcg: [] };
  const cpuModels: Record<Accel, CpuModel[]> = { kvm: [], tcg: [] };
  const cpuBlockers: Record<Accel, Record<string, string[]>> = { kvm: {}, tcg: {} };
  machines[full.accel] = full.machines;
  cpuModels[full.accel] = full.cpus.models;
  cpuBlockers[full.accel] = full.cpus.blockers;
  let tcgHostCpu = full.accel === 'tcg' ? full.hostCpu.info : undefined;
  if (full.accel === 'kvm' && full.flags.has('tcg')) {
    // virQEMUCapsInitQMPMonitorTCG: the same binary again with KVM off
    opts.onStep?.('accel=tcg');
    await withSession(binary, 'tcg', opts, async (s) => {
      const cpus = await probeCpuModels(s, new Set(full.flags));
      cpuModels.tcg = cpus.models;
      cpuBlockers.tcg = cpus.blockers;
      tcgHostCpu = (await probeHostCpu(s, full.flags, full.arch, false)).info;
      machines.tcg = await probeMachines(s, full.arch);
    });
  }
  return {
    caps: {
      emulator: binary,
      version: full.version,
      arch: full.arch,
      flags: new Set(sortFlags(full.flags)),
      machines,
      cpuModels,
    },
    package: full.package,
    cpuBlockers,
    ...hostCpuOf(full.accel === 'kvm' ? full.hostCpu.info : undefined, tcgHostCpu),
    ...(full.hostCpu.hypervCapabilities ? { hypervCapabilities: full.hostCpu.hypervCapabilities } : {}),
    ...(full.sev ? { sev: full.sev } : {}),
    ...(full.sgx ? { sgx: full.sgx } : {}),
  };
}

function hostCpuOf(
  kvm: CpuModelInfo | undefined,
  tcg: CpuModelInfo | undefined,
): Pick<ProbeResult, 'hostCpu'> {
  if (!kvm && !tcg) return {};
  return { hostCpu: { ...(kvm ? { kvm } : {}), ...(tcg ? { tcg } : {}) } };
}
