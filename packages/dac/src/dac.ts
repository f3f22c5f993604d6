/**
 * The `dac` security driver: libvirt 9.0's src/security/security_dac.c as a qvirt plugin.
 * QEMU runs as qemu.conf's `user`:`group` (or a domain's static `<seclabel model='dac'>`), with
 * that user's supplementary groups; what it must open is chowned to it before it starts and
 * given back when it stops. Owners are remembered in libvirt's xattrs (core's rememberStore),
 * chown follows libvirt's rules (ownership.ts), the paths come from core's path plan
 * (domainSecurityPaths) and become chowns in plan.ts.
 */
import type {
  DomainDef,
  HostdevDef,
  HostPort,
  LaunchSpec,
  SeclabelDef,
  SecurityChardev,
  SecurityDriver,
  SecurityDriverOptions,
  SecurityImageLabelFlags,
  SecurityImageSource,
  SecurityRestoreAllOptions,
  SecuritySetAllOptions,
} from '@qvirt/core';
import {
  chardevSecurityPaths,
  defaultQemuConf,
  diskImageSource,
  domainChardevs,
  domainSecurityPaths,
  hostdevNodes,
  imageChain,
  nvramImage,
  type RememberStoreOptions,
  rememberStore,
  renderNodes,
  type SecurityPath,
  VirError,
  virReportError,
} from '@qvirt/core';
import { formatIds, type Ids, parseOwnershipIds } from './ids.js';
import { ownership } from './ownership.js';
import {
  chardevItem,
  dacSeclabel,
  graphicsSockets,
  imageRestoreItems,
  imageSetItems,
  MODEL,
  type RestoreItem,
  relabelOf,
  type SetItem,
} from './plan.js';
import { buildPrivateDev } from './private-dev.js';
import { checkTraversal, type TraverseTarget } from './traverse.js';

export const DRIVER_NAME = 'dac';

export interface DacOptions extends SecurityDriverOptions, Pick<RememberStoreOptions, 'rememberOwner'> {
  /** Skip the pre-flight directory traversal check (default: check). */
  checkTraversal?: boolean;
  /** Where informational messages go (tolerated chown failures, …); default: dropped. */
  onInfo?: (message: string) => void;
}

type Resolved = SetItem & { ids: Ids };

export default function dac(options: DacOptions, host: HostPort): SecurityDriver {
  const user = options.user;
  const group = options.group;
  const baseLabel = formatIds({ uid: user, gid: group });
  const dynamicOwnership = options.dynamicOwnership;
  const mountNamespace = options.mountNamespace;
  const onInfo = options.onInfo ?? (() => {});
  const store = rememberStore(MODEL, host, options);
  const remember = store.enabled;
  const own = ownership(host, store, onInfo);

  // One relabel at a time: the xattr refcount read-modify-write must not interleave between two
  // domains starting together (libvirt takes metadata locks for the same reason).
  let queue: Promise<unknown> = Promise.resolve();
  function serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = queue.then(fn, fn);
    queue = run.catch(() => {});
    return run;
  }

  /** virSecurityDACGetIds: the process ids (the seclabel's `<label>` or qemu.conf's). */
  async function processIds(sec: SeclabelDef | undefined): Promise<Ids> {
    if (sec?.label) return parseOwnershipIds(host, sec.label);
    return { uid: user, gid: group };
  }
  /** virSecurityDACGetImageIds: the image ids (`<imagelabel>` or qemu.conf's). */
  async function imageIds(sec: SeclabelDef | undefined): Promise<Ids> {
    if (sec?.imagelabel) return parseOwnershipIds(host, sec.imagelabel);
    return { uid: user, gid: group };
  }

  function relabelling(def: DomainDef): boolean {
    return dynamicOwnership && relabelOf(dacSeclabel(def));
  }

  /** In a private /dev, nodes are made with the right owner instead of chowning the host's. */
  const inPrivateDev = (item: { path: string; what: string }) =>
    mountNamespace && item.what === 'dev' && item.path.startsWith('/dev/');

  async function resolve(items: SetItem[], fallback: Ids): Promise<Resolved[]> {
    const out: Resolved[] = [];
    for (const item of items) {
      out.push({
        ...item,
        ids: item.label !== undefined ? await parseOwnershipIds(host, item.label) : fallback,
      });
    }
    return out;
  }

  /** Run chowns in order; on failure give back those done, newest first (TransactionRun). */
  async function applyAll(items: Resolved[]): Promise<void> {
    const done: Resolved[] = [];
    try {
      for (const item of items) {
        if (inPrivateDev(item)) continue;
        await own.setOwnership(item.path, item.ids, item.remember && remember);
        done.push(item);
      }
    } catch (err) {
      for (const item of done.reverse()) {
        await own.restoreFileLabel(item.path, item.remember && remember).catch(() => {});
      }
      throw err;
    }
  }

  /** Restore every item, keep going past failures and report them together. */
  async function restoreAll(items: RestoreItem[]): Promise<void> {
    const errors: string[] = [];
    for (const item of items) {
      if (inPrivateDev(item)) continue;
      try {
        await own.restoreFileLabel(item.path, item.recall && remember);
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
    if (errors.length === 1) throw new VirError('OPERATION_FAILED', 'security', errors[0]!);
    if (errors.length > 1) throw new VirError('OPERATION_FAILED', 'security', errors.join('; '));
  }

  /**
   * What SetAllLabel chowns, from core's path plan. Not done by this driver yet (README): inputs,
   * memory devices, TPM, smartcards, fw_cfg files and `mode='capabilities'` host devices.
   */
  async function setItems(def: DomainDef, plan: SecurityPath[]): Promise<Resolved[]> {
    const sec = dacSeclabel(def);
    const img = await imageIds(sec);
    const proc = await processIds(sec);
    const out: Resolved[] = [];
    for (const e of plan) {
      if ((e.kind === 'disk' && !e.dir) || e.kind === 'nvram') {
        out.push(...(await resolve(imageSetItems(e.image, true, true), img)));
      } else if (e.kind === 'rendernode' && mountNamespace) {
        out.push({ path: e.path, remember: true, what: 'dev', ids: proc });
      } else if (e.kind === 'hostdev' && !e.capabilities) {
        out.push({ path: e.path, remember: e.remember, what: 'dev', ids: proc });
      } else if (e.kind === 'chardev') {
        out.push(...(await resolve([chardevItem(e)], proc)));
      } else if (e.kind === 'os') {
        out.push({ path: e.path, remember: true, what: 'file', ids: img });
      } else if (e.kind === 'unresolved' && e.of === 'hostdev') {
        throw e.error;
      }
    }
    return out;
  }

  /** What RestoreAllLabel gives back (a host device whose nodes cannot be found is skipped). */
  function restoreItems(plan: SecurityPath[]): RestoreItem[] {
    const out: RestoreItem[] = [];
    for (const e of plan) {
      if ((e.kind === 'disk' && !e.dir) || e.kind === 'nvram') {
        out.push(...imageRestoreItems(e.image));
      } else if (e.kind === 'hostdev' && !e.capabilities) {
        out.push({ path: e.path, recall: e.remember, what: 'dev' });
      } else if (e.kind === 'chardev') {
        out.push({ path: e.path, recall: true, what: e.chardev.type === 'dev' ? 'dev' : 'file' });
      } else if (e.kind === 'os') {
        out.push({ path: e.path, recall: true, what: 'file' });
      }
    }
    return out;
  }

  /** Files QEMU opens by path, for the traversal check (disks with their chain, firmware, os files, chardevs, sockets). */
  function traversalTargets(def: DomainDef, plan: SecurityPath[]): TraverseTarget[] {
    const out: TraverseTarget[] = [];
    for (const e of plan) {
      if (e.kind !== 'disk' || e.dir) continue;
      for (const layer of imageChain(e.image)) {
        if (layer.path && (layer.type === 'file' || layer.type === 'block')) {
          out.push({ path: layer.path, noun: 'storage file' });
        }
      }
    }
    const loader = def.os?.loader?.value;
    if (loader) out.push({ path: loader, noun: 'file' });
    const nvram = nvramImage(def);
    if (nvram?.path) out.push({ path: nvram.path, noun: 'file' });
    for (const kind of ['os', 'chardev'] as const) {
      for (const e of plan) if (e.kind === kind) out.push({ path: e.path, noun: 'file' });
    }
    for (const s of graphicsSockets(def)) out.push({ path: s, noun: 'file' });
    // Inside a private /dev every node sits in a fresh 0755 tmpfs.
    return mountNamespace ? out.filter((t) => !t.path.startsWith('/dev/')) : out;
  }

  /** libvirt's virSecurityDACSetHostdevCapsLabel is not done yet: `mode='capabilities'` is left out. */
  async function dacHostdevNodes(dev: HostdevDef) {
    return (await hostdevNodes(dev, host)).filter((n) => !n.capabilities);
  }

  async function chardevItems(dev: SecurityChardev, phase: 'set' | 'restore', stdioLogd: boolean) {
    const paths = await chardevSecurityPaths(dev, MODEL, host, phase, stdioLogd);
    return paths.map((p) => chardevItem({ ...p, chardev: dev }));
  }

  async function groupsOf(ids: Ids): Promise<number[]> {
    // virGetGroupList: the user's groups by name (none for a uid without a passwd entry), plus gid.
    const entry = await host.lookupUser(ids.uid);
    const groups = entry ? await host.groupList(entry.name, entry.gid) : [];
    return groups.includes(ids.gid) ? groups : [...groups, ids.gid];
  }

  return {
    name: DRIVER_NAME,
    probe: () => 'enable',
    getModel: () => MODEL,
    getDOI: () => '0',
    getBaseLabel: async () => baseLabel,

    async domainSecurityVerify() {},

    async domainGenSecurityLabel(def) {
      let sec = dacSeclabel(def);
      if (!sec) {
        // The manager adds the implicit label; a driver used on its own adds it here.
        sec = { type: 'dynamic', model: MODEL };
        def.seclabel = [...(def.seclabel ?? []), sec];
      }
      if (sec.imagelabel !== undefined) {
        throw virReportError('INTERNAL_ERROR', 'security', 'security image label already defined for VM');
      }
      switch (sec.type ?? 'dynamic') {
        case 'static':
          if (sec.label === undefined) {
            throw virReportError(
              'INTERNAL_ERROR',
              'security',
              `missing label for static security driver in domain ${def.name}`,
            );
          }
          break;
        case 'dynamic':
          sec.label = baseLabel;
          break;
        case 'none':
          return;
      }
      if (relabelOf(sec) && sec.imagelabel === undefined) sec.imagelabel = sec.label;
    },
    async domainReserveSecurityLabel() {},
    async domainReleaseSecurityLabel() {},

    async domainSetSecurityAllLabel(def: DomainDef, opts: SecuritySetAllOptions) {
      const stdioLogd = opts.chardevStdioLogd ?? false;
      const sec = dacSeclabel(def);
      const plan = await domainSecurityPaths(def, MODEL, host, 'set', stdioLogd);
      if (options.checkTraversal !== false) {
        const who = await processIds(sec);
        const img = await imageIds(sec);
        const targets = traversalTargets(def, plan);
        // QEMU opens files as its process ids; with relabel the files themselves become the image ids.
        await checkTraversal(host, targets, { ...who, groups: await groupsOf(who) });
        if (img.uid !== who.uid) await checkTraversal(host, targets, { ...img, groups: [] });
      }
      if (!relabelling(def)) return;
      await serialized(async () => applyAll(await setItems(def, plan)));
    },

    async domainRestoreSecurityAllLabel(def: DomainDef, opts: SecurityRestoreAllOptions) {
      if (!relabelling(def)) return;
      const stdioLogd = opts.chardevStdioLogd ?? false;
      await serialized(async () =>
        restoreAll(restoreItems(await domainSecurityPaths(def, MODEL, host, 'restore', stdioLogd))),
      );
    },

    async domainSetSecurityImageLabel(
      def: DomainDef,
      src: SecurityImageSource,
      flags: SecurityImageLabelFlags,
    ) {
      if (!relabelling(def)) return;
      const img = await imageIds(dacSeclabel(def));
      const items = await resolve(
        imageSetItems(src, flags.chainTop ?? false, flags.backingChain ?? false),
        img,
      );
      await serialized(() => applyAll(items));
    },
    async domainRestoreSecurityImageLabel(def: DomainDef, src: SecurityImageSource) {
      if (!relabelling(def)) return;
      await serialized(() => restoreAll(imageRestoreItems(src)));
    },
    async domainMoveImageMetadata(_pid, src, dst) {
      if (!dynamicOwnership || !src?.path) return;
      const from = src.path;
      await serialized(async () => {
        await store.move(from, dst?.path);
      });
    },

    async domainSetSecurityHostdevLabel(def: DomainDef, dev: HostdevDef) {
      if (!relabelling(def)) return;
      const ids = await processIds(dacSeclabel(def));
      const items: Resolved[] = (await dacHostdevNodes(dev)).map((n) => ({ ...n, what: 'dev', ids }));
      await serialized(() => applyAll(items));
    },
    async domainRestoreSecurityHostdevLabel(def: DomainDef, dev: HostdevDef) {
      if (!relabelling(def)) return;
      const items: RestoreItem[] = (await dacHostdevNodes(dev)).map((n) => ({
        path: n.path,
        recall: n.remember,
        what: 'dev',
      }));
      await serialized(() => restoreAll(items));
    },

    async domainSetSecurityChardevLabel(def: DomainDef, dev: SecurityChardev, chardevStdioLogd: boolean) {
      const ids = await processIds(dacSeclabel(def));
      const items = await resolve(await chardevItems(dev, 'set', chardevStdioLogd), ids);
      await serialized(() => applyAll(items));
    },
    async domainRestoreSecurityChardevLabel(
      _def: DomainDef,
      dev: SecurityChardev,
      chardevStdioLogd: boolean,
    ) {
      const items = (await chardevItems(dev, 'restore', chardevStdioLogd)).map(({ path, what }) => ({
        path,
        recall: true,
        what,
      }));
      await serialized(() => restoreAll(items));
    },

    async domainSetPathLabel(def: DomainDef, path: string) {
      const ids = await processIds(dacSeclabel(def));
      await serialized(() => applyAll([{ path, remember: true, what: 'file', ids }]));
    },
    async domainRestorePathLabel(_def: DomainDef, path: string) {
      await serialized(() => restoreAll([{ path, recall: true, what: 'file' }]));
    },

    async domainGetSecurityProcessLabel(def: DomainDef, pid: number) {
      const sec = dacSeclabel(def);
      if (sec?.label) return { label: sec.label, enforcing: false };
      const st = await host.lstat(`/proc/${pid}`);
      return { label: formatIds({ uid: st.uid, gid: st.gid }), enforcing: false };
    },

    /** virSecurityDACSetChildProcessLabel (+ virExec's groups) and libvirt's private /dev. */
    async domainSetSecurityChildProcessLabel(def: DomainDef, spec: LaunchSpec) {
      const sec = dacSeclabel(def);
      const ids = await processIds(sec);
      spec.uid = ids.uid;
      spec.gid = ids.gid;
      spec.groups = await groupsOf(ids);
      if (!mountNamespace) return;
      const img = await imageIds(sec);
      const qemuNodes: Array<{ path: string; ids: Ids }> = [];
      for (const disk of def.devices?.disk ?? []) {
        for (const layer of imageChain(diskImageSource(disk))) {
          if (layer.type === 'block' && layer.path) qemuNodes.push({ path: layer.path, ids: img });
        }
      }
      for (const h of def.devices?.hostdev ?? []) {
        for (const n of await dacHostdevNodes(h)) qemuNodes.push({ path: n.path, ids });
      }
      for (const c of domainChardevs(def)) {
        if (c.type === 'dev' && c.source?.[0]?.path) qemuNodes.push({ path: c.source[0].path, ids });
      }
      for (const node of renderNodes(def)) qemuNodes.push({ path: node, ids });
      // Without relabelling QEMU gets the nodes with the host's owners, as libvirt's copies.
      const nodes = relabelling(def) ? qemuNodes : qemuNodes.map((n) => ({ path: n.path }));
      spec.privateDev = await buildPrivateDev(
        host,
        // libvirt's defaultDeviceACL (qemu_cgroup.c) when no qemu.conf is given
        options.conf?.cgroupDeviceAcl ?? defaultQemuConf({ privileged: true }).cgroupDeviceAcl,
        nodes,
        ids,
      );
    },
  };
}

/** Lets the registry index the factory without constructing it. */
Object.defineProperty(dac, 'driverName', { value: DRIVER_NAME });
