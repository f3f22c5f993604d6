/**
 * The security driver contract: libvirt 9.0's virSecurityDriver (src/security/security_driver.h)
 * with its hook names verbatim. A backend package default-exports a `SecurityDriverFactory` and
 * exports `DRIVER_NAME`; its state lives in the factory's closure and every host access goes
 * through the `host` port.
 *
 * Hooks are async and optional except `name`, `probe`, `getModel` and `getDOI`. A hook reports
 * failure by throwing (a one-line `VirError` with libvirt's message); a missing hook is a no-op,
 * as a NULL entry is in libvirt. Where libvirt passes `virDomainDef *def` the hook gets the
 * domain's (live) `DomainDef`: Gen/Reserve write their label into `def.seclabel` (the entry whose
 * `model` is the driver's), which is how labels reach the live XML and the status file.
 */
import type { QemuConf } from '../conf/qemu-conf.js';
import type { ChardevSourceDef, ChardevType } from '../domain/chardev.js';
import type { InputDef, MemoryDeviceDef } from '../domain/devices-misc.js';
import type { DomainDef } from '../domain/domain-xml.js';
import type { DeviceSeclabelDef } from '../domain/general.js';
import type { HostdevDef, InterfaceDef } from '../domain/net-hostdev.js';
import type { StorageType } from '../domain/storage.js';
import type { HostPort } from './host.js';
import type { LaunchSpec } from './launch-spec.js';

/** virSecurityDriverStatus without ERROR (a probe that fails throws). */
export type SecurityDriverStatus = 'enable' | 'disable';

/**
 * One layer of a disk image as the hooks see it: libvirt's virStorageSource. `diskImageSource()`
 * builds it from a `<disk>`; backing layers are readonly, as in libvirt.
 */
export interface SecurityImageSource {
  type: StorageType;
  /** The local path: `file`, `dev` or `dir` of the source (undefined for network/nvme/…). */
  path?: string;
  /** The layer's format (`raw`, `qcow2`, …) when known. */
  format?: string;
  readonly: boolean;
  shared: boolean;
  /** The `<seclabel>` overrides of this layer's `<source>`. */
  seclabels: DeviceSeclabelDef[];
  backingStore?: SecurityImageSource;
}

/** virSecurityDomainImageLabelFlags. */
export interface SecurityImageLabelFlags {
  /** VIR_SECURITY_DOMAIN_IMAGE_LABEL_BACKING_CHAIN: label the whole chain below `src`. */
  backingChain?: boolean;
  /** VIR_SECURITY_DOMAIN_IMAGE_PARENT_CHAIN_TOP: `src` is the top of the chain (writable). */
  chainTop?: boolean;
}

/**
 * A character device as the chardev hooks see it (virDomainChrSourceDef): the device's `type`
 * and its `<source>` elements (a udp chardev has two) and `<log>`. `SerialDef`, `ConsoleDef`,
 * `ChannelDef`, `ParallelDef` and `RedirdevDef` all fit.
 */
export interface SecurityChardev {
  type?: ChardevType;
  source?: ChardevSourceDef[];
  log?: { file?: string; append?: 'on' | 'off' };
}

/** virDomainSetSecurityAllLabel's extra arguments. */
export interface SecuritySetAllOptions {
  /** The path an incoming migration/restore reads from (`-incoming` file), if any. */
  incomingPath?: string;
  /** Chardevs are backed by virtlogd/the driver, not opened by QEMU. */
  chardevStdioLogd?: boolean;
  /** The domain is the destination of a migration (shared storage is left alone). */
  migrated?: boolean;
}

/** virDomainRestoreSecurityAllLabel's extra arguments. */
export interface SecurityRestoreAllOptions {
  migrated?: boolean;
  chardevStdioLogd?: boolean;
}

/** virSecurityLabel: a process's label as `domainGetSecurityProcessLabel` reports it. */
export interface SecurityProcessLabel {
  label: string;
  enforcing: boolean;
}

export interface SecurityDriver {
  /** The name `security_driver` uses (`dac`, `selinux`, `cgroup-devices`, `my-plugin`). */
  readonly name: string;

  /** Whether the driver can work on this host for this hypervisor driver (`QEMU`). */
  probe(virtDriver: string): SecurityDriverStatus | Promise<SecurityDriverStatus>;
  /** The security model (`<secmodel><model>` and `<seclabel model=>`). */
  getModel(): string;
  /** The domain of interpretation (`<secmodel><doi>`), `0` for most models. */
  getDOI(): string;
  /** The base label of a process for a virt type (`kvm`, `qemu`): `<baselabel type=>`. */
  getBaseLabel?(virtType: string): Promise<string | undefined>;
  /** Release what the driver holds (virSecurityDriverClose). */
  close?(): Promise<void>;
  /** Called before the daemon forks a child (virSecurityManagerPreFork). */
  preFork?(): Promise<void>;

  /** Start collecting relabel operations instead of running them. */
  transactionStart?(): Promise<void>;
  /**
   * Run the collected operations (in QEMU's mount namespace when `pid` is given and the driver
   * supports it; `lock`: take libvirt's metadata locks).
   */
  transactionCommit?(pid: number | undefined, lock: boolean): Promise<void>;
  /** Drop the collected operations. */
  transactionAbort?(): Promise<void>;

  /** Reject a definition the driver cannot honour (e.g. a static label without a label). */
  domainSecurityVerify?(def: DomainDef): Promise<void>;

  /** Pick the domain's labels and write them into its `<seclabel model=…>`. */
  domainGenSecurityLabel?(def: DomainDef): Promise<void>;
  /** Re-take the labels of a running domain (daemon restart, reconnect). */
  domainReserveSecurityLabel?(def: DomainDef, pid: number): Promise<void>;
  /** Give the labels back (MCS categories, …) after the domain stopped. */
  domainReleaseSecurityLabel?(def: DomainDef): Promise<void>;

  /** Label everything QEMU must open, before it is resumed. */
  domainSetSecurityAllLabel?(def: DomainDef, options: SecuritySetAllOptions): Promise<void>;
  /** Put every label back after QEMU stopped. */
  domainRestoreSecurityAllLabel?(def: DomainDef, options: SecurityRestoreAllOptions): Promise<void>;

  domainGetSecurityProcessLabel?(def: DomainDef, pid: number): Promise<SecurityProcessLabel>;
  /** Label the calling process (used when the daemon itself becomes QEMU; rarely). */
  domainSetSecurityProcessLabel?(def: DomainDef): Promise<void>;
  /** Add this driver's part (ids, capabilities, exec label, cgroups, /dev) to QEMU's launch spec. */
  domainSetSecurityChildProcessLabel?(def: DomainDef, spec: LaunchSpec): Promise<void>;

  domainSetSecurityDaemonSocketLabel?(def: DomainDef): Promise<void>;
  domainSetSecuritySocketLabel?(def: DomainDef): Promise<void>;
  domainClearSecuritySocketLabel?(def: DomainDef): Promise<void>;

  domainSetSecurityImageLabel?(
    def: DomainDef,
    src: SecurityImageSource,
    flags: SecurityImageLabelFlags,
  ): Promise<void>;
  domainRestoreSecurityImageLabel?(
    def: DomainDef,
    src: SecurityImageSource,
    flags: SecurityImageLabelFlags,
  ): Promise<void>;
  /** Move remembered-owner metadata from one image to another (block copy/commit pivot). */
  domainMoveImageMetadata?(
    pid: number | undefined,
    src: SecurityImageSource | undefined,
    dst: SecurityImageSource | undefined,
  ): Promise<void>;

  domainSetSecurityMemoryLabel?(def: DomainDef, mem: MemoryDeviceDef): Promise<void>;
  domainRestoreSecurityMemoryLabel?(def: DomainDef, mem: MemoryDeviceDef): Promise<void>;

  domainSetSecurityInputLabel?(def: DomainDef, input: InputDef): Promise<void>;
  domainRestoreSecurityInputLabel?(def: DomainDef, input: InputDef): Promise<void>;

  /** `vroot`: a root to prefix device paths with (QEMU's private /dev), as in libvirt. */
  domainSetSecurityHostdevLabel?(def: DomainDef, dev: HostdevDef, vroot?: string): Promise<void>;
  domainRestoreSecurityHostdevLabel?(def: DomainDef, dev: HostdevDef, vroot?: string): Promise<void>;

  domainSetSecurityChardevLabel?(
    def: DomainDef,
    dev: SecurityChardev,
    chardevStdioLogd: boolean,
  ): Promise<void>;
  domainRestoreSecurityChardevLabel?(
    def: DomainDef,
    dev: SecurityChardev,
    chardevStdioLogd: boolean,
  ): Promise<void>;

  domainSetSecurityTPMLabels?(def: DomainDef, setTPMStateLabel: boolean): Promise<void>;
  domainRestoreSecurityTPMLabels?(def: DomainDef, restoreTPMStateLabel: boolean): Promise<void>;

  domainSetSecurityNetdevLabel?(def: DomainDef, net: InterfaceDef): Promise<void>;
  domainRestoreSecurityNetdevLabel?(def: DomainDef, net: InterfaceDef): Promise<void>;

  domainSetSavedStateLabel?(def: DomainDef, savefile: string): Promise<void>;
  domainRestoreSavedStateLabel?(def: DomainDef, savefile: string): Promise<void>;

  /** Label a path QEMU uses (the domain's directory, a hugepage dir, …). */
  domainSetPathLabel?(def: DomainDef, path: string, allowSubtree: boolean): Promise<void>;
  domainSetPathLabelRO?(def: DomainDef, path: string): Promise<void>;
  domainRestorePathLabel?(def: DomainDef, path: string): Promise<void>;

  /** Label an open image file descriptor passed to QEMU. */
  domainSetSecurityImageFDLabel?(def: DomainDef, fd: number): Promise<void>;
  /** Label an open tap file descriptor passed to QEMU. */
  domainSetSecurityTapFDLabel?(def: DomainDef, fd: number): Promise<void>;

  /** Mount options for file systems made for the domain (SELinux `context=`), if any. */
  domainGetSecurityMountOptions?(def: DomainDef): Promise<string | undefined>;
}

/** Every optional hook name (what the stack and the recording fakes iterate over). */
export type SecurityHookName = Exclude<
  {
    [K in keyof SecurityDriver]-?: SecurityDriver[K] extends ((...args: never[]) => unknown) | undefined
      ? K
      : never;
  }[keyof SecurityDriver],
  'probe' | 'getModel' | 'getDOI'
>;

/**
 * What every factory gets besides its own options: the instance it serves. The registry fills
 * this from qemu.conf and the instance; code composing a stack with `register()` passes its own.
 */
export interface SecurityDriverOptions {
  /** libvirt's virtDriver argument: `QEMU`. */
  virtDriver: string;
  /** The parsed qemu.conf of the instance. */
  conf: QemuConf;
  /** The instance runs as root with system semantics (system or root embed): DAC, cgroups. */
  privileged: boolean;
  /** QEMU's uid and gid (qemu.conf `user`/`group` resolved), the caller's in session mode. */
  user: number;
  group: number;
  /** Manager flags (virSecurityManagerNewStack): qemu.conf's values. */
  defaultConfined: boolean;
  requireConfined: boolean;
  dynamicOwnership: boolean;
  /** QEMU runs in its own mount namespace (`namespaces` holds `mount`). */
  mountNamespace: boolean;
  /** The instance's directories, for drivers that keep state or label them. */
  dirs: {
    config: string;
    run: string;
    lib: string;
    cache: string;
    log: string;
  };
}

/**
 * What a backend package default-exports: a function making the driver for one instance.
 * `options` is `SecurityDriverOptions` plus whatever the backend documents.
 */
export type SecurityDriverFactory<Options extends SecurityDriverOptions = SecurityDriverOptions> = ((
  options: Options,
  host: HostPort,
) => SecurityDriver) & {
  /** The driver's name without constructing it (lets the registry index code-registered factories). */
  readonly driverName?: string;
};
