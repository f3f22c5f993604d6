/**
 * The `cgroup-devices` security driver: libvirt 9.0's device cgroup (qemu_cgroup.c) expressed
 * with the security driver hooks.
 *
 * - `domainSetSecurityChildProcessLabel` adds the domain's group to the launch spec, so QEMU
 *   joins it before it is exec'd and is confined from its first instruction (libvirt sets the
 *   cgroup up in the forked child before exec, too).
 * - `domainSetSecurityAllLabel` makes the group, denies everything and allows what the domain
 *   needs (domain-acl.ts). The driver runs it in the launch handshake, before the chain joins the
 *   group, so a start that fails earlier leaves nothing to clean up.
 * - `domainRestoreSecurityAllLabel` removes everything: v2 program detached, program and map
 *   closed, group removed. A group that still holds a process (a rollback while QEMU lives) is
 *   kept, still confining it, and removed by `domainReleaseSecurityLabel` or the next restore.
 * - The per-device hooks (image, hostdev, chardev, input, memory) allow and deny on hotplug,
 *   never denying a path of the ACL list (qemuCgroupDenyDevicePath).
 * - `domainReserveSecurityLabel` re-adopts a running domain's group (and its BPF program).
 *
 * Nothing happens for an unprivileged instance or when qemu.conf `cgroup_controllers` leaves out
 * `devices`, as in libvirt.
 */
import {
  type DomainDef,
  type HostdevDef,
  type HostPort,
  type InputDef,
  type MemoryDeviceDef,
  type SecurityChardev,
  type SecurityDriver,
  type SecurityDriverFactory,
  type SecurityDriverOptions,
  type SecurityImageSource,
  virReportError,
} from '@qvirt/core';
import { type BackendChoice, type BackendPreference, chooseBackend } from './backend-choice.js';
import { type BpfOps, koffiBpf } from './bpf.js';
import { v1DevicesCgroup } from './cgroup-v1.js';
import { v2DevicesCgroup } from './cgroup-v2.js';
import { type DeviceRule, formatRule } from './device-rule.js';
import type { DevicesCgroup } from './devices-cgroup.js';
import {
  type AclItem,
  chardevItems,
  domainAclItems,
  hostdevItems,
  imageChainItems,
  imageLayerItems,
  inputItems,
  memoryItems,
  resolveItems,
} from './domain-acl.js';
import { cgroupError, errnoOf } from './errors.js';
import { domainCgroupPath, machineName } from './placement.js';

export const DRIVER_NAME = 'cgroup-devices';

export interface CgroupDevicesOptions extends SecurityDriverOptions {
  /** Which cgroup backend holds `devices`: `auto` (libvirt's choice, the default), `v1` or `v2`. */
  backend?: BackendPreference;
  /** An embed instance's root directory: the group is named `qemu-embed-<8 hex>-ID-NAME` (libvirt). */
  embedRoot?: string;
  /** The bpf(2) calls (default: the real ones, through koffi). */
  bpf?: BpfOps;
  /** libvirt's VIR_WARN messages (default: process.emitWarning). */
  warn?: (message: string) => void;
}

/** What a running domain's device cgroup is, for tools and tests. */
export interface DomainDevicesCgroupInfo {
  backend: 'v1' | 'v2';
  /** The group's directory in cgroupfs. */
  dir: string;
  /** The group's path inside its hierarchy, e.g. `/machine/qemu-1-demo.qvirt-qemu`. */
  path: string;
  /** v2: the BPF map's id. */
  mapId?: number;
  /** False when the ACL could not be applied (EPERM) and filtering is off. */
  filtering: boolean;
}

export interface CgroupDevicesDriver extends SecurityDriver {
  /** The domain's group, once the driver has made or adopted it. */
  domainDevicesCgroup(def: DomainDef): DomainDevicesCgroupInfo | undefined;
  /** The rules in force now (v1 `devices.list`, v2 the map), as `c 1:3 rw` lines. */
  domainDeviceRules(def: DomainDef): Promise<string[]>;
  /** The rules the driver would apply for a definition, without touching cgroups. */
  expectedDeviceRules(def: DomainDef): Promise<string[]>;
}

interface DomainState {
  cgroup: DevicesCgroup;
  path: string;
  filtering: boolean;
  /** The group could not be removed yet (a process was still in it). */
  pendingRemoval: boolean;
  /** The background retry of a pending removal. */
  retry?: ReturnType<typeof setTimeout>;
}

/** How long, and how often, a group a QEMU is still leaving is looked at again after its stop. */
const PENDING_RETRY_MS = 250;
const PENDING_GIVE_UP_MS = 60_000;

/**
 * One group per run: the machine name carries the domain id, so a group still waiting for an old
 * QEMU to leave (pendingRemoval) is never taken for the next run's, nor removed in its place.
 */
const key = (def: DomainDef) => `${def.uuid ?? def.name}#${def.id ?? ''}`;

const createCgroupDevicesDriver = (options: CgroupDevicesOptions, host: HostPort): CgroupDevicesDriver => {
  const conf = options.conf;
  const warn = options.warn ?? ((m: string) => process.emitWarning(m));
  let bpfOps: BpfOps | undefined = options.bpf;
  const bpf = (): BpfOps => (bpfOps ??= (host as HostPort & { bpf?: BpfOps }).bpf ?? koffiBpf());
  let choice: Promise<BackendChoice | undefined> | undefined;
  const backend = () => (choice ??= chooseBackend(host, bpf, options.backend ?? 'auto'));
  const domains = new Map<string, DomainState>();

  /** virCgroupHasController(priv->cgroup, DEVICES) for this instance. */
  const devicesControllerWanted = () =>
    options.privileged &&
    (conf.cgroupControllers === undefined || conf.cgroupControllers.includes('devices'));

  const groupOf = async (def: DomainDef): Promise<{ cgroup: DevicesCgroup; path: string } | undefined> => {
    if (!devicesControllerWanted()) return undefined;
    const b = await backend();
    if (!b) return undefined;
    if (def.id === undefined) throw cgroupError(`domain '${def.name}' has no id: cannot place its cgroup`);
    const username = options.privileged ? undefined : (await host.lookupUser(host.getuid()))?.name;
    const name = machineName({
      drivername: 'qemu',
      id: def.id,
      name: def.name,
      privileged: options.privileged,
      ...(options.embedRoot !== undefined ? { embedRoot: options.embedRoot } : {}),
      ...(username !== undefined ? { username } : {}),
    });
    let path: string;
    try {
      path = domainCgroupPath({
        machineName: name,
        partition: def.resource?.partition ?? '/machine',
        controllers: (await host.cgroupMounts()).flatMap((m) => m.controllers),
      });
    } catch (err) {
      throw cgroupError((err as Error).message);
    }
    const dir = `${b.mount}${path}`;
    const cgroup = b.backend === 'v2' ? v2DevicesCgroup(dir, host, bpf()) : v1DevicesCgroup(dir, host);
    return { cgroup, path };
  };

  /** qemuSetupDevicesCgroup: deny all, then allow the domain's list. */
  const setup = async (def: DomainDef): Promise<DomainState | undefined> => {
    const existing = domains.get(key(def));
    if (existing && !existing.pendingRemoval) return existing;
    const g = await groupOf(def);
    if (!g) return undefined;
    await g.cgroup.create();
    const state: DomainState = { cgroup: g.cgroup, path: g.path, filtering: true, pendingRemoval: false };
    domains.set(key(def), state);
    try {
      try {
        await g.cgroup.denyAll();
      } catch (err) {
        if (errnoOf((err as { cause?: unknown }).cause) === 'EPERM' || errnoOf(err) === 'EPERM') {
          warn('Group devices ACL is not accessible, disabling filtering');
          state.filtering = false;
          return state;
        }
        throw err;
      }
      await g.cgroup.allow(await resolveItems(await domainAclItems(def, conf, host), host));
    } catch (err) {
      // Leave nothing behind for a start that fails here.
      await teardown(def).catch(() => {});
      throw err;
    }
    return state;
  };

  /** qemuRemoveCgroup: the group goes unless a process is still in it. */
  const teardown = async (def: DomainDef): Promise<void> => {
    let state = domains.get(key(def));
    if (!state) {
      const g = await groupOf(def);
      if (!g || !(await host.exists(g.cgroup.dir))) return;
      state = { cgroup: g.cgroup, path: g.path, filtering: true, pendingRemoval: false };
      domains.set(key(def), state);
    }
    // A QEMU that was just killed can still be listed while its threads exit: give it a moment
    // before deciding the group is in use (libvirt's virCgroupRemove retries the same way).
    for (
      let i = 0;
      i < 80 && (await host.exists(state.cgroup.dir)) && (await state.cgroup.populated());
      i++
    ) {
      await new Promise((r) => setTimeout(r, 25));
    }
    if ((await host.exists(state.cgroup.dir)) && (await state.cgroup.populated())) {
      state.pendingRemoval = true;
      retryLater(def, state);
      return;
    }
    await removeOrRetry(def, state);
  };

  /** rmdir can still say EBUSY while the last task's exit finishes: then it is retried. */
  const removeOrRetry = async (def: DomainDef, state: DomainState, since?: number): Promise<void> => {
    try {
      await removeGroup(def, state);
    } catch (err) {
      if (errnoOf(err) !== 'EBUSY' && errnoOf((err as { cause?: unknown }).cause) !== 'EBUSY') throw err;
      state.pendingRemoval = true;
      retryLater(def, state, since);
    }
  };

  const removeGroup = async (def: DomainDef, state: DomainState): Promise<void> => {
    if (state.retry) clearTimeout(state.retry);
    state.retry = undefined;
    await state.cgroup.remove();
    if (domains.get(key(def)) === state) domains.delete(key(def));
  };

  /**
   * A busy machine can take longer than the stop's wait for a killed QEMU's last threads to leave
   * its group; libvirt then leaves the group behind. Here the group is looked at again in the
   * background (without keeping the process alive) and removed once empty.
   */
  const retryLater = (def: DomainDef, state: DomainState, since = Date.now()): void => {
    if (state.retry) return;
    if (Date.now() - since > PENDING_GIVE_UP_MS) {
      // libvirt leaves such a group behind too (virCgroupRemove gives up after its retries)
      warn(`cgroup ${state.cgroup.dir} is still in use; leaving it`);
      return;
    }
    state.retry = setTimeout(async () => {
      state.retry = undefined;
      if (domains.get(key(def)) !== state || !state.pendingRemoval) return;
      try {
        if (!(await host.exists(state.cgroup.dir))) domains.delete(key(def));
        else if (await state.cgroup.populated()) retryLater(def, state, since);
        else await removeOrRetry(def, state, since);
      } catch (err) {
        warn(`cannot remove cgroup ${state.cgroup.dir}: ${(err as Error).message}`);
      }
    }, PENDING_RETRY_MS);
    state.retry.unref?.();
  };

  /** Allow a device's items in a running domain's group (hotplug). */
  const allowItems = async (def: DomainDef, items: AclItem[]) => {
    const state = domains.get(key(def));
    if (!state?.filtering || items.length === 0) return;
    await state.cgroup.allow(await resolveItems(items, host));
  };

  /** Deny a device's items, never a path of the ACL list (qemuCgroupDenyDevicePath). */
  const denyItems = async (def: DomainDef, items: AclItem[], keepVfio: boolean) => {
    const state = domains.get(key(def));
    if (!state?.filtering || items.length === 0) return;
    const acl = new Set(conf.cgroupDeviceAcl);
    const kept = items.filter(
      (i) => i.kind === 'rule' || (!acl.has(i.path) && !(keepVfio && i.path === '/dev/vfio/vfio')),
    );
    // The device may already be gone from the host: deny what still resolves.
    const existing: AclItem[] = [];
    for (const i of kept) if (i.kind === 'rule' || (await host.exists(i.path))) existing.push(i);
    const rules = (await resolveItems(existing, host)).map(
      (r): DeviceRule => ({ ...r, access: { read: true, write: true, mknod: true } }),
    );
    await state.cgroup.deny(rules);
  };

  /** Whether something else in the domain still needs /dev/vfio/vfio (qemuDomainNeedsVFIO). */
  const othersNeedVfio = (def: DomainDef, except: unknown) => {
    const devs = (def.devices ?? {}) as Record<string, any>;
    const hostdevs = ((devs.hostdev ?? []) as Array<Record<string, any>>).filter(
      (h) =>
        h !== except && (h.type === 'mdev' || (h.type === 'pci' && (h.driver?.name ?? 'vfio') === 'vfio')),
    );
    const nvme = ((devs.disk ?? []) as Array<Record<string, any>>).filter(
      (d) => d !== except && d.type === 'nvme',
    );
    return hostdevs.length + nvme.length > 0;
  };

  const driver: CgroupDevicesDriver = {
    name: DRIVER_NAME,

    async probe() {
      return (await backend()) ? 'enable' : 'disable';
    },
    getModel: () => DRIVER_NAME,
    getDOI: () => '0',

    async close() {
      for (const [k, state] of domains) {
        if (state.retry) clearTimeout(state.retry);
        state.retry = undefined;
        // A pending group that has emptied meanwhile goes now; one still in use stays (as libvirt).
        if (state.pendingRemoval)
          await state.cgroup
            .populated()
            .then((busy) => (busy ? undefined : state.cgroup.remove()))
            .catch(() => {});
        state.cgroup.release();
        domains.delete(k);
      }
    },

    async domainSetSecurityChildProcessLabel(def, spec) {
      // Only where QEMU will go: the group itself is made by SetAllLabel, which runs before the
      // launch chain joins it, so a start that fails before labelling leaves no group behind.
      const g = await groupOf(def);
      if (g && !spec.cgroupPaths.includes(g.cgroup.dir)) spec.cgroupPaths.push(g.cgroup.dir);
    },

    async domainSetSecurityAllLabel(def) {
      await setup(def);
    },

    async domainRestoreSecurityAllLabel(def) {
      await teardown(def);
    },

    async domainReserveSecurityLabel(def, pid) {
      if (domains.has(key(def))) return;
      const g = await groupOf(def);
      if (!g || !(await host.exists(g.cgroup.dir))) return;
      // The process must be in the group we computed (virCgroupValidateMachineGroup's spirit).
      const placement = await host.cgroupPlacement(pid).catch(() => []);
      const expected = g.cgroup.backend === 'v2' ? 0 : undefined;
      const inGroup = placement.some(
        (p) =>
          (expected === 0 ? p.hierarchy === 0 : p.controllers.includes('devices')) &&
          (p.path === g.path || p.path.startsWith(`${g.path}/`)),
      );
      if (!inGroup) {
        warn(`Cgroup name for domain '${def.name}' does not match '${g.path}'`);
        return;
      }
      domains.set(key(def), { cgroup: g.cgroup, path: g.path, filtering: true, pendingRemoval: false });
    },

    async domainReleaseSecurityLabel(def) {
      const state = domains.get(key(def));
      if (state?.pendingRemoval) await teardown(def);
    },

    async domainSetSecurityImageLabel(def, src: SecurityImageSource, flags) {
      const items = flags.backingChain
        ? await imageChainItems(src, host)
        : await imageLayerItems(src, false, host);
      await allowItems(def, items);
    },
    async domainRestoreSecurityImageLabel(def, src: SecurityImageSource, flags) {
      const layers = flags.backingChain
        ? await imageChainItems(src, host)
        : await imageLayerItems(src, false, host);
      await denyItems(def, layers, othersNeedVfio(def, undefined));
    },

    async domainSetSecurityHostdevLabel(def, dev: HostdevDef) {
      await allowItems(def, await hostdevItems(dev, host));
    },
    async domainRestoreSecurityHostdevLabel(def, dev: HostdevDef) {
      await denyItems(def, await hostdevItems(dev, host).catch(() => []), othersNeedVfio(def, dev));
    },

    async domainSetSecurityChardevLabel(def, dev: SecurityChardev) {
      await allowItems(def, chardevItems(dev));
    },
    async domainRestoreSecurityChardevLabel(def, dev: SecurityChardev) {
      await denyItems(def, chardevItems(dev), true);
    },

    async domainSetSecurityInputLabel(def, input: InputDef) {
      await allowItems(def, inputItems(input));
    },
    async domainRestoreSecurityInputLabel(def, input: InputDef) {
      await denyItems(def, inputItems(input), true);
    },

    async domainSetSecurityMemoryLabel(def, mem: MemoryDeviceDef) {
      await allowItems(def, memoryItems(mem));
    },
    async domainRestoreSecurityMemoryLabel(def, mem: MemoryDeviceDef) {
      await denyItems(def, memoryItems(mem), true);
    },

    domainDevicesCgroup(def) {
      const state = domains.get(key(def));
      if (!state) return undefined;
      const mapId = state.cgroup.mapId?.();
      return {
        backend: state.cgroup.backend,
        dir: state.cgroup.dir,
        path: state.path,
        filtering: state.filtering,
        ...(mapId !== undefined ? { mapId } : {}),
      };
    },

    async domainDeviceRules(def) {
      const state = domains.get(key(def));
      if (!state) throw virReportError('OPERATION_INVALID', 'qemu', 'domain has no device cgroup');
      return (await state.cgroup.list()).map(formatRule);
    },

    async expectedDeviceRules(def) {
      return (await resolveItems(await domainAclItems(def, conf, host), host)).map(formatRule);
    },
  };
  return driver;
};

/** The factory `@qvirt/core`'s registry calls: `(options, host) => SecurityDriver`. */
export const cgroupDevicesDriver = Object.assign(createCgroupDevicesDriver, {
  driverName: DRIVER_NAME,
}) satisfies SecurityDriverFactory<CgroupDevicesOptions>;
