/**
 * The hypervisor contract: what every caller of a hypervisor uses, modelled on libvirt's
 * virHypervisorDriver (src/driver-hypervisor.h). `QemuDriver` (@qvirt/driver) implements it in
 * process, the remote client (@qvirt/remote) over libvirt's wire protocol; qvirsh and qvirtd see
 * only this, so an embedded URI and every remote URI behave the same.
 *
 * The rules that keep it one shape everywhere:
 * - a method is libvirt's public API name without `vir`, first letter lower-case;
 * - parameters come in the order of the API's remote_*_args struct (remote_protocol.x), which is
 *   the C API's order; a method returns the remote_*_ret struct's only field, or the struct itself
 *   (its field names as in remote_protocol.x) when it has several;
 * - flags, states and enums keep libvirt's numbers (./constants.ts, ./domain-state.ts);
 * - errors are VirError with libvirt's code, domain and message.
 * A new API costs one method here, its implementation, and one row in the remote dispatch table.
 */
import type { VirStream } from '../storage/stream.js';

/** virDomainPtr as it travels (remote_nonnull_domain): id is -1 when the domain is not running. */
export interface Domain {
  name: string;
  /** Canonical text form (8-4-4-4-12, lower case). */
  uuid: string;
  id: number;
}

/** virDomainSnapshotPtr as it travels (remote_nonnull_domain_snapshot). */
export interface DomainSnapshot {
  name: string;
  dom: Domain;
}

/** virDomainInfo (remote_domain_get_info_ret). */
export interface DomainInfo {
  /** virDomainState */
  state: number;
  /** KiB */
  maxMem: number;
  /** KiB */
  memory: number;
  nrVirtCpu: number;
  /** nanoseconds */
  cpuTime: number;
}

/** virDomainGetState's answer (remote_domain_get_state_ret). */
export interface DomainStateInfo {
  state: number;
  reason: number;
}

/** virNodeInfo (remote_node_get_info_ret). */
export interface NodeInfo {
  model: string;
  /** KiB */
  memory: number;
  cpus: number;
  mhz: number;
  nodes: number;
  sockets: number;
  cores: number;
  threads: number;
}

/** virNodeGetCPUStats / virNodeGetMemoryStats' answer: the stats, and how many there are in all. */
export interface NodeStatsReply {
  /** virNodeCPUStats (nanoseconds) / virNodeMemoryStats (KiB). */
  params: { field: string; value: number }[];
  nparams: number;
}

/** virNodeGetCPUMap's answer (remote_node_get_cpu_map_ret): online CPUs' bitmap, their count, CPUs present. */
export interface NodeCPUMap {
  cpumap: Uint8Array;
  online: number;
  ret: number;
}

/** virSecurityModel (remote_node_get_security_model_ret). */
export interface SecurityModel {
  model: string;
  doi: string;
}

/** virSecurityLabel (remote_domain_get_security_label_ret). */
export interface SecurityLabel {
  label: string;
  enforcing: number;
}

/** virDomainInterfaceStatsStruct (remote_domain_interface_stats_ret); -1 where not known. */
export interface InterfaceStats {
  rx_bytes: number;
  rx_packets: number;
  rx_errs: number;
  rx_drop: number;
  tx_bytes: number;
  tx_packets: number;
  tx_errs: number;
  tx_drop: number;
}

/** virDomainBlockStatsStruct (remote_domain_block_stats_ret); -1 where not known. */
export interface BlockStats {
  rd_req: number;
  rd_bytes: number;
  wr_req: number;
  wr_bytes: number;
  errs: number;
}

/** virDomainMemoryStatStruct (remote_domain_memory_stat). */
export interface MemoryStat {
  tag: number;
  val: number;
}

/** virTypedParameterType. */
export const VIR_TYPED_PARAM = {
  INT: 1,
  UINT: 2,
  LLONG: 3,
  ULLONG: 4,
  DOUBLE: 5,
  BOOLEAN: 6,
  STRING: 7,
} as const;

/** virTypedParameter (remote_typed_param). */
export interface TypedParam {
  field: string;
  /** virTypedParameterType */
  type: number;
  value: number | boolean | string;
}

/** virDomainBlockStatsFlags' answer: the parameters, and how many there are in all. */
export interface TypedParamsReply {
  params: TypedParam[];
  nparams: number;
}

/** virDomainGetSecurityLabelList's answer. */
export interface SecurityLabelList {
  labels: SecurityLabel[];
  ret: number;
}

/** virVcpuInfo (remote_vcpu_info): state is virVcpuState, cpu_time nanoseconds, cpu the host CPU. */
export interface VcpuInfo {
  number: number;
  state: number;
  cpu_time: number;
  cpu: number;
}

/** virDomainGetVcpus' answer: one VcpuInfo per vCPU and, with maplen > 0, their affinity maps. */
export interface DomainVcpus {
  info: VcpuInfo[];
  cpumaps: Uint8Array;
}

/** virDomainBlockInfo (remote_domain_get_block_info_ret), bytes. */
export interface BlockInfo {
  allocation: number;
  capacity: number;
  physical: number;
}

/** virDomainJobInfo (remote_domain_get_job_info_ret): type is virDomainJobType. */
export interface JobInfo {
  type: number;
  timeElapsed: number;
  timeRemaining: number;
  dataTotal: number;
  dataProcessed: number;
  dataRemaining: number;
  memTotal: number;
  memProcessed: number;
  memRemaining: number;
  fileTotal: number;
  fileProcessed: number;
  fileRemaining: number;
}

/** virDomainControlInfo (remote_domain_get_control_info_ret): state is virDomainControlState. */
export interface ControlInfo {
  state: number;
  details: number;
  /** milliseconds in the state (0 when idle) */
  stateTime: number;
}

/** virDomainIOThreadInfo (remote_domain_iothread_info). */
export interface IOThreadInfo {
  iothread_id: number;
  cpumap: Uint8Array;
}

/** virDomainDiskError (remote_domain_disk_error): error is virDomainDiskErrorCode. */
export interface DiskError {
  disk: string;
  error: number;
}

/** virDomainScreenshot's stream, with the MIME type the call answers (remote_domain_screenshot_ret). */
export interface ScreenshotStream extends VirStream {
  mime: string;
}

/** virDomainStatsRecord (remote_domain_stats_record). */
export interface DomainStatsRecord {
  dom: Domain;
  params: TypedParam[];
}

/** A domain event as delivered to a callback: the event id, the domain, and the event's fields. */
export interface DomainEvent {
  eventID: number;
  dom: Domain;
  /** VIR_DOMAIN_EVENT_ID_LIFECYCLE: virDomainEventType and its detail. */
  event?: number;
  detail?: number;
  /** VIR_DOMAIN_EVENT_ID_METADATA_CHANGE: the VIR_DOMAIN_METADATA type and, for ELEMENT, its namespace. */
  type?: number;
  nsuri?: string | null;
  /** VIR_DOMAIN_EVENT_ID_TUNABLE: the tunables that changed (`cputune.vcpupin0`, …). */
  params?: TypedParam[];
  /** VIR_DOMAIN_EVENT_ID_BALLOON_CHANGE: the balloon's new size, KiB. */
  actual?: number;
  /** VIR_DOMAIN_EVENT_ID_DEVICE_ADDED / DEVICE_REMOVED: the device's alias. */
  devAlias?: string;
  /**
   * VIR_DOMAIN_EVENT_ID_AGENT_LIFECYCLE: VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_STATE_* and
   * _REASON_*; VIR_DOMAIN_EVENT_ID_TRAY_CHANGE: `reason` is VIR_DOMAIN_EVENT_TRAY_CHANGE_* (with devAlias).
   */
  state?: number;
  reason?: number;
  /** VIR_DOMAIN_EVENT_ID_MIGRATION_ITERATION: QEMU's pass over RAM. */
  iteration?: number;
  /**
   * VIR_DOMAIN_EVENT_ID_BLOCK_THRESHOLD: the disk target (or `vda[1]`), its source path, the
   * threshold crossed and by how much the write went past it (bytes).
   */
  dev?: string;
  path?: string | null;
  threshold?: number;
  excess?: number;
  /**
   * VIR_DOMAIN_EVENT_ID_BLOCK_JOB: the disk's source path; VIR_DOMAIN_EVENT_ID_BLOCK_JOB_2: its
   * target (`vda`). `blockJobType` is virDomainBlockJobType, `status` the
   * virConnectDomainEventBlockJobStatus.
   */
  disk?: string;
  blockJobType?: number;
  status?: number;
}

/** virDomainBlockJobInfo as virDomainGetBlockJobInfo answers it (remote_domain_get_block_job_info_ret). */
export interface BlockJobInfo {
  /** 0: no job on the disk (the other fields are then 0). */
  found: number;
  /** virDomainBlockJobType */
  type: number;
  /** MiB/s, or bytes/s with VIR_DOMAIN_BLOCK_JOB_INFO_BANDWIDTH_BYTES. */
  bandwidth: number;
  cur: number;
  end: number;
}

/** A QEMU monitor event as virConnectDomainQemuMonitorEventRegister delivers it (libvirt-qemu). */
export interface QemuMonitorEvent {
  dom: Domain;
  event: string;
  seconds: number;
  micros: number;
  /** The event's `data` as JSON text, or null. */
  details: string | null;
}

export type QemuMonitorEventCallback = (event: QemuMonitorEvent) => void;

/** virDomainInterfaceAddresses' interfaces (remote_domain_interface). */
export interface DomainInterface {
  name: string;
  hwaddr: string | null;
  /** type: VIR_IP_ADDR_TYPE_IPV4 (0) / IPV6 (1). */
  addrs: Array<{ type: number; addr: string; prefix: number }>;
}

/** virDomainGetFSInfo's entries (remote_domain_fsinfo). */
export interface DomainFSInfo {
  mountpoint: string;
  name: string;
  fstype: string;
  /** The disks' target names (vda, …). */
  dev_aliases: string[];
}

export type DomainEventCallback = (event: DomainEvent) => void;

/** virHypervisorDriver: the calls qvirt serves, each with libvirt's name and meaning. */
export interface HypervisorDriver {
  // ---- connection ------------------------------------------------------------------------
  /** virConnectClose: releases the connection (guests keep running). */
  connectClose(): Promise<void>;
  connectGetType(): Promise<string>;
  /** The hypervisor's version, major * 1,000,000 + minor * 1,000 + micro. */
  connectGetVersion(): Promise<number>;
  connectGetLibVersion(): Promise<number>;
  connectGetHostname(): Promise<string>;
  connectGetURI(): Promise<string>;
  connectGetMaxVcpus(type: string | null): Promise<number>;
  connectGetCapabilities(): Promise<string>;
  /** virConnectGetSysinfo: the host's `<sysinfo>` (SMBIOS on x86). */
  connectGetSysinfo(flags: number): Promise<string>;
  /** virConnectGetDomainCapabilities: what a binary/arch/machine/virt type offers (null: defaults). */
  connectGetDomainCapabilities(
    emulatorbin: string | null,
    arch: string | null,
    machine: string | null,
    virttype: string | null,
    flags: number,
  ): Promise<string>;
  /** virConnectGetCPUModelNames: the CPU map's models of `arch` (`models` only when asked for). */
  connectGetCPUModelNames(
    arch: string,
    need_results: number,
    flags: number,
  ): Promise<{ models: string[]; ret: number }>;
  /** virConnectCompareCPU: a `<cpu>` against the host CPU, a VIR_CPU_COMPARE result. */
  connectCompareCPU(xml: string, flags: number): Promise<number>;
  /** virConnectCompareHypervisorCPU: a `<cpu>` against the CPU the hypervisor offers (host-model). */
  connectCompareHypervisorCPU(
    emulator: string | null,
    arch: string | null,
    machine: string | null,
    virttype: string | null,
    xmlCPU: string,
    flags: number,
  ): Promise<number>;
  /** virConnectBaselineCPU: the richest CPU all the given `<cpu>` descriptions can run. */
  connectBaselineCPU(xmlCPUs: string[], flags: number): Promise<string>;
  /** virConnectBaselineHypervisorCPU: the same, limited to what the hypervisor offers. */
  connectBaselineHypervisorCPU(
    emulator: string | null,
    arch: string | null,
    machine: string | null,
    virttype: string | null,
    xmlCPUs: string[],
    flags: number,
  ): Promise<string>;
  connectIsSecure(): Promise<number>;
  connectIsEncrypted(): Promise<number>;
  /** virDrvFeature (VIR_DRV_FEATURE): 1 when supported. */
  connectSupportsFeature(feature: number): Promise<number>;
  nodeGetInfo(): Promise<NodeInfo>;
  nodeGetSecurityModel(): Promise<SecurityModel>;
  /** Free memory (bytes) of NUMA cells `startCell`.. (at most `maxcells`). */
  nodeGetCellsFreeMemory(startCell: number, maxcells: number): Promise<number[]>;
  /** Free memory of the host, bytes. */
  nodeGetFreeMemory(): Promise<number>;
  /** Free pages of each size in `pages` (KiB), per cell from `startCell` (-1: the host), cell-major. */
  nodeGetFreePages(pages: number[], startCell: number, cellCount: number, flags: number): Promise<number[]>;
  /** Sets (VIR_NODE_ALLOC_PAGES_SET) or grows the huge page pools; answers how many were changed. */
  nodeAllocPages(
    pageSizes: number[],
    pageCounts: number[],
    startCell: number,
    cellCount: number,
    flags: number,
  ): Promise<number>;
  /** Memory stats of the host (cellNum -1) or a cell; with nparams 0, only how many there are. */
  nodeGetMemoryStats(nparams: number, cellNum: number, flags: number): Promise<NodeStatsReply>;
  /** CPU time of all CPUs (cpuNum -1) or one; with nparams 0, only how many stats there are. */
  nodeGetCPUStats(cpuNum: number, nparams: number, flags: number): Promise<NodeStatsReply>;
  /** needMap/needOnline: whether the bitmap / the online count are wanted (1) or not (0). */
  nodeGetCPUMap(needMap: number, needOnline: number, flags: number): Promise<NodeCPUMap>;
  /** The host's shared-memory (KSM) parameters; with nparams 0, only how many there are. */
  nodeGetMemoryParameters(nparams: number, flags: number): Promise<TypedParamsReply>;

  // ---- listing and lookup ----------------------------------------------------------------
  connectNumOfDomains(): Promise<number>;
  connectListDomains(maxids: number): Promise<number[]>;
  connectNumOfDefinedDomains(): Promise<number>;
  connectListDefinedDomains(maxnames: number): Promise<string[]>;
  /** VIR_CONNECT_LIST_DOMAINS flags. */
  connectListAllDomains(flags: number): Promise<Domain[]>;
  domainLookupByID(id: number): Promise<Domain>;
  domainLookupByName(name: string): Promise<Domain>;
  domainLookupByUUID(uuid: string): Promise<Domain>;

  // ---- definitions -----------------------------------------------------------------------
  domainDefineXML(xml: string): Promise<Domain>;
  /** VIR_DOMAIN_DEFINE flags. */
  domainDefineXMLFlags(xml: string, flags: number): Promise<Domain>;
  domainUndefine(dom: Domain): Promise<void>;
  /** VIR_DOMAIN_UNDEFINE flags. */
  domainUndefineFlags(dom: Domain, flags: number): Promise<void>;
  domainGetAutostart(dom: Domain): Promise<number>;
  domainSetAutostart(dom: Domain, autostart: number): Promise<void>;
  /** VIR_DOMAIN_XML flags. */
  domainGetXMLDesc(dom: Domain, flags: number): Promise<string>;
  connectDomainXMLToNative(nativeFormat: string, domainXml: string, flags: number): Promise<string>;
  connectDomainXMLFromNative(nativeFormat: string, nativeConfig: string, flags: number): Promise<string>;

  // ---- lifecycle -------------------------------------------------------------------------
  domainCreate(dom: Domain): Promise<void>;
  /** VIR_DOMAIN_START flags; answers the domain with its new id. */
  domainCreateWithFlags(dom: Domain, flags: number): Promise<Domain>;
  domainCreateXML(xml: string, flags: number): Promise<Domain>;
  domainShutdown(dom: Domain): Promise<void>;
  domainShutdownFlags(dom: Domain, flags: number): Promise<void>;
  domainDestroy(dom: Domain): Promise<void>;
  domainDestroyFlags(dom: Domain, flags: number): Promise<void>;
  domainReboot(dom: Domain, flags: number): Promise<void>;
  domainReset(dom: Domain, flags: number): Promise<void>;
  domainSuspend(dom: Domain): Promise<void>;
  domainResume(dom: Domain): Promise<void>;
  /** virDomainPMSuspendForDuration: `target` is virNodeSuspendTarget; `duration` must be 0. */
  domainPMSuspendForDuration(dom: Domain, target: number, duration: number, flags: number): Promise<void>;
  /** virDomainPMWakeup: a suspended guest wakes. */
  domainPMWakeup(dom: Domain, flags: number): Promise<void>;

  // ---- state and statistics --------------------------------------------------------------
  domainGetInfo(dom: Domain): Promise<DomainInfo>;
  domainGetState(dom: Domain, flags: number): Promise<DomainStateInfo>;
  domainIsActive(dom: Domain): Promise<number>;
  domainIsPersistent(dom: Domain): Promise<number>;
  /** 1 while a running domain has a persistent definition saved since it started. */
  domainIsUpdated(dom: Domain): Promise<number>;
  /** virDomainGetMessages: the run's taints, then its deprecations; VIR_DOMAIN_MESSAGE flags (0: both). */
  domainGetMessages(dom: Domain, flags: number): Promise<string[]>;
  domainHasManagedSaveImage(dom: Domain, flags: number): Promise<number>;

  // ---- save and restore (libvirt's save-image format) --------------------------------------
  domainSave(dom: Domain, to: string): Promise<void>;
  /** VIR_DOMAIN_SAVE flags; `dxml` alters the definition kept in the image. */
  domainSaveFlags(dom: Domain, to: string, dxml: string | null, flags: number): Promise<void>;
  domainRestore(from: string): Promise<void>;
  domainRestoreFlags(from: string, dxml: string | null, flags: number): Promise<void>;
  /** VIR_DOMAIN_SAVE_IMAGE_XML flags. */
  domainSaveImageGetXMLDesc(file: string, flags: number): Promise<string>;
  domainSaveImageDefineXML(file: string, dxml: string, flags: number): Promise<void>;
  domainManagedSave(dom: Domain, flags: number): Promise<void>;
  domainManagedSaveRemove(dom: Domain, flags: number): Promise<void>;
  domainManagedSaveGetXMLDesc(dom: Domain, flags: number): Promise<string>;
  domainManagedSaveDefineXML(dom: Domain, dxml: string | null, flags: number): Promise<void>;

  // ---- snapshots (internal and external) -------------------------------------------------------
  domainSnapshotCreateXML(dom: Domain, xmlDesc: string, flags: number): Promise<DomainSnapshot>;
  domainSnapshotGetXMLDesc(snap: DomainSnapshot, flags: number): Promise<string>;
  domainSnapshotNum(dom: Domain, flags: number): Promise<number>;
  domainSnapshotListNames(dom: Domain, maxnames: number, flags: number): Promise<string[]>;
  domainListAllSnapshots(dom: Domain, flags: number): Promise<DomainSnapshot[]>;
  domainSnapshotLookupByName(dom: Domain, name: string, flags: number): Promise<DomainSnapshot>;
  domainHasCurrentSnapshot(dom: Domain, flags: number): Promise<number>;
  domainSnapshotCurrent(dom: Domain, flags: number): Promise<DomainSnapshot>;
  domainSnapshotGetParent(snap: DomainSnapshot, flags: number): Promise<DomainSnapshot>;
  domainSnapshotIsCurrent(snap: DomainSnapshot, flags: number): Promise<number>;
  domainSnapshotHasMetadata(snap: DomainSnapshot, flags: number): Promise<number>;
  domainRevertToSnapshot(snap: DomainSnapshot, flags: number): Promise<void>;
  domainSnapshotDelete(snap: DomainSnapshot, flags: number): Promise<void>;
  domainSnapshotNumChildren(snap: DomainSnapshot, flags: number): Promise<number>;
  domainSnapshotListChildrenNames(snap: DomainSnapshot, maxnames: number, flags: number): Promise<string[]>;
  domainSnapshotListAllChildren(snap: DomainSnapshot, flags: number): Promise<DomainSnapshot[]>;

  // ---- consoles and channels (streams) ---------------------------------------------------
  /** `@readstream`: joined to the guest's console (a pty); VIR_DOMAIN_CONSOLE flags. */
  domainOpenConsole(dom: Domain, devName: string | null, flags: number): Promise<VirStream>;
  /** `@readstream`: joined to a unix channel; VIR_DOMAIN_CHANNEL flags. */
  domainOpenChannel(dom: Domain, name: string | null, flags: number): Promise<VirStream>;

  // ---- the guest agent -------------------------------------------------------------------
  /** The guest's clock (guest-get-time). */
  domainGetTime(dom: Domain, flags: number): Promise<{ seconds: number; nseconds: number }>;
  /** Sets the guest's clock, or with VIR_DOMAIN_TIME_SYNC (1) from its RTC. */
  domainSetTime(dom: Domain, seconds: number, nseconds: number, flags: number): Promise<void>;
  /** VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE (0) / AGENT (1) / ARP (2). */
  domainInterfaceAddresses(dom: Domain, source: number, flags: number): Promise<DomainInterface[]>;
  /** VIR_DOMAIN_GET_HOSTNAME_LEASE (1) / AGENT (2, the default). */
  domainGetHostname(dom: Domain, flags: number): Promise<string>;
  domainGetFSInfo(dom: Domain, flags: number): Promise<{ info: DomainFSInfo[]; ret: number }>;
  /** The number of file systems frozen (all when `mountpoints` is empty). */
  domainFSFreeze(dom: Domain, mountpoints: string[], flags: number): Promise<number>;
  domainFSThaw(dom: Domain, mountpoints: string[], flags: number): Promise<number>;
  domainFSTrim(dom: Domain, mountPoint: string | null, minimum: number, flags: number): Promise<void>;
  /** VIR_DOMAIN_PASSWORD_ENCRYPTED (1). */
  domainSetUserPassword(
    dom: Domain,
    user: string | null,
    password: string | null,
    flags: number,
  ): Promise<void>;
  /** VIR_DOMAIN_GUEST_INFO_* types (0: all the agent has), as typed parameters. */
  domainGetGuestInfo(dom: Domain, types: number, flags: number): Promise<TypedParam[]>;
  /** `vcpus`, `online`, `offlinable` bitmaps. */
  domainGetGuestVcpus(dom: Domain, flags: number): Promise<TypedParam[]>;
  domainSetGuestVcpus(dom: Domain, cpumap: string, state: number, flags: number): Promise<void>;
  domainAuthorizedSSHKeysGet(dom: Domain, user: string, flags: number): Promise<string[]>;
  /** VIR_DOMAIN_AUTHORIZED_SSH_KEYS_SET_APPEND (1) / REMOVE (2). */
  domainAuthorizedSSHKeysSet(dom: Domain, user: string, keys: string[], flags: number): Promise<void>;
  /** VIR_DOMAIN_AGENT_RESPONSE_TIMEOUT_* or seconds; answers 0 (remote_domain_agent_set_response_timeout_ret). */
  domainAgentSetResponseTimeout(dom: Domain, timeout: number, flags: number): Promise<number>;

  // ---- libvirt-qemu (the QEMU program) ---------------------------------------------------
  /** A QMP command as JSON text (the whole reply as JSON), or HMP with VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP (1). */
  domainQemuMonitorCommand(dom: Domain, cmd: string, flags: number): Promise<string>;
  /** A guest agent command as JSON text; `timeout` is VIR_DOMAIN_QEMU_AGENT_COMMAND_* or seconds. */
  domainQemuAgentCommand(dom: Domain, cmd: string, timeout: number, flags: number): Promise<string | null>;
  /** virDomainQemuAttach (libvirt's QEMU driver no longer has it). */
  domainQemuAttach(pid_value: number, flags: number): Promise<Domain>;
  /**
   * virConnectDomainQemuMonitorEventRegister: `callback` gets QEMU's events of `dom` (every
   * domain when null) named `event` (every event when null; a regex with
   * VIR_CONNECT_DOMAIN_QEMU_MONITOR_EVENT_REGISTER_REGEX (1), case-blind with _NOCASE (2)).
   */
  connectDomainQemuMonitorEventRegister(
    dom: Domain | null,
    event: string | null,
    callback: QemuMonitorEventCallback,
    flags: number,
  ): Promise<number>;
  connectDomainQemuMonitorEventDeregister(callbackID: number): Promise<void>;
  domainGetOSType(dom: Domain): Promise<string>;
  /** KiB */
  domainGetMaxMemory(dom: Domain): Promise<number>;
  /** VIR_DOMAIN_AFFECT and VIR_DOMAIN_VCPU flags. */
  domainGetVcpusFlags(dom: Domain, flags: number): Promise<number>;
  /** VIR_DOMAIN_METADATA type; `uri` only for ELEMENT. */
  domainGetMetadata(dom: Domain, type: number, uri: string | null, flags: number): Promise<string>;
  domainGetSecurityLabel(dom: Domain): Promise<SecurityLabel>;
  domainGetSecurityLabelList(dom: Domain): Promise<SecurityLabelList>;
  domainInterfaceStats(dom: Domain, device: string): Promise<InterfaceStats>;
  domainBlockStats(dom: Domain, path: string): Promise<BlockStats>;
  /** With nparams 0, only how many there are (`nparams` of the answer). */
  domainBlockStatsFlags(dom: Domain, path: string, nparams: number, flags: number): Promise<TypedParamsReply>;
  domainMemoryStats(dom: Domain, maxStats: number, flags: number): Promise<MemoryStat[]>;
  /** virDomainGetVcpus: at most `maxinfo` vCPUs, `maplen` bytes of affinity map each. */
  domainGetVcpus(dom: Domain, maxinfo: number, maplen: number): Promise<DomainVcpus>;
  /** virDomainGetVcpuPinInfo: `ncpumaps` maps of `maplen` bytes; `num` is how many were filled. */
  domainGetVcpuPinInfo(
    dom: Domain,
    ncpumaps: number,
    maplen: number,
    flags: number,
  ): Promise<{ cpumaps: Uint8Array; num: number }>;
  /** virDomainGetEmulatorPinInfo: the emulator threads' map; `ret` is 1 when there is one. */
  domainGetEmulatorPinInfo(
    dom: Domain,
    maplen: number,
    flags: number,
  ): Promise<{ cpumaps: Uint8Array; ret: number }>;
  /** virConnectGetAllDomainStats / virDomainListGetStats (`doms` empty: every domain the flags select). */
  connectGetAllDomainStats(doms: Domain[], stats: number, flags: number): Promise<DomainStatsRecord[]>;
  /** virDomainGetCPUStats: per host CPU from `start_cpu` (`ncpus` of them), or the total (start_cpu -1). */
  domainGetCPUStats(
    dom: Domain,
    nparams: number,
    start_cpu: number,
    ncpus: number,
    flags: number,
  ): Promise<TypedParamsReply>;
  domainGetBlockInfo(dom: Domain, path: string, flags: number): Promise<BlockInfo>;
  domainGetJobInfo(dom: Domain): Promise<JobInfo>;
  /**
   * virDomainGetJobStats: the current job's statistics, or with VIR_DOMAIN_JOB_STATS_COMPLETED the
   * last completed job's (forgotten once read unless KEEP_COMPLETED); `type` is virDomainJobType.
   */
  domainGetJobStats(dom: Domain, flags: number): Promise<{ type: number; params: TypedParam[] }>;
  /** virDomainAbortJob: cancels the running save (or other async job). */
  domainAbortJob(dom: Domain): Promise<void>;
  /** VIR_DOMAIN_ABORT_JOB flags. */
  domainAbortJobFlags(dom: Domain, flags: number): Promise<void>;
  domainGetControlInfo(dom: Domain, flags: number): Promise<ControlInfo>;
  /** The scheduler's name and how many parameters it has. */
  domainGetSchedulerType(dom: Domain): Promise<{ type: string; nparams: number }>;
  domainGetSchedulerParameters(dom: Domain, nparams: number): Promise<TypedParam[]>;
  domainGetSchedulerParametersFlags(dom: Domain, nparams: number, flags: number): Promise<TypedParam[]>;

  // ---- resources -------------------------------------------------------------------------
  /** KiB */
  domainSetMemory(dom: Domain, memory: number): Promise<void>;
  /** KiB */
  domainSetMaxMemory(dom: Domain, memory: number): Promise<void>;
  /** KiB; VIR_DOMAIN_AFFECT and VIR_DOMAIN_MEM_MAXIMUM flags. */
  domainSetMemoryFlags(dom: Domain, memory: number, flags: number): Promise<void>;
  /** The balloon's statistics period, seconds (0: off); VIR_DOMAIN_AFFECT flags. */
  domainSetMemoryStatsPeriod(dom: Domain, period: number, flags: number): Promise<void>;
  /** VIR_DOMAIN_AFFECT and VIR_DOMAIN_VCPU flags. */
  domainSetVcpusFlags(dom: Domain, nvcpus: number, flags: number): Promise<void>;
  /** virDomainSetVcpus: the live count. */
  domainSetVcpus(dom: Domain, nvcpus: number): Promise<void>;
  // ---- migration tunables outside a migration --------------------------------------------
  /** virDomainMigrateSetMaxDowntime: QEMU's downtime limit, milliseconds. */
  domainMigrateSetMaxDowntime(dom: Domain, downtime: number, flags: number): Promise<void>;
  /** virDomainMigrateGetMaxDowntime, milliseconds. */
  domainMigrateGetMaxDowntime(dom: Domain, flags: number): Promise<number>;
  /** virDomainMigrateGetCompressionCache: the XBZRLE cache, bytes. */
  domainMigrateGetCompressionCache(dom: Domain, flags: number): Promise<number>;
  /** virDomainMigrateSetCompressionCache, bytes. */
  domainMigrateSetCompressionCache(dom: Domain, cacheSize: number, flags: number): Promise<void>;
  /** virDomainMigrateSetMaxSpeed, MiB/s; VIR_DOMAIN_MIGRATE_MAX_SPEED_POSTCOPY. */
  domainMigrateSetMaxSpeed(dom: Domain, bandwidth: number, flags: number): Promise<void>;
  /** virDomainMigrateGetMaxSpeed, MiB/s. */
  domainMigrateGetMaxSpeed(dom: Domain, flags: number): Promise<number>;
  /** virDomainStartDirtyRateCalc: QEMU measures the dirty page rate for `seconds` (1–60); VIR_DOMAIN_DIRTYRATE_MODE_*. */
  domainStartDirtyRateCalc(dom: Domain, seconds: number, flags: number): Promise<void>;
  /** virDomainGetMaxVcpus: the running domain's maximum (VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_VCPU_MAXIMUM). */
  domainGetMaxVcpus(dom: Domain): Promise<number>;
  /** virDomainSetVcpu: enables (state 1) or disables (0) the vCPUs of `cpumap` ("1-3,^2"); VIR_DOMAIN_AFFECT flags. */
  domainSetVcpu(dom: Domain, cpumap: string, state: number, flags: number): Promise<void>;
  /** virDomainPinVcpu: the live affinity of one vCPU. */
  domainPinVcpu(dom: Domain, vcpu: number, cpumap: Uint8Array): Promise<void>;
  domainPinVcpuFlags(dom: Domain, vcpu: number, cpumap: Uint8Array, flags: number): Promise<void>;
  domainPinEmulator(dom: Domain, cpumap: Uint8Array, flags: number): Promise<void>;

  // ---- cgroup tuning, IOThreads, keys, screens (cgroup-tuning.ts, iothreads.ts, live-misc.ts) --
  /** `memtune`: hard_limit, soft_limit, swap_hard_limit (KiB); with nparams 0, only how many. */
  domainGetMemoryParameters(dom: Domain, nparams: number, flags: number): Promise<TypedParamsReply>;
  domainSetMemoryParameters(dom: Domain, params: TypedParam[], flags: number): Promise<void>;
  /** `blkiotune`: weight and the per-device lists ("path,value,…"). */
  /** `domiftune`: the seven VIR_DOMAIN_BANDWIDTH_* rates of interface `device` (MAC or host name). */
  domainGetInterfaceParameters(
    dom: Domain,
    device: string,
    nparams: number,
    flags: number,
  ): Promise<TypedParamsReply>;
  domainSetInterfaceParameters(
    dom: Domain,
    device: string,
    params: TypedParam[],
    flags: number,
  ): Promise<void>;
  domainGetBlkioParameters(dom: Domain, nparams: number, flags: number): Promise<TypedParamsReply>;
  domainSetBlkioParameters(dom: Domain, params: TypedParam[], flags: number): Promise<void>;
  /** `numatune`: numa_mode (virDomainNumatuneMemMode) and numa_nodeset. */
  domainGetNumaParameters(dom: Domain, nparams: number, flags: number): Promise<TypedParamsReply>;
  domainSetNumaParameters(dom: Domain, params: TypedParam[], flags: number): Promise<void>;
  domainSetSchedulerParameters(dom: Domain, params: TypedParam[]): Promise<void>;
  domainSetSchedulerParametersFlags(dom: Domain, params: TypedParam[], flags: number): Promise<void>;
  /** virDomainGetIOThreadInfo: each IOThread's id and CPU map; `ret` is how many. */
  domainGetIOThreadInfo(dom: Domain, flags: number): Promise<{ info: IOThreadInfo[]; ret: number }>;
  domainPinIOThread(dom: Domain, iothreads_id: number, cpumap: Uint8Array, flags: number): Promise<void>;
  domainAddIOThread(dom: Domain, iothread_id: number, flags: number): Promise<void>;
  domainDelIOThread(dom: Domain, iothread_id: number, flags: number): Promise<void>;
  /** `iothreadset`: poll_max_ns, poll_grow, poll_shrink, thread_pool_min, thread_pool_max. */
  domainSetIOThreadParams(
    dom: Domain,
    iothread_id: number,
    params: TypedParam[],
    flags: number,
  ): Promise<void>;
  /** `codeset`: virKeycodeSet (keycodes.ts); `holdtime` ms. */
  domainSendKey(
    dom: Domain,
    codeset: number,
    holdtime: number,
    keycodes: number[],
    flags: number,
  ): Promise<void>;
  /** `@readstream`: the image's bytes, with its MIME type. */
  domainScreenshot(dom: Domain, screen: number, flags: number): Promise<ScreenshotStream>;
  domainInjectNMI(dom: Domain, flags: number): Promise<void>;
  /** VIR_DUMP flags; `to` is absolute (virDomainCoreDump makes it so). */
  domainCoreDump(dom: Domain, to: string, flags: number): Promise<void>;
  /** `dumpformat`: VIR_DOMAIN_CORE_DUMP_FORMAT (anything but RAW needs VIR_DUMP_MEMORY_ONLY). */
  domainCoreDumpWithFormat(dom: Domain, to: string, dumpformat: number, flags: number): Promise<void>;
  /** `size` bytes of disk `path` (target, or source path) from `offset`. */
  domainBlockPeek(dom: Domain, path: string, offset: number, size: number, flags: number): Promise<Buffer>;
  /** `size` bytes of guest memory from `offset`; flags VIR_MEMORY_VIRTUAL or VIR_MEMORY_PHYSICAL. */
  domainMemoryPeek(dom: Domain, offset: number, size: number, flags: number): Promise<Buffer>;
  /** The write offset (bytes) of disk `dev` (`vda` or `vda[1]`) past which BLOCK_THRESHOLD fires; 0 clears it. */
  domainSetBlockThreshold(dom: Domain, dev: string, threshold: number, flags: number): Promise<void>;
  /** virDomainLifecycle `type`, virDomainLifecycleAction `action`. */
  domainSetLifecycleAction(dom: Domain, type: number, action: number, flags: number): Promise<void>;
  /** `size` KiB, or bytes with VIR_DOMAIN_BLOCK_RESIZE_BYTES (1). */
  domainBlockResize(dom: Domain, disk: string, size: number, flags: number): Promise<void>;
  /** `blkdeviotune`: the 20 throttling parameters; with nparams 0 (any disk), only how many. */
  domainGetBlockIoTune(
    dom: Domain,
    disk: string | null,
    nparams: number,
    flags: number,
  ): Promise<TypedParamsReply>;
  domainSetBlockIoTune(dom: Domain, disk: string, params: TypedParam[], flags: number): Promise<void>;
  /** `perf`: every event as a boolean. */
  domainGetPerfEvents(dom: Domain, flags: number): Promise<TypedParam[]>;
  domainSetPerfEvents(dom: Domain, params: TypedParam[], flags: number): Promise<void>;
  /** With maxerrors 0, `nerrors` is how many disks there are. */
  domainGetDiskErrors(
    dom: Domain,
    maxerrors: number,
    flags: number,
  ): Promise<{ errors: DiskError[]; nerrors: number }>;
  /** VIR_DOMAIN_METADATA type; null metadata removes; `key` and `uri` only for ELEMENT. */
  domainSetMetadata(
    dom: Domain,
    type: number,
    metadata: string | null,
    key: string | null,
    uri: string | null,
    flags: number,
  ): Promise<void>;
  /** virDomainAttachDevice: the running domain (a live attach). */
  domainAttachDevice(dom: Domain, xml: string): Promise<void>;
  /** VIR_DOMAIN_AFFECT flags (VIR_DOMAIN_DEVICE_MODIFY_*). */
  domainAttachDeviceFlags(dom: Domain, xml: string, flags: number): Promise<void>;
  domainDetachDevice(dom: Domain, xml: string): Promise<void>;
  domainDetachDeviceFlags(dom: Domain, xml: string, flags: number): Promise<void>;
  /** virDomainDetachDeviceAlias: the device named by its alias; live, without waiting for the guest. */
  domainDetachDeviceAlias(dom: Domain, alias: string, flags: number): Promise<void>;
  /** virDomainUpdateDeviceFlags: CD-ROM/floppy media change, disk definition updates. */
  domainUpdateDeviceFlags(dom: Domain, xml: string, flags: number): Promise<void>;
  /** virDomainRename: answers 0. */
  domainRename(dom: Domain, new_name: string | null, flags: number): Promise<number>;

  // ---- block jobs (block-jobs.ts, block-job-ops.ts) ------------------------------------------
  /** virDomainGetBlockJobInfo: `path` is the disk's target or source; VIR_DOMAIN_BLOCK_JOB_INFO flags. */
  domainGetBlockJobInfo(dom: Domain, path: string, flags: number): Promise<BlockJobInfo>;
  /** VIR_DOMAIN_BLOCK_JOB_ABORT flags (ASYNC, PIVOT). */
  domainBlockJobAbort(dom: Domain, path: string, flags: number): Promise<void>;
  /** `bandwidth` MiB/s, or bytes/s with VIR_DOMAIN_BLOCK_JOB_SPEED_BANDWIDTH_BYTES. */
  domainBlockJobSetSpeed(dom: Domain, path: string, bandwidth: number, flags: number): Promise<void>;
  /** virDomainBlockPull: the whole backing chain into the top image. */
  domainBlockPull(dom: Domain, path: string, bandwidth: number, flags: number): Promise<void>;
  /** virDomainBlockRebase: a pull down to `base`, or with VIR_DOMAIN_BLOCK_REBASE_COPY a copy to `base`. */
  domainBlockRebase(
    dom: Domain,
    path: string,
    base: string | null,
    bandwidth: number,
    flags: number,
  ): Promise<void>;
  /** virDomainBlockCopy: `destxml` a `<disk>`'s source; params bandwidth, granularity, buf-size. */
  domainBlockCopy(
    dom: Domain,
    path: string,
    destxml: string,
    params: TypedParam[],
    flags: number,
  ): Promise<void>;
  /** virDomainBlockCommit: `top` (default the active layer) down into `base` (default the bottom). */
  domainBlockCommit(
    dom: Domain,
    disk: string,
    base: string | null,
    top: string | null,
    bandwidth: number,
    flags: number,
  ): Promise<void>;

  // ---- events ----------------------------------------------------------------------------
  /**
   * virConnectDomainEventRegisterAny: `callback` is called for each event `eventID` of `dom` (of
   * every domain when null) until deregistered; answers the callback id. The same callback for
   * the same event and domain twice is refused ("event callback already tracked").
   */
  connectDomainEventRegisterAny(
    dom: Domain | null,
    eventID: number,
    callback: DomainEventCallback,
  ): Promise<number>;
  connectDomainEventDeregisterAny(callbackID: number): Promise<void>;
}

/** The contract's method names (for tables keyed by method). */
export type HypervisorMethod = keyof HypervisorDriver;
