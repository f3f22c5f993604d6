/**
 * Disks at hotplug, as libvirt 9.0's qemuDomainAttachDeviceDiskLiveInternal does with -blockdev:
 * virtio (a PCI slot), SCSI (a drive address on a SCSI controller, the controller hotplugged
 * first when missing: qemuDomainFindOrCreateSCSIDiskController) and USB (a USB port); the storage
 * nodes `blockdev-add`ed under fresh `libvirt-N-` names, then `device_add`. SATA/IDE/floppy are
 * refused with libvirt's words. CD-ROM and floppy media change (qemuDomainChangeMediaBlockdev):
 * open the tray, remove the medium, swap the nodes, insert, close.
 */
import { diskImageSource, type SecurityImageSource } from '@qvirt/core';
import type { HotplugPlan } from './hotplug.js';
import {
  configUnsupported,
  type Dev,
  failed,
  internal,
  invalid,
  listOf,
  unsupported,
} from './hotplug-device.js';
import { attachControllerSteps } from './hotplug-misc.js';
import { dacOwner, namespaceNodeSteps, removeNamespaceNodes } from './hotplug-namespace.js';
import {
  blockdevChain,
  deviceProps,
  freePciAddress,
  freeUsbAddress,
  type Mon,
  nextNodeId,
} from './hotplug-qemu.js';
import type { Step } from './hotplug-steps.js';

const isEmpty = (disk: Dev) => {
  const s = disk.source as Dev | undefined;
  return !s || (s.file === undefined && s.dev === undefined && s.dir === undefined && s.name === undefined);
};

export const diskSource = (disk: Dev): SecurityImageSource =>
  diskImageSource(disk as Parameters<typeof diskImageSource>[0]);

/** The refusals of qemuDomainAttachDeviceDiskLiveInternal, before anything is done. */
export function checkDiskHotplug(disk: Dev): void {
  const bus = disk.target?.bus ?? 'virtio';
  const device = disk.device ?? 'disk';
  if (device === 'floppy') throw unsupported("floppy device hotplug isn't supported");
  if (bus === 'usb' && device === 'lun') {
    throw configUnsupported("disk device='lun' is not supported for usb bus");
  }
  if (bus === 'virtio' && device === 'cdrom')
    throw unsupported("cdrom device with virtio bus isn't supported");
  // libvirt 9.0 reports this for IDE and SATA but goes on (no `goto cleanup`), so QEMU's own
  // refusal of device_add is what the caller sees ("Bus 'ide.N' does not support hotplugging")
  if (!['virtio', 'scsi', 'usb', 'sata', 'ide'].includes(bus)) {
    throw unsupported(`disk bus '${bus}' cannot be hotplugged.`);
  }
}

/**
 * Renames the `libvirt-K-` nodes of a chain the command line numbered to the fresh `libvirt-N-`
 * (node names are given once per QEMU run and never reused).
 */
function renumber(chain: Record<string, unknown>[], id: number): Record<string, unknown>[] {
  const json = JSON.stringify(chain).replace(/"libvirt-\d+-/g, `"libvirt-${id}-`);
  return JSON.parse(json) as Record<string, unknown>[];
}

/** Steps that add the storage nodes of `disk` (storage first) and return the top node's name. */
async function nodeSteps(
  plan: HotplugPlan,
  alias: string,
  steps: Step[],
): Promise<{ top?: string; device: Record<string, unknown> }> {
  const device = deviceProps(plan.args, alias);
  const drive = device.drive as string | undefined;
  if (!drive) return { device };
  const id = await nextNodeId(plan.mon);
  const chain = renumber(blockdevChain(plan.args, drive), id);
  for (const node of [...chain].reverse()) {
    const name = node['node-name'] as string;
    steps.push({
      name: `blockdev-add ${name}`,
      run: () => plan.mon.execute('blockdev-add', node).then(() => {}),
      undo: () => plan.mon.execute('blockdev-del', { 'node-name': name }),
    });
  }
  const top = chain[0]!['node-name'] as string;
  return { top, device: { ...device, drive: top } };
}

/** The steps of a live disk attach; `plan.dev` is already in `plan.next` with its alias. */
export async function attachDiskSteps(plan: HotplugPlan): Promise<Step[]> {
  const disk = plan.dev;
  const live = plan.live;
  const dst = disk.target?.dev;
  if ((live.devices?.disk ?? []).some((d) => d.target?.dev === dst))
    throw failed(`target ${dst} already exists`);
  const steps: Step[] = [];
  const bus = disk.target?.bus ?? 'virtio';
  if (bus === 'scsi') {
    const a = disk.address as Dev | undefined;
    if (a?.type !== 'drive') throw internal(`unexpected disk address type ${a?.type ?? 'none'}`);
    const clash = (live.devices?.disk ?? []).some((d: Dev) => {
      const b = d.address as Dev | undefined;
      return (
        d.target?.bus === 'scsi' &&
        b?.type === 'drive' &&
        ['controller', 'bus', 'target', 'unit'].every((k) => Number(b[k] ?? 0) === Number(a[k] ?? 0))
      );
    });
    if (clash) throw invalid('Domain already contains a disk with that address');
    // qemuDomainFindOrCreateSCSIDiskController for each index up to the disk's
    for (let idx = 0; idx <= Number(a.controller ?? 0); idx++) {
      const controllers = listOf(plan.next, 'controller');
      if (controllers.some((c) => c.type === 'scsi' && Number(c.index ?? 0) === idx)) continue;
      const cont: Dev = { type: 'scsi', index: idx, model: plan.host.defaultScsiModel?.() ?? 'lsi' };
      controllers.push(cont);
      steps.push(...(await attachControllerSteps({ ...plan, dev: cont, kind: 'controller' }, false)));
    }
  } else if (bus === 'sata' || bus === 'ide') {
    // a drive address from the parse; QEMU decides
  } else if (bus === 'usb') {
    if (!disk.address) disk.address = freeUsbAddress(plan.next);
  } else if (!disk.address) {
    disk.address = freePciAddress(plan.next);
  }
  plan.assignAliases();
  plan.args = await plan.host.argv(plan.next);
  const alias = disk.alias.name as string;
  const security = plan.host.security;
  if (security && !isEmpty(disk)) {
    const src = diskSource(disk);
    steps.push({
      name: 'label the image',
      run: () => security.setImageLabel(plan.secDef(), src, { chainTop: true }),
      undo: () => security.restoreImageLabel(plan.secDef(), src, { chainTop: true }),
    });
  }
  // the node in QEMU's /dev (qemuDomainNamespaceSetupDisk), owned by QEMU as DAC makes the
  // namespace's nodes at start (dac/private-dev.ts)
  if (disk.type === 'block') {
    steps.push(
      ...namespaceNodeSteps(
        plan.dom.pid,
        [disk.source?.dev],
        dacOwner(plan.live as { seclabel?: unknown[] }),
      ),
    );
  }
  const { device } = await nodeSteps(plan, alias, steps);
  steps.push({
    name: `device_add ${alias}`,
    run: () => plan.mon.execute('device_add', device).then(() => {}),
    undo: () => plan.mon.execute('device_del', { id: alias }),
  });
  return steps;
}

/** The storage nodes of a disk QEMU no longer uses: its file's `libvirt-N-` nodes no device holds. */
async function orphanNodes(mon: Mon, disk: Dev): Promise<string[]> {
  const file = disk.source?.file ?? disk.source?.dev;
  if (!file) return [];
  const [nodes, blocks] = await Promise.all([
    mon.execute<{ 'node-name': string; file?: string; image?: { filename?: string } }[]>(
      'query-named-block-nodes',
      { flat: true },
    ),
    mon.execute<{ inserted?: { 'node-name'?: string } }[]>('query-block'),
  ]);
  const inUse = new Set(blocks.map((b) => b.inserted?.['node-name']).filter(Boolean));
  const ids = new Set<string>();
  for (const n of nodes) {
    const m = /^libvirt-(\d+)-format$/.exec(n['node-name']);
    if (m && n.file === file && !inUse.has(n['node-name'])) ids.add(m[1]!);
  }
  const mine = nodes.filter(
    (n) => /^libvirt-(\d+)-/.test(n['node-name']) && ids.has(/^libvirt-(\d+)-/.exec(n['node-name'])![1]!),
  );
  // the format node before the storage node it sits on
  mine.sort(
    (a, b) => Number(b['node-name'].endsWith('-format')) - Number(a['node-name'].endsWith('-format')),
  );
  return mine.map((n) => n['node-name']);
}

/** qemuDomainRemoveDiskDevice: the nodes, then the label (after the device is gone). */
export async function removeDisk(
  plan: { mon: Mon; host: HotplugPlan['host']; secDef(): any; pid?: number },
  disk: Dev,
) {
  for (const name of await orphanNodes(plan.mon, disk).catch(() => [])) {
    await plan.mon.execute('blockdev-del', { 'node-name': name }).catch(() => {});
  }
  const security = plan.host.security;
  if (security && !isEmpty(disk)) {
    await security.restoreImageLabel(plan.secDef(), diskSource(disk), { chainTop: true }).catch(() => {});
  }
  if (disk.type === 'block') await removeNamespaceNodes(plan.pid, [disk.source?.dev]);
}

/** Resolves once QEMU reports the tray of `id` open (DEVICE_TRAY_MOVED), or false after `ms`. */
function waitTrayOpen(mon: Mon, id: string, ms: number): Promise<boolean> {
  const emitter = mon as unknown as import('node:events').EventEmitter;
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      emitter.off('event', on);
      resolve(ok);
    };
    const on = (ev: { event: string; data?: { id?: string; device?: string; 'tray-open'?: boolean } }) => {
      if (
        ev.event === 'DEVICE_TRAY_MOVED' &&
        (ev.data?.id === id || ev.data?.device === id) &&
        ev.data['tray-open']
      )
        done(true);
    };
    const timer = setTimeout(() => done(false), ms);
    emitter.on('event', on);
  });
}

/** libvirt's CHANGE_MEDIA_TIMEOUT. */
const CHANGE_MEDIA_TIMEOUT_MS = 5000;

/**
 * qemuDomainChangeEjectableMedia on a running domain: `orig` (in `plan.live`) gets `next`'s source.
 * `plan.next` is the live definition with the new source in place.
 */
export async function changeMediaSteps(
  plan: HotplugPlan,
  orig: Dev,
  updated: Dev,
  force: boolean,
): Promise<Step[]> {
  const alias = orig.alias?.name as string | undefined;
  if (!alias) throw internal(`missing alias for disk ${orig.target?.dev}`);
  const mon = plan.mon;
  const steps: Step[] = [];
  const security = plan.host.security;
  if (security && !isEmpty(updated)) {
    const src = diskSource(updated);
    steps.push({
      name: 'label the new medium',
      run: () => security.setImageLabel(plan.secDef(), src, { chainTop: true }),
      undo: () => security.restoreImageLabel(plan.secDef(), src, { chainTop: true }),
    });
  }
  const blocks = await mon.execute<{ qdev?: string; tray_open?: boolean; inserted?: Dev }[]>('query-block');
  const block = blocks.find((b) => b.qdev === alias || b.qdev?.startsWith(`/machine/peripheral/${alias}/`));
  if (!block?.tray_open) {
    steps.push({
      name: 'open the tray',
      run: async () => {
        const opened = waitTrayOpen(mon, alias, CHANGE_MEDIA_TIMEOUT_MS);
        await mon.execute('blockdev-open-tray', { id: alias, force });
        if (!force && !(await opened))
          throw failed(`timed out waiting to open tray of '${orig.target?.dev}'`);
      },
      undo: () => mon.execute('blockdev-close-tray', { id: alias }),
    });
  }
  const old = block?.inserted?.['node-name'] as string | undefined;
  steps.push({
    name: 'remove the medium',
    run: () => mon.execute('blockdev-remove-medium', { id: alias }).then(() => {}),
    undo: () =>
      old ? mon.execute('blockdev-insert-medium', { id: alias, 'node-name': old }) : Promise.resolve(),
  });
  if (!isEmpty(updated)) {
    plan.args = await plan.host.argv(plan.next);
    const device = deviceProps(plan.args, alias);
    const id = await nextNodeId(mon);
    const chain = renumber(blockdevChain(plan.args, device.drive as string), id);
    for (const node of [...chain].reverse()) {
      const name = node['node-name'] as string;
      steps.push({
        name: `blockdev-add ${name}`,
        run: () => mon.execute('blockdev-add', node).then(() => {}),
        undo: () => mon.execute('blockdev-del', { 'node-name': name }),
      });
    }
    const top = chain[0]!['node-name'] as string;
    steps.push({
      name: 'insert the medium',
      run: () => mon.execute('blockdev-insert-medium', { id: alias, 'node-name': top }).then(() => {}),
      undo: () => mon.execute('blockdev-remove-medium', { id: alias }),
    });
  }
  steps.push({
    name: 'close the tray',
    run: () => mon.execute('blockdev-close-tray', { id: alias }).then(() => {}),
    undo: () => mon.execute('blockdev-open-tray', { id: alias, force: true }),
  });
  // the old medium's nodes and label go once the new one is in (qemuBlockStorageSourceChainDetach)
  steps.push({
    name: 'drop the old medium',
    run: async () => {
      if (old) {
        const storage = old.replace(/-format$/, '-storage');
        await mon.execute('blockdev-del', { 'node-name': old }).catch(() => {});
        if (storage !== old) await mon.execute('blockdev-del', { 'node-name': storage }).catch(() => {});
      }
      if (security && !isEmpty(orig)) {
        await security.restoreImageLabel(plan.secDef(), diskSource(orig), { chainTop: true }).catch(() => {});
      }
    },
  });
  return steps;
}
