/**
 * qemu.conf: every setting libvirt 9.0's QEMU driver reads, with its defaults and its checks.
 *
 * The typed values follow libvirt's virQEMUDriverConfigNew (defaults) and
 * virQEMUDriverConfigLoadFile (how each key is read and checked), read from libvirt 9.0's
 * src/qemu/qemu_conf.c and src/qemu/qemu.conf.in. Checks that need the host (does a user, a
 * namespace, a kernel feature or a certificate directory exist?) are left to the code that uses
 * the configuration: this module only looks at the text.
 */

import { homedir } from 'node:os';
import type { ConfError, VirError } from '../errors.js';
import { confError, errnoCode, location } from './errors.js';
import { MEMORY_CONF_NAME, parseVirConf, readVirConfFile, VirConf } from './vir-conf.js';

/** Every key of libvirt 9.0's qemu.conf, with the value each one holds (see qemu.conf for meanings). */
export interface QemuConf {
  // --- TLS defaults
  defaultTlsX509CertDir: string;
  /** Unset: each TLS user picks its own default (vnc: false; chardev, migrate, backup: true). */
  defaultTlsX509Verify: boolean | undefined;
  defaultTlsX509SecretUuid: string | undefined;

  // --- VNC
  vncListen: string;
  vncAutoUnixSocket: boolean;
  vncTls: boolean;
  /** Unset: /etc/pki/libvirt-vnc if it exists, else defaultTlsX509CertDir (decided at run time). */
  vncTlsX509CertDir: string | undefined;
  vncTlsX509SecretUuid: string | undefined;
  vncTlsX509Verify: boolean | undefined;
  /** As written; libvirt uses only the first 8 characters. */
  vncPassword: string | undefined;
  vncSasl: boolean;
  vncSaslDir: string | undefined;
  vncAllowHostAudio: boolean;

  // --- SPICE
  spiceListen: string;
  spiceTls: boolean;
  spiceTlsX509CertDir: string | undefined;
  spiceAutoUnixSocket: boolean;
  spicePassword: string | undefined;
  spiceSasl: boolean;
  spiceSaslDir: string | undefined;

  // --- chardev, VxHS, NBD, migration and backup TLS
  chardevTls: boolean;
  chardevTlsX509CertDir: string | undefined;
  chardevTlsX509Verify: boolean | undefined;
  chardevTlsX509SecretUuid: string | undefined;
  vxhsTls: boolean;
  vxhsTlsX509CertDir: string | undefined;
  vxhsTlsX509SecretUuid: string | undefined;
  nbdTls: boolean;
  nbdTlsX509CertDir: string | undefined;
  nbdTlsX509SecretUuid: string | undefined;
  migrateTlsX509CertDir: string | undefined;
  migrateTlsX509Verify: boolean | undefined;
  migrateTlsX509SecretUuid: string | undefined;
  migrateTlsForce: boolean;
  backupTlsX509CertDir: string | undefined;
  backupTlsX509Verify: boolean | undefined;
  backupTlsX509SecretUuid: string | undefined;

  nographicsAllowHostAudio: boolean;

  // --- display and websocket ports
  remoteDisplayPortMin: number;
  remoteDisplayPortMax: number;
  remoteWebsocketPortMin: number;
  remoteWebsocketPortMax: number;

  // --- security
  /**
   * Unset or empty: libvirt probes the host (SELinux, then AppArmor, else "none"). A string is a
   * one-element list.
   */
  securityDriver: string[] | undefined;
  securityDefaultConfined: boolean;
  securityRequireConfined: boolean;
  /** As written: a user name, a number, or "+N" for a uid. Unset in session mode. */
  user: string | undefined;
  group: string | undefined;
  dynamicOwnership: boolean;
  rememberOwner: boolean;
  /** Unset: every controller the host has mounted. */
  cgroupControllers: string[] | undefined;
  cgroupDeviceAcl: string[];
  /** -1: libvirt decides (enabled when QEMU supports it); 0 off; 1 on. */
  seccompSandbox: number;
  namespaces: string[];

  // --- save, dump, snapshot
  saveImageFormat: string;
  dumpImageFormat: string;
  snapshotImageFormat: string;
  autoDumpPath: string;
  autoDumpBypassCache: boolean;
  autoStartBypassCache: boolean;

  // --- process
  /** Unset: mounts found in /proc/mounts (privileged daemon only). A string is a one-element list. */
  hugetlbfsMount: string[] | undefined;
  bridgeHelper: string;
  prHelper: string;
  slirpHelper: string;
  dbusDaemon: string;
  setProcessName: boolean;
  maxProcesses: number;
  maxFiles: number;
  maxThreadsPerProcess: number;
  /** Bytes, or "unlimited". */
  maxCore: number | 'unlimited';
  dumpGuestCore: boolean;
  stdioHandler: 'logd' | 'file';
  schedCore: 'none' | 'vcpus' | 'emulator' | 'full';

  // --- devices
  macFilter: boolean;
  relaxedAcsCheck: boolean;
  /** Unset: no lock manager. */
  lockManager: string | undefined;
  /** Accepted for old configs; libvirt 9.0 refuses 1. */
  allowDiskFormatProbing: boolean;

  // --- RPC
  maxQueued: number;
  keepaliveInterval: number;
  keepaliveCount: number;

  // --- migration network
  /** IPv6 brackets removed, as libvirt does. */
  migrationAddress: string | undefined;
  /** IPv6 brackets removed, as libvirt does. Unset: the host name. */
  migrationHost: string | undefined;
  migrationPortMin: number;
  migrationPortMax: number;

  logTimestamp: boolean;
  /** "CODE:VARS" pairs (obsolete; ignored by libvirt when firmware descriptors exist). */
  nvram: string[];
  glusterDebugLevel: number;
  virtiofsdDebug: boolean;
  deprecationBehavior: string;
  /**
   * As written. Unset: <libDir>/ram. libvirt appends "/libvirt/qemu" to a configured value.
   */
  memoryBackingDir: string | undefined;
  /** As written. Privileged default "tss" (root when the host has no tss user). Unset in session mode. */
  swtpmUser: string | undefined;
  swtpmGroup: string | undefined;
  capabilityFilters: string[];

  /** The parsed file (comments and keys unknown to libvirt included); empty for defaults. */
  raw: VirConf;
}

export type QemuConfField = Exclude<keyof QemuConf, 'raw'>;

/**
 * How a key's value is read:
 * `bool` 0|1; `uint`/`int` C unsigned/signed int; `ullong-or-unlimited` an unsigned integer or
 * the string "unlimited"; `string-list` a list of strings; `string-or-list` a string or a list of
 * strings; `obsolete` accepted and ignored.
 */
export type QemuConfKeyType =
  | 'string'
  | 'bool'
  | 'uint'
  | 'int'
  | 'ullong-or-unlimited'
  | 'string-list'
  | 'string-or-list'
  | 'obsolete';

export interface QemuConfKey {
  key: string;
  /** The QemuConf field, absent for an obsolete key. */
  field?: QemuConfField;
  type: QemuConfKeyType;
}

/** The keys libvirt 9.0 reads from qemu.conf, in the order virQEMUDriverConfigLoadFile reads them. */
export const QEMU_CONF_KEYS: readonly QemuConfKey[] = [
  { key: 'default_tls_x509_cert_dir', field: 'defaultTlsX509CertDir', type: 'string' },
  { key: 'default_tls_x509_verify', field: 'defaultTlsX509Verify', type: 'bool' },
  { key: 'default_tls_x509_secret_uuid', field: 'defaultTlsX509SecretUuid', type: 'string' },
  { key: 'vnc_auto_unix_socket', field: 'vncAutoUnixSocket', type: 'bool' },
  { key: 'vnc_tls', field: 'vncTls', type: 'bool' },
  { key: 'vnc_tls_x509_verify', field: 'vncTlsX509Verify', type: 'bool' },
  { key: 'vnc_tls_x509_cert_dir', field: 'vncTlsX509CertDir', type: 'string' },
  { key: 'vnc_tls_x509_secret_uuid', field: 'vncTlsX509SecretUuid', type: 'string' },
  { key: 'vnc_listen', field: 'vncListen', type: 'string' },
  { key: 'vnc_password', field: 'vncPassword', type: 'string' },
  { key: 'vnc_sasl', field: 'vncSasl', type: 'bool' },
  { key: 'vnc_sasl_dir', field: 'vncSaslDir', type: 'string' },
  { key: 'vnc_allow_host_audio', field: 'vncAllowHostAudio', type: 'bool' },
  { key: 'nographics_allow_host_audio', field: 'nographicsAllowHostAudio', type: 'bool' },
  { key: 'spice_tls', field: 'spiceTls', type: 'bool' },
  { key: 'spice_tls_x509_cert_dir', field: 'spiceTlsX509CertDir', type: 'string' },
  { key: 'spice_sasl', field: 'spiceSasl', type: 'bool' },
  { key: 'spice_sasl_dir', field: 'spiceSaslDir', type: 'string' },
  { key: 'spice_listen', field: 'spiceListen', type: 'string' },
  { key: 'spice_password', field: 'spicePassword', type: 'string' },
  { key: 'spice_auto_unix_socket', field: 'spiceAutoUnixSocket', type: 'bool' },
  { key: 'vxhs_tls', field: 'vxhsTls', type: 'bool' },
  { key: 'nbd_tls', field: 'nbdTls', type: 'bool' },
  { key: 'chardev_tls', field: 'chardevTls', type: 'bool' },
  { key: 'migrate_tls_force', field: 'migrateTlsForce', type: 'bool' },
  { key: 'chardev_tls_x509_cert_dir', field: 'chardevTlsX509CertDir', type: 'string' },
  { key: 'chardev_tls_x509_secret_uuid', field: 'chardevTlsX509SecretUuid', type: 'string' },
  { key: 'chardev_tls_x509_verify', field: 'chardevTlsX509Verify', type: 'bool' },
  { key: 'migrate_tls_x509_cert_dir', field: 'migrateTlsX509CertDir', type: 'string' },
  { key: 'migrate_tls_x509_secret_uuid', field: 'migrateTlsX509SecretUuid', type: 'string' },
  { key: 'migrate_tls_x509_verify', field: 'migrateTlsX509Verify', type: 'bool' },
  { key: 'backup_tls_x509_cert_dir', field: 'backupTlsX509CertDir', type: 'string' },
  { key: 'backup_tls_x509_secret_uuid', field: 'backupTlsX509SecretUuid', type: 'string' },
  { key: 'backup_tls_x509_verify', field: 'backupTlsX509Verify', type: 'bool' },
  { key: 'vxhs_tls_x509_cert_dir', field: 'vxhsTlsX509CertDir', type: 'string' },
  { key: 'vxhs_tls_x509_secret_uuid', field: 'vxhsTlsX509SecretUuid', type: 'string' },
  { key: 'nbd_tls_x509_cert_dir', field: 'nbdTlsX509CertDir', type: 'string' },
  { key: 'nbd_tls_x509_secret_uuid', field: 'nbdTlsX509SecretUuid', type: 'string' },
  { key: 'remote_websocket_port_min', field: 'remoteWebsocketPortMin', type: 'uint' },
  { key: 'remote_websocket_port_max', field: 'remoteWebsocketPortMax', type: 'uint' },
  { key: 'remote_display_port_min', field: 'remoteDisplayPortMin', type: 'uint' },
  { key: 'remote_display_port_max', field: 'remoteDisplayPortMax', type: 'uint' },
  { key: 'save_image_format', field: 'saveImageFormat', type: 'string' },
  { key: 'dump_image_format', field: 'dumpImageFormat', type: 'string' },
  { key: 'snapshot_image_format', field: 'snapshotImageFormat', type: 'string' },
  { key: 'auto_dump_path', field: 'autoDumpPath', type: 'string' },
  { key: 'auto_dump_bypass_cache', field: 'autoDumpBypassCache', type: 'bool' },
  { key: 'auto_start_bypass_cache', field: 'autoStartBypassCache', type: 'bool' },
  { key: 'hugetlbfs_mount', field: 'hugetlbfsMount', type: 'string-or-list' },
  { key: 'bridge_helper', field: 'bridgeHelper', type: 'string' },
  { key: 'pr_helper', field: 'prHelper', type: 'string' },
  { key: 'slirp_helper', field: 'slirpHelper', type: 'string' },
  { key: 'dbus_daemon', field: 'dbusDaemon', type: 'string' },
  { key: 'set_process_name', field: 'setProcessName', type: 'bool' },
  { key: 'max_processes', field: 'maxProcesses', type: 'uint' },
  { key: 'max_files', field: 'maxFiles', type: 'uint' },
  { key: 'max_threads_per_process', field: 'maxThreadsPerProcess', type: 'uint' },
  { key: 'max_core', field: 'maxCore', type: 'ullong-or-unlimited' },
  { key: 'dump_guest_core', field: 'dumpGuestCore', type: 'bool' },
  { key: 'stdio_handler', field: 'stdioHandler', type: 'string' },
  { key: 'sched_core', field: 'schedCore', type: 'string' },
  { key: 'mac_filter', field: 'macFilter', type: 'bool' },
  { key: 'relaxed_acs_check', field: 'relaxedAcsCheck', type: 'bool' },
  { key: 'lock_manager', field: 'lockManager', type: 'string' },
  { key: 'allow_disk_format_probing', field: 'allowDiskFormatProbing', type: 'bool' },
  { key: 'max_queued', field: 'maxQueued', type: 'uint' },
  { key: 'keepalive_interval', field: 'keepaliveInterval', type: 'int' },
  { key: 'keepalive_count', field: 'keepaliveCount', type: 'uint' },
  { key: 'migration_port_min', field: 'migrationPortMin', type: 'uint' },
  { key: 'migration_port_max', field: 'migrationPortMax', type: 'uint' },
  { key: 'migration_host', field: 'migrationHost', type: 'string' },
  { key: 'migration_address', field: 'migrationAddress', type: 'string' },
  { key: 'log_timestamp', field: 'logTimestamp', type: 'bool' },
  { key: 'nvram', field: 'nvram', type: 'string-list' },
  { key: 'gluster_debug_level', field: 'glusterDebugLevel', type: 'uint' },
  { key: 'virtiofsd_debug', field: 'virtiofsdDebug', type: 'bool' },
  { key: 'deprecation_behavior', field: 'deprecationBehavior', type: 'string' },
  { key: 'security_driver', field: 'securityDriver', type: 'string-or-list' },
  { key: 'security_default_confined', field: 'securityDefaultConfined', type: 'bool' },
  { key: 'security_require_confined', field: 'securityRequireConfined', type: 'bool' },
  { key: 'user', field: 'user', type: 'string' },
  { key: 'group', field: 'group', type: 'string' },
  { key: 'dynamic_ownership', field: 'dynamicOwnership', type: 'bool' },
  { key: 'remember_owner', field: 'rememberOwner', type: 'bool' },
  { key: 'cgroup_controllers', field: 'cgroupControllers', type: 'string-list' },
  { key: 'cgroup_device_acl', field: 'cgroupDeviceAcl', type: 'string-list' },
  { key: 'seccomp_sandbox', field: 'seccompSandbox', type: 'int' },
  { key: 'namespaces', field: 'namespaces', type: 'string-list' },
  { key: 'memory_backing_dir', field: 'memoryBackingDir', type: 'string' },
  { key: 'swtpm_user', field: 'swtpmUser', type: 'string' },
  { key: 'swtpm_group', field: 'swtpmGroup', type: 'string' },
  { key: 'capability_filters', field: 'capabilityFilters', type: 'string-list' },
  { key: 'clear_emulator_capabilities', type: 'obsolete' },
];

const KNOWN_KEYS: ReadonlySet<string> = new Set(QEMU_CONF_KEYS.map((k) => k.key));

/** libvirt 9.0's cgroup controller names (virCgroupController). */
export const CGROUP_CONTROLLERS: readonly string[] = [
  'cpu',
  'cpuacct',
  'cpuset',
  'memory',
  'devices',
  'freezer',
  'blkio',
  'net_cls',
  'perf_event',
  'name=systemd',
];

/** libvirt 9.0's per-domain namespaces (qemuDomainNamespace). */
export const QEMU_NAMESPACES: readonly string[] = ['mount'];

const SCHED_CORE_VALUES = ['none', 'vcpus', 'emulator', 'full'] as const;

/** libvirt's built-in cgroup device ACL (qemu_cgroup.c defaultDeviceACL). */
const DEFAULT_DEVICE_ACL = [
  '/dev/null',
  '/dev/full',
  '/dev/zero',
  '/dev/random',
  '/dev/urandom',
  '/dev/ptmx',
  '/dev/kvm',
];

/** libvirt's DEFAULT_LOADER_NVRAM. */
const DEFAULT_NVRAM = [
  '/usr/share/OVMF/OVMF_CODE.fd:/usr/share/OVMF/OVMF_VARS.fd',
  '/usr/share/OVMF/OVMF_CODE.secboot.fd:/usr/share/OVMF/OVMF_VARS.fd',
  '/usr/share/AAVMF/AAVMF_CODE.fd:/usr/share/AAVMF/AAVMF_VARS.fd',
  '/usr/share/AAVMF/AAVMF32_CODE.fd:/usr/share/AAVMF/AAVMF32_VARS.fd',
];

export interface QemuConfDefaultsOptions {
  /** The system daemon (qemu:///system) rather than a session daemon (qemu:///session). */
  privileged: boolean;
  /** libvirt's build-time QEMU_USER; Debian builds use "libvirt-qemu". */
  qemuUser?: string;
  /** libvirt's build-time QEMU_GROUP; Debian builds use "libvirt-qemu". */
  qemuGroup?: string;
  /**
   * Session daemon's configuration directory (libvirt: $XDG_CONFIG_HOME/libvirt, else
   * ~/.config/libvirt); read from the environment when not given.
   */
  userConfigDir?: string;
}

export interface QemuConfParseOptions extends QemuConfDefaultsOptions {
  /** The file name used in messages; defaults to libvirt's "memory conf". */
  file?: string;
}

function defaultUserConfigDir(): string {
  const xdg = process.env.XDG_CONFIG_HOME;
  return xdg ? `${xdg}/libvirt` : `${homedir()}/.config/libvirt`;
}

/** The configuration libvirt 9.0 uses when qemu.conf sets nothing. */
export function defaultQemuConf(options: QemuConfDefaultsOptions): QemuConf {
  const { privileged } = options;
  const configBase = privileged ? undefined : (options.userConfigDir ?? defaultUserConfigDir());
  return {
    defaultTlsX509CertDir: '/etc/pki/qemu',
    defaultTlsX509Verify: undefined,
    defaultTlsX509SecretUuid: undefined,
    vncListen: '127.0.0.1',
    vncAutoUnixSocket: false,
    vncTls: false,
    vncTlsX509CertDir: undefined,
    vncTlsX509SecretUuid: undefined,
    vncTlsX509Verify: undefined,
    vncPassword: undefined,
    vncSasl: false,
    vncSaslDir: undefined,
    vncAllowHostAudio: false,
    spiceListen: '127.0.0.1',
    spiceTls: false,
    spiceTlsX509CertDir: undefined,
    spiceAutoUnixSocket: false,
    spicePassword: undefined,
    spiceSasl: false,
    spiceSaslDir: undefined,
    chardevTls: false,
    chardevTlsX509CertDir: undefined,
    chardevTlsX509Verify: undefined,
    chardevTlsX509SecretUuid: undefined,
    vxhsTls: false,
    vxhsTlsX509CertDir: undefined,
    vxhsTlsX509SecretUuid: undefined,
    nbdTls: false,
    nbdTlsX509CertDir: undefined,
    nbdTlsX509SecretUuid: undefined,
    migrateTlsX509CertDir: undefined,
    migrateTlsX509Verify: undefined,
    migrateTlsX509SecretUuid: undefined,
    migrateTlsForce: false,
    backupTlsX509CertDir: undefined,
    backupTlsX509Verify: undefined,
    backupTlsX509SecretUuid: undefined,
    nographicsAllowHostAudio: false,
    remoteDisplayPortMin: 5900,
    remoteDisplayPortMax: 65535,
    remoteWebsocketPortMin: 5700,
    remoteWebsocketPortMax: 65535,
    securityDriver: undefined,
    securityDefaultConfined: true,
    securityRequireConfined: false,
    user: privileged ? (options.qemuUser ?? 'libvirt-qemu') : undefined,
    group: privileged ? (options.qemuGroup ?? 'libvirt-qemu') : undefined,
    dynamicOwnership: privileged,
    rememberOwner: privileged,
    cgroupControllers: undefined,
    cgroupDeviceAcl: [...DEFAULT_DEVICE_ACL],
    seccompSandbox: -1,
    namespaces: privileged ? ['mount'] : [],
    saveImageFormat: 'raw',
    dumpImageFormat: 'raw',
    snapshotImageFormat: 'raw',
    autoDumpPath: privileged ? '/var/lib/libvirt/qemu/dump' : `${configBase}/qemu/dump`,
    autoDumpBypassCache: false,
    autoStartBypassCache: false,
    hugetlbfsMount: undefined,
    bridgeHelper: '/usr/libexec/qemu-bridge-helper',
    prHelper: '/usr/bin/qemu-pr-helper',
    slirpHelper: '/usr/bin/slirp-helper',
    dbusDaemon: '/usr/bin/dbus-daemon',
    setProcessName: false,
    maxProcesses: 0,
    maxFiles: 0,
    maxThreadsPerProcess: 0,
    maxCore: 0,
    dumpGuestCore: false,
    stdioHandler: 'logd',
    schedCore: 'none',
    macFilter: false,
    relaxedAcsCheck: false,
    lockManager: undefined,
    allowDiskFormatProbing: false,
    maxQueued: 0,
    keepaliveInterval: 5,
    keepaliveCount: 5,
    migrationAddress: undefined,
    migrationHost: undefined,
    migrationPortMin: 49152,
    migrationPortMax: 49215,
    logTimestamp: true,
    nvram: [...DEFAULT_NVRAM],
    glusterDebugLevel: 4,
    virtiofsdDebug: false,
    deprecationBehavior: 'none',
    memoryBackingDir: undefined,
    swtpmUser: privileged ? 'tss' : undefined,
    swtpmGroup: privileged ? 'tss' : undefined,
    capabilityFilters: [],
    raw: new VirConf([]),
  };
}

/** Builds the typed configuration from an already parsed file. */
export function qemuConfFromVirConf(raw: VirConf, options: QemuConfDefaultsOptions): QemuConf {
  const conf = defaultQemuConf(options);
  conf.raw = raw;
  const values = conf as unknown as Record<string, unknown>;
  for (const { key, field, type } of QEMU_CONF_KEYS) {
    if (field === undefined) continue;
    const value = readKey(raw, key, type);
    if (value !== undefined) values[field] = value;
    // libvirt checks the value in effect, set or default (a default max can be below a set min).
    CHECKS[key]?.(conf, raw, key, options);
  }
  return conf;
}

/** Parses qemu.conf text; throws a one-line ConfError for a syntax error, a wrong type or a bad value. */
export function parseQemuConf(text: string, options: QemuConfParseOptions): QemuConf {
  const raw = parseVirConf(text, { file: options.file ?? MEMORY_CONF_NAME });
  return qemuConfFromVirConf(raw, options);
}

/**
 * Reads qemu.conf like libvirt: a file that does not exist yields the defaults. Any other read
 * failure is an error (libvirt also falls back to the defaults when the file exists but is not
 * readable; qvirt refuses rather than ignore a configuration it cannot read).
 */
export async function loadQemuConf(path: string, options: QemuConfDefaultsOptions): Promise<QemuConf> {
  let raw: VirConf;
  try {
    raw = await readVirConfFile(path);
  } catch (err) {
    const code = errnoCode((err as VirError).cause);
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      const conf = defaultQemuConf(options);
      conf.raw = new VirConf([], path);
      return conf;
    }
    throw err;
  }
  return qemuConfFromVirConf(raw, options);
}

/** Keys set in the file that libvirt 9.0's qemu driver does not know (libvirt ignores them). */
export function unknownQemuConfKeys(conf: QemuConf): string[] {
  return conf.raw.names().filter((name) => !KNOWN_KEYS.has(name));
}

// ---------------------------------------------------------------------------------------------

function readKey(raw: VirConf, key: string, type: QemuConfKeyType): unknown {
  switch (type) {
    case 'string':
      return raw.getString(key);
    case 'bool':
      return raw.getBool(key);
    case 'uint':
      return raw.getUInt(key);
    case 'int':
      return raw.getInt(key);
    case 'string-list':
      return raw.getStringList(key, false);
    case 'string-or-list':
      return raw.getStringList(key, true);
    case 'ullong-or-unlimited': {
      if (raw.getType(key) === 'string') {
        const s = raw.getString(key);
        if (s !== 'unlimited') throw unsupported(raw, key, `Unknown core size '${s}'`);
        return 'unlimited';
      }
      const v = raw.getULLong(key);
      if (v === undefined) return undefined;
      if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
        throw internal(
          raw,
          key,
          `value for '${key}' parameter must be in range 0:${Number.MAX_SAFE_INTEGER}`,
        );
      }
      return Number(v);
    }
    case 'obsolete':
      return undefined;
  }
}

type Check = (conf: QemuConf, raw: VirConf, key: string, options: QemuConfDefaultsOptions) => void;

/** Where a list element is (its own line when the list spans lines). */
function elementWhere(raw: VirConf, key: string, index: number): string {
  const v = raw.getValue(key);
  const line = v?.type === 'list' ? (v.value[index]?.line ?? v.line) : v?.line;
  return location(raw.file, line ?? raw.getEntry(key)?.line);
}

function syntax(where: string, detail: string): ConfError {
  return confError('CONF_SYNTAX', `${where}: ${detail}`, where);
}
function unsupported(raw: VirConf, key: string, detail: string): ConfError {
  return confError('CONFIG_UNSUPPORTED', `${raw.where(key)}: ${detail}`, raw.where(key));
}
function internal(raw: VirConf, key: string, detail: string): ConfError {
  return confError('INTERNAL_ERROR', `${raw.where(key)}: ${detail}`, raw.where(key));
}

/** "[::1]" -> "::1", as libvirt's virStringStripIPv6Brackets. */
function stripIPv6Brackets(s: string): string {
  return s.length >= 2 && s.startsWith('[') && s.endsWith(']') && s.includes(':') ? s.slice(1, -1) : s;
}

/** 127.0.0.1 or ::1 written in any numeric form (libvirt's virSocketAddrIsNumericLocalhost). */
function isNumericLocalhost(addr: string): boolean {
  try {
    if (addr.includes(':')) return new URL(`http://[${addr}]/`).hostname === '[::1]';
    for (const ch of addr) if (!'0123456789abcdefABCDEFxX.'.includes(ch)) return false;
    return new URL(`http://${addr}/`).hostname === '127.0.0.1';
  } catch {
    return false;
  }
}

function checkLocalAddress(field: 'migrationHost' | 'migrationAddress'): Check {
  return (conf, raw, key) => {
    const value = conf[field];
    if (value === undefined) return;
    const stripped = stripIPv6Brackets(value);
    conf[field] = stripped;
    if (stripped.startsWith('localhost') || isNumericLocalhost(stripped)) {
      throw syntax(raw.where(key), `${key} must not be the address of the local machine: ${stripped}`);
    }
  };
}

/** Checks libvirt makes right after reading a key, in the same order. */
const CHECKS: Partial<Record<string, Check>> = {
  remote_websocket_port_min: (conf, raw, key) => {
    if (conf.remoteWebsocketPortMin < 5700) {
      throw internal(raw, key, `${key}: port must be greater than or equal to 5700`);
    }
  },
  remote_websocket_port_max: (conf, raw, key) => {
    if (conf.remoteWebsocketPortMax > 65535 || conf.remoteWebsocketPortMax < conf.remoteWebsocketPortMin) {
      throw internal(raw, key, `${key}: port must be between the minimal port and 65535`);
    }
  },
  remote_display_port_min: (conf, raw, key) => {
    if (conf.remoteDisplayPortMin < 5900) {
      throw internal(raw, key, `${key}: port must be greater than or equal to 5900`);
    }
  },
  remote_display_port_max: (conf, raw, key) => {
    if (conf.remoteDisplayPortMax > 65535 || conf.remoteDisplayPortMax < conf.remoteDisplayPortMin) {
      throw internal(raw, key, `${key}: port must be between the minimal port and 65535`);
    }
  },
  stdio_handler: (conf, raw, key) => {
    const v: string = conf.stdioHandler;
    if (v !== 'logd' && v !== 'file') throw unsupported(raw, key, `Unknown stdio handler ${v}`);
  },
  sched_core: (conf, raw, key) => {
    const v: string = conf.schedCore;
    if (!(SCHED_CORE_VALUES as readonly string[]).includes(v)) {
      throw unsupported(raw, key, `Unknown sched_core value ${v}`);
    }
  },
  allow_disk_format_probing: (conf, raw, key) => {
    if (conf.allowDiskFormatProbing) throw unsupported(raw, key, `${key} is no longer supported`);
  },
  migration_port_min: (conf, raw, key) => {
    if (conf.migrationPortMin <= 0) throw internal(raw, key, `${key}: port must be greater than 0`);
  },
  migration_port_max: (conf, raw, key) => {
    if (conf.migrationPortMax > 65535 || conf.migrationPortMax < conf.migrationPortMin) {
      throw internal(
        raw,
        key,
        `${key}: port must be between the minimal port ${conf.migrationPortMin} and 65535`,
      );
    }
  },
  migration_host: checkLocalAddress('migrationHost'),
  migration_address: checkLocalAddress('migrationAddress'),
  nvram: (conf, raw, key) => {
    conf.nvram.forEach((pair, i) => {
      const parts = pair.split(':');
      const name = parts[0]?.trimStart() ?? '';
      const vars = parts[1]?.trimStart() ?? '';
      if (parts.length !== 2 || name === '' || vars === '') {
        throw syntax(elementWhere(raw, key, i), `Invalid nvram format: '${pair}'`);
      }
    });
  },
  security_driver: (conf, raw, key) => {
    const names = conf.securityDriver ?? [];
    names.forEach((name, i) => {
      if (names.indexOf(name) !== i)
        throw syntax(elementWhere(raw, key, i), `Duplicate security driver ${name}`);
    });
    // libvirt 9.0 documents this rule in qemu.conf but does not check it.
    const none = names.indexOf('none');
    if (none >= 0 && names.length > 1) {
      throw syntax(
        elementWhere(raw, key, none),
        'Security driver "none" cannot be combined with other drivers',
      );
    }
  },
  cgroup_controllers: (conf, raw, key) => {
    conf.cgroupControllers?.forEach((name, i) => {
      if (!CGROUP_CONTROLLERS.includes(name)) {
        throw syntax(elementWhere(raw, key, i), `Unknown cgroup controller '${name}'`);
      }
    });
  },
  namespaces: (conf, raw, key, options) => {
    conf.namespaces.forEach((name, i) => {
      if (!QEMU_NAMESPACES.includes(name))
        throw syntax(elementWhere(raw, key, i), `Unknown namespace: ${name}`);
      if (!options.privileged) throw unsupported(raw, key, 'cannot use namespaces in session mode');
    });
  },
};
