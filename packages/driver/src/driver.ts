/**
 * The QEMU driver of one instance: persistent and transient domains, their QEMU processes and
 * status files. Operations on one domain are serialised (a job queue per domain); operations on
 * different domains run in parallel.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
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
  loadQemuConf,
  nodeHost,
  parseDomainXML,
  type QemuConf,
  type SecModelInfo,
  type SecurityManager,
  SecurityRegistry,
  VirError,
} from '@qvirt/core';
import {
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
  type FirmwareDescriptor,
  formatDefinition,
  prepareDomain,
  type QemuCaps,
  type QemuContext,
  qemu72Caps,
  scaledToBytes,
  shellQuote,
} from '@qvirt/qemu-argv';
import { removeStaleTempFiles, writeFileAtomic } from './atomic-file.js';
import { type BlockStats, gatherBlockStats, gatherMemoryStats, type MemoryStat } from './domain-stats.js';
import { type InstanceEnv, type InstanceSpec, resolveInstance } from './instance.js';
import { acquireInstanceLock, type InstanceLock } from './instance-lock.js';
import { JobQueue } from './job-queue.js';
import { type LaunchHandle, type LaunchHook, type LaunchSpec, launch } from './launch.js';
import { withAliases } from './live-xml.js';
import {
  connectInterfaces,
  type InterfaceConnections,
  interfaceStats,
  reserveInterfaceNames,
  stopInterfaces,
  tapFdMap,
} from './net-interfaces.js';
import type { InterfaceStats } from './net-tap.js';
import { prepareNvram } from './nvram.js';
import { QmpClient, type QmpEvent } from './qmp.js';
import { type DomainState, isActiveState, type StateReason } from './state.js';
import { type DomainStatus, formatStatus, parseStatus } from './status.js';
import { cachingUserDb } from './user-db-cache.js';

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

/**
 * A change of a domain's life, for event listeners ({@link QemuDriver.onLifecycle}): a definition
 * stored (`updated` when it replaced one), a definition removed, or a state change (with the
 * state before it). The remote protocol maps these onto libvirt's lifecycle events.
 */
export interface LifecycleChange {
  kind: 'defined' | 'undefined' | 'state';
  name: string;
  uuid: string;
  id: number;
  state: DomainState;
  reason: StateReason;
  previous?: DomainState;
  updated?: boolean;
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
  pauseReason?: StateReason;
}

const CONFIG_HEADER = (name: string) => `<!--
WARNING: THIS IS AN AUTO-GENERATED FILE. CHANGES TO IT ARE LIKELY TO BE
OVERWRITTEN AND LOST. Changes to this xml configuration should be made using:
  virsh edit ${name}
or other application using the libvirt API.
-->

`;

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

export class QemuDriver {
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
  readonly #lifecycleListeners = new Set<(change: LifecycleChange) => void>();
  /** Problems met while loading definitions and status files (libvirt logs and skips them). */
  readonly loadErrors: string[] = [];
  /** libvirt's VIR_WARNs: labels that could not be restored, failed rollbacks. */
  readonly warnings: string[] = [];
  /** The security stack of the instance (qemu.conf `security_driver`). */
  readonly security: SecurityManager;

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
    obj.security = { def: status.def, labelled: true };
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
      path: process.env.PATH ?? '/usr/bin:/bin',
      firmwares: this.#options.firmwares ?? (() => readFirmwareDescriptors(this.#firmwareSearch())),
      host: this.#host(),
    };
  }

  #hostDescription: HostDescription | undefined;
  /** The host as libvirt sees it at start (NUMA nodes, host CPU), read once per driver. */
  #host(): HostDescription {
    this.#hostDescription ??= this.#options.hostDescription ?? readHostDescription();
    return this.#hostDescription;
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
        this.#emitLifecycle(existing, { kind: 'defined', updated: true });
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
      this.#emitLifecycle(obj, { kind: 'defined', updated: false });
      return this.#summary(obj);
    });
  }

  async undefine(name: string): Promise<void> {
    await this.#job(name, async (obj) => {
      if (!obj.persistent) throw invalid('cannot undefine transient domain');
      await unlink(path.join(this.instance.autostartDir, `${obj.def.name}.xml`)).catch(() => {});
      await unlink(this.#configFile(obj.def.name)).catch((err) => {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      });
      obj.autostart = false;
      if (isActiveState(obj.state)) {
        obj.persistent = false;
        obj.newDef = undefined;
      } else this.#domains.delete(obj.def.uuid!);
      this.#emitLifecycle(obj, { kind: 'undefined' });
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
      nrVirtCpu: Number((def.vcpu as { value?: number } | undefined)?.value ?? 1),
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
  async start(name: string, options: { paused?: boolean } = {}): Promise<DomainSummary> {
    return this.#job(name, async (obj) => {
      if (isActiveState(obj.state)) throw invalid('domain is already running');
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

  async #startProcess(obj: DomainObj, paused: boolean, liveDef?: DomainDef): Promise<void> {
    const id = ++this.#lastId;
    const def: DomainDef = structuredClone(liveDef ?? obj.def);
    const name = def.name;
    const ctx = this.#ctx(id, 'start');
    const emulator = def.devices?.emulator ?? this.caps.emulator;
    await checkEmulator(emulator);
    await checkDisks(def);
    // qemuProcessStartValidate: every <seclabel model=…> names a stacked driver
    this.security.checkAllLabel(def);
    // qemuProcessPrepareDomain: firmware autoselection fills <loader>/<nvram> (the live definition
    // shows them; the stored one keeps firmware='efi')
    prepareDomain(def, ctx, { startNew: true });
    const commandLine = buildCommandLine(def, ctx);
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
      for (const hook of this.#options.launchHooks ?? []) await hook(spec);
      // The chain stops before exec'ing QEMU until the resources are labelled (the handshake).
      // the private /dev is assembled over the (root-only) run directory, in QEMU's namespace only
      handle = launch(spec, { handshake: true, devMountPoint: this.layout.runDir, passFds: tapFds });
      child = handle.child;
      // QEMU has its own copies: the taps now go away when it exits
      nets.closeFds();
    } catch (err) {
      await logFh?.close();
      nets?.closeFds();
      if (nets) await this.#stopInterfaces(def);
      await this.#securityTeardown(obj);
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
        obj.live = withAliases({ ...def, id });
        obj.id = id;
        this.#setState(obj, 'paused', 'starting up');
        // Each waits for its fsyncs: together, not one after the other, and all settle before a
        // failure is acted on, so the cleanup never races a rename. What PrepareHost labels lives
        // in the private directory, which a rollback removes whole, so it need not wait for the
        // status file as setAllLabel does.
        const prepareHost = async () => {
          await this.security.setPathLabel(def, libDir, true);
          await writeFileAtomic(`${libDir}/master-key.aes`, randomBytes(32), { mode: 0o600 });
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
      await this.#options.startPhaseHook?.('before-cont', { name, pid: child.pid });
      if (!paused) {
        await obj.qmp!.execute('cont');
        this.#setState(obj, 'running', 'booted');
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
        await obj.childExit;
      }
      // (a chain that could not even be spawned never got its live definition: the interfaces
      // it had are still to be undone)
      obj.live ??= withAliases({ ...def, id });
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

  #setState(obj: DomainObj, state: DomainState, reason: StateReason): void {
    const previous = obj.state;
    obj.state = state;
    obj.reason = reason;
    this.#emitLifecycle(obj, { kind: 'state', previous });
  }

  /** Calls `listener` at every definition, removal and state change; returns the unsubscriber. */
  onLifecycle(listener: (change: LifecycleChange) => void): () => void {
    this.#lifecycleListeners.add(listener);
    return () => this.#lifecycleListeners.delete(listener);
  }

  #emitLifecycle(obj: DomainObj, change: Pick<LifecycleChange, 'kind' | 'previous' | 'updated'>): void {
    if (this.#lifecycleListeners.size === 0) return;
    const full: LifecycleChange = {
      ...change,
      name: obj.def.name,
      uuid: obj.def.uuid!,
      id: obj.id,
      state: obj.state,
      reason: obj.reason,
    };
    for (const l of this.#lifecycleListeners) {
      try {
        l(full);
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
    switch (ev.event) {
      case 'STOP':
        if (obj.state === 'running') {
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
      case 'SHUTDOWN':
        obj.gotShutdown = true;
        void this.#jobs.run(obj.def.uuid!, () => this.#handleShutdown(obj, generation)).catch(() => {});
        break;
      default:
        break;
    }
  }

  /** -no-shutdown: QEMU stays after the guest powers off; a reboot is done here (fake reboot). */
  async #handleShutdown(obj: DomainObj, generation: number): Promise<void> {
    if (obj.generation !== generation || !isActiveState(obj.state)) return;
    if (obj.fakeReboot && obj.qmp) {
      obj.fakeReboot = false;
      obj.gotShutdown = false;
      await obj.qmp.execute('system_reset');
      await obj.qmp.execute('cont');
      this.#setState(obj, 'running', 'booted');
      await this.#saveStatus(obj);
      return;
    }
    this.#setState(obj, 'shutdown', 'user');
    await this.#killProcess(obj);
    await this.#stopped(obj, 'shutdown');
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
  async #stopped(obj: DomainObj, reason: StateReason): Promise<void> {
    const name = obj.def.name;
    const proc = obj.proc;
    this.#detach(obj);
    obj.generation++;
    if (proc) {
      await appendFile(proc.logFile, `${timestamp()}: shutting down, reason=${reason}\n`).catch(() => {});
    }
    // qemuExtDevicesStop and qemuProcessStop's interface loop: downscripts, managed ethernet taps
    if (obj.live) await this.#stopInterfaces(obj.live);
    await this.#securityTeardown(obj);
    await this.#cleanupFiles(name, proc?.libDir);
    obj.proc = undefined;
    obj.live = undefined;
    obj.childExit = undefined;
    obj.id = -1;
    obj.beingDestroyed = false;
    obj.pauseReason = undefined;
    this.#setState(obj, 'shutoff', reason);
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
