/**
 * The hypervisor contract's rows: for each method of HypervisorDriver, the REMOTE procedure that
 * carries it. Everything else is derived (dispatch-table.ts).
 */

import { VirError } from '@qvirt/core/errors';
import type { Domain, DomainSnapshot, HypervisorDriver } from '@qvirt/core/hypervisor';
import { VIR_DOMAIN_XML } from '@qvirt/core/hypervisor';
import { readOnlyError } from '../rpc/error.js';
import { type ConnectionMethod, type ContractTable, type QemuMethod, row } from './rows.js';

/** REMOTE_DOMAIN_{BLOCK,MEMORY}_PEEK_BUFFER_MAX: one reply carries at most 4 MiB. */
const PEEK_BUFFER_MAX = 4194304;

/** remoteDomainBlockPeek / remoteDomainMemoryPeek refuse a larger request before sending it. */
function peekSize(what: 'block' | 'memory', size: number): number {
  if (size > PEEK_BUFFER_MAX)
    throw new VirError(
      'RPC',
      'remote',
      `${what} peek request too large for remote protocol, ${size} > ${PEEK_BUFFER_MAX}`,
    );
  return size;
}

/** remoteDispatchDomain{Block,Memory}Peek: the server's own check, for clients that skip it. */
function servedPeekSize(size: number): number {
  if (size > PEEK_BUFFER_MAX)
    throw new VirError('INTERNAL_ERROR', 'rpc', 'internal error: size > maximum buffer size');
  return size;
}

/** The reply's buffer, as a Buffer. */
function peekBuffer(r: Record<string, unknown>): Buffer {
  const b = r.buffer as Uint8Array;
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** The hypervisor contract's rows. */
export const HYPERVISOR_TABLE: ContractTable<HypervisorDriver, ConnectionMethod | QemuMethod> = {
  connectClose: row('CONNECT_CLOSE'),
  connectGetType: row('CONNECT_GET_TYPE'),
  connectGetVersion: row('CONNECT_GET_VERSION'),
  connectGetLibVersion: row('CONNECT_GET_LIB_VERSION'),
  connectGetHostname: row('CONNECT_GET_HOSTNAME'),
  connectGetURI: row('CONNECT_GET_URI'),
  connectGetMaxVcpus: row('CONNECT_GET_MAX_VCPUS'),
  connectGetCapabilities: row('CONNECT_GET_CAPABILITIES'),
  connectGetSysinfo: row('CONNECT_GET_SYSINFO'),
  connectGetDomainCapabilities: row('CONNECT_GET_DOMAIN_CAPABILITIES'),
  connectGetCPUModelNames: row('CONNECT_GET_CPU_MODEL_NAMES'),
  connectCompareCPU: row('CONNECT_COMPARE_CPU'),
  connectCompareHypervisorCPU: row('CONNECT_COMPARE_HYPERVISOR_CPU'),
  connectBaselineCPU: row('CONNECT_BASELINE_CPU'),
  connectBaselineHypervisorCPU: row('CONNECT_BASELINE_HYPERVISOR_CPU'),
  connectIsSecure: row('CONNECT_IS_SECURE'),
  connectSupportsFeature: row('CONNECT_SUPPORTS_FEATURE'),
  nodeGetInfo: row('NODE_GET_INFO'),
  nodeGetSecurityModel: row('NODE_GET_SECURITY_MODEL'),
  nodeGetCellsFreeMemory: row('NODE_GET_CELLS_FREE_MEMORY'),
  nodeGetFreeMemory: row('NODE_GET_FREE_MEMORY'),
  nodeGetFreePages: row('NODE_GET_FREE_PAGES'),
  nodeAllocPages: row('NODE_ALLOC_PAGES'),
  nodeGetMemoryStats: row('NODE_GET_MEMORY_STATS'),
  nodeGetCPUStats: row('NODE_GET_CPU_STATS'),
  nodeGetCPUMap: row('NODE_GET_CPU_MAP'),
  nodeGetMemoryParameters: row('NODE_GET_MEMORY_PARAMETERS'),
  connectNumOfDomains: row('CONNECT_NUM_OF_DOMAINS'),
  connectListDomains: row('CONNECT_LIST_DOMAINS'),
  connectNumOfDefinedDomains: row('CONNECT_NUM_OF_DEFINED_DOMAINS'),
  connectListDefinedDomains: row('CONNECT_LIST_DEFINED_DOMAINS'),
  // virConnectListAllDomains(conn, &domains, flags): the wire asks whether the list is wanted
  connectListAllDomains: row('CONNECT_LIST_ALL_DOMAINS', {
    toArgs: (flags) => ({ need_results: 1, flags }),
    fromRet: (r) => r.domains as Domain[],
    serve: async (d, a) => {
      const doms = await d.connectListAllDomains(a.flags as number);
      return { domains: a.need_results ? doms : [], ret: doms.length };
    },
  }),
  domainLookupByID: row('DOMAIN_LOOKUP_BY_ID'),
  domainLookupByName: row('DOMAIN_LOOKUP_BY_NAME'),
  domainLookupByUUID: row('DOMAIN_LOOKUP_BY_UUID'),
  domainDefineXML: row('DOMAIN_DEFINE_XML'),
  domainDefineXMLFlags: row('DOMAIN_DEFINE_XML_FLAGS'),
  domainUndefine: row('DOMAIN_UNDEFINE'),
  domainUndefineFlags: row('DOMAIN_UNDEFINE_FLAGS'),
  domainGetAutostart: row('DOMAIN_GET_AUTOSTART'),
  domainSetAutostart: row('DOMAIN_SET_AUTOSTART'),
  // virDomainGetXMLDesc: a read-only connection gets no secrets (libvirt-domain.c)
  domainGetXMLDesc: row('DOMAIN_GET_XML_DESC', {
    serve: async (d, a, caller) => {
      const flags = a.flags as number;
      if (caller.readOnly && flags & (VIR_DOMAIN_XML.SECURE | VIR_DOMAIN_XML.MIGRATABLE)) {
        throw new VirError(
          'OPERATION_DENIED',
          'domain',
          'operation forbidden: virDomainGetXMLDesc with secure flag',
        );
      }
      return { xml: await d.domainGetXMLDesc(a.dom as Domain, flags) };
    },
  }),
  connectDomainXMLToNative: row('CONNECT_DOMAIN_XML_TO_NATIVE'),
  connectDomainXMLFromNative: row('CONNECT_DOMAIN_XML_FROM_NATIVE'),
  domainCreate: row('DOMAIN_CREATE'),
  domainCreateWithFlags: row('DOMAIN_CREATE_WITH_FLAGS'),
  domainCreateXML: row('DOMAIN_CREATE_XML'),
  domainShutdown: row('DOMAIN_SHUTDOWN'),
  domainShutdownFlags: row('DOMAIN_SHUTDOWN_FLAGS'),
  domainDestroy: row('DOMAIN_DESTROY'),
  domainDestroyFlags: row('DOMAIN_DESTROY_FLAGS'),
  domainReboot: row('DOMAIN_REBOOT'),
  domainReset: row('DOMAIN_RESET'),
  domainSuspend: row('DOMAIN_SUSPEND'),
  domainResume: row('DOMAIN_RESUME'),
  domainPMSuspendForDuration: row('DOMAIN_PM_SUSPEND_FOR_DURATION'),
  domainPMWakeup: row('DOMAIN_PM_WAKEUP'),
  domainGetInfo: row('DOMAIN_GET_INFO'),
  domainGetState: row('DOMAIN_GET_STATE'),
  domainIsActive: row('DOMAIN_IS_ACTIVE'),
  domainIsPersistent: row('DOMAIN_IS_PERSISTENT'),
  domainIsUpdated: row('DOMAIN_IS_UPDATED'),
  domainGetMessages: row('DOMAIN_GET_MESSAGES'),
  domainHasManagedSaveImage: row('DOMAIN_HAS_MANAGED_SAVE_IMAGE'),
  domainSave: row('DOMAIN_SAVE'),
  domainSaveFlags: row('DOMAIN_SAVE_FLAGS'),
  domainRestore: row('DOMAIN_RESTORE'),
  domainRestoreFlags: row('DOMAIN_RESTORE_FLAGS'),
  domainSaveImageGetXMLDesc: row('DOMAIN_SAVE_IMAGE_GET_XML_DESC'),
  domainSaveImageDefineXML: row('DOMAIN_SAVE_IMAGE_DEFINE_XML'),
  domainManagedSave: row('DOMAIN_MANAGED_SAVE'),
  domainManagedSaveRemove: row('DOMAIN_MANAGED_SAVE_REMOVE'),
  domainManagedSaveGetXMLDesc: row('DOMAIN_MANAGED_SAVE_GET_XML_DESC'),
  domainManagedSaveDefineXML: row('DOMAIN_MANAGED_SAVE_DEFINE_XML'),
  domainSnapshotCreateXML: row('DOMAIN_SNAPSHOT_CREATE_XML'),
  domainSnapshotGetXMLDesc: row('DOMAIN_SNAPSHOT_GET_XML_DESC'),
  domainSnapshotNum: row('DOMAIN_SNAPSHOT_NUM'),
  domainSnapshotListNames: row('DOMAIN_SNAPSHOT_LIST_NAMES'),
  // virDomainListAllSnapshots(dom, &snaps, flags): the wire asks whether the list is wanted
  domainListAllSnapshots: row('DOMAIN_LIST_ALL_SNAPSHOTS', {
    toArgs: (dom, flags) => ({ dom, need_results: 1, flags }),
    fromRet: (r) => r.snapshots as DomainSnapshot[],
    serve: async (d, a) => {
      const snaps = await d.domainListAllSnapshots(a.dom as Domain, a.flags as number);
      return { snapshots: a.need_results ? snaps : [], ret: snaps.length };
    },
  }),
  domainSnapshotLookupByName: row('DOMAIN_SNAPSHOT_LOOKUP_BY_NAME'),
  domainHasCurrentSnapshot: row('DOMAIN_HAS_CURRENT_SNAPSHOT'),
  domainSnapshotCurrent: row('DOMAIN_SNAPSHOT_CURRENT'),
  domainSnapshotGetParent: row('DOMAIN_SNAPSHOT_GET_PARENT'),
  domainSnapshotIsCurrent: row('DOMAIN_SNAPSHOT_IS_CURRENT'),
  domainSnapshotHasMetadata: row('DOMAIN_SNAPSHOT_HAS_METADATA'),
  domainRevertToSnapshot: row('DOMAIN_REVERT_TO_SNAPSHOT'),
  domainSnapshotDelete: row('DOMAIN_SNAPSHOT_DELETE'),
  domainSnapshotNumChildren: row('DOMAIN_SNAPSHOT_NUM_CHILDREN'),
  domainSnapshotListChildrenNames: row('DOMAIN_SNAPSHOT_LIST_CHILDREN_NAMES'),
  // virDomainSnapshotListAllChildren(snap, &snaps, flags): the wire asks whether the list is wanted
  domainSnapshotListAllChildren: row('DOMAIN_SNAPSHOT_LIST_ALL_CHILDREN', {
    toArgs: (snapshot, flags) => ({ snapshot, need_results: 1, flags }),
    fromRet: (r) => r.snapshots as DomainSnapshot[],
    serve: async (d, a) => {
      const snaps = await d.domainSnapshotListAllChildren(a.snapshot as DomainSnapshot, a.flags as number);
      return { snapshots: a.need_results ? snaps : [], ret: snaps.length };
    },
  }),
  domainOpenConsole: row('DOMAIN_OPEN_CONSOLE'),
  domainOpenChannel: row('DOMAIN_OPEN_CHANNEL'),
  // the guest agent
  domainGetTime: row('DOMAIN_GET_TIME'),
  domainSetTime: row('DOMAIN_SET_TIME'),
  // virDomainInterfaceAddresses refuses a read-only connection for the agent's source only
  // (its argument is `source`, not a flag, so the facts' flag rule does not apply)
  domainInterfaceAddresses: row('DOMAIN_INTERFACE_ADDRESSES', {
    serve: async (d, a, caller) => {
      if (caller.readOnly && a.source === 1) throw readOnlyError('virDomainInterfaceAddresses');
      return {
        ifaces: await d.domainInterfaceAddresses(a.dom as Domain, a.source as number, a.flags as number),
      };
    },
  }),
  domainGetHostname: row('DOMAIN_GET_HOSTNAME'),
  domainGetFSInfo: row('DOMAIN_GET_FSINFO'),
  domainFSFreeze: row('DOMAIN_FSFREEZE'),
  domainFSThaw: row('DOMAIN_FSTHAW'),
  domainFSTrim: row('DOMAIN_FSTRIM'),
  domainSetUserPassword: row('DOMAIN_SET_USER_PASSWORD'),
  domainGetGuestInfo: row('DOMAIN_GET_GUEST_INFO'),
  domainGetGuestVcpus: row('DOMAIN_GET_GUEST_VCPUS'),
  domainSetGuestVcpus: row('DOMAIN_SET_GUEST_VCPUS'),
  domainAuthorizedSSHKeysGet: row('DOMAIN_AUTHORIZED_SSH_KEYS_GET'),
  domainAuthorizedSSHKeysSet: row('DOMAIN_AUTHORIZED_SSH_KEYS_SET'),
  domainAgentSetResponseTimeout: row('DOMAIN_AGENT_SET_RESPONSE_TIMEOUT'),
  domainGetOSType: row('DOMAIN_GET_OS_TYPE'),
  domainGetMaxMemory: row('DOMAIN_GET_MAX_MEMORY'),
  domainGetVcpusFlags: row('DOMAIN_GET_VCPUS_FLAGS'),
  domainGetMetadata: row('DOMAIN_GET_METADATA'),
  domainGetSecurityLabel: row('DOMAIN_GET_SECURITY_LABEL'),
  domainGetSecurityLabelList: row('DOMAIN_GET_SECURITY_LABEL_LIST'),
  domainInterfaceStats: row('DOMAIN_INTERFACE_STATS'),
  domainBlockStats: row('DOMAIN_BLOCK_STATS'),
  domainBlockStatsFlags: row('DOMAIN_BLOCK_STATS_FLAGS'),
  domainMemoryStats: row('DOMAIN_MEMORY_STATS'),
  domainGetVcpus: row('DOMAIN_GET_VCPUS'),
  domainGetVcpuPinInfo: row('DOMAIN_GET_VCPU_PIN_INFO'),
  domainGetEmulatorPinInfo: row('DOMAIN_GET_EMULATOR_PIN_INFO'),
  connectGetAllDomainStats: row('CONNECT_GET_ALL_DOMAIN_STATS'),
  domainGetCPUStats: row('DOMAIN_GET_CPU_STATS'),
  domainGetBlockInfo: row('DOMAIN_GET_BLOCK_INFO'),
  domainGetJobInfo: row('DOMAIN_GET_JOB_INFO'),
  domainGetJobStats: row('DOMAIN_GET_JOB_STATS'),
  domainAbortJob: row('DOMAIN_ABORT_JOB'),
  domainAbortJobFlags: row('DOMAIN_ABORT_JOB_FLAGS'),
  domainGetControlInfo: row('DOMAIN_GET_CONTROL_INFO'),
  domainGetSchedulerType: row('DOMAIN_GET_SCHEDULER_TYPE'),
  domainGetSchedulerParameters: row('DOMAIN_GET_SCHEDULER_PARAMETERS'),
  domainGetSchedulerParametersFlags: row('DOMAIN_GET_SCHEDULER_PARAMETERS_FLAGS'),
  domainSetMemory: row('DOMAIN_SET_MEMORY'),
  domainSetMaxMemory: row('DOMAIN_SET_MAX_MEMORY'),
  domainSetMemoryFlags: row('DOMAIN_SET_MEMORY_FLAGS'),
  domainSetMemoryStatsPeriod: row('DOMAIN_SET_MEMORY_STATS_PERIOD'),
  domainSetVcpus: row('DOMAIN_SET_VCPUS'),
  domainSetVcpusFlags: row('DOMAIN_SET_VCPUS_FLAGS'),
  domainGetMaxVcpus: row('DOMAIN_GET_MAX_VCPUS'),
  domainMigrateSetMaxDowntime: row('DOMAIN_MIGRATE_SET_MAX_DOWNTIME'),
  domainMigrateGetMaxDowntime: row('DOMAIN_MIGRATE_GET_MAX_DOWNTIME'),
  domainMigrateGetCompressionCache: row('DOMAIN_MIGRATE_GET_COMPRESSION_CACHE'),
  domainMigrateSetCompressionCache: row('DOMAIN_MIGRATE_SET_COMPRESSION_CACHE'),
  domainMigrateSetMaxSpeed: row('DOMAIN_MIGRATE_SET_MAX_SPEED'),
  domainMigrateGetMaxSpeed: row('DOMAIN_MIGRATE_GET_MAX_SPEED'),
  domainStartDirtyRateCalc: row('DOMAIN_START_DIRTY_RATE_CALC'),
  domainSetVcpu: row('DOMAIN_SET_VCPU'),
  domainPinVcpu: row('DOMAIN_PIN_VCPU'),
  domainPinVcpuFlags: row('DOMAIN_PIN_VCPU_FLAGS'),
  domainPinEmulator: row('DOMAIN_PIN_EMULATOR'),
  domainGetMemoryParameters: row('DOMAIN_GET_MEMORY_PARAMETERS'),
  domainSetMemoryParameters: row('DOMAIN_SET_MEMORY_PARAMETERS'),
  domainGetInterfaceParameters: row('DOMAIN_GET_INTERFACE_PARAMETERS'),
  domainSetInterfaceParameters: row('DOMAIN_SET_INTERFACE_PARAMETERS'),
  domainGetBlkioParameters: row('DOMAIN_GET_BLKIO_PARAMETERS'),
  domainSetBlkioParameters: row('DOMAIN_SET_BLKIO_PARAMETERS'),
  domainGetNumaParameters: row('DOMAIN_GET_NUMA_PARAMETERS'),
  domainSetNumaParameters: row('DOMAIN_SET_NUMA_PARAMETERS'),
  domainSetSchedulerParameters: row('DOMAIN_SET_SCHEDULER_PARAMETERS'),
  domainSetSchedulerParametersFlags: row('DOMAIN_SET_SCHEDULER_PARAMETERS_FLAGS'),
  domainGetIOThreadInfo: row('DOMAIN_GET_IOTHREAD_INFO'),
  domainPinIOThread: row('DOMAIN_PIN_IOTHREAD'),
  domainAddIOThread: row('DOMAIN_ADD_IOTHREAD'),
  domainDelIOThread: row('DOMAIN_DEL_IOTHREAD'),
  domainSetIOThreadParams: row('DOMAIN_SET_IOTHREAD_PARAMS'),
  domainSendKey: row('DOMAIN_SEND_KEY'),
  domainScreenshot: row('DOMAIN_SCREENSHOT'),
  domainInjectNMI: row('DOMAIN_INJECT_NMI'),
  domainCoreDump: row('DOMAIN_CORE_DUMP'),
  domainCoreDumpWithFormat: row('DOMAIN_CORE_DUMP_WITH_FORMAT'),
  domainBlockPeek: row('DOMAIN_BLOCK_PEEK', {
    toArgs: (dom, path, offset, size, flags) => ({
      dom,
      path,
      offset,
      size: peekSize('block', size),
      flags,
    }),
    fromRet: (r) => peekBuffer(r),
    serve: async (d, a) => ({
      buffer: await d.domainBlockPeek(
        a.dom as Domain,
        a.path as string,
        a.offset as number,
        servedPeekSize(a.size as number),
        a.flags as number,
      ),
    }),
  }),
  domainMemoryPeek: row('DOMAIN_MEMORY_PEEK', {
    toArgs: (dom, offset, size, flags) => ({ dom, offset, size: peekSize('memory', size), flags }),
    fromRet: (r) => peekBuffer(r),
    serve: async (d, a) => ({
      buffer: await d.domainMemoryPeek(
        a.dom as Domain,
        a.offset as number,
        servedPeekSize(a.size as number),
        a.flags as number,
      ),
    }),
  }),
  domainSetBlockThreshold: row('DOMAIN_SET_BLOCK_THRESHOLD'),
  domainSetLifecycleAction: row('DOMAIN_SET_LIFECYCLE_ACTION'),
  domainBlockResize: row('DOMAIN_BLOCK_RESIZE'),
  domainGetBlockIoTune: row('DOMAIN_GET_BLOCK_IO_TUNE'),
  domainSetBlockIoTune: row('DOMAIN_SET_BLOCK_IO_TUNE'),
  domainGetPerfEvents: row('DOMAIN_GET_PERF_EVENTS'),
  domainSetPerfEvents: row('DOMAIN_SET_PERF_EVENTS'),
  domainGetDiskErrors: row('DOMAIN_GET_DISK_ERRORS'),
  domainSetMetadata: row('DOMAIN_SET_METADATA'),
  domainRename: row('DOMAIN_RENAME'),
  domainGetBlockJobInfo: row('DOMAIN_GET_BLOCK_JOB_INFO'),
  domainBlockJobAbort: row('DOMAIN_BLOCK_JOB_ABORT'),
  domainBlockJobSetSpeed: row('DOMAIN_BLOCK_JOB_SET_SPEED'),
  domainBlockPull: row('DOMAIN_BLOCK_PULL'),
  domainBlockRebase: row('DOMAIN_BLOCK_REBASE'),
  domainBlockCopy: row('DOMAIN_BLOCK_COPY'),
  domainBlockCommit: row('DOMAIN_BLOCK_COMMIT'),
  domainAttachDevice: row('DOMAIN_ATTACH_DEVICE'),
  domainAttachDeviceFlags: row('DOMAIN_ATTACH_DEVICE_FLAGS'),
  domainDetachDevice: row('DOMAIN_DETACH_DEVICE'),
  domainDetachDeviceFlags: row('DOMAIN_DETACH_DEVICE_FLAGS'),
  domainDetachDeviceAlias: row('DOMAIN_DETACH_DEVICE_ALIAS'),
  domainUpdateDeviceFlags: row('DOMAIN_UPDATE_DEVICE_FLAGS'),
};
