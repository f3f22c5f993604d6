/**
 * The QEMU driver of one instance: persistent and transient domains, their QEMU processes and
 * status files. Operations on one domain are serialised (a job queue per domain); operations on
 * different domains run in parallel.
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { constants as fsConstants, readFileSync } from 'node:fs';
import {
  access,
  appendFile,
  mkdir,
  open,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  unlink,
} from 'node:fs/promises';
import { hostname, release } from 'node:os';
import path from 'node:path';
import {
  type DomainDef,
  formatDomainXML,
  type HostDescription,
  type HostPort,
  hostModelFor,
  loadQemuConf,
  nodeHost,
  parseDomainXML,
  type QemuConf,
  type SecModelInfo,
  type SecurityManager,
  SecurityRegistry,
  VirError,
  virCheckFlags,
  virExclusiveFlags,
  virReportError,
  virReportInvalidArg,
} from '@qvirt/core';
import {
  type BlockInfo,
  type BlockJobInfo,
  type BlockStats as ContractBlockStats,
  type DomainInfo as ContractDomainInfo,
  type InterfaceStats as ContractInterfaceStats,
  type ControlInfo,
  type Domain,
  type DomainEvent,
  type DomainEventCallback,
  DomainEventCallbacks,
  type DomainSnapshot,
  type DomainStateInfo,
  type DomainStatsRecord,
  type DomainVcpus,
  domainReasonNumber,
  type HypervisorDriver,
  type IOThreadInfo,
  type JobInfo,
  type NodeCPUMap,
  type NodeInfo,
  type NodeStatsReply,
  type QemuMonitorEventCallback,
  type ScreenshotStream,
  type SecretValueSource,
  type SecurityLabel,
  type SecurityLabelList,
  type SecurityModel,
  type StorageDriver,
  type TypedParam,
  type TypedParamsReply,
  VIR_CONNECT_GET_ALL_DOMAINS_STATS,
  VIR_CONNECT_LIST_DOMAINS,
  VIR_DOMAIN_ABORT_JOB,
  VIR_DOMAIN_AFFECT,
  VIR_DOMAIN_CHANNEL,
  VIR_DOMAIN_CONSOLE,
  VIR_DOMAIN_DEFINE,
  VIR_DOMAIN_EVENT,
  VIR_DOMAIN_EVENT_DETAIL,
  VIR_DOMAIN_EVENT_ID,
  VIR_DOMAIN_JOB,
  VIR_DOMAIN_JOB_STATS,
  VIR_DOMAIN_MEM,
  VIR_DOMAIN_MESSAGE,
  VIR_DOMAIN_SAVE,
  VIR_DOMAIN_SAVE_IMAGE_XML,
  VIR_DOMAIN_START,
  VIR_DOMAIN_UNDEFINE,
  VIR_DOMAIN_VCPU,
  VIR_DOMAIN_XML,
  VIR_DRV_FEATURE,
  VIR_TYPED_PARAM,
  VIR_TYPED_PARAM_STRING_OKAY,
  type VirStream,
} from '@qvirt/core/hypervisor';
import {
  findInPath,
  firmwareDescriptorPaths,
  readFirmwareDescriptors,
  readHostDescription,
  resolveQemuIds,
} from '@qvirt/host-prober';
import {
  buildCommandLine,
  bytesToKiB,
  type CommandLine,
  canonicalizeDomain,
  domainLibDir,
  domxmlFromNative,
  domxmlToNative,
  type FirmwareDescriptor,
  formatDefinition,
  libvirtLayout,
  prepareDomain,
  type QemuCaps,
  type QemuContext,
  qemu72Caps,
  type SwtpmSupport,
  scaledToBytes,
  shellQuote,
} from '@qvirt/qemu-argv';
import * as agentApi from './agent-apis.js';
import { AgentSlot, agentAvailable, prepareChannelPaths } from './agent-channel.js';
import { removeStaleTempFiles, writeFileAtomic } from './atomic-file.js';
import {
  type BlockJobContext,
  blockCommit,
  blockCopy,
  blockJobAbort,
  blockJobSetSpeed,
  blockPull,
  blockRebase,
  getBlockJobInfo,
} from './block-job-ops.js';
import { BlockJobs } from './block-jobs.js';
import { blockThresholdEvents, forgetBlockThresholds, setBlockThreshold } from './block-threshold.js';
import { blockResize, getBlockIoTune, setBlockIoTune } from './block-tune.js';
import * as tuning from './cgroup-tuning.js';
import { applyPtyPaths, ChrdevSessions } from './console.js';
import { coreDumpApiChecks, coreDumpWithFormat } from './core-dump.js';
import { DomainCgroups } from './domain-cgroup.js';
import {
  asyncJobName,
  beginAsyncJob,
  completeJob,
  type DomainJobs,
  endAsyncJob,
  type JobData,
  jobDataToInfo,
  jobDataToParams,
  migrationStats,
  noJobInfo,
  updateTime,
} from './domain-job.js';
import {
  type BlockStats,
  blockStatsParams,
  gatherBlockStats,
  gatherMemoryStats,
  type MemoryStat,
} from './domain-stats.js';
import { AGENT_TIMEOUT, type GuestAgent } from './guest-agent.js';
import { hostSwtpmSync } from './host-swtpm.js';
import {
  attachDevice,
  detachDevice,
  detachDeviceAlias,
  deviceDeleted,
  type HotplugHost,
  updateDevice,
} from './hotplug.js';
import type { HypervisorCpuApis } from './hypervisor-cpu.js';
import { type InstanceEnv, type InstanceSpec, resolveInstance } from './instance.js';
import { acquireInstanceLock, type InstanceLock } from './instance-lock.js';
import { getInterfaceParameters, runTc, setInterfaceParameters } from './interface-bandwidth.js';
import { changeIOThread, getIOThreadInfo, pinIOThread, setIOThreadParams } from './iothreads.js';
import { JobQueue } from './job-queue.js';
import { type LaunchHandle, type LaunchHook, type LaunchSpec, launch } from './launch.js';
import { panicOutcome, poweroffRestarts, setupLifecycleActions, trayChange } from './lifecycle-actions.js';
import type { LiveDomain } from './live-domain.js';
import { getDiskErrors, injectNMI, screenshot, sendKey, setLifecycleAction } from './live-misc.js';
import { withAliases } from './live-xml.js';
import { ensureSaveDir, hasManagedSave, managedSavePath } from './managed-save.js';
import {
  enableMigrationEvents,
  jobCompletedParams,
  type MigrateInfo,
  VIR_DOMAIN_JOB_OPERATION,
} from './migration-events.js';
import {
  checkMaxSpeed,
  migrateGetCompressionCache,
  migrateGetMaxDowntime,
  migrateGetPostcopySpeed,
  migrateSetCompressionCache,
  migrateSetMaxDowntime,
  migrateSetMaxSpeed,
  QEMU_DOMAIN_MIG_BANDWIDTH_MAX,
  startDirtyRateCalc,
  VIR_DOMAIN_MIGRATE_MAX_SPEED_POSTCOPY,
} from './migration-params.js';
import {
  connectInterfaces,
  type InterfaceConnections,
  interfaceStats,
  reserveInterfaceNames,
  stopInterfaces,
  tapFdMap,
} from './net-interfaces.js';
import type { InterfaceStats } from './net-tap.js';
import * as node from './node-info.js';
import { nodeAllocPages, nodeGetFreePages } from './node-pages.js';
import { prepareNvram } from './nvram.js';
import { blockPeek, memoryPeek } from './peek.js';
import { enablePerfFromDef, getPerfEvents, PerfEvents, setPerfEvents } from './perf-events.js';
import { checkSuspendArgs, pmSuspend } from './pm-suspend.js';
import { monitorCommandText, QemuMonitorEvents } from './qemu-monitor-events.js';
import { QmpClient, type QmpEvent } from './qmp.js';
import {
  getMetadata,
  setMemoryFlags,
  setMemoryStatsPeriod,
  setMetadata,
  setupBalloonPeriod,
} from './resources.js';
import {
  compressionFor,
  FIRST_INCOMING_FD,
  type IncomingStream,
  openIncoming,
  readSaveImage,
  rewriteSaveImageXml,
  runIncoming,
  type SaveImage,
  saveableDefinition,
  saveFlagsExclusive,
  setSaveImageRunning,
  writeSaveImage,
} from './save-image.js';
import { formatSnapshot, SnapshotList } from './snapshot-metadata.js';
import { createSnapshot, deleteSnapshot, revertSnapshot, type SnapshotHost } from './snapshot-ops.js';
import { nativeSecrets, prepareStartSecrets } from './start-secrets.js';
import { type DomainState, isActiveState, STATE_NUMBER, type StateReason } from './state.js';
import { checkStatsSupport, domainStatsRecord, getBlockInfo, getControlInfo, getCPUStats } from './stats.js';
import { type DomainStatus, formatStatus, parseStatus } from './status.js';
import { formatSysinfo, readHostSysinfo, type SysinfoDef } from './sysinfo.js';
import { checkUndefineFlags, removeUndefineFiles } from './undefine.js';
import { cachingUserDb } from './user-db-cache.js';
import {
  getEmulatorPinInfo,
  getVcpuPinInfo,
  getVcpus,
  pinEmulator,
  pinVcpu,
  setVcpu,
  setVcpus,
} from './vcpus.js';
import { translatedForRestore, translateVolumeDisks } from './volume-disks.js';

export interface DriverOptions extends InstanceEnv {
  /** The QEMU description commands are built for (default: the QEMU 7.2 snapshot). */
  caps?: QemuCaps;
  /**
   * The firmware descriptors `<os firmware=…>` selects from (default: the host's, read at each
   * start as libvirt does: /usr/share/qemu/firmware, /etc/qemu/firmware, and for a session
   * instance $XDG_CONFIG_HOME/qemu/firmware).
   */
  firmwares?: FirmwareDescriptor[] | (() => FirmwareDescriptor[]);
  /**
   * The host description starts and `domxml-to-native` check against (NUMA nodes, host CPU;
   * default: this host's, read once by `@qvirt/host-prober`'s `readHostDescription`).
   */
  hostDescription?: HostDescription;
  /** Edit the launch spec of every QEMU, after the security drivers have. */
  launchHooks?: LaunchHook[];
  /**
   * Where qemu.conf `security_driver` names are looked up; `register(factory)` on it composes
   * drivers in code (default: a fresh registry that finds the backend packages).
   */
  securityRegistry?: SecurityRegistry;
  /** The host port handed to the security drivers (default: the real host). */
  host?: HostPort;
  /**
   * libvirt's build-time QEMU_USER/QEMU_GROUP: what an unset qemu.conf `user`/`group` means in a
   * privileged instance. Default `libvirt-qemu` when that user exists (Debian's build), else root
   * (upstream's default).
   */
  qemuUser?: string;
  qemuGroup?: string;
  /**
   * The instance's secret driver, asked at start for the secrets disks name (LUKS passphrases,
   * ceph/iSCSI auth); qvirtd and qvirsh open `@qvirt/secrets` for it. Unset: such disks fail.
   */
  secrets?: () => Promise<SecretValueSource>;
  /**
   * The instance's storage driver, asked at start for `<disk type='volume'>` sources (their
   * pool and volume resolved to a path); qvirtd and qvirsh open `@qvirt/storage` for it.
   */
  storage?: () => Promise<StorageDriver>;
  /** Reconnect to running domains when opening (default true). */
  reconnect?: boolean;
  /**
   * Start autostart domains when the instance is first opened (default true). As libvirt, once:
   * a marker in the run directory says it was done, so reopening does not start them again.
   */
  autostart?: boolean;
  /** How long to wait for QEMU's monitor at start and reconnect (default 30 s / 5 s). */
  monitorTimeoutMs?: number;
  reconnectTimeoutMs?: number;
  /**
   * Test-only (tools/stress's fault runs): awaited at each phase of a start, so a test can kill
   * the driver or QEMU exactly there. Nothing in qvirt sets it.
   */
  startPhaseHook?: (phase: StartPhase, info: { name: string; pid?: number }) => void | Promise<void>;
}

/**
 * The phases of a start a fault test stops at: labels generated (nothing on the host yet),
 * resources labelled (owners, xattrs, cgroup; QEMU not exec'd), QEMU exec'd (paused, status
 * written), monitor connected and `cont` next.
 */
export type StartPhase = 'labels-generated' | 'labelled' | 'spawned' | 'before-cont';

/** What a caller sees of a domain (a snapshot, not a live object). */
export interface DomainSummary {
  name: string;
  uuid: string;
  /** -1 when not running. */
  id: number;
  state: DomainState;
  reason: StateReason;
  persistent: boolean;
  autostart: boolean;
  /** A managed save image waits (./managed-save.ts). */
  managedSave?: boolean;
}

export interface DomainInfo {
  state: DomainState;
  /** KiB */
  maxMem: number;
  /** KiB */
  memory: number;
  nrVirtCpu: number;
  /** Nanoseconds of CPU used by QEMU (0 when not running). */
  cpuTime: number;
}

export interface LiveProcess {
  pid: number;
  monitorPath: string;
  startTime: string;
  libDir: string;
  logFile: string;
  /** The command line it was started with (absent after a reconnect). */
  commandLine?: CommandLine;
}

interface DomainObj {
  /** Persistent definition, or the transient one. */
  def: DomainDef;
  /** A definition saved while running, applied at the next stop. */
  newDef?: DomainDef;
  persistent: boolean;
  autostart: boolean;
  state: DomainState;
  reason: StateReason;
  id: number;
  live?: DomainDef;
  proc?: LiveProcess;
  child?: ChildProcess;
  childExit?: Promise<void>;
  qmp?: QmpClient;
  /** The labels of the current run: generated (Gen), and applied (SetAll) when `labelled`. */
  security?: { def: DomainDef; labelled: boolean };
  /** A monitor reconnection in progress (after a driver restart). */
  attaching?: Promise<void>;
  /** Bumped at every start and stop, so late events of an old process are ignored. */
  generation: number;
  beingDestroyed: boolean;
  gotShutdown: boolean;
  fakeReboot: boolean;
  /** QEMU stopped at a fake reboot's shutdown: its STOP is not the guest's pause (priv->pausedShutdown). */
  pausedShutdown?: boolean;
  pauseReason?: StateReason;
  /** The guest agent of the current run (./agent-channel.ts). */
  agentSlot?: AgentSlot;
  /** The taints of the current run (virDomainTaintFlags), each logged once. */
  taints?: Set<string>;
  /** A snapshot revert reports the lifecycle events itself (./snapshot-ops.ts), in libvirt's order. */
  muteEvents?: boolean;
  /** The block jobs of the current run (./block-jobs.ts). */
  blockJobs?: BlockJobs;
  /** The running async job (a save) and the last completed one's statistics (./domain-job.ts). */
  jobs?: DomainJobs;
  /** priv->agentTimeout (virDomainAgentSetResponseTimeout), kept across runs; BLOCK when unset. */
  agentTimeout?: number;
  /** priv->migMaxBandwidth (virDomainMigrateSetMaxSpeed), MiB/s; QEMU_DOMAIN_MIG_BANDWIDTH_MAX when unset. */
  migMaxBandwidth?: number;
}

const CONFIG_HEADER = (name: string) => `<!--
WARNING: THIS IS AN AUTO-GENERATED FILE. CHANGES TO IT ARE LIKELY TO BE
OVERWRITTEN AND LOST. Changes to this xml configuration should be made using:
  virsh edit ${name}
or other application using the libvirt API.
-->

`;

/**
 * libvirt-domain.c's VIR_EXCLUSIVE_FLAGS_GOTO(VIR_DOMAIN_AFFECT_LIVE, VIR_DOMAIN_AFFECT_CONFIG),
 * which the getters of tunables check before any driver does.
 */
function exclusiveAffect(flags: number): void {
  virExclusiveFlags(
    flags,
    ['VIR_DOMAIN_AFFECT_LIVE', VIR_DOMAIN_AFFECT.LIVE],
    ['VIR_DOMAIN_AFFECT_CONFIG', VIR_DOMAIN_AFFECT.CONFIG],
  );
}

/** virDomainTaint and virDomainTaintMessage, in libvirt's order. */
const TAINTS: [string, string][] = [
  ['custom-argv', 'custom configuration parameters specified'],
  ['custom-monitor', 'custom monitor control commands issued'],
  ['high-privileges', 'running with undesirable elevated privileges'],
  ['shell-scripts', 'network configuration using opaque shell scripts'],
  ['disk-probing', 'potentially unsafe disk format probing'],
  ['external-launch', 'managing externally launched configuration'],
  ['host-cpu', 'potentially unsafe use of host CPU passthrough'],
  ['hook-script', 'configuration potentially modified by hook script'],
  ['cdrom-passthrough', 'use of host cdrom passthrough'],
  ['custom-dtb', 'custom device tree blob used'],
  ['custom-ga-command', 'custom guest agent control commands issued'],
  ['custom-hypervisor-feature', 'hypervisor feature autodetection override'],
  ['deprecated-config', 'use of deprecated configuration settings'],
  ['custom-device', 'custom device configuration'],
];

const noDomain = (what: string) => new VirError('NO_DOMAIN', 'qemu', `Domain not found: ${what}`);
const invalid = (msg: string) =>
  new VirError('OPERATION_INVALID', 'qemu', `Requested operation is not valid: ${msg}`);
const failed = (msg: string) => new VirError('OPERATION_FAILED', 'qemu', `operation failed: ${msg}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** qemu.conf user/group as ids for files libvirt creates for QEMU (cfg->user, cfg->group). */
function qemuOwner(conf: QemuConf): { uid: number; gid: number } | undefined {
  try {
    const { uid, gid } = resolveQemuIds(conf.user, conf.group);
    return { uid, gid };
  } catch {
    return undefined;
  }
}

function errnoText(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return 'No such file or directory';
    case 'EACCES':
      return 'Permission denied';
    case 'ENOTDIR':
      return 'Not a directory';
    default:
      return (err as Error).message;
  }
}

function timestamp(): string {
  return new Date().toISOString().replace('Z', '+0000').replace('T', ' ');
}

/** libvirt's command log (virCommandWriteArgLog): env and each option on its own line. */
export function formatLogCommandLine(cl: CommandLine): string {
  const lines = cl.env.map(([k, v]) => `${k}=${shellQuote(v)}`);
  let current = shellQuote(cl.binary);
  for (const arg of cl.args) {
    if (arg.startsWith('-')) {
      lines.push(current);
      current = shellQuote(arg);
    } else current += ` ${shellQuote(arg)}`;
  }
  lines.push(current);
  return `${lines.join(' \\\n')}\n`;
}

/** True while `pid` is a live (non-zombie) process. */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // state is the field after "(comm)"
    const state = procState(pid);
    return state !== 'Z' && state !== 'X';
  } catch {
    return true;
  }
}

function procState(pid: number): string {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return text.slice(text.lastIndexOf(')') + 2, text.lastIndexOf(')') + 3);
}

function procCpuTimeNs(pid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Math.round((ticks * 1e9) / 100);
  } catch {
    return 0;
  }
}

/** A canonical definition's scaled memory size in KiB (post-parse stores KiB already). */
function toKiB(mem: { value?: number; unit?: string } | undefined): number {
  if (!mem?.value) return 0;
  return Number(bytesToKiB(scaledToBytes(mem.value, mem.unit) ?? 0n));
}

export class QemuDriver implements HypervisorDriver {
  readonly instance: InstanceSpec;
  readonly conf: QemuConf;
  readonly caps: QemuCaps;
  readonly #options: DriverOptions;
  readonly #domains = new Map<string, DomainObj>(); // by uuid
  readonly #jobs = new JobQueue();
  #lastId = 0;
  #closed = false;
  /** The instance's `driver.pid` lock, held from open to close. */
  #lock?: InstanceLock;
  readonly #abort = new AbortController();
  /** Every domain event, for qvirtd's fan-out ({@link QemuDriver.onDomainEvent}). */
  readonly #eventListeners = new Set<(event: DomainEvent) => void>();
  /** This connection's own callbacks (the contract's connectDomainEventRegisterAny). */
  readonly #callbacks = new DomainEventCallbacks();
  /** virConnectDomainQemuMonitorEventRegister's callbacks and qvirtd's listener (./qemu-monitor-events.ts). */
  readonly #monitorEvents = new QemuMonitorEvents();
  /** Console and channel sessions (./console.ts). */
  readonly #chrdevs = new ChrdevSessions();
  /** Problems met while loading definitions and status files (libvirt logs and skips them). */
  readonly loadErrors: string[] = [];
  /** libvirt's VIR_WARNs: labels that could not be restored, failed rollbacks. */
  readonly warnings: string[] = [];
  /** The security stack of the instance (qemu.conf `security_driver`). */
  readonly security: SecurityManager;
  /** The domains' resource cgroups (domain-cgroup.ts). */
  #cgroupsOf?: DomainCgroups;
  #cgroups(): DomainCgroups {
    return (this.#cgroupsOf ??= new DomainCgroups({
      privileged: this.instance.privileged,
      ...(this.instance.embedRoot ? { embedRoot: this.instance.embedRoot } : {}),
      ...(this.conf.cgroupControllers ? { controllers: this.conf.cgroupControllers } : {}),
    }));
  }

  private constructor(
    instance: InstanceSpec,
    conf: QemuConf,
    options: DriverOptions,
    security: SecurityManager,
  ) {
    this.instance = instance;
    this.conf = conf;
    this.caps = options.caps ?? qemu72Caps();
    this.#options = options;
    this.security = security;
  }

  /** Opens an instance: reads its qemu.conf, definitions and status, reconnects to its guests. */
  static async open(uri?: string, options: DriverOptions = {}): Promise<QemuDriver> {
    const instance = resolveInstance(uri, options);
    // qemuStateInitialize: virPidFileAcquire(stateDir, "driver") before anything is read
    await mkdir(instance.layout.runDir, { recursive: true, mode: 0o755 });
    const lock = acquireInstanceLock(
      path.join(instance.layout.runDir, 'driver.pid'),
      instance.embedRoot ?? instance.layout.runDir,
    );
    try {
      const driver = await QemuDriver.#openLocked(instance, options);
      driver.#lock = lock;
      return driver;
    } catch (err) {
      lock.release();
      throw err;
    }
  }

  static async #openLocked(instance: InstanceSpec, options: DriverOptions): Promise<QemuDriver> {
    // the real host's user database is asked at every start: remembered per driver
    const host = options.host ?? cachingUserDb(nodeHost());
    const qemuUser = options.qemuUser ?? ((await host.lookupUser('libvirt-qemu')) ? 'libvirt-qemu' : 'root');
    const qemuGroup =
      options.qemuGroup ?? ((await host.lookupGroup('libvirt-qemu')) ? 'libvirt-qemu' : 'root');
    const conf = await loadQemuConf(instance.confPath, {
      privileged: instance.privileged,
      qemuUser,
      qemuGroup,
    });
    const warnings: string[] = [];
    const l = instance.layout;
    const security = await (options.securityRegistry ?? new SecurityRegistry()).createManager({
      conf,
      host,
      privileged: instance.privileged,
      confPath: instance.confPath,
      // the config's folder first (by the registry), then the application, then this package's
      // own dependencies (the built-in backends)
      resolveFrom: [
        ...(process.argv[1] ? [path.dirname(path.resolve(process.argv[1]))] : []),
        process.cwd(),
        import.meta.url,
      ],
      dirs: { config: l.configDir, run: l.runDir, lib: l.libDir, cache: l.cacheDir, log: l.logDir },
      // libvirt names an embedded instance's machines apart (qemu-embed-HASH-ID-NAME), so two
      // instances never share a cgroup.
      ...(instance.embedRoot ? { extraOptions: { embedRoot: instance.embedRoot } } : {}),
      warn: (m) => warnings.push(m),
    });
    const driver = new QemuDriver(instance, conf, options, security);
    driver.warnings.push(...warnings);
    await driver.#init();
    return driver;
  }

  /** The capabilities XML's `<secmodel>` list: one per stacked driver (libvirt mode hides capng and cgroup-devices). */
  secModels(): Promise<SecModelInfo[]> {
    return this.security.secModels(['kvm', 'qemu']);
  }

  #warn(message: string): void {
    this.warnings.push(message);
  }

  get layout() {
    return this.instance.layout;
  }

  /** The environment the instance was opened with (PATH, XDG dirs). */
  get env(): Readonly<Record<string, string | undefined>> {
    return this.#options.env ?? process.env;
  }

  async #init(): Promise<void> {
    const l = this.layout;
    for (const dir of [l.configDir, l.runDir, l.libDir, l.logDir, l.cacheDir, this.instance.autostartDir]) {
      await mkdir(dir, { recursive: true, mode: 0o755 });
    }
    await removeStaleTempFiles(l.configDir);
    await removeStaleTempFiles(l.runDir);
    for (const name of (await readdir(l.configDir)).filter((n) => n.endsWith('.xml')).sort()) {
      const file = path.join(l.configDir, name);
      try {
        const def = parseDomainXML(await readFile(file, 'utf8'), { source: file });
        if (`${def.name}.xml` !== name) throw new Error(`name ${def.name} does not match file name`);
        if (!def.uuid) throw new Error('no uuid');
        const autostart = await exists(path.join(this.instance.autostartDir, name));
        this.#domains.set(def.uuid, this.#newObj(def, true, autostart));
      } catch (err) {
        this.loadErrors.push(`${file}: ${(err as Error).message}`);
      }
    }
    const statuses: Array<[DomainStatus, string]> = [];
    for (const name of (await readdir(l.runDir)).filter((n) => n.endsWith('.xml'))) {
      const file = path.join(l.runDir, name);
      try {
        statuses.push([parseStatus(await readFile(file, 'utf8'), file), file]);
      } catch (err) {
        this.loadErrors.push(`${file}: ${(err as Error).message}`);
      }
    }
    for (const [status] of statuses) this.#lastId = Math.max(this.#lastId, status.def.id ?? 0);
    // A driver killed after making a run's private directory but before writing its status
    // leaves the directory with nothing that refers to it: it goes.
    const inUse = new Set(statuses.map(([st]) => path.resolve(st.libDir)));
    for (const name of (await readdir(l.libDir)).filter((n) => /^domain--?\d+-/.test(n))) {
      const dir = path.join(l.libDir, name);
      if (!inUse.has(path.resolve(dir))) await rm(dir, { recursive: true, force: true });
    }
    await Promise.all(statuses.map(([status]) => this.#reconnect(status)));
    await this.#autostart();
  }

  /** virDriverShouldAutostart + qemuAutostartDomains. */
  async #autostart(): Promise<void> {
    if (this.#options.autostart === false) return;
    const marker = path.join(this.layout.runDir, 'autostarted');
    if (await exists(marker)) return;
    await writeFileAtomic(marker, '');
    for (const obj of [...this.#domains.values()]) {
      if (!obj.autostart || isActiveState(obj.state)) continue;
      try {
        await this.start(obj.def.name);
      } catch (err) {
        this.loadErrors.push(`autostart of ${obj.def.name}: ${(err as Error).message}`);
      }
    }
  }

  #newObj(def: DomainDef, persistent: boolean, autostart: boolean): DomainObj {
    return {
      def,
      persistent,
      autostart,
      state: 'shutoff',
      reason: 'unknown',
      id: -1,
      generation: 0,
      beingDestroyed: false,
      gotShutdown: false,
      fakeReboot: false,
    };
  }

  /** qemuProcessReconnect: adopt a QEMU a previous driver started, or mark it crashed. */
  async #reconnect(status: DomainStatus): Promise<void> {
    const uuid = status.def.uuid!;
    let obj = this.#domains.get(uuid);
    if (!obj) {
      obj = this.#newObj(structuredClone(status.def), false, false);
      delete obj.def.id;
      this.#domains.set(uuid, obj);
    }
    obj.live = status.def;
    // qemuProcessReconnect: the running domain's tap names stay taken (virNetDevReserveName)
    reserveInterfaceNames(status.def);
    obj.id = status.def.id ?? -1;
    obj.state = status.state;
    obj.reason = status.reason;
    obj.proc = {
      pid: status.pid,
      monitorPath: status.monitorPath,
      startTime: status.startTime,
      libDir: status.libDir,
      logFile: status.logFile,
    };
    obj.generation++;
    // The previous driver labelled this run: whatever happens now, stopping restores.
    obj.security = { def: await translatedForRestore(status.def, this.#options.storage), labelled: true };
    const ours = await isOurQemu(status.pid, status.monitorPath);
    if (!ours) {
      await this.#stopped(obj, 'crashed');
      return;
    }
    try {
      await this.security.reserveLabel(status.def, status.pid);
    } catch (err) {
      // qemuProcessReconnect fails the domain when its labels cannot be reserved
      this.loadErrors.push(`${obj.def.name}: ${(err as Error).message}`);
      await this.#killProcess(obj).catch(() => {});
      await this.#stopped(obj, 'failed');
      return;
    }
    if (status.state === 'paused' && status.reason === 'starting up') {
      // the previous driver died in the middle of this start (libvirt: the start job cannot be
      // recovered): the half-started QEMU goes, its labels are rolled back
      this.loadErrors.push(`${obj.def.name}: the driver stopped while it was starting; shut off`);
      await this.#killProcess(obj).catch(() => {});
      await this.#stopped(obj, 'failed');
      return;
    }
    if (this.#options.reconnect === false) return;
    // The monitor is reopened in the background: a command that needs it waits for it, one that
    // does not (list, dominfo, dumpxml) does not wait (QEMU serves one monitor client at a time,
    // so another process holding it would otherwise stall every open).
    const generation = obj.generation;
    obj.attaching = (async () => {
      try {
        await this.#attachMonitor(obj, this.#options.reconnectTimeoutMs ?? 5000, false);
        const st = await obj.qmp!.execute<{ running: boolean; status: string }>('query-status');
        if (obj.generation !== generation) return;
        if (st.running && obj.state !== 'running') this.#setState(obj, 'running', 'unknown');
        else if (!st.running && obj.state === 'running') this.#setState(obj, 'paused', 'unknown');
        // qemuRefreshVirtioChannelState and qemuConnectAgent of qemuProcessReconnect
        this.#agentSlot(obj).refresh(await obj.qmp!.execute('query-chardev'), false);
        await this.#agentSlot(obj).connect();
        await this.#saveStatus(obj);
      } catch (err) {
        // e.g. another client holds the monitor; the domain stays as its status file says
        this.loadErrors.push(`${obj.def.name}: cannot reconnect to monitor: ${(err as Error).message}`);
      } finally {
        obj.attaching = undefined;
      }
    })();
  }

  /** Resolves when every background monitor reconnection has finished (or failed). */
  async reconnected(): Promise<void> {
    await Promise.all([...this.#domains.values()].map((o) => o.attaching));
  }

  /** Stops watching guests and closes monitors; the guests keep running. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort();
    await this.reconnected();
    await this.#jobs.idle();
    for (const obj of this.#domains.values()) this.#detach(obj);
    this.#lock?.release();
  }

  #detach(obj: DomainObj): void {
    obj.qmp?.removeAllListeners();
    obj.qmp?.close();
    obj.qmp = undefined;
    obj.child?.removeAllListeners('exit');
    obj.child = undefined;
  }

  // ---- lookup -----------------------------------------------------------------------------

  /** All domains, in no particular order. */
  listDomains(): DomainSummary[] {
    return [...this.#domains.values()].map((o) => this.#summary(o));
  }

  #summary(o: DomainObj): DomainSummary {
    return {
      name: o.def.name,
      uuid: o.def.uuid!,
      id: o.id,
      state: o.state,
      reason: o.reason,
      persistent: o.persistent,
      autostart: o.autostart,
      managedSave: o.persistent && hasManagedSave(this.layout, o.def.name),
    };
  }

  /** virsh's lookup order: an id, then a UUID, then a name. */
  find(key: string): DomainSummary | undefined {
    const obj = this.#find(key);
    return obj && this.#summary(obj);
  }

  #find(key: string): DomainObj | undefined {
    const all = [...this.#domains.values()];
    if (/^\d+$/.test(key)) {
      const byId = all.find((o) => o.id === Number(key) && isActiveState(o.state));
      if (byId) return byId;
    }
    const uuid = key.toLowerCase();
    return this.#domains.get(uuid) ?? all.find((o) => o.def.name === key);
  }

  #byName(name: string): DomainObj {
    const obj = [...this.#domains.values()].find((o) => o.def.name === name) ?? this.#domains.get(name);
    if (!obj) throw noDomain(`no domain with matching name '${name}'`);
    return obj;
  }

  /** Runs `fn` as a job of domain `name` (serialised with the domain's other jobs). */
  #job<T>(name: string, fn: (obj: DomainObj) => Promise<T>): Promise<T> {
    const first = this.#byName(name);
    return this.#jobs.run(first.def.uuid!, async () => {
      // the domain may have gone while the job waited
      const obj = this.#domains.get(first.def.uuid!);
      if (!obj) throw noDomain(`no domain with matching name '${name}'`);
      return fn(obj);
    });
  }

  // ---- definitions ------------------------------------------------------------------------

  #ctx(domainId: number, purpose: 'native' | 'start'): QemuContext {
    return {
      caps: this.caps,
      conf: this.conf,
      layout: this.layout,
      domainId,
      purpose,
      path: this.env.PATH ?? '/usr/bin:/bin',
      firmwares: this.#options.firmwares ?? (() => readFirmwareDescriptors(this.#firmwareSearch())),
      host: this.#host(),
      swtpm: () => {
        this.#swtpm ??= hostSwtpmSync((n) => findInPath(n, this.env.PATH ?? '/usr/bin:/bin'));
        return this.#swtpm;
      },
    };
  }

  /** The host's swtpm, asked once per driver and only by a definition with a TPM. */
  #swtpm: SwtpmSupport | null | undefined;

  #hostDescription: HostDescription | undefined;
  /** The host as libvirt sees it at start (NUMA nodes, host CPU), read once per driver. */
  #host(): HostDescription {
    this.#hostDescription ??= this.#options.hostDescription ?? readHostDescription();
    return this.#hostDescription;
  }

  /**
   * A host-model guest needs its emulator's host-model CPU (qemuProcessUpdateGuestCPU takes it
   * from the capabilities of that QEMU): probed through the domain capabilities machinery when the
   * host description has none, and kept for the driver's life.
   */
  async #withHostModel(ctx: QemuContext, def: DomainDef): Promise<QemuContext> {
    const mode = (def.cpu as { mode?: string } | undefined)?.mode;
    if (mode !== 'host-model' || !ctx.host) return ctx;
    const arch = (def.os as { type?: { arch?: string } } | undefined)?.type?.arch ?? 'x86_64';
    const guest = { arch, virtType: def.type ?? 'qemu', emulator: def.devices?.emulator };
    if (hostModelFor(ctx.host, guest)) return ctx;
    const found = await (await this.#cpu())
      .hostModel(guest.emulator ?? null, guest.arch, guest.virtType)
      .catch(() => undefined);
    if (!found) return ctx;
    const host = this.#host();
    host.hostModels = [...(host.hostModels ?? []), found];
    return { ...ctx, host };
  }

  #hasFirmwareDescriptors(): boolean {
    const given = this.#options.firmwares;
    if (given === undefined) return firmwareDescriptorPaths(this.#firmwareSearch()).length > 0;
    return typeof given === 'function' || given.length > 0;
  }

  #firmwareSearch(): {
    privileged: boolean;
    env: Readonly<Record<string, string | undefined>>;
    home?: string;
  } {
    return {
      privileged: this.instance.privileged,
      env: this.#options.env ?? process.env,
      ...(this.#options.home !== undefined ? { home: this.#options.home } : {}),
    };
  }

  async #parseNew(xml: string): Promise<DomainDef> {
    const def = canonicalizeDomain(parseDomainXML(xml), this.#ctx(-1, 'native'));
    if (!def.uuid) def.uuid = randomUUID();
    await checkEmulator(def.devices?.emulator ?? this.caps.emulator);
    return def;
  }

  /** virDomainObjListAdd's uniqueness rules; returns the existing object with that uuid, if any. */
  #checkUnique(def: DomainDef, forStart: boolean): DomainObj | undefined {
    const same = this.#domains.get(def.uuid!);
    if (same) {
      if (same.def.name !== def.name) {
        throw failed(`domain '${same.def.name}' is already defined with uuid ${same.def.uuid}`);
      }
      if (forStart) {
        if (isActiveState(same.state)) throw invalid(`domain '${def.name}' is already active`);
        if (!same.persistent) throw invalid(`domain '${def.name}' is already being started`);
      }
      return same;
    }
    const byName = [...this.#domains.values()].find((o) => o.def.name === def.name);
    if (byName) throw failed(`domain '${def.name}' already exists with uuid ${byName.def.uuid}`);
    return undefined;
  }

  #configFile(name: string): string {
    return path.join(this.layout.configDir, `${name}.xml`);
  }

  async #writeConfig(def: DomainDef): Promise<void> {
    await writeFileAtomic(this.#configFile(def.name), CONFIG_HEADER(def.name) + formatDomainXML(def));
  }

  /** define: validate, store atomically, and return the domain. */
  async defineXML(xml: string): Promise<DomainSummary> {
    const def = await this.#parseNew(xml);
    const existing = this.#checkUnique(def, false);
    if (existing) {
      return this.#jobs.run(def.uuid!, async () => {
        await this.#writeConfig(def);
        if (isActiveState(existing.state)) existing.newDef = def;
        else existing.def = def;
        existing.persistent = true;
        this.#emitEvent(existing, VIR_DOMAIN_EVENT.DEFINED, VIR_DOMAIN_EVENT_DETAIL.DEFINED.UPDATED);
        return this.#summary(existing);
      });
    }
    // virDomainObjListAdd holds the list lock from the check to the insertion: the name is taken
    // before the first await, so a concurrent define of the same name is refused by #checkUnique.
    const obj = this.#newObj(def, true, false);
    this.#domains.set(def.uuid!, obj);
    return this.#jobs.run(def.uuid!, async () => {
      try {
        await this.#writeConfig(def);
      } catch (err) {
        this.#domains.delete(def.uuid!);
        throw err;
      }
      this.#emitEvent(obj, VIR_DOMAIN_EVENT.DEFINED, VIR_DOMAIN_EVENT_DETAIL.DEFINED.ADDED);
      return this.#summary(obj);
    });
  }

  /** `flags`: VIR_DOMAIN_UNDEFINE (the managed save image and the variable store, ./undefine.ts). */
  async undefine(name: string, flags = 0): Promise<void> {
    checkUndefineFlags(flags);
    await this.#job(name, async (obj) => {
      if (!obj.persistent) throw invalid('cannot undefine transient domain');
      const snaps = await this.#snapshotList(obj);
      if (
        !isActiveState(obj.state) &&
        snaps.byName.size > 0 &&
        !(flags & VIR_DOMAIN_UNDEFINE.SNAPSHOTS_METADATA)
      )
        throw invalid(`cannot delete inactive domain with ${snaps.byName.size} snapshots`);
      await removeUndefineFiles(this.layout, obj.def, flags);
      if (flags & VIR_DOMAIN_UNDEFINE.SNAPSHOTS_METADATA) {
        await snaps.removeAll();
        this.#snapshots.delete(obj.def.uuid!);
      }
      await unlink(path.join(this.instance.autostartDir, `${obj.def.name}.xml`)).catch(() => {});
      await unlink(this.#configFile(obj.def.name)).catch((err) => {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      });
      obj.autostart = false;
      if (isActiveState(obj.state)) {
        obj.persistent = false;
        obj.newDef = undefined;
      } else this.#domains.delete(obj.def.uuid!);
      this.#emitEvent(obj, VIR_DOMAIN_EVENT.UNDEFINED, VIR_DOMAIN_EVENT_DETAIL.UNDEFINED.REMOVED);
    });
  }

  async setAutostart(name: string, autostart: boolean): Promise<void> {
    await this.#job(name, async (obj) => {
      if (!obj.persistent) throw invalid('cannot set autostart for transient domain');
      const link = path.join(this.instance.autostartDir, `${obj.def.name}.xml`);
      await unlink(link).catch(() => {});
      if (autostart) await symlink(this.#configFile(obj.def.name), link);
      obj.autostart = autostart;
    });
  }

  /** dumpxml: secrets (cookies, graphics passwords) only with `secure`, as `--security-info`. */
  getXMLDesc(name: string, options: { inactive?: boolean; secure?: boolean } = {}): string {
    const obj = this.#byName(name);
    const def = options.inactive || !obj.live ? (obj.newDef ?? obj.def) : obj.live;
    return formatDefinition(def, { secure: options.secure ?? false });
  }

  getState(name: string): { state: DomainState; reason: StateReason } {
    const obj = this.#byName(name);
    return { state: obj.state, reason: obj.reason };
  }

  /**
   * domifstat (virDomainInterfaceStats): the counters of a running domain's interface, named by
   * its MAC address or its host device (`<target dev>`), as the guest sees them.
   */
  interfaceStats(name: string, device: string): InterfaceStats {
    const obj = this.#byName(name);
    this.#requireActive(obj);
    return interfaceStats(obj.live ?? obj.def, device);
  }

  /**
   * domblkstat (virDomainBlockStats, virDomainBlockStatsFlags): a running domain's disk named by
   * target or source path, or with `disk` empty every disk summed (QEMU's query-blockstats).
   */
  async blockStats(name: string, disk: string): Promise<BlockStats> {
    return this.#job(name, async (obj) => {
      this.#requireActive(obj);
      return gatherBlockStats(obj.live ?? obj.def, await this.#monitor(obj), disk);
    });
  }

  /** dommemstat (virDomainMemoryStats): the balloon's figures and the QEMU process's RSS. */
  async memoryStats(name: string): Promise<MemoryStat[]> {
    return this.#job(name, async (obj) => {
      this.#requireActive(obj);
      return gatherMemoryStats(obj.live ?? obj.def, await this.#monitor(obj), obj.proc?.pid);
    });
  }

  getInfo(name: string): DomainInfo {
    const obj = this.#byName(name);
    const def = obj.live ?? obj.def;
    return {
      state: obj.state,
      maxMem: toKiB(def.memory as { value?: number; unit?: string }),
      memory: toKiB((def.currentMemory ?? def.memory) as { value?: number; unit?: string }),
      // virDomainDefGetVcpus: the vCPUs the domain has now (`current`), not the maximum
      nrVirtCpu: Number(
        (def.vcpu as { value?: number; current?: number } | undefined)?.current ??
          (def.vcpu as { value?: number } | undefined)?.value ??
          1,
      ),
      cpuTime: obj.proc && isActiveState(obj.state) ? procCpuTimeNs(obj.proc.pid) : 0,
    };
  }

  /** The QEMU process of a running domain. */
  getProcess(name: string): LiveProcess | undefined {
    const p = this.#byName(name).proc;
    return p && { ...p };
  }

  // ---- lifecycle --------------------------------------------------------------------------

  /** start (virDomainCreate): boot a defined domain. */
  async start(name: string, options: { paused?: boolean; forceBoot?: boolean } = {}): Promise<DomainSummary> {
    return this.#job(name, async (obj) => {
      if (isActiveState(obj.state)) throw invalid('domain is already running');
      // qemuDomainObjStart: a managed save image is resumed (or dropped by --force-boot)
      const image = managedSavePath(this.layout, obj.def.name);
      if (obj.persistent && (await exists(image))) {
        if (!options.forceBoot) {
          await this.#restoreImage(obj, image, undefined, options.paused ? VIR_DOMAIN_SAVE.PAUSED : 0);
          await unlink(image).catch((e) =>
            this.warnings.push(`Failed to remove the managed state ${image}: ${errnoText(e)}`),
          );
          return this.#summary(obj);
        }
        await unlink(image);
      }
      await this.#startProcess(obj, options.paused ?? false);
      return this.#summary(obj);
    });
  }

  /** create (virDomainCreateXML): a transient domain, started at once. */
  async createXML(xml: string, options: { paused?: boolean } = {}): Promise<DomainSummary> {
    const def = await this.#parseNew(xml);
    const existing = this.#checkUnique(def, true);
    const obj = existing ?? this.#newObj(def, false, false);
    if (!existing) this.#domains.set(def.uuid!, obj);
    return this.#jobs.run(def.uuid!, async () => {
      try {
        await this.#startProcess(obj, options.paused ?? false, existing ? def : undefined);
      } catch (err) {
        if (!obj.persistent) this.#domains.delete(def.uuid!);
        throw err;
      }
      return this.#summary(obj);
    });
  }

  /** `incoming`: a restore (./save-image.ts): QEMU waits with `-incoming defer` and reads it. */
  async #startProcess(
    obj: DomainObj,
    paused: boolean,
    liveDef?: DomainDef,
    incoming?: IncomingStream,
  ): Promise<void> {
    const id = ++this.#lastId;
    const def: DomainDef = structuredClone(liveDef ?? obj.def);
    const name = def.name;
    const ctx = await this.#withHostModel(this.#ctx(id, 'start'), liveDef ?? obj.def);
    const emulator = def.devices?.emulator ?? this.caps.emulator;
    await checkEmulator(emulator);
    // qemuDomainPrepareDiskSource: volume disks become the paths their pools give
    const volumes = await translateVolumeDisks(def, this.#options.storage);
    await checkDisks(def);
    // qemuProcessStartValidate: every <seclabel model=…> names a stacked driver
    this.security.checkAllLabel(def);
    // qemuProcessPrepareDomain: firmware autoselection fills <loader>/<nvram> (the live definition
    // shows them; the stored one keeps firmware='efi')
    prepareDomain(def, ctx, { startNew: true });
    ctx.secrets = await prepareStartSecrets(def, this.#options.secrets);
    prepareChannelPaths(
      def,
      path.join(this.layout.channelTargetDir, path.basename(domainLibDir(this.layout, id, name))),
    );
    const commandLine = buildCommandLine(def, ctx);
    if (incoming) commandLine.args.push('-incoming', 'defer');
    const libDir = domainLibDir(this.layout, id, name);
    const monitorPath = `${libDir}/monitor.sock`;
    if (
      !commandLine.args.some(
        (a) =>
          a.startsWith('socket,id=charmonitor,') && a.includes(`path=${monitorPath.replace(/,/g, ',,')}`),
      )
    ) {
      throw new VirError(
        'INTERNAL_ERROR',
        'qemu',
        `internal error: the command line has no monitor at ${monitorPath}`,
      );
    }
    const logFile = path.join(this.layout.logDir, `${name}.log`);
    const pidFile = path.join(this.layout.runDir, `${name}.pid`);
    const generation = ++obj.generation;
    obj.beingDestroyed = false;
    obj.gotShutdown = false;
    obj.fakeReboot = false;

    // qemuProcessPrepareDomain: the domain's labels (an implicit <seclabel> per model), with the
    // id it runs under (cgroup placement names it).
    def.id = id;
    this.security.assignDefaultModel(def);
    await this.security.genLabel(def);
    obj.security = { def, labelled: false };
    await this.#options.startPhaseHook?.('labels-generated', { name });

    let logFh: Awaited<ReturnType<typeof open>> | undefined;
    let handle: LaunchHandle | undefined;
    let nets: InterfaceConnections | undefined;
    let child: ChildProcess | undefined;
    let logStart = 0;
    try {
      // PrepareHost: the private directory (HOME of QEMU; its label and the master key are
      // done while the launch chain starts, below).
      await rm(libDir, { recursive: true, force: true });
      await mkdir(libDir, { recursive: true, mode: 0o750 });
      // qemuProcessMakeDir(priv->channelTargetDir): where QEMU binds unix channels without a path
      const channelDir = path.join(this.layout.channelTargetDir, path.basename(libDir));
      // (qemuStateInitialize makes the parent 0777 & umask, so QEMU's user passes through)
      await mkdir(this.layout.channelTargetDir, { recursive: true, mode: 0o755 });
      await rm(channelDir, { recursive: true, force: true });
      await mkdir(channelDir, { recursive: true, mode: 0o750 });
      // qemuPrepareNVRAM: the variable store from its template (labelled with the images below)
      await prepareNvram(def, {
        conf: this.conf,
        hasDescriptors: () => this.#hasFirmwareDescriptors(),
        ...(this.instance.privileged ? { owner: qemuOwner(this.conf) } : {}),
      });
      // qemuBuildInterfaceConnect (libvirt makes them while building the command line): the tap
      // devices and their scripts; `<target dev>` of the live definition names them, and the
      // command line's `fd=N` says where QEMU finds each descriptor.
      nets = await connectInterfaces(def, { privileged: this.instance.privileged });
      const tapFds = tapFdMap(
        nets,
        commandLine,
        (withAliases(def).devices?.interface ?? []).map((n) => n.alias?.name),
      );
      logFh = await open(logFile, 'a', 0o600);
      await logFh.write(
        `${timestamp()}: starting up qvirt (libvirt 9.0.0 compatible), qemu version: ${qemuVersion(this.caps.version)}, kernel: ${release()}, hostname: ${hostname()}\n`,
      );
      await logFh.write(formatLogCommandLine(commandLine));
      logStart = (await logFh.stat()).size;
      const spec: LaunchSpec = {
        binary: commandLine.binary,
        args: commandLine.args,
        env: commandLine.env,
        cwd: libDir,
        logFd: logFh.fd,
        cgroupPaths: [],
      };
      // qemuProcessLaunch: each security driver adds its part (ids, caps, labels, cgroups, /dev)
      await this.security.setChildProcessLabel(def, spec);
      await this.#cgroups().prepare(def, id, spec);
      for (const hook of this.#options.launchHooks ?? []) await hook(spec);
      // The chain stops before exec'ing QEMU until the resources are labelled (the handshake).
      // the private /dev is assembled over the (root-only) run directory, in QEMU's namespace only
      if (incoming) {
        // the lowest free number (the launch chain's shell moves single-digit descriptors)
        incoming.qemuFd = FIRST_INCOMING_FD;
        while (tapFds.has(incoming.qemuFd)) incoming.qemuFd++;
        tapFds.set(incoming.qemuFd, incoming.fd);
      }
      handle = launch(spec, { handshake: true, devMountPoint: this.layout.runDir, passFds: tapFds });
      child = handle.child;
      incoming?.closeOurs();
      // QEMU has its own copies: the taps now go away when it exits
      nets.closeFds();
    } catch (err) {
      await logFh?.close();
      nets?.closeFds();
      if (nets) await this.#stopInterfaces(def);
      await this.#securityTeardown(obj);
      await this.#cgroups().remove(def, id);
      await this.#cleanupFiles(name, libDir);
      obj.generation++;
      throw err;
    }
    child.unref();
    let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let spawnError: Error | undefined;
    obj.childExit = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        exitInfo = { code, signal };
        resolve();
      });
      child.once('error', (err) => {
        spawnError = err;
        if (child.pid === undefined) {
          exitInfo = { code: null, signal: null };
          resolve();
        }
      });
    });
    obj.child = child;
    // (listeners first: a QEMU that fails at once may exit during any await)
    await logFh.close();
    const launchHandle = handle;
    const startTime = new Date().toISOString();

    try {
      if (child.pid === undefined) {
        await obj.childExit;
        throw new VirError(
          'SYSTEM_ERROR',
          'qemu',
          `Cannot execute QEMU binary ${commandLine.binary}: ${errnoText(spawnError)}`,
        );
      }
      // qemuProcessLaunch: "Writing early domain status to disk" once the pid is known and
      // before labelling, so a driver killed from here on finds the run at its next start and
      // rolls the labels back (the pid is the launch chain's until QEMU is exec'd in its place).
      // Labelling runs while the chain builds its namespace and private /dev: both must be done
      // before QEMU is exec'd, neither needs the other, and doing them together shortens a start.
      const labelling = (async () => {
        obj.proc = { pid: child.pid!, monitorPath, startTime, libDir, logFile, commandLine };
        obj.live = withAliases({ ...volumes.live(def), id });
        obj.id = id;
        this.#setState(obj, 'paused', 'starting up');
        // Each waits for its fsyncs: together, not one after the other, and all settle before a
        // failure is acted on, so the cleanup never races a rename. What PrepareHost labels lives
        // in the private directory, which a rollback removes whole, so it need not wait for the
        // status file as setAllLabel does.
        const prepareHost = async () => {
          await this.security.setPathLabel(def, libDir, true);
          await this.security.setPathLabel(
            def,
            path.join(this.layout.channelTargetDir, path.basename(libDir)),
            true,
          );
          await writeFileAtomic(`${libDir}/master-key.aes`, ctx.secrets!.masterKey, { mode: 0o600 });
          await this.security.setPathLabel(def, `${libDir}/master-key.aes`, false);
          // libvirt opens file chardevs and logs itself before labelling; here QEMU still opens
          // them, so they are made to exist for the security drivers to label.
          await createChardevFiles(def);
        };
        for (const r of await Promise.allSettled([
          writeFileAtomic(pidFile, `${child.pid}\n`, { mode: 0o644 }),
          this.#saveStatus(obj),
          prepareHost(),
        ])) {
          if (r.status === 'rejected') throw r.reason;
        }
        await this.security.setAllLabel(def, {}, child.pid);
        obj.security!.labelled = true;
      })();
      // awaited below; until then a failure (state directory full or read-only) must not be an
      // unhandled rejection
      labelling.catch(() => {});
      try {
        await launchHandle.ready();
      } catch {
        // whatever labelling did is rolled back by the failure path, once it has finished
        await labelling.catch(() => {});
        if (!exitInfo) await Promise.race([obj.childExit, sleep(1000)]);
        const why = await logTail(logFile, logStart);
        throw new VirError(
          'INTERNAL_ERROR',
          'qemu',
          `internal error: process exited while starting QEMU: ${why || describeExit(exitInfo)}`,
        );
      }
      await labelling;
      await this.#options.startPhaseHook?.('labelled', { name, pid: child.pid });
      launchHandle.proceed();
      await this.#options.startPhaseHook?.('spawned', { name, pid: child.pid });
      const exitedEarly = () => (exitInfo || spawnError ? new Error('qemu exited') : undefined);
      try {
        await this.#attachMonitor(obj, this.#options.monitorTimeoutMs ?? 30_000, true, exitedEarly);
      } catch (err) {
        // QEMU may close the monitor a moment before its exit is seen
        if (!exitInfo) await Promise.race([obj.childExit, sleep(1000)]);
        if (exitInfo) {
          const why = await logTail(logFile, logStart);
          throw new VirError(
            'INTERNAL_ERROR',
            'qemu',
            `internal error: process exited while connecting to monitor: ${why || describeExit(exitInfo)}`,
          );
        }
        throw err;
      }
      // The steps before `cont` that need only the monitor are sent together: QMP answers in
      // order, and a QEMU still starting up takes a while for each round trip.
      const chardevsAsked = obj.qmp!.execute<Array<{ label: string; filename: string }>>('query-chardev');
      const beside = Promise.all([
        enableMigrationEvents(obj.qmp!),
        // qemuProcessSetupEmulator / SetupVcpus / SetupIOThreads: the threads into their groups
        this.#cgroups().placeFromMonitor(obj.live!, id, child.pid!, obj.qmp!),
        setupLifecycleActions(def, obj.qmp!),
        setupBalloonPeriod(obj.live!, obj.qmp!),
      ]);
      beside.catch(() => {}); // awaited below, after the agent
      // qemuProcessRefreshChardevs: the ptys QEMU opened, into the live XML
      const chardevs = await chardevsAsked;
      applyPtyPaths(obj.live!, chardevs);
      // qemuProcessRefreshChannelVirtioState (booted) and qemuConnectAgent
      this.#agentSlot(obj).refresh(chardevs, true);
      await this.#agentSlot(obj).connect();
      await beside;
      if (incoming) await runIncoming(obj.qmp!, incoming.qemuFd!);
      enablePerfFromDef(this.#liveDomain(obj), this.#perf);
      await this.#options.startPhaseHook?.('before-cont', { name, pid: child.pid });
      if (!paused) {
        await obj.qmp!.execute('cont');
        this.#setState(obj, 'running', incoming ? 'restored' : 'booted');
      } else this.#setState(obj, 'paused', 'user');
      await this.#saveStatus(obj);
      // From here on, QEMU's end is noticed through the process and the monitor.
      child.on('exit', () => void this.#onGone(obj, generation));
    } catch (err) {
      obj.beingDestroyed = true;
      if (child.pid !== undefined && !exitInfo) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
        // the child is unref'd: without this, a caller with nothing else pending (qvirsh on an
        // embed URI) would exit (code 13) waiting here, and never report the failure or roll back
        child.ref();
        await obj.childExit;
      }
      // (a chain that could not even be spawned never got its live definition: the interfaces
      // it had are still to be undone)
      obj.live ??= withAliases({ ...volumes.live(def), id });
      await this.#stopped(obj, 'failed');
      throw err;
    }
  }

  /** Connects QMP and wires its events and end. */
  async #attachMonitor(
    obj: DomainObj,
    timeoutMs: number,
    retry: boolean,
    abort?: () => Error | undefined,
  ): Promise<void> {
    const generation = obj.generation;
    const qmp = await QmpClient.connect(obj.proc!.monitorPath, {
      timeoutMs,
      retry,
      abort,
      signal: this.#abort.signal,
    });
    qmp.unref();
    obj.qmp = qmp;
    qmp.on('event', (ev) => this.#onEvent(obj, generation, ev));
    qmp.on('close', () => void this.#onGone(obj, generation));
  }

  /**
   * Changes a domain's state and queues libvirt's lifecycle events for the change, in libvirt's
   * order (a start resumes the CPUs before it reports the boot; a paused start reports the boot,
   * then the pause). `shutdownDetail` is QEMU's word on who asked for a shutdown.
   */
  #setState(obj: DomainObj, state: DomainState, reason: StateReason, shutdownDetail?: number): void {
    const previous = obj.state;
    const starting = previous === 'paused' && obj.reason === 'starting up';
    obj.state = state;
    obj.reason = reason;
    if (obj.muteEvents) return;
    const E = VIR_DOMAIN_EVENT;
    const D = VIR_DOMAIN_EVENT_DETAIL;
    if (state === 'running' && starting && reason === 'restored') {
      // qemuSaveImageStartVM: started once QEMU has the image's state, then the CPUs resume
      // (qemuDomainRunningReasonToResumeEvent: RESTORED resumes "from snapshot")
      this.#emitEvent(obj, E.STARTED, D.STARTED.RESTORED);
      this.#emitEvent(obj, E.RESUMED, D.RESUMED.FROM_SNAPSHOT);
    } else if (state === 'running' && starting) {
      this.#emitEvent(obj, E.RESUMED, D.RESUMED.UNPAUSED);
      this.#emitEvent(obj, E.STARTED, D.STARTED.BOOTED);
    } else if (state === 'paused' && starting && reason !== 'starting up') {
      this.#emitEvent(obj, E.STARTED, D.STARTED.BOOTED);
      this.#emitEvent(obj, E.SUSPENDED, D.SUSPENDED.PAUSED);
    } else if (previous === state) {
      // a fake reboot or a reconnection: nothing a client has not been told
    } else if (state === 'running')
      this.#emitEvent(
        obj,
        E.RESUMED,
        reason === 'from snapshot' ? D.RESUMED.FROM_SNAPSHOT : D.RESUMED.UNPAUSED,
      );
    else if (state === 'paused' && reason !== 'starting up')
      this.#emitEvent(obj, E.SUSPENDED, D.SUSPENDED.PAUSED);
    else if (state === 'shutdown') this.#emitEvent(obj, E.SHUTDOWN, shutdownDetail ?? D.SHUTDOWN.FINISHED);
    else if (state === 'shutoff') {
      const detail = {
        shutdown: D.STOPPED.SHUTDOWN,
        destroyed: D.STOPPED.DESTROYED,
        saved: D.STOPPED.SAVED,
        'from snapshot': D.STOPPED.FROM_SNAPSHOT,
        // processMonitorEOFEvent: a QEMU that died is shut off 'crashed' with the event 'failed'
      }[reason as string];
      // (`shutdownDetail` here: a stop whose event says more than its reason, a panic's CRASHED)
      this.#emitEvent(obj, E.STOPPED, shutdownDetail ?? detail ?? D.STOPPED.FAILED);
    }
  }

  /** Calls `listener` with every domain event of this driver (qvirtd relays them); returns the unsubscriber. */
  onDomainEvent(listener: (event: DomainEvent) => void): () => void {
    this.#eventListeners.add(listener);
    return () => this.#eventListeners.delete(listener);
  }

  #emitEvent(obj: DomainObj, event: number, detail: number): void {
    this.#emitDomainEvent(obj, { eventID: VIR_DOMAIN_EVENT_ID.LIFECYCLE, event, detail });
  }

  /** Queues any domain event of `obj` to this connection's callbacks and qvirtd's listeners. */
  #emitDomainEvent(obj: DomainObj, fields: Omit<DomainEvent, 'dom'>): void {
    const e: DomainEvent = { ...fields, dom: { name: obj.def.name, uuid: obj.def.uuid!, id: obj.id } };
    this.#callbacks.dispatch(e);
    for (const l of this.#eventListeners) {
      try {
        l(e);
      } catch {
        // a listener's failure is its own
      }
    }
  }

  async #saveStatus(obj: DomainObj): Promise<void> {
    if (!obj.proc || !obj.live) return;
    const status: DomainStatus = {
      state: obj.state,
      reason: obj.reason,
      pid: obj.proc.pid,
      monitorPath: obj.proc.monitorPath,
      startTime: obj.proc.startTime,
      libDir: obj.proc.libDir,
      logFile: obj.proc.logFile,
      def: obj.live,
    };
    await writeFileAtomic(path.join(this.layout.runDir, `${obj.def.name}.xml`), formatStatus(status));
  }

  #onEvent(obj: DomainObj, generation: number, ev: QmpEvent): void {
    if (obj.generation !== generation) return;
    // qemuProcessHandleEvent: every event, raw, to virConnectDomainQemuMonitorEventRegister's callbacks
    this.#monitorEvents.dispatch({ name: obj.def.name, uuid: obj.def.uuid!, id: obj.id }, ev);
    switch (ev.event) {
      case 'STOP':
        // qemuProcessHandleStop: a fake reboot's pause is transient and not reported
        if (obj.state === 'running' && !obj.pausedShutdown) {
          this.#setState(obj, 'paused', obj.pauseReason ?? 'unknown');
          void this.#saveStatus(obj).catch(() => {});
        }
        break;
      case 'RESUME':
        if (obj.state === 'paused' && obj.reason !== 'starting up') {
          this.#setState(obj, 'running', 'unpaused');
          void this.#saveStatus(obj).catch(() => {});
        }
        break;
      case 'VSERPORT_CHANGE': {
        // processSerialChangedEvent: a virtio port opened or closed by the guest
        const data = ev.data as { id?: string; open?: boolean } | undefined;
        if (data?.id) {
          const slot = this.#agentSlot(obj);
          if (data.open !== true) slot.closing(data.id);
          void this.#jobs
            .run(obj.def.uuid!, async () => {
              if (obj.generation === generation) await slot.serialChanged(data.id!, data.open === true);
            })
            .catch(() => {});
        }
        break;
      }
      case 'SHUTDOWN':
        obj.agentSlot?.agent?.notifyEvent('shutdown');
        obj.gotShutdown = true;
        if (this.#restartsOnShutdown(obj)) obj.pausedShutdown = true;
        // qemuProcessHandleShutdown: a fake reboot's shutdown is transient and not reported
        if (!this.#restartsOnShutdown(obj) && isActiveState(obj.state) && obj.state !== 'shutdown') {
          const guest = (ev.data as { guest?: boolean } | undefined)?.guest;
          const D = VIR_DOMAIN_EVENT_DETAIL.SHUTDOWN;
          this.#setState(
            obj,
            'shutdown',
            'user',
            guest === true ? D.GUEST : guest === false ? D.HOST : D.FINISHED,
          );
        }
        void this.#jobs.run(obj.def.uuid!, () => this.#handleShutdown(obj, generation)).catch(() => {});
        break;
      case 'DEVICE_DELETED': {
        // processDeviceDeletedEvent: an unplug the guest finished after the detach call returned
        const alias = (ev.data as { device?: string } | undefined)?.device;
        if (alias) {
          void this.#jobs
            .run(obj.def.uuid!, async () => {
              if (obj.generation !== generation) return;
              await deviceDeleted(this.#liveDomain(obj), this.#hotplugHost(obj), alias);
            })
            .catch(() => {});
        }
        break;
      }
      case 'BLOCK_WRITE_THRESHOLD':
        // qemuProcessHandleBlockThreshold: the disk's name, and its indexed name
        for (const e of blockThresholdEvents({ uuid: obj.def.uuid!, pid: obj.proc?.pid }, ev.data as never))
          this.#emitDomainEvent(obj, e);
        break;
      case 'BALLOON_CHANGE': {
        // qemuProcessHandleBalloonChange: the balloon's size is the live current memory
        const actual = Math.floor(((ev.data as { actual?: number } | undefined)?.actual ?? 0) / 1024);
        if (obj.live && actual > 0) {
          obj.live = {
            ...obj.live,
            currentMemory: { value: actual, unit: 'KiB' } as DomainDef['currentMemory'],
          };
          this.#emitDomainEvent(obj, { eventID: VIR_DOMAIN_EVENT_ID.BALLOON_CHANGE, actual });
          void this.#saveStatus(obj).catch(() => {});
        }
        break;
      }
      case 'SUSPEND':
        // qemuProcessHandlePMSuspend: the guest went to S3 (by itself or through its agent)
        this.#emitDomainEvent(obj, { eventID: VIR_DOMAIN_EVENT_ID.PMSUSPEND });
        if (obj.state === 'running') {
          this.#setState(obj, 'pmsuspended', 'unknown');
          this.#emitEvent(obj, VIR_DOMAIN_EVENT.PMSUSPENDED, VIR_DOMAIN_EVENT_DETAIL.PMSUSPENDED.MEMORY);
          obj.agentSlot?.agent?.notifyEvent('suspend');
          void this.#saveStatus(obj).catch(() => {});
        }
        break;
      case 'WAKEUP':
        // qemuProcessHandlePMWakeup: running again, reason wakeup, told STARTED (not RESUMED)
        this.#emitDomainEvent(obj, { eventID: VIR_DOMAIN_EVENT_ID.PMWAKEUP });
        if (obj.state === 'pmsuspended') {
          obj.state = 'running';
          obj.reason = 'event wakeup';
          this.#emitEvent(obj, VIR_DOMAIN_EVENT.STARTED, VIR_DOMAIN_EVENT_DETAIL.STARTED.WAKEUP);
          void this.#saveStatus(obj).catch(() => {});
        }
        break;
      case 'MIGRATION_PASS': {
        // qemuProcessHandleMigrationPass
        const pass = (ev.data as { pass?: number } | undefined)?.pass;
        if (pass !== undefined)
          this.#emitDomainEvent(obj, { eventID: VIR_DOMAIN_EVENT_ID.MIGRATION_ITERATION, iteration: pass });
        break;
      }
      case 'GUEST_PANICKED':
        // processGuestPanicEvent's state change comes before QEMU's STOP is handled (libvirt's
        // worker thread wins that race: its recording has no SUSPENDED), so the STOP is no pause
        if (isActiveState(obj.state)) {
          this.#setState(obj, 'crashed', 'panicked' as StateReason);
          this.#emitEvent(obj, VIR_DOMAIN_EVENT.CRASHED, VIR_DOMAIN_EVENT_DETAIL.CRASHED.PANICKED);
        }
        void this.#jobs.run(obj.def.uuid!, () => this.#guestPanicked(obj, generation)).catch(() => {});
        break;
      case 'DEVICE_TRAY_MOVED': {
        const tray = trayChange(obj.live, ev.data as Parameters<typeof trayChange>[1]);
        if (tray) this.#emitDomainEvent(obj, { eventID: VIR_DOMAIN_EVENT_ID.TRAY_CHANGE, ...tray });
        break;
      }
      case 'JOB_STATUS_CHANGE': {
        // qemuProcessHandleJobStatusChange: the block jobs' progress (./block-jobs.ts)
        const data = ev.data as { id?: string; status?: string } | undefined;
        if (data?.id && data.status) obj.blockJobs?.statusChanged(data.id, data.status);
        break;
      }
      case 'RESET':
        obj.agentSlot?.agent?.notifyEvent('reset');
        // qemuProcessHandleReset: every reset but the one of a start is the REBOOT event
        if (!(obj.state === 'paused' && obj.reason === 'starting up')) {
          this.#emitDomainEvent(obj, { eventID: VIR_DOMAIN_EVENT_ID.REBOOT });
        }
        break;
      default:
        break;
    }
  }

  /** -no-shutdown: QEMU stays after the guest powers off; a reboot is done here (fake reboot). */
  async #handleShutdown(obj: DomainObj, generation: number): Promise<void> {
    if (obj.generation !== generation || !isActiveState(obj.state)) return;
    if (this.#restartsOnShutdown(obj) && obj.qmp) return this.#fakeReboot(obj);
    if (obj.state !== 'shutdown') this.#setState(obj, 'shutdown', 'user');
    await this.#killProcess(obj);
    await this.#stopped(obj, 'shutdown');
  }

  /** qemuProcessShutdownOrReboot's test: `virsh reboot` or <on_poweroff>restart. */
  #restartsOnShutdown(obj: DomainObj): boolean {
    return obj.fakeReboot || poweroffRestarts(obj.live ?? obj.def);
  }

  /**
   * qemuProcessFakeReboot: the guest boots again in the same QEMU (`system_reset`, `cont`); a
   * crashed guest (<on_crash>restart) runs again 'crashed' and is told RESUMED.
   */
  async #fakeReboot(obj: DomainObj): Promise<void> {
    obj.fakeReboot = false;
    obj.gotShutdown = false;
    await obj.qmp!.execute('system_reset');
    const reason = obj.state === 'crashed' ? 'crashed' : 'booted';
    await obj.qmp!.execute('cont');
    obj.pausedShutdown = false;
    this.#setState(obj, 'running', reason);
    await this.#saveStatus(obj);
  }

  /** processGuestPanicEvent: crashed (panicked), then what <on_crash> says. */
  async #guestPanicked(obj: DomainObj, generation: number): Promise<void> {
    if (obj.generation !== generation || !isActiveState(obj.state)) return;
    await this.#saveStatus(obj);
    const outcome = panicOutcome(obj.live ?? obj.def);
    if (outcome === 'stop') {
      await this.#stopQuietly(obj, 'crashed', VIR_DOMAIN_EVENT_DETAIL.STOPPED.CRASHED);
    } else if (outcome === 'reboot' && obj.qmp) {
      obj.fakeReboot = true;
      await this.#fakeReboot(obj);
    }
  }

  /** The process or the monitor went away. */
  async #onGone(obj: DomainObj, generation: number): Promise<void> {
    if (obj.generation !== generation || obj.beingDestroyed) return;
    await this.#jobs
      .run(obj.def.uuid!, async () => {
        if (obj.generation !== generation || !isActiveState(obj.state)) return;
        // the monitor closes a moment before the process is reaped
        const pid = obj.proc?.pid;
        if (pid !== undefined) {
          const deadline = Date.now() + 3000;
          while (isProcessAlive(pid) && Date.now() < deadline) {
            if (obj.childExit && obj.child) await Promise.race([obj.childExit, sleep(20)]);
            else await sleep(5);
          }
          if (isProcessAlive(pid)) return; // monitor closed but QEMU lives: leave it be
        }
        await this.#stopped(obj, obj.gotShutdown ? 'shutdown' : 'crashed');
      })
      .catch(() => {});
  }

  /** Resolves once the monitor of a QEMU that has exited is read to its end (1 s at most). */
  async #monitorDrained(obj: DomainObj): Promise<void> {
    const qmp = obj.qmp;
    if (!qmp || qmp.closed) return;
    await Promise.race([new Promise((r) => qmp.once('close', r)), sleep(1000)]);
  }

  /** SIGTERM, then SIGKILL (qemuProcessKill). */
  async #killProcess(obj: DomainObj): Promise<void> {
    const pid = obj.proc?.pid;
    if (pid === undefined) return;
    const gone = async (ms: number) => {
      const deadline = Date.now() + ms;
      while (isProcessAlive(pid)) {
        if (Date.now() >= deadline) return false;
        if (obj.childExit && obj.child) await Promise.race([obj.childExit, sleep(50)]);
        else await sleep(2);
      }
      return true;
    };
    const signal = (sig: NodeJS.Signals) => {
      try {
        process.kill(pid, sig);
      } catch {
        // gone
      }
    };
    signal('SIGTERM');
    if (await gone(10_000)) return;
    signal('SIGKILL');
    if (await gone(5000)) return;
    throw failed(`Failed to terminate process ${pid} with SIGKILL: Device or resource busy`);
  }

  /** qemuProcessStop: everything the run left behind goes; the state becomes shut off. */
  /**
   * qemuProcessStop as the driver itself stops QEMU (a save, a snapshot revert, a panic with
   * `<on_crash>destroy`): the monitor goes before QEMU, so its SHUTDOWN is never reported; then
   * the stop with `reason` and its STOPPED detail.
   */
  async #stopQuietly(obj: DomainObj, reason: StateReason, stoppedDetail?: number): Promise<void> {
    obj.beingDestroyed = true;
    obj.muteEvents = true;
    try {
      await this.#killProcess(obj);
      await this.#monitorDrained(obj);
    } finally {
      obj.muteEvents = false;
    }
    await this.#stopped(obj, reason, stoppedDetail);
  }

  async #stopped(obj: DomainObj, reason: StateReason, stoppedDetail?: number): Promise<void> {
    const name = obj.def.name;
    const proc = obj.proc;
    this.#detach(obj);
    obj.agentSlot?.close();
    obj.agentSlot = undefined;
    obj.blockJobs?.dispose();
    obj.blockJobs = undefined;
    obj.taints = undefined;
    obj.generation++;
    if (proc) {
      await appendFile(proc.logFile, `${timestamp()}: shutting down, reason=${reason}\n`).catch(() => {});
    }
    // qemuExtDevicesStop and qemuProcessStop's interface loop: downscripts, managed ethernet taps
    if (obj.live) await this.#stopInterfaces(obj.live);
    await this.#securityTeardown(obj);
    if (obj.live) await this.#cgroups().remove(obj.live, obj.id);
    await this.#cleanupFiles(name, proc?.libDir);
    this.#chrdevs.closeAll(obj.live);
    forgetBlockThresholds({ uuid: obj.def.uuid!, pid: proc?.pid });
    obj.proc = undefined;
    obj.live = undefined;
    obj.childExit = undefined;
    obj.id = -1;
    obj.beingDestroyed = false;
    obj.pauseReason = undefined;
    this.#setState(obj, 'shutoff', reason, stoppedDetail);
    if (obj.newDef) {
      obj.def = obj.newDef;
      obj.newDef = undefined;
    }
    if (!obj.persistent) this.#domains.delete(obj.def.uuid!);
  }

  /**
   * qemuProcessStop's part: RestoreAllLabel when the run was labelled (libvirt's NO_RELABEL
   * otherwise), then ReleaseLabel. Failures are warnings: the domain is stopped regardless.
   */
  async #securityTeardown(obj: DomainObj): Promise<void> {
    const sec = obj.security;
    obj.security = undefined;
    if (!sec) return;
    if (sec.labelled) {
      try {
        await this.security.restoreAllLabel(sec.def);
      } catch (err) {
        this.#warn(`Unable to restore security labels of domain ${sec.def.name}: ${(err as Error).message}`);
      }
    }
    try {
      await this.security.releaseLabel(sec.def);
    } catch (err) {
      this.#warn(`Unable to release security labels of domain ${sec.def.name}: ${(err as Error).message}`);
    }
  }

  async #cleanupFiles(name: string, libDir: string | undefined): Promise<void> {
    const run = this.layout.runDir;
    // best effort, every one tried: a file that cannot go (a directory in its place, a read-only
    // run directory) must not keep the domain from being marked stopped
    const results = await Promise.allSettled([
      rm(path.join(run, `${name}.pid`), { force: true }),
      rm(path.join(run, `${name}.xml`), { force: true }),
      libDir ? rm(libDir, { recursive: true, force: true }) : undefined,
      // the guest agent's and other channels' sockets (priv->channelTargetDir)
      libDir
        ? rm(path.join(this.layout.channelTargetDir, path.basename(libDir)), { recursive: true, force: true })
        : undefined,
    ]);
    for (const r of results) {
      if (r.status === 'rejected')
        this.#warn(`cannot remove a file of domain ${name}: ${(r.reason as Error).message}`);
    }
  }

  /** The host side of the interfaces, after QEMU is gone; what fails is a warning (libvirt ignores it). */
  async #stopInterfaces(def: DomainDef): Promise<void> {
    for (const w of await stopInterfaces(def)) this.#warn(w);
  }

  #requireActive(obj: DomainObj): void {
    if (!isActiveState(obj.state)) throw invalid('domain is not running');
  }

  async #monitor(obj: DomainObj): Promise<QmpClient> {
    if (obj.attaching) await obj.attaching;
    if (obj.qmp && !obj.qmp.closed) return obj.qmp;
    // the background reconnection failed (e.g. the previous client was still letting go): again
    await this.#attachMonitor(obj, this.#options.reconnectTimeoutMs ?? 5000, true);
    return obj.qmp!;
  }

  async destroy(name: string): Promise<void> {
    await this.#job(name, async (obj) => {
      this.#requireActive(obj);
      obj.beingDestroyed = true;
      await this.#killProcess(obj);
      // what QEMU said before it went (its SHUTDOWN on SIGTERM) is handled before the stop is
      // reported, as libvirt's event thread does: the monitor is read to its end
      await this.#monitorDrained(obj);
      await this.#stopped(obj, 'destroyed');
    });
  }

  /**
   * shutdown: ACPI power button through `system_powerdown`. Without `timeoutMs` it returns once
   * the request is made (virsh's behaviour); with it, it waits, and a guest that has not powered
   * off by then is destroyed. Resolves with what happened.
   */
  async shutdown(
    name: string,
    options: { timeoutMs?: number } = {},
  ): Promise<'requested' | 'shutdown' | 'destroyed'> {
    const uuid = this.#byName(name).def.uuid!;
    let generation = 0;
    await this.#job(name, async (obj) => {
      this.#requireActive(obj);
      generation = obj.generation;
      obj.fakeReboot = false;
      await (await this.#monitor(obj)).execute('system_powerdown');
    });
    if (options.timeoutMs === undefined) return 'requested';
    const deadline = Date.now() + options.timeoutMs;
    while (Date.now() < deadline) {
      const obj = this.#domains.get(uuid);
      if (!obj || obj.generation !== generation) return 'shutdown';
      await sleep(20);
    }
    const obj = this.#domains.get(uuid);
    if (!obj || obj.generation !== generation) return 'shutdown';
    await this.destroy(obj.def.name);
    return 'destroyed';
  }

  /** reboot: ACPI power button, then the driver resets the guest when it powers off. */
  async reboot(name: string): Promise<void> {
    await this.#job(name, async (obj) => {
      this.#requireActive(obj);
      obj.fakeReboot = true;
      await (await this.#monitor(obj)).execute('system_powerdown');
    });
  }

  /** reset: the reset button (`system_reset`). */
  async reset(name: string): Promise<void> {
    await this.#job(name, async (obj) => {
      this.#requireActive(obj);
      await (await this.#monitor(obj)).execute('system_reset');
    });
  }

  async suspend(name: string): Promise<void> {
    await this.#job(name, async (obj) => {
      this.#requireActive(obj);
      if (obj.state === 'paused') return;
      obj.pauseReason = 'user';
      await (await this.#monitor(obj)).execute('stop');
      this.#setState(obj, 'paused', 'user');
      obj.pauseReason = undefined;
      await this.#saveStatus(obj);
    });
  }

  async resume(name: string): Promise<void> {
    await this.#job(name, async (obj) => {
      this.#requireActive(obj);
      if (obj.state === 'running') return;
      await (await this.#monitor(obj)).execute('cont');
      this.#setState(obj, 'running', 'unpaused');
      await this.#saveStatus(obj);
    });
  }

  // ---- the hypervisor contract (@qvirt/core's HypervisorDriver) ---------------------------------
  // libvirt's qemu_driver.c entry points: each looks its domain up by UUID (qemuDomainObjFromDomain)
  // and answers in libvirt's numbers; the name-based methods above do the work.

  /** qemuDomainObjFromDomain: the domain a caller names, by its UUID. */
  #objOf(dom: Domain): DomainObj {
    const obj = this.#domains.get(dom.uuid);
    if (!obj) throw noDomain(`no domain with matching uuid '${dom.uuid}' (${dom.name})`);
    return obj;
  }

  #ref(obj: DomainObj): Domain {
    return { name: obj.def.name, uuid: obj.def.uuid!, id: obj.id };
  }

  async connectClose(): Promise<void> {
    await this.close();
  }

  async connectGetType(): Promise<string> {
    return 'QEMU';
  }

  #version: Promise<number> | undefined;
  /** qemuConnectGetVersion: the host emulator's version (the caps given to the driver, if any). */
  connectGetVersion(): Promise<number> {
    if (this.#options.caps) return Promise.resolve(this.caps.version);
    const ctx = {
      user: this.conf.user,
      group: this.conf.group,
      cacheDir: `${this.layout.cacheDir}/capabilities`,
      env: this.env,
    };
    this.#version ??= node.hostEmulatorVersion(ctx).catch((err) => {
      this.#version = undefined;
      throw err;
    });
    return this.#version;
  }

  async connectGetLibVersion(): Promise<number> {
    return LIB_VERSION;
  }

  async connectGetHostname(): Promise<string> {
    return hostname();
  }

  async connectGetURI(): Promise<string> {
    // an embedded instance is named with its root; the others without their query
    return this.instance.embedRoot ? this.instance.uri : this.instance.uri.replace(/\?.*$/, '');
  }

  /** qemuConnectGetMaxVcpus. */
  async connectGetMaxVcpus(type: string | null): Promise<number> {
    return node.connectGetMaxVcpus(type);
  }

  #sysinfo: Promise<SysinfoDef | undefined> | undefined;
  /**
   * qemuConnectGetSysinfo: the host's SMBIOS (./sysinfo.ts), read once as libvirt reads it when
   * its driver starts; without it (no dmidecode, no DMI tables) libvirt's refusal.
   */
  async connectGetSysinfo(flags: number): Promise<string> {
    virCheckFlags(flags, 0, 'qemuConnectGetSysinfo');
    this.#sysinfo ??= readHostSysinfo();
    const def = await this.#sysinfo;
    if (!def)
      throw new VirError(
        'CONFIG_UNSUPPORTED',
        'qemu',
        'unsupported configuration: Host SMBIOS information is not available',
      );
    return formatSysinfo(def);
  }

  #capabilities: Promise<string> | undefined;
  /** The host's capabilities XML, probed once per driver (a failed probe is tried again). */
  connectGetCapabilities(): Promise<string> {
    this.#capabilities ??= hostCapabilitiesXml(this).catch((err) => {
      this.#capabilities = undefined;
      throw err;
    });
    return this.#capabilities;
  }

  // ---- domain capabilities and the CPU APIs (hypervisor-cpu.ts, loaded when first used) ----
  #cpuApis: Promise<HypervisorCpuApis> | undefined;
  #cpu(): Promise<HypervisorCpuApis> {
    this.#cpuApis ??= import('./hypervisor-cpu.js').then((m) =>
      m.cpuApisFor(this, () => this.#ctx(-1, 'native').firmwares),
    );
    return this.#cpuApis;
  }
  async connectGetDomainCapabilities(
    e: string | null,
    a: string | null,
    m: string | null,
    v: string | null,
    flags: number,
  ) {
    return (await this.#cpu()).domainCapabilities(e, a, m, v, flags);
  }
  async connectGetCPUModelNames(arch: string, needResults: number, flags: number) {
    return (await this.#cpu()).cpuModelNames(arch, needResults, flags);
  }
  async connectCompareCPU(xml: string, flags: number): Promise<number> {
    return (await this.#cpu()).compareCPU(xml, flags);
  }
  async connectCompareHypervisorCPU(
    e: string | null,
    a: string | null,
    m: string | null,
    v: string | null,
    xml: string,
    flags: number,
  ) {
    return (await this.#cpu()).compareHypervisorCPU(e, a, m, v, xml, flags);
  }
  async connectBaselineCPU(xmlCPUs: string[], flags: number): Promise<string> {
    return (await this.#cpu()).baselineCPU(xmlCPUs, flags);
  }
  async connectBaselineHypervisorCPU(
    e: string | null,
    a: string | null,
    m: string | null,
    v: string | null,
    xmlCPUs: string[],
    flags: number,
  ) {
    return (await this.#cpu()).baselineHypervisorCPU(e, a, m, v, xmlCPUs, flags);
  }

  /** The QEMU driver itself is local: the remote client adds what its transport does. */
  async connectIsSecure(): Promise<number> {
    return 1;
  }

  async connectIsEncrypted(): Promise<number> {
    return 0;
  }

  /** qemuConnectSupportsFeature, for what qvirt does (no migration, no fd passing yet). */
  async connectSupportsFeature(feature: number): Promise<number> {
    return feature === VIR_DRV_FEATURE.TYPED_PARAM_STRING ? 1 : 0;
  }

  async nodeGetInfo(): Promise<NodeInfo> {
    return node.nodeGetInfo();
  }

  async nodeGetCellsFreeMemory(startCell: number, maxcells: number): Promise<number[]> {
    return node.nodeGetCellsFreeMemory(startCell, maxcells);
  }

  async nodeGetFreeMemory(): Promise<number> {
    return node.nodeGetFreeMemory();
  }

  async nodeGetFreePages(
    pages: number[],
    startCell: number,
    cellCount: number,
    flags: number,
  ): Promise<number[]> {
    return nodeGetFreePages(pages, startCell, cellCount, flags);
  }

  async nodeAllocPages(
    pageSizes: number[],
    pageCounts: number[],
    startCell: number,
    cellCount: number,
    flags: number,
  ): Promise<number> {
    return nodeAllocPages(pageSizes, pageCounts, startCell, cellCount, flags);
  }

  async nodeGetMemoryStats(nparams: number, cellNum: number, flags: number): Promise<NodeStatsReply> {
    return node.nodeGetMemoryStats(nparams, cellNum, flags);
  }

  async nodeGetCPUStats(cpuNum: number, nparams: number, flags: number): Promise<NodeStatsReply> {
    return node.nodeGetCPUStats(cpuNum, nparams, flags);
  }

  async nodeGetCPUMap(needMap: number, needOnline: number, flags: number): Promise<NodeCPUMap> {
    return node.nodeGetCPUMap(needMap, needOnline, flags);
  }

  async nodeGetMemoryParameters(nparams: number, flags: number): Promise<TypedParamsReply> {
    return node.nodeGetMemoryParameters(nparams, flags);
  }

  /** The primary security driver's model and DOI ("none"/"0" without one). */
  async nodeGetSecurityModel(): Promise<SecurityModel> {
    const models = await this.secModels().catch(() => []);
    const first = models[0];
    return first ? { model: first.model, doi: first.doi } : { model: 'none', doi: '0' };
  }

  async connectNumOfDomains(): Promise<number> {
    return this.listDomains().filter((d) => isActiveState(d.state)).length;
  }

  async connectListDomains(maxids: number): Promise<number[]> {
    return this.listDomains()
      .filter((d) => isActiveState(d.state))
      .map((d) => d.id)
      .slice(0, Math.max(0, maxids));
  }

  async connectNumOfDefinedDomains(): Promise<number> {
    return this.listDomains().filter((d) => !isActiveState(d.state)).length;
  }

  async connectListDefinedDomains(maxnames: number): Promise<string[]> {
    return this.listDomains()
      .filter((d) => !isActiveState(d.state))
      .map((d) => d.name)
      .slice(0, Math.max(0, maxnames));
  }

  async connectListAllDomains(flags: number): Promise<Domain[]> {
    return [...this.#domains.values()]
      .filter((o) => matchesListFlags(this.#summary(o), flags))
      .map((o) => this.#ref(o));
  }

  async domainLookupByID(id: number): Promise<Domain> {
    const obj = [...this.#domains.values()].find((o) => o.id === id && isActiveState(o.state));
    if (!obj) throw noDomain(`no domain with matching id ${id}`);
    return this.#ref(obj);
  }

  async domainLookupByName(name: string): Promise<Domain> {
    const obj = [...this.#domains.values()].find((o) => o.def.name === name);
    if (!obj) throw noDomain(`no domain with matching name '${name}'`);
    return this.#ref(obj);
  }

  async domainLookupByUUID(uuid: string): Promise<Domain> {
    const obj = this.#domains.get(uuid.toLowerCase());
    if (!obj) throw noDomain(`no domain with matching uuid '${uuid}'`);
    return this.#ref(obj);
  }

  async domainDefineXML(xml: string): Promise<Domain> {
    return this.domainDefineXMLFlags(xml, 0);
  }

  async domainDefineXMLFlags(xml: string, flags: number): Promise<Domain> {
    virCheckFlags(flags, VIR_DOMAIN_DEFINE.VALIDATE, 'qemuDomainDefineXMLFlags');
    const d = await this.defineXML(xml);
    return { name: d.name, uuid: d.uuid, id: d.id };
  }

  async domainUndefine(dom: Domain): Promise<void> {
    await this.domainUndefineFlags(dom, 0);
  }

  async domainUndefineFlags(dom: Domain, flags: number): Promise<void> {
    const U = VIR_DOMAIN_UNDEFINE;
    virCheckFlags(
      flags,
      U.MANAGED_SAVE |
        U.SNAPSHOTS_METADATA |
        U.NVRAM |
        U.KEEP_NVRAM |
        U.CHECKPOINTS_METADATA |
        U.TPM |
        U.KEEP_TPM,
      'qemuDomainUndefineFlags',
    );
    await this.undefine(this.#objOf(dom).def.name, flags);
  }

  async domainGetAutostart(dom: Domain): Promise<number> {
    return this.#objOf(dom).autostart ? 1 : 0;
  }

  async domainSetAutostart(dom: Domain, autostart: number): Promise<void> {
    await this.setAutostart(this.#objOf(dom).def.name, autostart !== 0);
  }

  async domainGetXMLDesc(dom: Domain, flags: number): Promise<string> {
    const X = VIR_DOMAIN_XML;
    virCheckFlags(flags, X.SECURE | X.INACTIVE | X.UPDATE_CPU | X.MIGRATABLE, 'qemuDomainGetXMLDesc');
    return this.getXMLDesc(this.#objOf(dom).def.name, {
      inactive: (flags & X.INACTIVE) !== 0,
      secure: (flags & X.SECURE) !== 0,
    });
  }

  /** domxml-to-native with this instance's context: its qemu.conf, layout, firmware and host. */
  async connectDomainXMLToNative(nativeFormat: string, domainXml: string, flags: number): Promise<string> {
    virCheckFlags(flags, 0, 'qemuConnectDomainXMLToNative');
    if (nativeFormat !== 'qemu-argv') {
      throw new VirError('INVALID_ARG', 'qemu', `invalid argument: unsupported config type ${nativeFormat}`);
    }
    const ctx = await this.#withHostModel(
      this.#ctx(-1, 'native'),
      parseDomainXML(domainXml, { source: 'domain' }),
    );
    // the `libvirt` layout preset prints libvirt's own directories, as the conformance corpus has them
    if (this.env.QVIRT_LAYOUT === 'libvirt') ctx.layout = libvirtLayout();
    ctx.secrets = await nativeSecrets(domainXml, this.#options.secrets);
    return `${domxmlToNative(domainXml, ctx, 'domain')}\n`;
  }

  async connectDomainXMLFromNative(
    nativeFormat: string,
    nativeConfig: string,
    flags: number,
  ): Promise<string> {
    virCheckFlags(flags, 0, 'qemuConnectDomainXMLFromNative');
    if (nativeFormat !== 'qemu-argv') {
      throw new VirError('INVALID_ARG', 'qemu', `invalid argument: unsupported config type ${nativeFormat}`);
    }
    return domxmlFromNative(nativeConfig).xml;
  }

  async domainCreate(dom: Domain): Promise<void> {
    await this.domainCreateWithFlags(dom, 0);
  }

  async domainCreateWithFlags(dom: Domain, flags: number): Promise<Domain> {
    virCheckFlags(
      flags,
      VIR_DOMAIN_START.PAUSED |
        VIR_DOMAIN_START.AUTODESTROY |
        VIR_DOMAIN_START.BYPASS_CACHE |
        VIR_DOMAIN_START.FORCE_BOOT,
      'qemuDomainCreateWithFlags',
    );
    const d = await this.start(this.#objOf(dom).def.name, {
      paused: (flags & VIR_DOMAIN_START.PAUSED) !== 0,
      forceBoot: (flags & VIR_DOMAIN_START.FORCE_BOOT) !== 0,
    });
    return { name: d.name, uuid: d.uuid, id: d.id };
  }

  async domainCreateXML(xml: string, flags: number): Promise<Domain> {
    virCheckFlags(
      flags,
      VIR_DOMAIN_START.PAUSED | VIR_DOMAIN_START.AUTODESTROY | VIR_DOMAIN_START.VALIDATE,
      'qemuDomainCreateXML',
    );
    const d = await this.createXML(xml, { paused: (flags & VIR_DOMAIN_START.PAUSED) !== 0 });
    return { name: d.name, uuid: d.uuid, id: d.id };
  }

  async domainShutdown(dom: Domain): Promise<void> {
    await this.domainShutdownFlags(dom, 0);
  }

  async domainShutdownFlags(dom: Domain, flags: number): Promise<void> {
    // VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN (1) | VIR_DOMAIN_SHUTDOWN_GUEST_AGENT (2)
    virCheckFlags(flags, 1 | 2, 'qemuDomainShutdownFlags');
    await this.#shutdownOrReboot(dom, flags, false);
  }

  async domainDestroy(dom: Domain): Promise<void> {
    await this.domainDestroyFlags(dom, 0);
  }

  async domainDestroyFlags(dom: Domain, flags: number): Promise<void> {
    // VIR_DOMAIN_DESTROY_GRACEFUL (1): qvirt always tries SIGTERM first
    virCheckFlags(flags, 1, 'qemuDomainDestroyFlags');
    await this.destroy(this.#objOf(dom).def.name);
  }

  async domainReboot(dom: Domain, flags: number): Promise<void> {
    // VIR_DOMAIN_REBOOT_ACPI_POWER_BTN (1) | VIR_DOMAIN_REBOOT_GUEST_AGENT (2)
    virCheckFlags(flags, 1 | 2, 'qemuDomainReboot');
    await this.#shutdownOrReboot(dom, flags, true);
  }

  async domainReset(dom: Domain, flags: number): Promise<void> {
    virCheckFlags(flags, 0, 'qemuDomainReset');
    await this.reset(this.#objOf(dom).def.name);
  }

  async domainSuspend(dom: Domain): Promise<void> {
    await this.suspend(this.#objOf(dom).def.name);
  }

  async domainResume(dom: Domain): Promise<void> {
    await this.resume(this.#objOf(dom).def.name);
  }

  async domainGetInfo(dom: Domain): Promise<ContractDomainInfo> {
    const info = this.getInfo(this.#objOf(dom).def.name);
    return { ...info, state: STATE_NUMBER[info.state] };
  }

  async domainGetState(dom: Domain, flags: number): Promise<DomainStateInfo> {
    virCheckFlags(flags, 0, 'qemuDomainGetState');
    const obj = this.#objOf(dom);
    return { state: STATE_NUMBER[obj.state], reason: domainReasonNumber(obj.state, obj.reason) };
  }

  async domainIsActive(dom: Domain): Promise<number> {
    return isActiveState(this.#objOf(dom).state) ? 1 : 0;
  }

  async domainIsPersistent(dom: Domain): Promise<number> {
    return this.#objOf(dom).persistent ? 1 : 0;
  }

  /** qemuDomainIsUpdated answers vm->updated, which libvirt 9.0's QEMU driver never sets. */
  async domainIsUpdated(dom: Domain): Promise<number> {
    this.#objOf(dom);
    return 0;
  }

  async domainHasManagedSaveImage(dom: Domain, flags: number): Promise<number> {
    virCheckFlags(flags, 0, 'qemuDomainHasManagedSaveImage');
    const obj = this.#objOf(dom);
    return obj.persistent && hasManagedSave(this.layout, obj.def.name) ? 1 : 0;
  }

  // ---- save and restore (./save-image.ts, ./managed-save.ts) --------------------------------

  async domainSave(dom: Domain, to: string): Promise<void> {
    await this.domainSaveFlags(dom, to, null, 0);
  }

  async domainSaveFlags(dom: Domain, to: string, dxml: string | null, flags: number): Promise<void> {
    const S = VIR_DOMAIN_SAVE;
    virCheckFlags(flags, S.BYPASS_CACHE | S.RUNNING | S.PAUSED, 'qemuDomainSaveFlags');
    saveFlagsExclusive(flags);
    await this.#saveTo(this.#objOf(dom), path.resolve(to), dxml, flags);
  }

  async domainManagedSave(dom: Domain, flags: number): Promise<void> {
    const S = VIR_DOMAIN_SAVE;
    virCheckFlags(flags, S.BYPASS_CACHE | S.RUNNING | S.PAUSED, 'qemuDomainManagedSave');
    saveFlagsExclusive(flags);
    const obj = this.#objOf(dom);
    if (!obj.persistent) throw invalid('cannot do managed save for transient domain');
    await ensureSaveDir(this.layout);
    await this.#saveTo(obj, managedSavePath(this.layout, obj.def.name), null, flags);
  }

  async domainManagedSaveRemove(dom: Domain, flags: number): Promise<void> {
    virCheckFlags(flags, 0, 'qemuDomainManagedSaveRemove');
    const obj = this.#objOf(dom);
    const file = managedSavePath(this.layout, obj.def.name);
    await unlink(file).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT')
        throw new VirError(
          'SYSTEM_ERROR',
          'qemu',
          `Failed to remove managed save file '${file}': ${errnoText(e)}`,
        );
    });
  }

  async domainManagedSaveGetXMLDesc(dom: Domain, flags: number): Promise<string> {
    virCheckFlags(flags, VIR_DOMAIN_SAVE_IMAGE_XML.SECURE, 'qemuDomainManagedSaveGetXMLDesc');
    return this.domainSaveImageGetXMLDesc(this.#managedImageOf(dom), flags);
  }

  async domainManagedSaveDefineXML(dom: Domain, dxml: string | null, flags: number): Promise<void> {
    const S = VIR_DOMAIN_SAVE;
    virCheckFlags(flags, S.RUNNING | S.PAUSED, 'qemuDomainManagedSaveDefineXML');
    await this.domainSaveImageDefineXML(this.#managedImageOf(dom), dxml ?? '', flags);
  }

  #managedImageOf(dom: Domain): string {
    const obj = this.#objOf(dom);
    if (!hasManagedSave(this.layout, obj.def.name)) throw invalid('domain does not have managed save image');
    return managedSavePath(this.layout, obj.def.name);
  }

  async domainRestore(from: string): Promise<void> {
    await this.domainRestoreFlags(from, null, 0);
  }

  async domainRestoreFlags(from: string, dxml: string | null, flags: number): Promise<void> {
    const S = VIR_DOMAIN_SAVE;
    virCheckFlags(flags, S.BYPASS_CACHE | S.RUNNING | S.PAUSED | S.RESET_NVRAM, 'qemuDomainRestoreFlags');
    saveFlagsExclusive(flags);
    const file = path.resolve(from);
    const image = await readSaveImage(file);
    const def = await this.#parseNew(dxml ?? image.xml);
    // virDomainObjListAdd(LIVE): a defined domain of that name takes the image's run, else a new transient one
    const existing = this.#checkUnique(def, true);
    const obj = existing ?? this.#newObj(def, false, false);
    if (!existing) this.#domains.set(def.uuid!, obj);
    await this.#jobs.run(def.uuid!, async () => {
      try {
        await this.#restoreImage(obj, file, image, flags, existing ? def : undefined);
      } catch (err) {
        if (!obj.persistent) this.#domains.delete(def.uuid!);
        throw err;
      }
    });
  }

  async domainSaveImageGetXMLDesc(file: string, flags: number): Promise<string> {
    virCheckFlags(flags, VIR_DOMAIN_SAVE_IMAGE_XML.SECURE, 'qemuDomainSaveImageGetXMLDesc');
    const image = await readSaveImage(path.resolve(file));
    const def = await this.#parseNew(image.xml);
    return formatDefinition(def, { secure: (flags & VIR_DOMAIN_SAVE_IMAGE_XML.SECURE) !== 0 });
  }

  async domainSaveImageDefineXML(file: string, dxml: string, flags: number): Promise<void> {
    const S = VIR_DOMAIN_SAVE;
    virCheckFlags(flags, S.RUNNING | S.PAUSED, 'qemuDomainSaveImageDefineXML');
    saveFlagsExclusive(flags);
    const f = path.resolve(file);
    const image = await readSaveImage(f);
    const old = await this.#parseNew(image.xml);
    const def = await this.#parseNew(dxml);
    // qemuSaveImageUpdateDef: the new definition must describe the same guest
    if (def.uuid !== old.uuid)
      throw invalid(`Target domain uuid ${def.uuid} does not match source ${old.uuid}`);
    if (def.name !== old.name)
      throw invalid(`Target domain name '${def.name}' does not match source '${old.name}'`);
    await rewriteSaveImageXml(f, image, formatDefinition(saveableDefinition(def), { secure: true }));
    if (flags & (S.RUNNING | S.PAUSED)) await setSaveImageRunning(f, (flags & S.RUNNING) !== 0);
  }

  /** qemuDomainSaveInternal: pause, the image, then the stop (reason saved). */
  async #saveTo(target: DomainObj, file: string, dxml: string | null, flags: number): Promise<void> {
    // checked before the job, as qemuSaveImageGetCompressionProgram is
    compressionFor(this.conf.saveImageFormat, this.env.PATH ?? '/usr/bin:/bin');
    const xmlDef = dxml ? await this.#parseNew(dxml) : undefined;
    await this.#job(target.def.name, async (obj) => {
      this.#requireActive(obj);
      const qmp = await this.#monitor(obj);
      const running = obj.state === 'running';
      // qemuDomainObjBeginAsyncJob(VIR_ASYNC_JOB_SAVE): from here the job can be watched and aborted
      obj.jobs ??= {};
      const job = beginAsyncJob(obj.jobs, 'save', VIR_DOMAIN_JOB_OPERATION.SAVE);
      try {
        await this.#saveJob(obj, qmp, job, file, xmlDef, running, flags);
      } finally {
        endAsyncJob(obj.jobs, job);
      }
    });
  }

  /** The save job's steps: pause, the image, the statistics, then the stop (reason saved). */
  async #saveJob(
    obj: DomainObj,
    qmp: QmpClient,
    job: JobData,
    file: string,
    xmlDef: DomainDef | undefined,
    running: boolean,
    flags: number,
  ): Promise<void> {
    const S = VIR_DOMAIN_SAVE;
    if (running) {
      obj.pauseReason = 'saving';
      await qmp.execute('stop');
      // qemuProcessStopCPUs: the downtime starts
      job.stopped = Date.now();
      this.#setState(obj, 'paused', 'saving');
      obj.pauseReason = undefined;
    }
    const wasRunning = flags & S.RUNNING ? true : flags & S.PAUSED ? false : running;
    const xml = formatDefinition(saveableDefinition(xmlDef ?? obj.live ?? obj.def), { secure: true });
    try {
      const owner = this.instance.privileged ? qemuOwner(this.conf) : undefined;
      await writeSaveImage({
        file,
        xml,
        wasRunning,
        format: this.conf.saveImageFormat,
        searchPath: this.env.PATH ?? '/usr/bin:/bin',
        qmp,
        privateDir: obj.proc!.libDir,
        ...(owner ? { qemuOwner: owner } : {}),
        job: {
          name: asyncJobName(job.asyncJob),
          onMigrating: () => {
            job.status = 'migrating';
          },
        },
      });
    } catch (err) {
      // VIR_DOMAIN_RUNNING_SAVE_CANCELED: the guest goes on
      if (running && isActiveState(obj.state)) {
        await qmp.execute('cont').catch(() => {});
        this.#setState(obj, 'running', 'save canceled');
      }
      throw err;
    }
    // qemuMigrationSrcWaitForCompletion: the job's statistics, once the image is complete, kept
    // as the completed job's (virDomainGetJobStats COMPLETED) and sent with JOB_COMPLETED
    const info = await qmp.execute<MigrateInfo>('query-migrate').catch(() => undefined);
    const done = completeJob(obj.jobs!, job, info ? migrationStats(info) : undefined);
    if (info) {
      const { params } = jobDataToParams(done);
      this.#emitDomainEvent(obj, { eventID: VIR_DOMAIN_EVENT_ID.JOB_COMPLETED, params });
    }
    await this.#stopQuietly(obj, 'saved');
  }

  // ---- core dumps (./core-dump.ts) ------------------------------------------------------------

  async domainCoreDump(dom: Domain, to: string, flags: number): Promise<void> {
    coreDumpApiChecks(undefined, flags);
    await this.#coreDump(dom, to, 0, flags);
  }

  async domainCoreDumpWithFormat(dom: Domain, to: string, dumpformat: number, flags: number): Promise<void> {
    coreDumpApiChecks(dumpformat, flags);
    await this.#coreDump(dom, to, dumpformat, flags);
  }

  /** qemuDomainCoreDumpWithFormat: the dump and the guest's pause, resume, reset or crash, in one job. */
  async #coreDump(dom: Domain, to: string, dumpformat: number, flags: number): Promise<void> {
    // VIR_DUMP_LIVE | CRASH | BYPASS_CACHE | RESET | MEMORY_ONLY
    virCheckFlags(flags, 0x1f, 'qemuDomainCoreDumpWithFormat');
    const file = path.resolve(to);
    await this.#job(this.#objOf(dom).def.name, (obj) =>
      coreDumpWithFormat(
        {
          state: () => obj.state,
          active: () => isActiveState(obj.state),
          monitor: () => this.#monitor(obj),
          pause: async () => {
            obj.pauseReason = 'dumping';
            await (await this.#monitor(obj)).execute('stop');
            this.#setState(obj, 'paused', 'dumping');
            obj.pauseReason = undefined;
            await this.#saveStatus(obj);
          },
          resume: async () => {
            await (await this.#monitor(obj)).execute('cont');
            this.#setState(obj, 'running', 'unpaused');
            await this.#saveStatus(obj);
          },
          crash: async () => {
            await this.#stopQuietly(obj, 'crashed', VIR_DOMAIN_EVENT_DETAIL.STOPPED.CRASHED);
          },
          resumeFailed: () =>
            this.#emitEvent(obj, VIR_DOMAIN_EVENT.SUSPENDED, VIR_DOMAIN_EVENT_DETAIL.SUSPENDED.API_ERROR),
          jobCompleted: (info, operation, elapsedMs) =>
            this.#emitDomainEvent(obj, {
              eventID: VIR_DOMAIN_EVENT_ID.JOB_COMPLETED,
              params: jobCompletedParams(info, operation, elapsedMs),
            }),
        },
        file,
        dumpformat,
        flags,
      ),
    );
  }

  // ---- snapshots (./snapshot-ops.ts, ./snapshot-metadata.ts, ./snapshot-external.ts) ----------

  readonly #snapshots = new Map<string, Promise<SnapshotList>>();
  /** The domain's snapshot metadata (read once from `lib/qemu/snapshot/NAME/`). */
  #snapshotList(obj: DomainObj): Promise<SnapshotList> {
    let l = this.#snapshots.get(obj.def.uuid!);
    if (!l) {
      l = SnapshotList.load(path.join(this.layout.libDir, 'snapshot', obj.def.name));
      this.#snapshots.set(obj.def.uuid!, l);
    }
    return l;
  }

  #snapRef(obj: DomainObj, name: string): DomainSnapshot {
    return { name, dom: this.#ref(obj) };
  }

  /** What snapshot-ops.ts may do to `obj` during the job holding it. */
  #snapshotHost(obj: DomainObj): SnapshotHost {
    const sec = this.#hotplugHost(obj).security;
    const imageSource = (file: string, format: string) => ({
      type: 'file' as const,
      path: file,
      format,
      readonly: false,
      shared: false,
      seclabels: [],
    });
    return {
      name: obj.def.name,
      uuid: obj.def.uuid!,
      persistent: obj.persistent,
      state: () => obj.state,
      config: () => obj.newDef ?? obj.def,
      live: () => obj.live,
      monitor: () => this.#monitor(obj),
      hasManagedSave: () => obj.persistent && hasManagedSave(this.layout, obj.def.name),
      pause: async () => {
        const qmp = await this.#monitor(obj);
        obj.pauseReason = 'user';
        await qmp.execute('stop');
        this.#setState(obj, 'paused', 'user');
        obj.pauseReason = undefined;
      },
      resume: async (reason) => {
        // QEMU's RESUME (handled before `cont` returns) would say 'unpaused': the snapshot code's
        // own reason and event replace it
        const quiet = reason === 'from snapshot';
        obj.muteEvents = quiet;
        try {
          await (await this.#monitor(obj)).execute('cont');
          this.#setState(obj, 'running', reason);
        } finally {
          obj.muteEvents = false;
        }
        if (quiet)
          this.#emitEvent(obj, VIR_DOMAIN_EVENT.RESUMED, VIR_DOMAIN_EVENT_DETAIL.RESUMED.FROM_SNAPSHOT);
        await this.#saveStatus(obj);
      },
      kill: async (reason) => {
        await this.#stopQuietly(obj, reason);
      },
      startQuiet: async (paused, def) => {
        obj.muteEvents = true;
        try {
          await this.#startProcess(obj, paused, def);
        } finally {
          obj.muteEvents = false;
        }
      },
      setPausedFromSnapshot: () => {
        obj.reason = 'from snapshot';
      },
      saveLive: (def) => this.#saveLiveDisks(obj, def),
      saveConfig: async (def) => {
        if (obj.persistent) await this.#writeConfig(def);
        if (isActiveState(obj.state)) obj.newDef = def;
        else obj.def = def;
      },
      emit: (event, detail) => this.#emitEvent(obj, event, detail),
      formatInactive: (def) => formatDefinition(saveableDefinition(def), { secure: true }),
      parseDomain: (xml) => this.#parseNew(xml),
      saveMemory: async (file, xml, wasRunning) => {
        const owner = this.instance.privileged ? qemuOwner(this.conf) : undefined;
        await writeSaveImage({
          file,
          xml,
          wasRunning,
          format: this.conf.saveImageFormat,
          searchPath: this.env.PATH ?? '/usr/bin:/bin',
          qmp: await this.#monitor(obj),
          privateDir: obj.proc!.libDir,
          ...(owner ? { qemuOwner: owner } : {}),
        });
      },
      ...(sec
        ? {
            labels: {
              set: (file: string, format: string) =>
                sec.setImageLabel(sec.def, imageSource(file, format), { chainTop: true }),
              restore: (file: string, format: string) =>
                sec.restoreImageLabel(sec.def, imageSource(file, format), { chainTop: true }),
            },
          }
        : {}),
      agent: () => agentAvailable(obj.agentSlot, isActiveState(obj.state), obj.live),
    };
  }

  async domainSnapshotCreateXML(dom: Domain, xmlDesc: string, flags: number): Promise<DomainSnapshot> {
    return this.#job(this.#objOf(dom).def.name, async (obj) => {
      const name = await createSnapshot(
        this.#snapshotHost(obj),
        await this.#snapshotList(obj),
        xmlDesc,
        flags,
      );
      return this.#snapRef(obj, name);
    });
  }

  async domainSnapshotGetXMLDesc(snap: DomainSnapshot, flags: number): Promise<string> {
    virCheckFlags(flags, VIR_DOMAIN_XML.SECURE, 'qemuDomainSnapshotGetXMLDesc');
    const list = await this.#snapshotList(this.#objOf(snap.dom));
    return formatSnapshot(list.get(snap.name));
  }

  async domainSnapshotNum(dom: Domain, flags: number): Promise<number> {
    return (await this.domainListAllSnapshots(dom, flags)).length;
  }

  async domainSnapshotListNames(dom: Domain, maxnames: number, flags: number): Promise<string[]> {
    return (await this.domainListAllSnapshots(dom, flags)).slice(0, maxnames).map((s) => s.name);
  }

  async domainListAllSnapshots(dom: Domain, flags: number): Promise<DomainSnapshot[]> {
    virCheckFlags(flags, 0x7ff, 'qemuDomainListAllSnapshots');
    const obj = this.#objOf(dom);
    return (await this.#snapshotList(obj)).filter(flags).map((s) => this.#snapRef(obj, s.name));
  }

  async domainSnapshotNumChildren(snap: DomainSnapshot, flags: number): Promise<number> {
    return (await this.domainSnapshotListAllChildren(snap, flags)).length;
  }

  async domainSnapshotListChildrenNames(
    snap: DomainSnapshot,
    maxnames: number,
    flags: number,
  ): Promise<string[]> {
    return (await this.domainSnapshotListAllChildren(snap, flags)).slice(0, maxnames).map((s) => s.name);
  }

  async domainSnapshotListAllChildren(snap: DomainSnapshot, flags: number): Promise<DomainSnapshot[]> {
    virCheckFlags(flags, 0x7ff, 'qemuDomainSnapshotListAllChildren');
    const obj = this.#objOf(snap.dom);
    const list = await this.#snapshotList(obj);
    list.get(snap.name);
    return list.filter(flags, snap.name).map((s) => this.#snapRef(obj, s.name));
  }

  async domainSnapshotLookupByName(dom: Domain, name: string, flags: number): Promise<DomainSnapshot> {
    virCheckFlags(flags, 0, 'qemuDomainSnapshotLookupByName');
    const obj = this.#objOf(dom);
    (await this.#snapshotList(obj)).get(name);
    return this.#snapRef(obj, name);
  }

  async domainHasCurrentSnapshot(dom: Domain, flags: number): Promise<number> {
    virCheckFlags(flags, 0, 'qemuDomainHasCurrentSnapshot');
    return (await this.#snapshotList(this.#objOf(dom))).current ? 1 : 0;
  }

  async domainSnapshotCurrent(dom: Domain, flags: number): Promise<DomainSnapshot> {
    virCheckFlags(flags, 0, 'qemuDomainSnapshotCurrent');
    const obj = this.#objOf(dom);
    const cur = (await this.#snapshotList(obj)).current;
    if (!cur)
      throw new VirError(
        'NO_DOMAIN_SNAPSHOT',
        'domain_snapshot',
        'Domain snapshot not found: the domain does not have a current snapshot',
      );
    return this.#snapRef(obj, cur);
  }

  async domainSnapshotGetParent(snap: DomainSnapshot, flags: number): Promise<DomainSnapshot> {
    virCheckFlags(flags, 0, 'qemuDomainSnapshotGetParent');
    const obj = this.#objOf(snap.dom);
    const s = (await this.#snapshotList(obj)).get(snap.name);
    if (!s.parent)
      throw new VirError(
        'NO_DOMAIN_SNAPSHOT',
        'domain_snapshot',
        `Domain snapshot not found: snapshot '${s.name}' does not have a parent`,
      );
    return this.#snapRef(obj, s.parent);
  }

  async domainSnapshotIsCurrent(snap: DomainSnapshot, flags: number): Promise<number> {
    virCheckFlags(flags, 0, 'qemuDomainSnapshotIsCurrent');
    const list = await this.#snapshotList(this.#objOf(snap.dom));
    list.get(snap.name);
    return list.current === snap.name ? 1 : 0;
  }

  async domainSnapshotHasMetadata(snap: DomainSnapshot, flags: number): Promise<number> {
    virCheckFlags(flags, 0, 'qemuDomainSnapshotHasMetadata');
    (await this.#snapshotList(this.#objOf(snap.dom))).get(snap.name);
    return 1;
  }

  async domainRevertToSnapshot(snap: DomainSnapshot, flags: number): Promise<void> {
    await this.#job(this.#objOf(snap.dom).def.name, async (obj) =>
      revertSnapshot(this.#snapshotHost(obj), await this.#snapshotList(obj), snap.name, flags),
    );
  }

  async domainSnapshotDelete(snap: DomainSnapshot, flags: number): Promise<void> {
    await this.#job(this.#objOf(snap.dom).def.name, async (obj) =>
      deleteSnapshot(this.#snapshotHost(obj), await this.#snapshotList(obj), snap.name, flags),
    );
  }

  /** qemuSaveImageStartVM: QEMU started on the image's stream, then resumed if it ran. */
  async #restoreImage(
    obj: DomainObj,
    file: string,
    known: SaveImage | undefined,
    flags: number,
    liveDef?: DomainDef,
  ): Promise<void> {
    const S = VIR_DOMAIN_SAVE;
    const image = known ?? (await readSaveImage(file));
    const def = liveDef ?? (known ? undefined : await this.#parseNew(image.xml));
    const paused = flags & S.PAUSED ? true : flags & S.RUNNING ? false : image.header.wasRunning === 0;
    const incoming = await openIncoming(file, image, this.env.PATH ?? '/usr/bin:/bin');
    // qemuSaveImageStartVM reports a paused restore itself: started (restored), then suspended
    // (paused when asked to be, restored when the image was)
    obj.muteEvents = paused;
    try {
      await this.#startProcess(obj, paused, def, incoming);
    } finally {
      obj.muteEvents = false;
      incoming.closeOurs();
      await incoming.done();
    }
    if (paused) {
      const D = VIR_DOMAIN_EVENT_DETAIL;
      this.#emitEvent(obj, VIR_DOMAIN_EVENT.STARTED, D.STARTED.RESTORED);
      this.#emitEvent(
        obj,
        VIR_DOMAIN_EVENT.SUSPENDED,
        flags & S.PAUSED ? D.SUSPENDED.PAUSED : D.SUSPENDED.RESTORED,
      );
    }
  }

  async domainOpenConsole(dom: Domain, devName: string | null, flags: number): Promise<VirStream> {
    virCheckFlags(flags, VIR_DOMAIN_CONSOLE.SAFE | VIR_DOMAIN_CONSOLE.FORCE, 'qemuDomainOpenConsole');
    const obj = this.#objOf(dom);
    return this.#chrdevs.openConsole(isActiveState(obj.state) ? obj.live : undefined, devName, flags);
  }

  async domainOpenChannel(dom: Domain, name: string | null, flags: number): Promise<VirStream> {
    virCheckFlags(flags, VIR_DOMAIN_CHANNEL.FORCE, 'qemuDomainOpenChannel');
    const obj = this.#objOf(dom);
    return this.#chrdevs.openChannel(isActiveState(obj.state) ? obj.live : undefined, name, flags);
  }

  async domainGetOSType(dom: Domain): Promise<string> {
    const obj = this.#objOf(dom);
    return (obj.def.os as { type?: { value?: string } } | undefined)?.type?.value ?? 'hvm';
  }

  async domainGetMaxMemory(dom: Domain): Promise<number> {
    return this.getInfo(this.#objOf(dom).def.name).maxMem;
  }

  /** qemuDomainGetVcpusFlags without the guest agent: the live or config count, or the maximum. */
  async domainGetVcpusFlags(dom: Domain, flags: number): Promise<number> {
    exclusiveAffect(flags);
    const A = VIR_DOMAIN_AFFECT;
    virCheckFlags(
      flags,
      A.LIVE | A.CONFIG | VIR_DOMAIN_VCPU.MAXIMUM | VIR_DOMAIN_VCPU.GUEST,
      'qemuDomainGetVcpusFlags',
    );
    if (flags & VIR_DOMAIN_VCPU.GUEST) {
      // qemuDomainGetVcpusFlags: the guest's vCPUs (online, or all with MAXIMUM) through the agent
      const obj = this.#objOf(dom);
      this.#affected(obj, flags);
      if (!isActiveState(obj.state))
        throw virReportError(
          'INVALID_ARG',
          'qemu',
          'vCPU count provided by the guest agent can only be requested for live domains',
        );
      return this.#withAgent(dom, (a) => agentApi.guestVcpuCount(a, (flags & VIR_DOMAIN_VCPU.MAXIMUM) !== 0));
    }
    const obj = this.#objOf(dom);
    const def = this.#affected(obj, flags);
    const vcpu = def.vcpu as { value?: number; current?: number } | undefined;
    const max = Number(vcpu?.value ?? 1);
    return flags & VIR_DOMAIN_VCPU.MAXIMUM ? max : Number(vcpu?.current ?? max);
  }

  /** virDomainObjGetDefs' choice for VIR_DOMAIN_AFFECT_* flags. */
  #affected(obj: DomainObj, flags: number): DomainDef {
    const A = VIR_DOMAIN_AFFECT;
    const active = isActiveState(obj.state);
    if (flags & A.LIVE && flags & A.CONFIG) {
      throw new VirError(
        'INVALID_ARG',
        'qemu',
        "invalid argument: flags 'affect live' and 'affect config' in qemuDomainGetVcpusFlags are mutually exclusive",
      );
    }
    if (flags & A.LIVE) {
      if (!active) throw invalid('domain is not running');
      return obj.live ?? obj.def;
    }
    if (flags & A.CONFIG) {
      if (!obj.persistent) throw invalid('transient domains do not have any persistent config');
      return obj.newDef ?? obj.def;
    }
    return active ? (obj.live ?? obj.def) : obj.def;
  }

  /** virDomainGetMetadata (resources.ts). */
  async domainGetMetadata(dom: Domain, type: number, uri: string | null, flags: number): Promise<string> {
    exclusiveAffect(flags);
    return getMetadata(this.#liveDomain(this.#objOf(dom)), type, uri, flags);
  }

  async domainGetSecurityLabel(dom: Domain): Promise<SecurityLabel> {
    return this.#securityLabel(this.#objOf(dom));
  }

  async domainGetSecurityLabelList(dom: Domain): Promise<SecurityLabelList> {
    return { labels: [await this.#securityLabel(this.#objOf(dom))], ret: 1 };
  }

  /** qemuDomainGetSecurityLabel: the primary driver's label of a running domain. */
  async #securityLabel(obj: DomainObj): Promise<SecurityLabel> {
    const models = await this.secModels().catch(() => []);
    const primary = models[0]?.model;
    if (!primary || primary === 'none' || !isActiveState(obj.state) || !obj.live)
      return { label: '', enforcing: 0 };
    const xml = formatDefinition(obj.live, { secure: true });
    const m = /<seclabel[^>]*model=['"]([^'"]+)['"][^>]*>[\s\S]*?<label>([^<]*)<\/label>/.exec(xml);
    return m && m[1] === primary ? { label: m[2]!, enforcing: 1 } : { label: '', enforcing: 0 };
  }

  async domainInterfaceStats(dom: Domain, device: string): Promise<ContractInterfaceStats> {
    const s = this.interfaceStats(this.#objOf(dom).def.name, device);
    return {
      rx_bytes: s.rxBytes,
      rx_packets: s.rxPackets,
      rx_errs: s.rxErrs,
      rx_drop: s.rxDrop,
      tx_bytes: s.txBytes,
      tx_packets: s.txPackets,
      tx_errs: s.txErrs,
      tx_drop: s.txDrop,
    };
  }

  async domainBlockStats(dom: Domain, path: string): Promise<ContractBlockStats> {
    const s = await this.blockStats(this.#objOf(dom).def.name, path);
    return { rd_req: s.rdReq, rd_bytes: s.rdBytes, wr_req: s.wrReq, wr_bytes: s.wrBytes, errs: s.errs };
  }

  /** qemuDomainBlockStatsFlags: with nparams 0, how many there are. */
  async domainBlockStatsFlags(
    dom: Domain,
    path: string,
    nparams: number,
    flags: number,
  ): Promise<TypedParamsReply> {
    virCheckFlags(flags, VIR_TYPED_PARAM_STRING_OKAY, 'qemuDomainBlockStatsFlags');
    if (nparams < 0)
      throw new VirError('INVALID_ARG', 'qemu', 'invalid argument: nparams must be non-negative');
    const s = await this.blockStats(this.#objOf(dom).def.name, path);
    if (nparams === 0) return { params: [], nparams: s.nstats };
    const params = blockStatsParams(s, Math.min(nparams, s.nstats)).map((p) => ({
      field: p.field,
      type: VIR_TYPED_PARAM.LLONG,
      value: p.value,
    }));
    return { params, nparams: params.length };
  }

  async domainMemoryStats(dom: Domain, maxStats: number, flags: number): Promise<MemoryStat[]> {
    virCheckFlags(flags, 0, 'qemuDomainMemoryStats');
    return (await this.memoryStats(this.#objOf(dom).def.name)).slice(0, maxStats);
  }

  // ---- vCPUs, memory, metadata, statistics: vcpus.ts, resources.ts, stats.ts -------------------

  /** The domain as those modules see it, for the job that holds it (live-domain.ts). */
  #liveDomain(obj: DomainObj): LiveDomain {
    return {
      name: obj.def.name,
      uuid: obj.def.uuid!,
      id: obj.id,
      state: obj.state,
      reason: obj.reason,
      active: isActiveState(obj.state),
      persistent: obj.persistent,
      config: obj.newDef ?? obj.def,
      live: obj.live,
      pid: obj.proc?.pid,
      monitor: () => this.#monitor(obj),
      saveConfig: async (def) => {
        await this.#writeConfig(def);
        if (isActiveState(obj.state)) obj.newDef = def;
        else obj.def = def;
      },
      saveLive: async (def) => {
        obj.live = def;
        await this.#saveStatus(obj);
      },
      emit: (e) => this.#emitDomainEvent(obj, e),
    };
  }

  /**
   * A running definition whose disks changed under a job (a snapshot's overlays, a block job's
   * images): saved with the run's labels brought to the same disks, so the stop restores the
   * new images' labels too.
   */
  async #saveLiveDisks(obj: DomainObj, def: DomainDef): Promise<void> {
    obj.live = def;
    if (obj.security)
      obj.security.def = {
        ...obj.security.def,
        devices: { ...obj.security.def.devices, disk: structuredClone(def.devices?.disk ?? []) },
      };
    await this.#saveStatus(obj);
  }

  /** Runs `fn` as a job of `dom` on its LiveDomain. */
  #withDomain<T>(dom: Domain, fn: (d: LiveDomain) => T | Promise<T>): Promise<T> {
    return this.#job(this.#objOf(dom).def.name, async (obj) => fn(this.#liveDomain(obj)));
  }

  async domainGetVcpus(dom: Domain, maxinfo: number, maplen: number): Promise<DomainVcpus> {
    return this.#withDomain(dom, (d) => getVcpus(d, maxinfo, maplen));
  }

  async domainGetVcpuPinInfo(dom: Domain, ncpumaps: number, maplen: number, flags: number) {
    exclusiveAffect(flags);
    return getVcpuPinInfo(this.#liveDomain(this.#objOf(dom)), ncpumaps, maplen, flags);
  }

  async domainGetEmulatorPinInfo(dom: Domain, maplen: number, flags: number) {
    exclusiveAffect(flags);
    return getEmulatorPinInfo(this.#liveDomain(this.#objOf(dom)), maplen, flags);
  }

  async domainPinVcpu(dom: Domain, vcpu: number, cpumap: Uint8Array): Promise<void> {
    await this.#withDomain(dom, (d) => pinVcpu(d, this.#cgroups(), vcpu, cpumap, VIR_DOMAIN_AFFECT.LIVE));
  }

  async domainPinVcpuFlags(dom: Domain, vcpu: number, cpumap: Uint8Array, flags: number): Promise<void> {
    await this.#withDomain(dom, (d) => pinVcpu(d, this.#cgroups(), vcpu, cpumap, flags));
  }

  async domainPinEmulator(dom: Domain, cpumap: Uint8Array, flags: number): Promise<void> {
    await this.#withDomain(dom, (d) => pinEmulator(d, this.#cgroups(), cpumap, flags));
  }

  async domainSetVcpus(dom: Domain, nvcpus: number): Promise<void> {
    await this.domainSetVcpusFlags(dom, nvcpus, VIR_DOMAIN_AFFECT.LIVE);
  }

  async domainSetVcpusFlags(dom: Domain, nvcpus: number, flags: number): Promise<void> {
    await this.#withDomain(dom, async (d) => {
      await setVcpus(d, nvcpus, flags);
      // the vCPU threads' cgroups follow (domain-cgroup.ts)
      if (d.active && d.live) await this.#cgroups().syncVcpus(d.live, d.id, d.pid!, await d.monitor());
    });
  }

  /** qemuDomainGetMaxVcpus: qemuDomainGetVcpusFlags(LIVE | MAXIMUM). */
  // ---- migration tunables: ./migration-params.ts --------------------------------------------

  async domainMigrateSetMaxDowntime(dom: Domain, downtime: number, flags: number): Promise<void> {
    await this.#withDomain(dom, (d) => migrateSetMaxDowntime(d, downtime, flags));
  }

  async domainMigrateGetMaxDowntime(dom: Domain, flags: number): Promise<number> {
    return this.#withDomain(dom, (d) => migrateGetMaxDowntime(d, flags));
  }

  async domainMigrateGetCompressionCache(dom: Domain, flags: number): Promise<number> {
    return this.#withDomain(dom, (d) => migrateGetCompressionCache(d, flags));
  }

  async domainMigrateSetCompressionCache(dom: Domain, cacheSize: number, flags: number): Promise<void> {
    await this.#withDomain(dom, (d) => migrateSetCompressionCache(d, cacheSize, flags));
  }

  /** qemuDomainMigrateSetMaxSpeed: a stopped domain only records the cap, without a job. */
  async domainMigrateSetMaxSpeed(dom: Domain, bandwidth: number, flags: number): Promise<void> {
    const obj = this.#objOf(dom);
    const postcopy = checkMaxSpeed(bandwidth, flags);
    if (!postcopy && obj.state === 'shutoff') {
      obj.migMaxBandwidth = bandwidth;
      return;
    }
    await this.#withDomain(dom, (d) => migrateSetMaxSpeed(d, obj, bandwidth, postcopy));
  }

  /** qemuDomainMigrateGetMaxSpeed: the recorded cap, or QEMU's post-copy one. */
  async domainMigrateGetMaxSpeed(dom: Domain, flags: number): Promise<number> {
    virCheckFlags(flags, VIR_DOMAIN_MIGRATE_MAX_SPEED_POSTCOPY, 'qemuDomainMigrateGetMaxSpeed');
    const obj = this.#objOf(dom);
    if (flags & VIR_DOMAIN_MIGRATE_MAX_SPEED_POSTCOPY)
      return this.#withDomain(dom, (d) => migrateGetPostcopySpeed(d));
    return obj.migMaxBandwidth ?? QEMU_DOMAIN_MIG_BANDWIDTH_MAX;
  }

  async domainStartDirtyRateCalc(dom: Domain, seconds: number, flags: number): Promise<void> {
    await this.#withDomain(dom, (d) => startDirtyRateCalc(d, seconds, flags));
  }

  async domainGetMaxVcpus(dom: Domain): Promise<number> {
    return this.domainGetVcpusFlags(dom, VIR_DOMAIN_AFFECT.LIVE | VIR_DOMAIN_VCPU.MAXIMUM);
  }

  /** qemuDomainSetVcpu (./vcpus.ts setVcpu). */
  async domainSetVcpu(dom: Domain, cpumap: string, state: number, flags: number): Promise<void> {
    await this.#withDomain(dom, async (d) => {
      await setVcpu(d, cpumap, state, flags);
      if (d.active && d.live) await this.#cgroups().syncVcpus(d.live, d.id, d.pid!, await d.monitor());
    });
  }

  /** qemuDomainSetMemory: the live balloon. */
  async domainSetMemory(dom: Domain, memory: number): Promise<void> {
    await this.#withDomain(dom, (d) => setMemoryFlags(d, memory, VIR_DOMAIN_AFFECT.LIVE));
  }

  /** qemuDomainSetMaxMemory: the maximum of the current definition. */
  async domainSetMaxMemory(dom: Domain, memory: number): Promise<void> {
    await this.#withDomain(dom, (d) => setMemoryFlags(d, memory, VIR_DOMAIN_MEM.MAXIMUM));
  }

  async domainSetMemoryFlags(dom: Domain, memory: number, flags: number): Promise<void> {
    await this.#withDomain(dom, (d) => setMemoryFlags(d, memory, flags));
  }

  /** qemuDomainSetMemoryStatsPeriod (./resources.ts). */
  async domainSetMemoryStatsPeriod(dom: Domain, period: number, flags: number): Promise<void> {
    await this.#withDomain(dom, (d) => setMemoryStatsPeriod(d, period, flags));
  }

  async domainSetMetadata(
    dom: Domain,
    type: number,
    metadata: string | null,
    key: string | null,
    uri: string | null,
    flags: number,
  ): Promise<void> {
    await this.#withDomain(dom, (d) => setMetadata(d, type, metadata, key, uri, flags));
  }

  /** hotplug.ts's view of the driver for `obj`: define-time canonicalising, the run's labels. */
  #hotplugHost(obj: DomainObj): HotplugHost {
    const sec = obj.security;
    const pid = obj.proc?.pid;
    return {
      canonicalize: (def) => canonicalizeDomain(def, this.#ctx(-1, 'native')),
      // the device's QEMU arguments come from the start's own command line builder
      argv: async (def) =>
        buildCommandLine(def, await this.#withHostModel(this.#ctx(obj.id, 'start'), def)).args,
      privileged: this.instance.privileged,
      ...(sec?.labelled
        ? {
            security: {
              def: sec.def,
              setImageLabel: (d, src, f) => this.security.setImageLabel(d, src, f, pid),
              restoreImageLabel: (d, src, f) => this.security.restoreImageLabel(d, src, f),
              setChardevLabel: (d, c) => this.security.setChardevLabel(d, c, false, pid),
              restoreChardevLabel: (d, c) => this.security.restoreChardevLabel(d, c, false),
            },
          }
        : {}),
    };
  }

  /** qemuDomainAttachDevice: a live attach. */
  async domainAttachDevice(dom: Domain, xml: string): Promise<void> {
    await this.domainAttachDeviceFlags(dom, xml, VIR_DOMAIN_AFFECT.LIVE);
  }

  async domainAttachDeviceFlags(dom: Domain, xml: string, flags: number): Promise<void> {
    await this.#job(this.#objOf(dom).def.name, (obj) =>
      attachDevice(this.#liveDomain(obj), this.#hotplugHost(obj), xml, flags),
    );
  }

  /** qemuDomainUpdateDeviceFlags: media change and disk updates (hotplug.ts). */
  async domainUpdateDeviceFlags(dom: Domain, xml: string, flags: number): Promise<void> {
    await this.#job(this.#objOf(dom).def.name, (obj) =>
      updateDevice(this.#liveDomain(obj), this.#hotplugHost(obj), xml, flags),
    );
  }

  async domainDetachDevice(dom: Domain, xml: string): Promise<void> {
    await this.domainDetachDeviceFlags(dom, xml, VIR_DOMAIN_AFFECT.LIVE);
  }

  async domainDetachDeviceFlags(dom: Domain, xml: string, flags: number): Promise<void> {
    await this.#job(this.#objOf(dom).def.name, (obj) =>
      detachDevice(this.#liveDomain(obj), this.#hotplugHost(obj), xml, flags),
    );
  }

  /** qemuDomainDetachDeviceAlias (./hotplug.ts detachDeviceAlias). */
  async domainDetachDeviceAlias(dom: Domain, alias: string, flags: number): Promise<void> {
    await this.#job(this.#objOf(dom).def.name, (obj) =>
      detachDeviceAlias(this.#liveDomain(obj), this.#hotplugHost(obj), alias, flags),
    );
  }

  // ---- block jobs: ./block-jobs.ts, ./block-job-ops.ts -------------------------------------------

  /** The block jobs of `obj`'s run, and what their APIs need of the driver. */
  #blockJobContext(obj: DomainObj): BlockJobContext {
    const sec = this.#hotplugHost(obj).security;
    const image = (file: string, format: string, readonly: boolean) => ({
      type: 'file' as const,
      path: file,
      format,
      readonly,
      shared: false,
      seclabels: [],
    });
    const labels = sec
      ? {
          set: (file: string, format: string, readonly: boolean) =>
            sec.setImageLabel(sec.def, image(file, format, readonly), { chainTop: !readonly }),
          restore: (file: string, format: string) =>
            sec.restoreImageLabel(sec.def, image(file, format, false), { chainTop: true }),
        }
      : undefined;
    const generation = obj.generation;
    obj.blockJobs ??= new BlockJobs({
      active: () => obj.generation === generation && isActiveState(obj.state),
      persistent: () => obj.persistent,
      live: () => obj.live,
      config: () => obj.newDef ?? obj.def,
      saveLive: async (def) => {
        if (obj.generation !== generation) return;
        await this.#saveLiveDisks(obj, def);
      },
      saveConfig: async (def) => {
        await this.#writeConfig(def);
        if (isActiveState(obj.state)) obj.newDef = def;
        else obj.def = def;
      },
      monitor: () => this.#monitor(obj),
      emit: (e) => this.#emitDomainEvent(obj, e),
      ...(labels ? { labels } : {}),
      warn: (m) => this.#warn(`${obj.def.name}: ${m}`),
    });
    return { dom: this.#liveDomain(obj), jobs: obj.blockJobs, ...(labels ? { labels } : {}) };
  }

  #withBlockJobs<T>(dom: Domain, fn: (ctx: BlockJobContext) => Promise<T>): Promise<T> {
    return this.#job(this.#objOf(dom).def.name, (obj) => fn(this.#blockJobContext(obj)));
  }

  async domainGetBlockJobInfo(dom: Domain, path: string, flags: number): Promise<BlockJobInfo> {
    return this.#withBlockJobs(dom, (c) => getBlockJobInfo(c, path, flags));
  }

  async domainBlockJobAbort(dom: Domain, path: string, flags: number): Promise<void> {
    await this.#withBlockJobs(dom, (c) => blockJobAbort(c, path, flags));
  }

  async domainBlockJobSetSpeed(dom: Domain, path: string, bandwidth: number, flags: number): Promise<void> {
    await this.#withBlockJobs(dom, (c) => blockJobSetSpeed(c, path, bandwidth, flags));
  }

  async domainBlockPull(dom: Domain, path: string, bandwidth: number, flags: number): Promise<void> {
    await this.#withBlockJobs(dom, (c) => blockPull(c, path, bandwidth, flags));
  }

  async domainBlockRebase(
    dom: Domain,
    path: string,
    base: string | null,
    bandwidth: number,
    flags: number,
  ): Promise<void> {
    await this.#withBlockJobs(dom, (c) => blockRebase(c, path, base, bandwidth, flags));
  }

  async domainBlockCopy(
    dom: Domain,
    path: string,
    destxml: string,
    params: TypedParam[],
    flags: number,
  ): Promise<void> {
    await this.#withBlockJobs(dom, (c) => blockCopy(c, path, destxml, params, flags));
  }

  async domainBlockCommit(
    dom: Domain,
    disk: string,
    base: string | null,
    top: string | null,
    bandwidth: number,
    flags: number,
  ): Promise<void> {
    await this.#withBlockJobs(dom, (c) => blockCommit(c, disk, base, top, bandwidth, flags));
  }

  /** qemuDomainRename (virDomainObjListRename, qemuDomainRenameCallback): config, autostart link, events. */
  async domainRename(dom: Domain, newName: string | null, flags: number): Promise<number> {
    virCheckFlags(flags, 0, 'qemuDomainRename');
    if (!newName) {
      throw new VirError(
        'INVALID_ARG',
        'none',
        'invalid argument: new_name in virDomainRename must not be empty',
      );
    }
    return this.#job(this.#objOf(dom).def.name, async (obj) => {
      if (isActiveState(obj.state)) throw invalid('cannot rename active domain');
      if (!obj.persistent) throw invalid('cannot rename a transient domain');
      if (obj.def.name === newName) throw invalid("Can't rename domain to itself");
      if ([...this.#domains.values()].some((o) => o.def.name === newName)) {
        throw invalid(`domain with name '${newName}' already exists`);
      }
      const oldName = obj.def.name;
      const renamed = { ...obj.def, name: newName };
      await this.#writeConfig(renamed);
      if (obj.autostart) {
        await symlink(this.#configFile(newName), path.join(this.instance.autostartDir, `${newName}.xml`));
        await unlink(path.join(this.instance.autostartDir, `${oldName}.xml`)).catch(() => {});
      }
      await unlink(this.#configFile(oldName)).catch(() => {});
      const old = { ...obj, def: obj.def };
      obj.def = renamed;
      const E = VIR_DOMAIN_EVENT;
      const D = VIR_DOMAIN_EVENT_DETAIL;
      this.#emitEvent(old, E.UNDEFINED, D.UNDEFINED.RENAMED);
      this.#emitEvent(obj, E.DEFINED, D.DEFINED.RENAMED);
      return 0;
    });
  }

  /** qemuConnectGetAllDomainStats: one record per domain the list (or the flags) select. */
  async connectGetAllDomainStats(doms: Domain[], stats: number, flags: number): Promise<DomainStatsRecord[]> {
    const F = VIR_CONNECT_GET_ALL_DOMAINS_STATS;
    // the list filters (the low byte), NOWAIT, BACKING and ENFORCE_STATS
    virCheckFlags(flags, 0xff | F.NOWAIT | F.BACKING | F.ENFORCE_STATS, 'qemuConnectGetAllDomainStats');
    const groups = checkStatsSupport(stats, (flags & F.ENFORCE_STATS) !== 0);
    const objs = doms.length
      ? doms.flatMap((d) => this.#domains.get(d.uuid) ?? [])
      : [...this.#domains.values()];
    const out: DomainStatsRecord[] = [];
    for (const obj of objs) {
      if (!matchesListFlags(this.#summary(obj), flags & 0xff)) continue;
      // a domain gone meanwhile is skipped, as libvirt skips one it cannot find
      const params = await this.#job(obj.def.name, async (o) =>
        domainStatsRecord(this.#liveDomain(o), groups, (d) => this.#perf.stats(d)),
      ).catch(() => undefined);
      if (params) out.push({ dom: this.#ref(obj), params });
    }
    return out;
  }

  async domainGetCPUStats(
    dom: Domain,
    nparams: number,
    startCpu: number,
    ncpus: number,
    flags: number,
  ): Promise<TypedParamsReply> {
    return getCPUStats(this.#liveDomain(this.#objOf(dom)), nparams, startCpu, ncpus, flags);
  }

  async domainGetBlockInfo(dom: Domain, path: string, flags: number): Promise<BlockInfo> {
    return this.#withDomain(dom, (d) => getBlockInfo(d, path, flags));
  }

  // ---- the async job (./domain-job.ts): read and aborted beside it, not queued behind it ----

  /** qemuDomainGetJobInfo: qemuDomainGetJobStatsInternal, then qemuDomainJobDataToInfo. */
  async domainGetJobInfo(dom: Domain): Promise<JobInfo> {
    const job = await this.#currentJobData(this.#objOf(dom));
    return job ? jobDataToInfo(job) : noJobInfo();
  }

  /** qemuDomainGetJobStats. */
  async domainGetJobStats(dom: Domain, flags: number): Promise<{ type: number; params: TypedParam[] }> {
    const J = VIR_DOMAIN_JOB_STATS;
    virCheckFlags(flags, J.COMPLETED | J.KEEP_COMPLETED, 'qemuDomainGetJobStats');
    const obj = this.#objOf(dom);
    const completed = (flags & J.COMPLETED) !== 0;
    // the completed job's statistics only once no other job runs; they need no running domain
    const job = completed
      ? obj.jobs?.completed && !obj.jobs.current
        ? obj.jobs.completed
        : undefined
      : await this.#currentJobData(obj);
    if (!job) return { type: VIR_DOMAIN_JOB.NONE, params: [] };
    const stats = jobDataToParams(job);
    if (completed && !(flags & J.KEEP_COMPLETED)) obj.jobs!.completed = undefined;
    return stats;
  }

  /** qemuDomainGetJobStatsInternal for the running job: a copy, with QEMU's figures of now. */
  async #currentJobData(obj: DomainObj): Promise<JobData | undefined> {
    this.#requireActive(obj);
    const current = obj.jobs?.current;
    if (!current) return undefined;
    const job = structuredClone(current);
    // qemuDomainGetJobInfoMigrationStats: QEMU is asked only once the stream runs
    if (job.status === 'migrating') {
      const qmp = await this.#monitor(obj);
      job.mig = migrationStats(await qmp.execute<MigrateInfo>('query-migrate'));
    }
    updateTime(job);
    return job;
  }

  async domainAbortJob(dom: Domain): Promise<void> {
    await this.domainAbortJobFlags(dom, 0);
  }

  /** qemuDomainAbortJobFlags: a save is cancelled as a migration is (qemuMigrationSrcCancel). */
  async domainAbortJobFlags(dom: Domain, flags: number): Promise<void> {
    virCheckFlags(flags, VIR_DOMAIN_ABORT_JOB.POSTCOPY, 'qemuDomainAbortJobFlags');
    const obj = this.#objOf(dom);
    this.#requireActive(obj);
    const job = obj.jobs?.current;
    // qvirt has no outgoing migration, so no job is ever one in post-copy mode
    if (flags & VIR_DOMAIN_ABORT_JOB.POSTCOPY)
      throw invalid('current job is not outgoing migration in post-copy mode');
    if (!job) throw invalid('no job is active on the domain');
    const qmp = await this.#monitor(obj);
    await qmp.execute('migrate_cancel');
  }

  async domainGetControlInfo(dom: Domain, flags: number): Promise<ControlInfo> {
    return getControlInfo(this.#liveDomain(this.#objOf(dom)), flags);
  }

  async domainGetSchedulerType(dom: Domain): Promise<{ type: string; nparams: number }> {
    return tuning.getSchedulerType(
      this.#liveDomain(this.#objOf(dom)),
      this.#cgroups(),
      this.instance.privileged,
    );
  }

  async domainGetSchedulerParameters(dom: Domain, nparams: number): Promise<TypedParam[]> {
    return this.domainGetSchedulerParametersFlags(dom, nparams, 0);
  }

  async domainGetSchedulerParametersFlags(
    dom: Domain,
    nparams: number,
    flags: number,
  ): Promise<TypedParam[]> {
    exclusiveAffect(flags);
    const d = this.#liveDomain(this.#objOf(dom));
    return tuning.getSchedulerParameters(d, this.#cgroups(), nparams, flags, this.instance.privileged);
  }

  // ---- cgroup tuning, IOThreads, keys, screens: cgroup-tuning.ts, iothreads.ts, live-misc.ts ---

  async domainSetSchedulerParameters(dom: Domain, params: TypedParam[]): Promise<void> {
    await this.domainSetSchedulerParametersFlags(dom, params, 0);
  }

  async domainSetSchedulerParametersFlags(dom: Domain, params: TypedParam[], flags: number): Promise<void> {
    const p = this.instance.privileged;
    await this.#withDomain(dom, (d) => tuning.setSchedulerParameters(d, this.#cgroups(), params, flags, p));
  }

  async domainGetMemoryParameters(dom: Domain, nparams: number, flags: number): Promise<TypedParamsReply> {
    exclusiveAffect(flags);
    const d = this.#liveDomain(this.#objOf(dom));
    return tuning.getMemoryParameters(d, this.#cgroups(), nparams, flags, this.instance.privileged);
  }

  async domainSetMemoryParameters(dom: Domain, params: TypedParam[], flags: number): Promise<void> {
    const p = this.instance.privileged;
    await this.#withDomain(dom, (d) => tuning.setMemoryParameters(d, this.#cgroups(), params, flags, p));
  }

  async domainGetInterfaceParameters(
    dom: Domain,
    device: string,
    nparams: number,
    flags: number,
  ): Promise<TypedParamsReply> {
    return getInterfaceParameters(this.#liveDomain(this.#objOf(dom)), device, nparams, flags);
  }

  async domainSetInterfaceParameters(
    dom: Domain,
    device: string,
    params: TypedParam[],
    flags: number,
  ): Promise<void> {
    const host = { privileged: this.instance.privileged, run: runTc };
    await this.#withDomain(dom, (d) => setInterfaceParameters(d, device, params, flags, host));
  }

  async domainGetBlkioParameters(dom: Domain, nparams: number, flags: number): Promise<TypedParamsReply> {
    exclusiveAffect(flags);
    const d = this.#liveDomain(this.#objOf(dom));
    return tuning.getBlkioParameters(d, this.#cgroups(), nparams, flags, this.instance.privileged);
  }

  async domainSetBlkioParameters(dom: Domain, params: TypedParam[], flags: number): Promise<void> {
    const p = this.instance.privileged;
    await this.#withDomain(dom, (d) => tuning.setBlkioParameters(d, this.#cgroups(), params, flags, p));
  }

  async domainGetNumaParameters(dom: Domain, nparams: number, flags: number): Promise<TypedParamsReply> {
    return tuning.getNumaParameters(this.#liveDomain(this.#objOf(dom)), nparams, flags);
  }

  async domainSetNumaParameters(dom: Domain, params: TypedParam[], flags: number): Promise<void> {
    const p = this.instance.privileged;
    await this.#withDomain(dom, (d) => tuning.setNumaParameters(d, this.#cgroups(), params, flags, p));
  }

  async domainGetIOThreadInfo(dom: Domain, flags: number): Promise<{ info: IOThreadInfo[]; ret: number }> {
    exclusiveAffect(flags);
    return this.#withDomain(dom, (d) => getIOThreadInfo(d, flags));
  }

  async domainPinIOThread(dom: Domain, iothreadId: number, cpumap: Uint8Array, flags: number): Promise<void> {
    await this.#withDomain(dom, (d) => pinIOThread(d, this.#cgroups(), iothreadId, cpumap, flags));
  }

  async domainAddIOThread(dom: Domain, iothreadId: number, flags: number): Promise<void> {
    await this.#withDomain(dom, (d) => changeIOThread(d, this.#cgroups(), 'add', iothreadId, flags));
  }

  async domainDelIOThread(dom: Domain, iothreadId: number, flags: number): Promise<void> {
    await this.#withDomain(dom, (d) => changeIOThread(d, this.#cgroups(), 'del', iothreadId, flags));
  }

  async domainSetIOThreadParams(dom: Domain, iothreadId: number, params: TypedParam[], flags: number) {
    await this.#withDomain(dom, (d) => setIOThreadParams(d, iothreadId, params, flags));
  }

  async domainSendKey(
    dom: Domain,
    codeset: number,
    holdtime: number,
    keycodes: number[],
    flags: number,
  ): Promise<void> {
    await this.#withDomain(dom, (d) => sendKey(d, codeset, holdtime, keycodes, flags));
  }

  async domainScreenshot(dom: Domain, screen: number, flags: number): Promise<ScreenshotStream> {
    return this.#job(this.#objOf(dom).def.name, async (obj) => {
      const { stream, mime } = await screenshot(
        this.#liveDomain(obj),
        {
          libDir: obj.proc?.libDir,
          setPathLabel: (def, p) => this.security.setPathLabel(def, p, false),
          restorePathLabel: (def, p) => this.security.restorePathLabel(def, p),
        },
        screen,
        flags,
      );
      return Object.assign(stream, { mime });
    });
  }

  async domainInjectNMI(dom: Domain, flags: number): Promise<void> {
    await this.#withDomain(dom, (d) => injectNMI(d, flags));
  }

  async domainSetBlockThreshold(dom: Domain, dev: string, threshold: number, flags: number): Promise<void> {
    await this.#withDomain(dom, (d) => setBlockThreshold(d, dev, threshold, flags));
  }

  async domainBlockPeek(
    dom: Domain,
    disk: string,
    offset: number,
    size: number,
    flags: number,
  ): Promise<Buffer> {
    return this.#withDomain(dom, (d) => blockPeek(d, disk, offset, size, flags));
  }

  async domainMemoryPeek(dom: Domain, offset: number, size: number, flags: number): Promise<Buffer> {
    return this.#job(this.#objOf(dom).def.name, (obj) =>
      memoryPeek(
        this.#liveDomain(obj),
        {
          libDir: obj.proc?.libDir,
          setPathLabel: (def, p) => this.security.setPathLabel(def, p, false),
          restorePathLabel: (def, p) => this.security.restorePathLabel(def, p),
        },
        offset,
        size,
        flags,
      ),
    );
  }

  async domainSetLifecycleAction(dom: Domain, type: number, action: number, flags: number): Promise<void> {
    await this.#withDomain(dom, (d) => setLifecycleAction(d, type, action, flags));
  }

  async domainGetDiskErrors(dom: Domain, maxerrors: number, flags: number) {
    return this.#withDomain(dom, (d) => getDiskErrors(d, maxerrors, flags));
  }

  async domainBlockResize(dom: Domain, disk: string, size: number, flags: number): Promise<void> {
    await this.#withDomain(dom, (d) => blockResize(d, disk, size, flags));
  }

  async domainGetBlockIoTune(dom: Domain, disk: string | null, nparams: number, flags: number) {
    exclusiveAffect(flags);
    return this.#withDomain(dom, (d) => getBlockIoTune(d, disk, nparams, flags));
  }

  async domainSetBlockIoTune(dom: Domain, disk: string, params: TypedParam[], flags: number): Promise<void> {
    await this.#withDomain(dom, (d) => setBlockIoTune(d, disk, params, flags));
  }

  /** The running domains' perf counters (perf-events.ts). */
  readonly #perf = new PerfEvents();

  async domainGetPerfEvents(dom: Domain, flags: number): Promise<TypedParam[]> {
    return this.#withDomain(dom, (d) => getPerfEvents(d, this.#perf, flags));
  }

  async domainSetPerfEvents(dom: Domain, params: TypedParam[], flags: number): Promise<void> {
    await this.#withDomain(dom, (d) => setPerfEvents(d, this.#perf, params, flags));
  }

  async connectDomainEventRegisterAny(
    dom: Domain | null,
    eventID: number,
    callback: DomainEventCallback,
  ): Promise<number> {
    if (dom) this.#objOf(dom);
    return this.#callbacks.register(dom, eventID, callback);
  }

  async connectDomainEventDeregisterAny(callbackID: number): Promise<void> {
    this.#callbacks.deregister(callbackID);
  }

  // ---- the guest agent: ./agent-channel.ts, ./agent-apis.ts ------------------------------------

  /** The guest agent's state of a domain's current run. */
  #agentSlot(obj: DomainObj): AgentSlot {
    obj.agentSlot ??= new AgentSlot({
      live: () => obj.live,
      active: () => isActiveState(obj.state),
      emit: (e) => this.#emitDomainEvent(obj, e),
      saveStatus: () => this.#saveStatus(obj),
      warn: (m) => this.#warn(`${obj.def.name}: ${m}`),
    });
    if (obj.agentTimeout !== undefined) obj.agentSlot.timeout = obj.agentTimeout;
    return obj.agentSlot;
  }

  /**
   * qemuDomainAgentSetResponseTimeout: the agent's timeout (-2 blocks, -1 the default 5 s, 0 does
   * not wait, else seconds), now and for the agents of later runs; no job, as libvirt.
   */
  async domainAgentSetResponseTimeout(dom: Domain, timeout: number, flags: number): Promise<number> {
    virCheckFlags(flags, 0, 'qemuDomainAgentSetResponseTimeout');
    if (timeout < AGENT_TIMEOUT.BLOCK)
      throw new VirError(
        'INVALID_ARG',
        'qemu',
        `invalid argument: guest agent timeout '${timeout}' is less than the minimum '${AGENT_TIMEOUT.BLOCK}'`,
      );
    const obj = this.#objOf(dom);
    obj.agentTimeout = timeout;
    if (obj.agentSlot) obj.agentSlot.timeout = timeout;
    return 0;
  }

  /**
   * virDomainObjCheckActive and qemuDomainAgentAvailable, then `fn` with the agent. Like
   * libvirt's agent job, it is not queued behind monitor jobs: the agent serialises its commands.
   */
  async #withAgent<T>(dom: Domain, fn: (agent: GuestAgent, live: DomainDef) => Promise<T>): Promise<T> {
    const obj = this.#objOf(dom);
    this.#requireActive(obj);
    if (obj.attaching) await obj.attaching;
    const def = obj.live ?? obj.def;
    return fn(agentAvailable(obj.agentSlot, obj.state === 'running', def), def);
  }

  async domainQemuAgentCommand(
    dom: Domain,
    cmd: string,
    timeout: number,
    flags: number,
  ): Promise<string | null> {
    virCheckFlags(flags, 0, 'qemuDomainQemuAgentCommand');
    return this.#withAgent(dom, (a) => {
      this.#taint(this.#objOf(dom), 'custom-ga-command');
      return agentApi.arbitraryCommand(a, cmd, timeout);
    });
  }

  async domainGetTime(dom: Domain, flags: number): Promise<{ seconds: number; nseconds: number }> {
    virCheckFlags(flags, 0, 'qemuDomainGetTime');
    return this.#withAgent(dom, (a) => agentApi.getTime(a));
  }

  async domainSetTime(dom: Domain, seconds: number, nseconds: number, flags: number): Promise<void> {
    const SYNC = 1; // VIR_DOMAIN_TIME_SYNC
    virCheckFlags(flags, SYNC, 'qemuDomainSetTime');
    await this.#withAgent(dom, (a) => agentApi.setTime(a, seconds, nseconds, (flags & SYNC) !== 0));
    // x86: the RTC's lost ticks are dropped after a jump (qemuMonitorRTCResetReinjection)
    await this.#job(this.#objOf(dom).def.name, async (obj) => {
      this.#requireActive(obj);
      await (await this.#monitor(obj)).execute('rtc-reset-reinjection');
    });
  }

  async domainInterfaceAddresses(
    dom: Domain,
    source: number,
    flags: number,
  ): Promise<agentApi.DomainInterface[]> {
    virCheckFlags(flags, 0, 'qemuDomainInterfaceAddresses');
    const obj = this.#objOf(dom);
    this.#requireActive(obj);
    const S = agentApi.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC;
    switch (source) {
      case S.LEASE:
        return agentApi.leaseInterfaces(obj.live ?? obj.def);
      case S.AGENT:
        return this.#withAgent(dom, async (a) => (await agentApi.agentInterfaces(a)) ?? []);
      case S.ARP:
        return agentApi.arpInterfaces(obj.live ?? obj.def);
      default:
        throw virReportError('ARGUMENT_UNSUPPORTED', 'qemu', `Unknown IP address data source ${source}`);
    }
  }

  async domainGetHostname(dom: Domain, flags: number): Promise<string> {
    const LEASE = 1;
    const AGENT = 2;
    virCheckFlags(flags, LEASE | AGENT, 'qemuDomainGetHostname');
    if (flags & LEASE && flags & AGENT)
      throw virReportInvalidArg(
        'qemu',
        "Flags 'VIR_DOMAIN_GET_HOSTNAME_LEASE' and 'VIR_DOMAIN_GET_HOSTNAME_AGENT' are mutually exclusive",
      );
    const obj = this.#objOf(dom);
    let name: string | undefined;
    if (flags & LEASE) {
      this.#requireActive(obj);
      agentApi.leaseInterfaces(obj.live ?? obj.def);
    } else {
      // an agent that fails is "no hostname" (the agent's error is ignored)
      name = await this.#withAgent(dom, (a) => agentApi.getHostname(a).catch(() => undefined));
    }
    if (!name) throw virReportError('NO_HOSTNAME', 'qemu', `no hostname found for domain ${obj.def.name}`);
    return name;
  }

  async domainGetFSInfo(dom: Domain, flags: number): Promise<{ info: agentApi.DomainFSInfo[]; ret: number }> {
    virCheckFlags(flags, 0, 'qemuDomainGetFSInfo');
    const info = await this.#withAgent(dom, (a, live) => agentApi.getFSInfo(a, live));
    return { info, ret: info.length };
  }

  async domainFSFreeze(dom: Domain, mountpoints: string[], flags: number): Promise<number> {
    virCheckFlags(flags, 0, 'qemuDomainFSFreeze');
    return this.#withAgent(dom, (a) => agentApi.fsFreeze(a, mountpoints ?? []));
  }

  async domainFSThaw(dom: Domain, mountpoints: string[], flags: number): Promise<number> {
    virCheckFlags(flags, 0, 'qemuDomainFSThaw');
    if (mountpoints?.length)
      throw virReportError('ARGUMENT_UNSUPPORTED', 'qemu', 'specifying mountpoints is not supported');
    return this.#withAgent(dom, (a) => agentApi.fsThaw(a));
  }

  async domainFSTrim(dom: Domain, mountPoint: string | null, minimum: number, flags: number): Promise<void> {
    virCheckFlags(flags, 0, 'qemuDomainFSTrim');
    if (mountPoint)
      throw virReportError('ARGUMENT_UNSUPPORTED', 'qemu', 'Specifying mount point is not supported for now');
    await this.#withAgent(dom, (a) => agentApi.fsTrim(a, Number(minimum)));
  }

  async domainSetUserPassword(
    dom: Domain,
    user: string | null,
    password: string | null,
    flags: number,
  ): Promise<void> {
    const ENCRYPTED = 1; // VIR_DOMAIN_PASSWORD_ENCRYPTED
    virCheckFlags(flags, ENCRYPTED, 'qemuDomainSetUserPassword');
    await this.#withAgent(dom, (a) =>
      agentApi.setUserPassword(a, user ?? '', password ?? '', (flags & ENCRYPTED) !== 0),
    );
  }

  async domainAuthorizedSSHKeysGet(dom: Domain, user: string, flags: number): Promise<string[]> {
    virCheckFlags(flags, 0, 'qemuDomainAuthorizedSSHKeysGet');
    return this.#withAgent(dom, (a) => agentApi.sshKeysGet(a, user));
  }

  async domainAuthorizedSSHKeysSet(dom: Domain, user: string, keys: string[], flags: number): Promise<void> {
    const K = agentApi.SSH_KEYS_SET;
    virCheckFlags(flags, K.APPEND | K.REMOVE, 'qemuDomainAuthorizedSSHKeysSet');
    await this.#withAgent(dom, (a) => agentApi.sshKeysSet(a, user, keys ?? [], flags));
  }

  async domainGetGuestInfo(dom: Domain, types: number, flags: number): Promise<TypedParam[]> {
    virCheckFlags(flags, 0, 'qemuDomainGetGuestInfo');
    agentApi.guestInfoTypes(types);
    const obj = this.#objOf(dom);
    if (obj.attaching) await obj.attaching;
    const def = obj.live ?? obj.def;
    const agent = agentAvailable(obj.agentSlot, obj.state === 'running', def);
    return agentApi.getGuestInfo(agent, def, types);
  }

  async domainGetGuestVcpus(dom: Domain, flags: number): Promise<TypedParam[]> {
    virCheckFlags(flags, 0, 'qemuDomainGetGuestVcpus');
    const obj = this.#objOf(dom);
    const def = obj.live ?? obj.def;
    return agentApi.getGuestVcpus(agentAvailable(obj.agentSlot, obj.state === 'running', def));
  }

  async domainSetGuestVcpus(dom: Domain, cpumap: string, state: number, flags: number): Promise<void> {
    virCheckFlags(flags, 0, 'qemuDomainSetGuestVcpus');
    if (state !== 0 && state !== 1) throw virReportInvalidArg('qemu', 'unsupported state value');
    const map = agentApi.parseBitmap(cpumap, 4096);
    const obj = this.#objOf(dom);
    const def = obj.live ?? obj.def;
    await agentApi.setGuestVcpus(
      agentAvailable(obj.agentSlot, obj.state === 'running', def),
      map,
      state === 1,
    );
  }

  /**
   * qemuDomainShutdownFlagsAgent / qemuDomainRebootAgent: guest-shutdown, which ends when QEMU
   * reports the guest's SHUTDOWN (or RESET). `report` false: an agent that is not there is not an
   * error (the caller falls back to ACPI).
   */
  async #agentShutdown(dom: Domain, reboot: boolean, report: boolean): Promise<boolean> {
    const obj = this.#objOf(dom);
    if (obj.state !== 'running') throw invalid('domain is not running');
    let agent: GuestAgent;
    try {
      agent = agentAvailable(obj.agentSlot, true, obj.live ?? obj.def);
    } catch (err) {
      if (report) throw err;
      return false;
    }
    obj.fakeReboot = false;
    await agent.command(
      { execute: 'guest-shutdown', arguments: { mode: reboot ? 'reboot' : 'powerdown' } },
      60,
      { awaitEvent: reboot ? 'reset' : 'shutdown' },
    );
    return true;
  }

  /** qemuDomainPMSuspendForDuration (./pm-suspend.ts): through the agent, as an agent job. */
  async domainPMSuspendForDuration(
    dom: Domain,
    target: number,
    duration: number,
    flags: number,
  ): Promise<void> {
    checkSuspendArgs(target, duration, flags);
    const obj = this.#objOf(dom);
    const def = obj.live ?? obj.def;
    const agent = agentAvailable(obj.agentSlot, obj.state === 'running', def);
    await pmSuspend(await this.#monitor(obj), agent, def, target);
  }

  /** qemuDomainPMWakeup: QMP system_wakeup; the WAKEUP event makes the domain run again. */
  async domainPMWakeup(dom: Domain, flags: number): Promise<void> {
    virCheckFlags(flags, 0, 'qemuDomainPMWakeup');
    await this.#job(this.#objOf(dom).def.name, async (obj) => {
      this.#requireActive(obj);
      await (await this.#monitor(obj)).execute('system_wakeup');
    });
  }

  /** qemuDomainShutdownFlags/qemuDomainReboot: the agent first when asked or when it is there. */
  async #shutdownOrReboot(dom: Domain, flags: number, reboot: boolean): Promise<void> {
    const ACPI = 1;
    const AGENT = 2;
    const obj = this.#objOf(dom);
    const agentRequested = (flags & AGENT) !== 0;
    const acpiRequested = (flags & ACPI) !== 0;
    const useAgent = agentRequested || (!flags && obj.agentSlot?.agent !== undefined);
    const agentForced = agentRequested && !acpiRequested;
    let done = false;
    if (useAgent) {
      try {
        done = await this.#agentShutdown(dom, reboot, agentForced);
      } catch (err) {
        if (agentForced) throw err;
      }
    }
    if (done) return;
    // the guest may have gone while the agent was tried
    if (useAgent && !isActiveState(this.#objOf(dom).state)) return;
    if (reboot) await this.reboot(obj.def.name);
    else await this.shutdown(obj.def.name);
  }

  /**
   * qemuDomainGetMessages (virDomainObjGetMessages): the run's taints in virDomainTaint's order,
   * in libvirt's words. (qvirt records the monitor and agent command taints; it keeps no
   * deprecations, so there are none to list.)
   */
  async domainGetMessages(dom: Domain, flags: number): Promise<string[]> {
    const M = VIR_DOMAIN_MESSAGE;
    virCheckFlags(flags, M.DEPRECATION | M.TAINTING, 'qemuDomainGetMessages');
    const obj = this.#objOf(dom);
    if (flags && !(flags & M.TAINTING)) return [];
    return TAINTS.filter(([name]) => obj.taints?.has(name)).map(([, text]) => `tainted: ${text}`);
  }

  /** qemuDomainObjTaint: once per run and reason, a line in the domain's log, as libvirt writes it. */
  #taint(obj: DomainObj, reason: 'custom-monitor' | 'custom-ga-command'): void {
    const file = obj.proc?.logFile;
    obj.taints ??= new Set();
    if (!file || obj.taints.has(reason)) return;
    obj.taints.add(reason);
    void appendFile(file, `${timestamp()}: Domain id=${obj.id} is tainted: ${reason}\n`).catch(() => {});
  }

  // ---- libvirt-qemu: ./qemu-monitor-events.ts -------------------------------------------------

  /** qemuDomainQemuMonitorCommandWithFiles: QMP text in, the whole reply out; or HMP. */
  async domainQemuMonitorCommand(dom: Domain, cmd: string, flags: number): Promise<string> {
    const HMP = 1; // VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP
    virCheckFlags(flags, HMP, 'qemuDomainQemuMonitorCommandWithFiles');
    return this.#job(this.#objOf(dom).def.name, async (obj) => {
      this.#requireActive(obj);
      this.#taint(obj, 'custom-monitor');
      return monitorCommandText(await this.#monitor(obj), cmd, (flags & HMP) !== 0);
    });
  }

  async domainQemuAttach(_pid: number, _flags: number): Promise<Domain> {
    // libvirt 5.5.0 removed it from the QEMU driver
    throw new VirError(
      'NO_SUPPORT',
      'none',
      'this function is not supported by the connection driver: virDomainQemuAttach',
    );
  }

  async connectDomainQemuMonitorEventRegister(
    dom: Domain | null,
    event: string | null,
    callback: QemuMonitorEventCallback,
    flags: number,
  ): Promise<number> {
    if (dom) this.#objOf(dom);
    return this.#monitorEvents.register(dom, event, callback, flags);
  }

  async connectDomainQemuMonitorEventDeregister(callbackID: number): Promise<void> {
    this.#monitorEvents.deregister(callbackID);
  }

  /** Sends a raw QMP command to a running domain (qemu-monitor-command). */
  async monitorCommand<T = unknown>(
    name: string,
    command: string,
    args?: Record<string, unknown>,
  ): Promise<T> {
    return this.#job(name, async (obj) => {
      this.#requireActive(obj);
      return (await this.#monitor(obj)).execute<T>(command, args);
    });
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}

/** virQEMUCapsCacheLookup's check of the emulator. */
async function checkEmulator(binary: string): Promise<void> {
  try {
    await access(binary, fsConstants.X_OK);
  } catch (err) {
    throw new VirError('SYSTEM_ERROR', 'qemu', `Cannot check QEMU binary ${binary}: ${errnoText(err)}`);
  }
}

/** Local disk sources must be there before QEMU is started (qemuDomainDetermineDiskChain). */
async function checkDisks(def: DomainDef): Promise<void> {
  for (const disk of def.devices?.disk ?? []) {
    const src = disk.source as { file?: string; dev?: string; dir?: string } | undefined;
    const file = disk.type === 'file' ? src?.file : disk.type === 'block' ? src?.dev : undefined;
    if (!file) continue;
    try {
      await access(file, fsConstants.F_OK);
    } catch (err) {
      const uid = process.geteuid?.() ?? 0;
      const gid = process.getegid?.() ?? 0;
      throw new VirError(
        'SYSTEM_ERROR',
        'qemu',
        `Cannot access storage file '${file}' (as uid:${uid}, gid:${gid}): ${errnoText(err)}`,
      );
    }
  }
}

/** Is `pid` alive and the QEMU that owns this monitor (not a recycled pid)? */
/** Creates (without truncating) the files of `type='file'` chardevs and chardev `<log>`s. */
async function createChardevFiles(def: DomainDef): Promise<void> {
  const d = def.devices;
  for (const list of [d?.serial, d?.parallel, d?.console, d?.channel]) {
    for (const chr of list ?? []) {
      const files = [chr.type === 'file' ? chr.source?.[0]?.path : undefined, chr.log?.file];
      for (const f of files) {
        if (!f) continue;
        try {
          await (await open(f, 'a', 0o600)).close();
        } catch {
          // QEMU reports it with its own words
        }
      }
    }
  }
}

async function isOurQemu(pid: number, monitorPath: string): Promise<boolean> {
  if (!Number.isInteger(pid) || pid <= 0 || !isProcessAlive(pid)) return false;
  try {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes(monitorPath);
  } catch {
    return false;
  }
}

/** What QEMU wrote to the log after the command line (its reason for exiting), as one line. */
async function logTail(logFile: string, from: number): Promise<string> {
  try {
    const text = (await readFile(logFile)).subarray(from).toString('utf8');
    const lines = text
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    return lines.join(' ').slice(0, 2000);
  } catch {
    return '';
  }
}

function describeExit(info: { code: number | null; signal: NodeJS.Signals | null } | undefined): string {
  if (!info) return 'QEMU exited';
  if (info.signal) return `QEMU was killed by ${info.signal}`;
  return `QEMU exited with status ${info.code}`;
}

function qemuVersion(v: number): string {
  return `${Math.floor(v / 1e6)}.${Math.floor(v / 1000) % 1000}.${v % 1000}`;
}

/** libvirt 9.0.0, as virConnectGetLibVersion reports it. */
export const LIB_VERSION = 9_000_000;

/** virDomainObjListFilter for VIR_CONNECT_LIST_DOMAINS flags. */
export function matchesListFlags(d: DomainSummary, flags: number): boolean {
  const L = VIR_CONNECT_LIST_DOMAINS;
  /** A flag pair (e.g. ACTIVE / INACTIVE): with just one of the two set, the domain must match it. */
  const pair = (a: number, b: number, isA: boolean) => {
    const wantA = (flags & a) !== 0;
    const wantB = (flags & b) !== 0;
    if (wantA === wantB) return true;
    return wantA ? isA : !isA;
  };
  if (!pair(L.ACTIVE, L.INACTIVE, isActiveState(d.state))) return false;
  if (!pair(L.PERSISTENT, L.TRANSIENT, d.persistent)) return false;
  if (!pair(L.AUTOSTART, L.NO_AUTOSTART, d.autostart)) return false;
  if (!pair(L.MANAGEDSAVE, L.NO_MANAGEDSAVE, d.managedSave === true)) return false;
  if (!pair(L.HAS_SNAPSHOT, L.NO_SNAPSHOT, false)) return false;
  if (!pair(L.HAS_CHECKPOINT, L.NO_CHECKPOINT, false)) return false;
  const stateBits = flags & (L.RUNNING | L.PAUSED | L.SHUTOFF | L.OTHER);
  if (stateBits) {
    const bit =
      d.state === 'running'
        ? L.RUNNING
        : d.state === 'paused'
          ? L.PAUSED
          : d.state === 'shutoff'
            ? L.SHUTOFF
            : L.OTHER;
    if (!(stateBits & bit)) return false;
  }
  return true;
}

/** The host's capabilities XML, as `virsh capabilities` prints it (QEMU probed through the host prober). */
async function hostCapabilitiesXml(driver: QemuDriver): Promise<string> {
  const { capabilitiesXml, guestsFromProbe, probeHost, readHostInfo } = await import('@qvirt/host-prober');
  let ids: ReturnType<typeof resolveQemuIds>;
  try {
    ids = resolveQemuIds(driver.conf.user, driver.conf.group);
  } catch {
    ids = resolveQemuIds(undefined, undefined);
  }
  const env = driver.env;
  const probe = await probeHost({
    ...ids,
    cacheDir: `${driver.layout.cacheDir}/capabilities`,
    path: env.PATH ?? '/usr/bin:/bin',
    env,
  });
  const secModels = await driver.secModels().catch(() => [{ model: 'none', doi: '0' }]);
  return capabilitiesXml({ host: readHostInfo(), guests: guestsFromProbe(probe), secModels });
}
