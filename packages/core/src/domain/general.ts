/**
 * Everything at the top level of `<domain>` that is not a device: memory and CPU tuning, NUMA,
 * sysinfo, `<os>`, `<features>`, `<cpu>`, `<clock>`, power management, perf events, security
 * labels, key wrapping, launch security and the QEMU namespace elements.
 *
 * Children and attributes are declared in the order libvirt 9.0's formatters write them
 * (virDomainDefFormatInternalSetRootName and the functions it calls in domain_conf.c,
 * cpu_conf.c, numa_conf.c, util/virsysinfo.c and qemu/qemu_domain.c); values are checked only as
 * far as libvirt's parser checks them. Sizes keep their unit as written (`{ unit, value }`);
 * converting to KiB is a later, semantic step.
 */
import type { ChildSpec, Infer } from '../schema/schema.js';
import { element, flag, leaf, many, one, raw } from '../schema/schema.js';
import type { ValueType } from '../schema/value-types.js';
import { enumOf, int, onOff, str, uint, yesNo } from '../schema/value-types.js';

// ---------------------------------------------------------------------------------------------
// Local value types and building blocks

/**
 * Element text that may be absent: an empty element (`<model fallback='allow'/>`) parses to no
 * value instead of `''`, so it is written back as an empty element rather than `<x></x>`.
 */
function optText(): ValueType<string | undefined> {
  return {
    description: 'a string',
    parse: (raw) => (raw === '' ? undefined : raw),
    format: (v) => v ?? '',
  };
}

/**
 * A number libvirt reads with base 16 (strtoul: an optional `0x` prefix, hex digits) and prints
 * as `0x%04x`: the SEV `<policy>`.
 */
function hexBase16(width: number): ValueType<number> {
  return {
    description: 'a hexadecimal integer',
    parse(raw) {
      const t = raw.trim();
      const m = /^(?:0x)?([0-9a-f]+)$/i.exec(t);
      if (!m) throw new Error('expected a hexadecimal integer');
      const n = Number.parseInt(m[1]!, 16);
      if (!Number.isSafeInteger(n) || n > 0xffffffff) throw new Error('hexadecimal integer out of range');
      return n;
    },
    format: (v) => `0x${v.toString(16).padStart(width, '0')}`,
  };
}

/** A size element: `<hard_limit unit='KiB'>1024</hard_limit>` (libvirt's scaledInteger). */
export const scaledSize = element({ attrs: { unit: str() }, text: uint() });
export type ScaledSize = Infer<typeof scaledSize>;

/** `state='on|off'`: most hypervisor feature toggles. */
const stateSwitch = element({ attrs: { state: onOff() } });

const memAccessMode = enumOf('shared', 'private');
const numatuneMode = enumOf('strict', 'preferred', 'interleave', 'restrictive');

// ---------------------------------------------------------------------------------------------
// Metadata and memory

export const metadata = raw({ libxml2Self: true });
export const maxMemory = element({ attrs: { slots: uint(), unit: str() }, text: uint() });
/** virDomainDefFormatInternal prints dumpCore before unit. */
export const memory = element({ attrs: { dumpCore: onOff(), unit: str() }, text: uint() });
export const currentMemory = element({ attrs: { unit: str() }, text: uint() });

/** `<blkiotune>` (virDomainDefFormatBlkiotune). */
export const blkiotune = element({
  children: {
    weight: one(leaf(uint())),
    device: many(
      element({
        children: {
          path: one(leaf(str())),
          weight: one(leaf(uint())),
          read_iops_sec: one(leaf(uint())),
          write_iops_sec: one(leaf(uint())),
          read_bytes_sec: one(leaf(uint())),
          write_bytes_sec: one(leaf(uint())),
        },
      }),
    ),
  },
});
export type BlkioTune = Infer<typeof blkiotune>;

/** `<memtune>` (virDomainMemtuneFormat). */
export const memtune = element({
  children: {
    hard_limit: one(scaledSize),
    soft_limit: one(scaledSize),
    min_guarantee: one(scaledSize),
    swap_hard_limit: one(scaledSize),
  },
});
export type MemTune = Infer<typeof memtune>;

/** `<memoryBacking>` (virDomainMemorybackingFormat). */
export const memoryBacking = element({
  children: {
    hugepages: one(
      element({
        children: {
          page: many(element({ attrs: { size: uint(), unit: str(), nodeset: str() } })),
        },
      }),
    ),
    nosharepages: one(flag()),
    locked: one(flag()),
    source: one(element({ attrs: { type: enumOf('file', 'anonymous', 'memfd') } })),
    access: one(element({ attrs: { mode: memAccessMode } })),
    allocation: one(element({ attrs: { mode: enumOf('immediate', 'ondemand'), threads: uint() } })),
    discard: one(flag()),
  },
});
export type MemoryBacking = Infer<typeof memoryBacking>;

// ---------------------------------------------------------------------------------------------
// vCPUs and I/O threads

export const vcpu = element({
  attrs: { placement: enumOf('static', 'auto'), cpuset: str(), current: uint() },
  text: uint(),
});
export type VcpuDef = Infer<typeof vcpu>;

/** `<vcpus>`: per-vCPU state (virDomainCpuDefFormat). */
export const vcpus = element({
  children: {
    vcpu: many(element({ attrs: { id: uint(), enabled: yesNo(), hotpluggable: yesNo(), order: uint() } })),
  },
});
export type VcpusDef = Infer<typeof vcpus>;

export const iothreads = leaf(uint());

export const iothreadids = element({
  children: {
    iothread: many(element({ attrs: { id: uint(), thread_pool_min: uint(), thread_pool_max: uint() } })),
  },
});
export type IOThreadIds = Infer<typeof iothreadids>;

/**
 * `<defaultiothread>`, printed right after `<iothreadids>` (virDomainDefaultIOThreadDefFormat).
 * Not yet referenced by domain-schema.ts.
 */
export const defaultiothread = element({ attrs: { thread_pool_min: uint(), thread_pool_max: uint() } });

// ---------------------------------------------------------------------------------------------
// cputune, numatune, resource

const schedAttrs = { scheduler: enumOf('batch', 'idle', 'fifo', 'rr'), priority: int() } as const;

/** `<cputune>` (virDomainCputuneDefFormat: note emulatorsched comes before vcpusched). */
export const cputune = element({
  children: {
    shares: one(leaf(uint())),
    period: one(leaf(uint())),
    quota: one(leaf(int())),
    global_period: one(leaf(uint())),
    global_quota: one(leaf(int())),
    emulator_period: one(leaf(uint())),
    emulator_quota: one(leaf(int())),
    iothread_period: one(leaf(uint())),
    iothread_quota: one(leaf(int())),
    vcpupin: many(element({ attrs: { vcpu: uint(), cpuset: str() } })),
    emulatorpin: one(element({ attrs: { cpuset: str() } })),
    iothreadpin: many(element({ attrs: { iothread: uint(), cpuset: str() } })),
    emulatorsched: one(element({ attrs: { ...schedAttrs } })),
    vcpusched: many(element({ attrs: { vcpus: str(), ...schedAttrs } })),
    iothreadsched: many(element({ attrs: { iothreads: str(), ...schedAttrs } })),
    cachetune: many(
      element({
        attrs: { vcpus: str(), id: str() },
        children: {
          cache: many(
            element({
              attrs: {
                id: uint(),
                level: uint(),
                type: enumOf('both', 'code', 'data'),
                size: uint(),
                unit: str(),
              },
            }),
          ),
          monitor: many(element({ attrs: { level: uint(), vcpus: str() } })),
        },
      }),
    ),
    memorytune: many(
      element({
        attrs: { vcpus: str(), id: str() },
        children: {
          node: many(element({ attrs: { id: uint(), bandwidth: uint() } })),
          monitor: many(element({ attrs: { vcpus: str() } })),
        },
      }),
    ),
  },
});
export type CpuTune = Infer<typeof cputune>;

/** `<numatune>` (virDomainNumatuneFormatXML). */
export const numatune = element({
  children: {
    memory: one(
      element({ attrs: { mode: numatuneMode, nodeset: str(), placement: enumOf('static', 'auto') } }),
    ),
    memnode: many(element({ attrs: { cellid: uint(), mode: numatuneMode, nodeset: str() } })),
  },
});
export type NumaTune = Infer<typeof numatune>;

/** `<resource>` (virDomainResourceDefFormat). */
export const resource = element({
  children: {
    partition: one(leaf(str())),
    fibrechannel: one(element({ attrs: { appid: str() } })),
  },
});
export type ResourceDef = Infer<typeof resource>;

// ---------------------------------------------------------------------------------------------
// sysinfo

const sysinfoEntry = element({ attrs: { name: str(), file: str() }, text: optText() });
const sysinfoGroup = element({ children: { entry: many(sysinfoEntry) } });

/**
 * `<sysinfo type='smbios|fwcfg'>` (virSysinfoFormat). SMBIOS data comes in groups of entries;
 * fw_cfg data is a list of `<entry name=…>` with either text or a `file`. libvirt's domain
 * parser ignores `<processor>` and `<memory_device>` (host sysinfo only); they are declared so
 * that the model has one shape for both.
 */
export const sysinfo = element({
  attrs: { type: enumOf('smbios', 'fwcfg') },
  children: {
    bios: one(sysinfoGroup),
    system: one(sysinfoGroup),
    baseBoard: many(sysinfoGroup),
    chassis: one(sysinfoGroup),
    processor: many(sysinfoGroup),
    memory_device: many(sysinfoGroup),
    oemStrings: one(sysinfoGroup),
    entry: many(sysinfoEntry),
  },
});
export type SysinfoDef = Infer<typeof sysinfo>;

// ---------------------------------------------------------------------------------------------
// os

/**
 * `<bootmenu timeout>`: libvirt reads it (virXMLPropUInt) only when the menu is enabled, so any
 * text is accepted here and kept as written when it is not a number; the post-parse refuses it in
 * libvirt's words only for an enabled menu, and drops it otherwise.
 */
const bootmenuTimeout: ValueType<number | string> = {
  description: 'a non-negative integer',
  parse(raw) {
    try {
      return uint().parse(raw);
    } catch {
      return raw;
    }
  },
  format: (v) => String(v),
};

/** The `<source>` of a new-style `<nvram type=…>` (a storage source, virDomainDiskSourceFormat). */
const nvramSource = element({
  attrs: {
    file: str(),
    fdgroup: str(),
    dev: str(),
    dir: str(),
    protocol: str(),
    name: str(),
    query: str(),
    tls: yesNo(),
    tlsHostname: str(),
    pool: str(),
    volume: str(),
    mode: str(),
    index: uint(),
  },
  children: {
    host: many(element({ attrs: { name: str(), port: str(), transport: str(), socket: str() } })),
    snapshot: one(element({ attrs: { name: str() } })),
    config: one(element({ attrs: { file: str() } })),
    auth: one(
      element({
        attrs: { username: str() },
        children: { secret: one(element({ attrs: { type: str(), usage: str(), uuid: str() } })) },
      }),
    ),
  },
});

export const loader = element({
  attrs: {
    readonly: yesNo(),
    secure: yesNo(),
    type: enumOf('rom', 'pflash'),
    stateless: yesNo(),
  },
  text: optText(),
});
export type LoaderDef = Infer<typeof loader>;

export const nvram = element({
  attrs: { template: str(), type: str() },
  children: { source: one(nvramSource) },
  text: optText(),
});
export type OsNvramDef = Infer<typeof nvram>;

/** `<os>` (the `<os>` block of virDomainDefFormatInternalSetRootName). */
export const os = element({
  attrs: { firmware: enumOf('bios', 'efi') },
  children: {
    type: one(element({ attrs: { arch: str(), machine: str() }, text: str() })),
    /** `<firmware>`: the feature list for firmware autoselection (property renamed: `firmware` is the attribute). */
    firmwareFeatures: one(
      element({
        children: {
          feature: many(
            element({ attrs: { enabled: yesNo(), name: enumOf('enrolled-keys', 'secure-boot') } }),
          ),
        },
      }),
      'firmware',
    ),
    init: one(leaf(str())),
    initarg: many(leaf(str())),
    initenv: many(element({ attrs: { name: str() }, text: str() })),
    initdir: one(leaf(str())),
    inituser: one(leaf(str())),
    initgroup: one(leaf(str())),
    loader: one(loader),
    nvram: one(nvram),
    kernel: one(leaf(str())),
    initrd: one(leaf(str())),
    cmdline: one(leaf(str())),
    dtb: one(leaf(str())),
    root: one(leaf(str())),
    acpi: one(element({ children: { table: many(element({ attrs: { type: str() }, text: str() })) } })),
    boot: many(element({ attrs: { dev: enumOf('fd', 'cdrom', 'hd', 'network') } })),
    bootmenu: one(element({ attrs: { enable: yesNo(), timeout: bootmenuTimeout } })),
    bios: one(element({ attrs: { useserial: yesNo(), rebootTimeout: int() } })),
    smbios: one(element({ attrs: { mode: enumOf('emulate', 'host', 'sysinfo') } })),
  },
});
export type OsDef = Infer<typeof os>;

/** `<idmap>` (container user namespaces). */
const idRange = element({ attrs: { start: uint(), target: uint(), count: uint() } });
export const idmap = element({ children: { uid: many(idRange), gid: many(idRange) } });
export type IdmapDef = Infer<typeof idmap>;

// ---------------------------------------------------------------------------------------------
// features

/** Hyper-V enlightenments, in virDomainHyperv order (plus the later emsr_bitmap, xmm_input). */
export const hyperv = element({
  block: true,
  attrs: { mode: enumOf('custom', 'passthrough') },
  children: {
    relaxed: one(stateSwitch),
    vapic: one(stateSwitch),
    spinlocks: one(element({ attrs: { state: onOff(), retries: uint() } })),
    vpindex: one(stateSwitch),
    runtime: one(stateSwitch),
    synic: one(stateSwitch),
    stimer: one(element({ attrs: { state: onOff() }, children: { direct: one(stateSwitch) } })),
    reset: one(stateSwitch),
    vendor_id: one(element({ attrs: { state: onOff(), value: str() } })),
    frequencies: one(stateSwitch),
    reenlightenment: one(stateSwitch),
    tlbflush: one(
      element({
        attrs: { state: onOff() },
        children: { direct: one(stateSwitch), extended: one(stateSwitch) },
      }),
    ),
    ipi: one(stateSwitch),
    evmcs: one(stateSwitch),
    avic: one(stateSwitch),
    emsr_bitmap: one(stateSwitch),
    xmm_input: one(stateSwitch),
  },
});
export type HypervFeatures = Infer<typeof hyperv>;

/** KVM features, in virDomainKVM order. */
export const kvm = element({
  block: true,
  children: {
    hidden: one(stateSwitch),
    'hint-dedicated': one(stateSwitch),
    'poll-control': one(stateSwitch),
    'pv-ipi': one(stateSwitch),
    'dirty-ring': one(element({ attrs: { state: onOff(), size: uint() } })),
  },
});

const xen = element({
  block: true,
  children: {
    e820_host: one(stateSwitch),
    passthrough: one(element({ attrs: { state: onOff(), mode: str() } })),
  },
});

/** Process capabilities for containers, in virDomainProcessCapsFeature order. */
const PROCESS_CAPS = [
  'audit_control',
  'audit_write',
  'block_suspend',
  'chown',
  'dac_override',
  'dac_read_search',
  'fowner',
  'fsetid',
  'ipc_lock',
  'ipc_owner',
  'kill',
  'lease',
  'linux_immutable',
  'mac_admin',
  'mac_override',
  'mknod',
  'net_admin',
  'net_bind_service',
  'net_broadcast',
  'net_raw',
  'setgid',
  'setfcap',
  'setpcap',
  'setuid',
  'sys_admin',
  'sys_boot',
  'sys_chroot',
  'sys_module',
  'sys_nice',
  'sys_pacct',
  'sys_ptrace',
  'sys_rawio',
  'sys_resource',
  'sys_time',
  'sys_tty_config',
  'syslog',
  'wake_alarm',
] as const;
type ProcessCap = (typeof PROCESS_CAPS)[number];
const capsChildren = Object.fromEntries(PROCESS_CAPS.map((c) => [c, one(stateSwitch)])) as {
  [K in ProcessCap]: ChildSpec<Infer<typeof stateSwitch>, false>;
};
const capabilities = element({
  attrs: { policy: enumOf('default', 'allow', 'deny') },
  children: capsChildren,
});

const spectreValue = enumOf('broken', 'workaround', 'fixed');

/**
 * `<features>`, in virDomainFeature order (virDomainDefFormatFeatures). A feature given twice is
 * read twice, the later winning (virDomainFeaturesDefParse walks `./features/*`); Hyper-V, Xen and
 * capability sub-features accumulate over the occurrences, as their parsers set each one alone.
 */
export const features = element({
  repeated: { last: true, merge: ['hyperv', 'xen', 'capabilities'] },
  children: {
    acpi: one(flag()),
    apic: one(element({ attrs: { eoi: onOff() } })),
    pae: one(flag()),
    hap: one(stateSwitch),
    viridian: one(flag()),
    privnet: one(flag()),
    hyperv: one(hyperv),
    kvm: one(kvm),
    pvspinlock: one(stateSwitch),
    capabilities: one(capabilities),
    pmu: one(stateSwitch),
    vmport: one(stateSwitch),
    gic: one(element({ attrs: { version: enumOf('host', '2', '3') } })),
    smm: one(element({ attrs: { state: onOff() }, children: { tseg: one(scaledSize) } })),
    ioapic: one(element({ attrs: { driver: enumOf('qemu', 'kvm') } })),
    hpt: one(
      element({
        attrs: { resizing: enumOf('enabled', 'disabled', 'required') },
        children: { maxpagesize: one(scaledSize) },
      }),
    ),
    vmcoreinfo: one(stateSwitch),
    htm: one(stateSwitch),
    'nested-hv': one(stateSwitch),
    msrs: one(element({ attrs: { unknown: enumOf('ignore', 'fault') } })),
    'ccf-assist': one(stateSwitch),
    xen: one(xen),
    cfpc: one(element({ attrs: { value: spectreValue } })),
    sbbc: one(element({ attrs: { value: spectreValue } })),
    ibs: one(
      element({ attrs: { value: enumOf('broken', 'workaround', 'fixed-ibs', 'fixed-ccd', 'fixed-na') } }),
    ),
    tcg: one(element({ children: { 'tb-cache': one(scaledSize) } })),
    'async-teardown': one(element({ attrs: { enabled: yesNo() } })),
  },
});
export type FeaturesDef = Infer<typeof features>;

// ---------------------------------------------------------------------------------------------
// cpu (cpu_conf.c virCPUDefFormatBufFull) and its NUMA topology (numa_conf.c)

const numaCell = element({
  attrs: {
    id: uint(),
    cpus: str(),
    memory: uint(),
    unit: str(),
    memAccess: memAccessMode,
    discard: yesNo(),
  },
  children: {
    distances: one(
      element({ children: { sibling: many(element({ attrs: { id: uint(), value: uint() } })) } }),
    ),
    cache: many(
      element({
        attrs: {
          level: uint(),
          associativity: enumOf('none', 'direct', 'full'),
          policy: enumOf('none', 'writeback', 'writethrough'),
        },
        children: {
          size: one(element({ attrs: { value: uint(), unit: str() } })),
          line: one(element({ attrs: { value: uint(), unit: str() } })),
        },
      }),
    ),
  },
});

const accessType = enumOf('access', 'read', 'write');
const numaInterconnects = element({
  children: {
    latency: many(
      element({
        attrs: { initiator: uint(), target: uint(), cache: uint(), type: accessType, value: uint() },
      }),
    ),
    bandwidth: many(
      element({
        attrs: {
          initiator: uint(),
          target: uint(),
          cache: uint(),
          type: accessType,
          value: uint(),
          unit: str(),
        },
      }),
    ),
  },
});

export const numa = element({ children: { cell: many(numaCell), interconnects: one(numaInterconnects) } });
export type NumaDef = Infer<typeof numa>;

export const cpu = element({
  attrs: {
    mode: enumOf('custom', 'host-model', 'host-passthrough', 'maximum'),
    match: enumOf('minimum', 'exact', 'strict'),
    check: enumOf('none', 'partial', 'full'),
    migratable: onOff(),
  },
  children: {
    model: one(
      element({ attrs: { fallback: enumOf('allow', 'forbid'), vendor_id: str() }, text: optText() }),
    ),
    vendor: one(leaf(str())),
    topology: one(
      element({ attrs: { sockets: uint(), dies: uint(), clusters: uint(), cores: uint(), threads: uint() } }),
    ),
    cache: one(element({ attrs: { level: uint(), mode: enumOf('emulate', 'passthrough', 'disable') } })),
    maxphysaddr: one(element({ attrs: { mode: enumOf('emulate', 'passthrough'), bits: uint() } })),
    feature: many(
      element({
        attrs: { policy: enumOf('force', 'require', 'optional', 'disable', 'forbid'), name: str() },
      }),
    ),
    numa: one(numa),
  },
});
export type CpuDef = Infer<typeof cpu>;

// ---------------------------------------------------------------------------------------------
// clock (virDomainClockDefFormat, virDomainTimerDefFormat)

export const timer = element({
  attrs: {
    name: enumOf('platform', 'pit', 'rtc', 'hpet', 'tsc', 'kvmclock', 'hypervclock', 'armvtimer'),
    present: yesNo(),
    tickpolicy: enumOf('delay', 'catchup', 'merge', 'discard'),
    track: enumOf('boot', 'guest', 'wall', 'realtime'),
    frequency: uint(),
    mode: enumOf('auto', 'native', 'emulate', 'paravirt', 'smpsafe'),
  },
  children: {
    catchup: one(element({ attrs: { threshold: uint(), slew: uint(), limit: uint() } })),
  },
});
export type TimerDef = Infer<typeof timer>;

/**
 * `<clock>`. `adjustment` is `reset` or a signed number of seconds, so it stays a string;
 * `adjustment0` only appears in status XML.
 */
export const clock = element({
  attrs: {
    offset: enumOf('utc', 'localtime', 'variable', 'absolute', 'timezone'),
    adjustment: str(),
    basis: enumOf('utc', 'localtime'),
    adjustment0: str(),
    timezone: str(),
    start: uint(),
  },
  children: { timer: many(timer) },
});
export type ClockDef = Infer<typeof clock>;

// ---------------------------------------------------------------------------------------------
// pm, perf

export const pm = element({
  children: {
    'suspend-to-mem': one(element({ attrs: { enabled: yesNo() } })),
    'suspend-to-disk': one(element({ attrs: { enabled: yesNo() } })),
  },
});
export type PmDef = Infer<typeof pm>;

export const PERF_EVENTS = [
  'cmt',
  'mbmt',
  'mbml',
  'cpu_cycles',
  'instructions',
  'cache_references',
  'cache_misses',
  'branch_instructions',
  'branch_misses',
  'bus_cycles',
  'stalled_cycles_frontend',
  'stalled_cycles_backend',
  'ref_cpu_cycles',
  'cpu_clock',
  'task_clock',
  'page_faults',
  'context_switches',
  'cpu_migrations',
  'page_faults_min',
  'page_faults_maj',
  'alignment_faults',
  'emulation_faults',
] as const;

export const perf = element({
  children: { event: many(element({ attrs: { name: enumOf(...PERF_EVENTS), enabled: yesNo() } })) },
});
export type PerfDef = Infer<typeof perf>;

// ---------------------------------------------------------------------------------------------
// Security labels, key wrapping, launch security

/** The domain-level `<seclabel>` (virSecurityLabelDefFormat). */
export const seclabel = element({
  attrs: { type: enumOf('none', 'dynamic', 'static'), model: str(), relabel: yesNo() },
  children: {
    label: one(leaf(str())),
    imagelabel: one(leaf(str())),
    baselabel: one(leaf(str())),
  },
});
export type SeclabelDef = Infer<typeof seclabel>;

/** A device's or disk source's `<seclabel>` override (virSecurityDeviceLabelDefFormat). */
export const deviceSeclabel = element({
  attrs: { model: str(), labelskip: yesNo(), relabel: yesNo() },
  children: { label: one(leaf(str())) },
});
export type DeviceSeclabelDef = Infer<typeof deviceSeclabel>;

export const keywrap = element({
  children: { cipher: many(element({ attrs: { name: enumOf('aes', 'dea'), state: onOff() } })) },
});
export type KeywrapDef = Infer<typeof keywrap>;

/** `<launchSecurity type='sev|s390-pv'>` (virDomainSecDefFormat). */
export const launchSecurity = element({
  attrs: { type: enumOf('sev', 's390-pv'), kernelHashes: yesNo() },
  children: {
    cbitpos: one(leaf(uint())),
    reducedPhysBits: one(leaf(uint())),
    policy: one(leaf(hexBase16(4))),
    dhCert: one(leaf(str())),
    session: one(leaf(str())),
  },
});
export type LaunchSecurityDef = Infer<typeof launchSecurity>;

// ---------------------------------------------------------------------------------------------
// QEMU namespace (qemu_domain.c qemuDomainDefNamespaceFormatXML). domain-xml.ts rewrites whatever
// prefix the document binds to the QEMU namespace as `qemu:`.

export const qemuCommandline = element({
  children: {
    arg: many(element({ attrs: { value: str() } }), 'qemu:arg'),
    env: many(element({ attrs: { name: str(), value: str() } }), 'qemu:env'),
  },
});
export type QemuCommandline = Infer<typeof qemuCommandline>;

export const qemuCapabilities = element({
  children: {
    add: many(element({ attrs: { capability: str() } }), 'qemu:add'),
    del: many(element({ attrs: { capability: str() } }), 'qemu:del'),
  },
});
export type QemuCapabilities = Infer<typeof qemuCapabilities>;

const qemuProperty = element({
  attrs: { name: str(), type: enumOf('string', 'signed', 'unsigned', 'bool', 'remove'), value: str() },
});

export const qemuOverride = element({
  children: {
    device: many(
      element({
        attrs: { alias: str() },
        children: {
          frontend: one(
            element({ children: { property: many(qemuProperty, 'qemu:property') } }),
            'qemu:frontend',
          ),
        },
      }),
      'qemu:device',
    ),
  },
});
export type QemuOverride = Infer<typeof qemuOverride>;

/** libvirt reads `behavior` as a plain string and leaves checking it to the QEMU driver. */
export const qemuDeprecation = element({ attrs: { behavior: str() } });
export type QemuDeprecation = Infer<typeof qemuDeprecation>;
