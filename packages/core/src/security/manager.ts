/**
 * The security manager: libvirt's security_manager.c and qemu_security.c over a stack. It holds
 * each driver's confinement flags (security_default_confined / security_require_confined, with
 * `none` never default-confined), generates the implicit `<seclabel>` per model at GenLabel,
 * checks that every `<seclabel model=>` names a stacked driver, wraps SetAll/RestoreAll in a
 * transaction, and describes the stack for the capabilities XML.
 */
import type { DomainDef } from '../domain/domain-xml.js';
import type { SeclabelDef } from '../domain/general.js';
import { virReportError } from '../errors.js';
import type {
  SecurityChardev,
  SecurityDriver,
  SecurityImageLabelFlags,
  SecurityImageSource,
  SecurityProcessLabel,
  SecurityRestoreAllOptions,
  SecuritySetAllOptions,
} from './driver.js';
import type { LaunchSpec } from './launch-spec.js';
import { messageOf, type SecurityStack, SecurityStackError, securityStack } from './stack.js';

export interface ManagedSecurityDriver {
  driver: SecurityDriver;
  /** Generate an implicit dynamic `<seclabel>` for this model when the domain has none. */
  defaultConfined: boolean;
  /** Refuse `type='none'` labels for this model. */
  requireConfined: boolean;
  /**
   * Listed in the capabilities XML (default true). libvirt mode hides the drivers that stand
   * for libvirt features that are not security models there (capng, cgroup-devices).
   */
  visible?: boolean;
}

/** One `<secmodel>` of the capabilities XML. */
export interface SecModelInfo {
  model: string;
  doi: string;
  /** `[virt type, base label]`. */
  baseLabels: [string, string][];
}

export interface SecurityManagerOptions {
  virtDriver?: string;
  warn?: (message: string) => void;
  /** Pass QEMU's pid to TransactionCommit (QEMU has its own mount namespace). */
  mountNamespace?: boolean;
  /** qemu.conf remember_owner: the `lock` argument of TransactionCommit. */
  rememberOwner?: boolean;
}

const notAvailable = (model: string) =>
  virReportError('CONFIG_UNSUPPORTED', 'security', `Security driver model '${model}' is not available`);

export class SecurityManager {
  readonly stack: SecurityStack;
  readonly entries: readonly ManagedSecurityDriver[];
  readonly virtDriver: string;
  readonly warn: (message: string) => void;
  readonly mountNamespace: boolean;
  readonly rememberOwner: boolean;

  constructor(entries: readonly ManagedSecurityDriver[], options: SecurityManagerOptions = {}) {
    this.entries = entries.map((e) => ({ ...e }));
    this.virtDriver = options.virtDriver ?? 'QEMU';
    this.warn = options.warn ?? ((m) => console.warn(m));
    this.mountNamespace = options.mountNamespace ?? false;
    this.rememberOwner = options.rememberOwner ?? false;
    this.stack = securityStack(
      this.entries.map((e) => e.driver),
      { virtDriver: this.virtDriver, warn: this.warn },
    );
  }

  get drivers(): readonly SecurityDriver[] {
    return this.stack.nested;
  }

  get primary(): SecurityDriver {
    return this.stack.primary;
  }

  /** The stacked driver with this name. */
  driver(name: string): SecurityDriver | undefined {
    return this.drivers.find((d) => d.name === name);
  }

  /** The `<secmodel>` list of the capabilities XML, in stack order (virQEMUDriverCreateCapabilities). */
  async secModels(virtTypes: readonly string[] = ['kvm', 'qemu']): Promise<SecModelInfo[]> {
    const out: SecModelInfo[] = [];
    for (const e of this.entries) {
      if (e.visible === false) continue;
      const d = e.driver;
      const baseLabels: [string, string][] = [];
      if (d.getBaseLabel) {
        for (const t of virtTypes) {
          const label = await d.getBaseLabel(t);
          if (label !== undefined) baseLabels.push([t, label]);
        }
      }
      out.push({ model: d.getModel(), doi: d.getDOI(), baseLabels });
    }
    return out;
  }

  /**
   * The model a lone `<seclabel>` without one takes (virDomainDefParseSecurityLabelDef with
   * xmlopt's defSecModel, the primary's): call on a new definition before GenLabel.
   */
  assignDefaultModel(def: DomainDef): void {
    const labels = def.seclabel;
    if (labels?.length === 1 && labels[0]!.model === undefined) {
      const l = labels[0]!;
      if (l.type === 'none' || ((l.type ?? 'dynamic') === 'dynamic' && l.baselabel === undefined)) {
        l.model = this.primary.name;
        if (l.model === 'none') {
          l.type = 'none';
          delete l.relabel;
        }
      }
    }
  }

  /** virSecurityManagerCheckAllLabel: every model named in the domain must be stacked (or `none`). */
  checkAllLabel(def: DomainDef): void {
    const names = new Set(this.drivers.map((d) => d.name));
    const check = (model: string | undefined) => {
      if (model === undefined || model === 'none') return;
      if (!names.has(model)) throw notAvailable(model);
    };
    for (const l of def.seclabel ?? []) check(l.model);
    for (const disk of def.devices?.disk ?? []) for (const l of disk.source?.seclabel ?? []) check(l.model);
    const devs = def.devices;
    for (const list of [devs?.serial, devs?.parallel, devs?.console, devs?.channel]) {
      for (const chr of list ?? [])
        for (const src of chr.source ?? []) for (const l of src.seclabel ?? []) check(l.model);
    }
  }

  /** virSecurityManagerVerify, per driver whose model the domain labels. */
  async verify(def: DomainDef): Promise<void> {
    for (const d of this.drivers) {
      if (!def.seclabel?.some((l) => l.model === d.name)) continue;
      await d.domainSecurityVerify?.(def);
    }
  }

  /**
   * virSecurityManagerGenLabel: over every stacked driver, not just the primary. A domain
   * without a `<seclabel model=X>` gets an implicit dynamic one when X is default-confined;
   * it is added before the driver's hook runs and removed again if the hook fails.
   */
  async genLabel(def: DomainDef): Promise<void> {
    for (const e of this.entries) {
      const d = e.driver;
      let label = def.seclabel?.find((l) => l.model === d.name);
      let generated = false;
      if (!label) {
        if (!e.defaultConfined) continue;
        label = { type: 'dynamic', model: d.name, relabel: 'yes' };
        generated = true;
      } else {
        normalizeSeclabel(label);
        if (label.type === 'none' && e.requireConfined) {
          throw virReportError(
            'CONFIG_UNSUPPORTED',
            'security',
            'Unconfined guests are not allowed on this host',
          );
        }
      }
      if (!d.domainGenSecurityLabel) continue; // libvirt: unsupported, label dropped, not fatal
      if (generated) {
        def.seclabel ??= [];
        def.seclabel.push(label);
      }
      try {
        await d.domainGenSecurityLabel(def);
      } catch (err) {
        if (generated) {
          const i = def.seclabel?.lastIndexOf(label) ?? -1;
          if (i >= 0) def.seclabel!.splice(i, 1);
        }
        throw err;
      }
    }
  }

  reserveLabel(def: DomainDef, pid: number): Promise<void> {
    return this.stack.domainReserveSecurityLabel!(def, pid);
  }

  releaseLabel(def: DomainDef): Promise<void> {
    return this.stack.domainReleaseSecurityLabel!(def);
  }

  getProcessLabel(def: DomainDef, pid: number): Promise<SecurityProcessLabel | undefined> {
    return this.stack.domainGetSecurityProcessLabel!(def, pid) as Promise<SecurityProcessLabel | undefined>;
  }

  setChildProcessLabel(def: DomainDef, spec: LaunchSpec): Promise<void> {
    return this.stack.domainSetSecurityChildProcessLabel!(def, spec);
  }

  setProcessLabel(def: DomainDef): Promise<void> {
    return this.stack.domainSetSecurityProcessLabel!(def);
  }

  /**
   * qemuSecuritySetAllLabel: TransactionStart, SetAllLabel, TransactionCommit(pid when QEMU has
   * its own mount namespace, lock = remember_owner), and Abort in every case.
   */
  async setAllLabel(def: DomainDef, options: SecuritySetAllOptions = {}, pid?: number): Promise<void> {
    try {
      await this.stack.transactionStart!();
      await this.stack.domainSetSecurityAllLabel!(def, options);
      await this.stack.transactionCommit!(this.mountNamespace ? pid : undefined, this.rememberOwner);
    } finally {
      await this.abortQuietly();
    }
  }

  /**
   * qemuSecurityRestoreAllLabel: best effort over every driver, inside a transaction committed
   * outside QEMU's (gone) namespace. Throws one error naming every failure.
   */
  async restoreAllLabel(def: DomainDef, options: SecurityRestoreAllOptions = {}): Promise<void> {
    let started = false;
    const errors: unknown[] = [];
    try {
      await this.stack.transactionStart!();
      started = true;
    } catch (err) {
      this.warn(`Unable to start security manager transaction: ${messageOf(err)}`);
    }
    try {
      await this.stack.domainRestoreSecurityAllLabel!(def, options);
    } catch (err) {
      errors.push(err);
    }
    if (started) {
      try {
        await this.stack.transactionCommit!(undefined, this.rememberOwner);
      } catch (err) {
        errors.push(err);
      }
    }
    await this.abortQuietly();
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) {
      throw new SecurityStackError(errors.flatMap((e) => (e instanceof SecurityStackError ? e.errors : [e])));
    }
  }

  /** Per-device hooks with the stack's rules (one transaction each, as qemu_security.c does). */
  async setImageLabel(
    def: DomainDef,
    src: SecurityImageSource,
    flags: SecurityImageLabelFlags,
    pid?: number,
  ): Promise<void> {
    await this.inTransaction(pid, () => this.stack.domainSetSecurityImageLabel!(def, src, flags));
  }

  async restoreImageLabel(
    def: DomainDef,
    src: SecurityImageSource,
    flags: SecurityImageLabelFlags,
  ): Promise<void> {
    await this.inTransaction(undefined, () => this.stack.domainRestoreSecurityImageLabel!(def, src, flags));
  }

  async setChardevLabel(
    def: DomainDef,
    dev: SecurityChardev,
    chardevStdioLogd: boolean,
    pid?: number,
  ): Promise<void> {
    await this.inTransaction(pid, () =>
      this.stack.domainSetSecurityChardevLabel!(def, dev, chardevStdioLogd),
    );
  }

  async restoreChardevLabel(def: DomainDef, dev: SecurityChardev, chardevStdioLogd: boolean): Promise<void> {
    await this.inTransaction(undefined, () =>
      this.stack.domainRestoreSecurityChardevLabel!(def, dev, chardevStdioLogd),
    );
  }

  async setPathLabel(def: DomainDef, path: string, allowSubtree: boolean, pid?: number): Promise<void> {
    await this.inTransaction(pid, () => this.stack.domainSetPathLabel!(def, path, allowSubtree));
  }

  async restorePathLabel(def: DomainDef, path: string): Promise<void> {
    await this.inTransaction(undefined, () => this.stack.domainRestorePathLabel!(def, path));
  }

  getMountOptions(def: DomainDef): Promise<string | undefined> {
    return this.stack.domainGetSecurityMountOptions!(def);
  }

  async close(): Promise<void> {
    await this.stack.close!();
  }

  private async inTransaction(pid: number | undefined, body: () => Promise<unknown>): Promise<void> {
    try {
      await this.stack.transactionStart!();
      await body();
      await this.stack.transactionCommit!(this.mountNamespace ? pid : undefined, this.rememberOwner);
    } finally {
      await this.abortQuietly();
    }
  }

  private async abortQuietly(): Promise<void> {
    try {
      await this.stack.transactionAbort!();
    } catch (err) {
      this.warn(`Unable to abort security manager transaction: ${messageOf(err)}`);
    }
  }
}

/** A parsed `<seclabel>` as libvirt holds it: type defaults to dynamic, relabel per type. */
export function normalizeSeclabel(label: SeclabelDef): void {
  label.type ??= 'dynamic';
  if (label.type === 'none') delete label.relabel;
  else label.relabel ??= label.type === 'dynamic' ? 'yes' : 'no';
}
