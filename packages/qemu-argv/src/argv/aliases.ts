/**
 * Device aliases as libvirt assigns them before building a command line (qemuAssignDeviceAliases
 * in qemu_alias.c). They become QEMU ids (`ide0-0-0`, `net0`, `balloon0`, …). An alias already
 * present (a user alias `ua-…`) is kept; numbered families continue after the highest index
 * already taken by an alias of the same prefix.
 */
import { type DomainDef, isDimmAddress, isDriveAddress } from '@qvirt/core';
import { isI440fx, isQ35, isX86, machineOf } from '../domain-util.js';

type WithAlias = { alias?: { name?: string } };

function set(dev: WithAlias, name: string): void {
  if (!dev.alias?.name) dev.alias = { name };
}

/** Aliases `prefix0`, `prefix1`, … by position in the list. */
function byPosition(list: readonly WithAlias[] | undefined, prefix: string): void {
  let i = 0;
  for (const dev of list ?? []) set(dev, `${prefix}${i++}`);
}

/** The number after `prefix` in a device's alias, or -1 (qemuDomainDeviceAliasIndex). */
export function aliasIndex(dev: WithAlias | undefined, prefix: string): number {
  const name = dev?.alias?.name;
  if (!name?.startsWith(prefix)) return -1;
  const m = /^[+-]?\d+/.exec(name.slice(prefix.length).trimStart());
  if (!m) return -1;
  const n = Number(m[0]);
  return Number.isSafeInteger(n) && n >= -0x80000000 && n <= 0x7fffffff ? n : -1;
}

/** One more than the highest `prefixN` alias among `devs` (0 when none). */
function nextIndex(devs: readonly WithAlias[], prefix: string): number {
  let idx = 0;
  for (const d of devs) {
    const n = aliasIndex(d, prefix);
    if (n >= idx) idx = n + 1;
  }
  return idx;
}

/**
 * The index of a disk target name (`vda` → 0, `hdc` → 2, `sdaa` → 26), libvirt's
 * virDiskNameToIndex; -1 when the name is not a disk name.
 */
export function diskNameToIndex(name: string): number {
  const prefix = ['fd', 'hd', 'vd', 'sd', 'xvd', 'ubd'].find((p) => name.startsWith(p));
  if (!prefix) return -1;
  const rest = name.slice(prefix.length);
  let idx = 0;
  let i = 0;
  for (; i < rest.length && i < 7; i++) {
    const c = rest.charCodeAt(i);
    if (c < 97 || c > 122) break;
    idx = (idx + (i < 1 ? 0 : 1)) * 26 + (c - 97);
  }
  if (i === 0) return -1;
  if (!/^\d*$/.test(rest.slice(i))) return -1;
  return idx;
}

/** Whether the machine has an integrated IDE controller called `ide` (qemuDomainHasBuiltinIDE). */
export function hasBuiltinIDE(def: DomainDef): boolean {
  const m = machineOf(def);
  return (isX86(def) && (isI440fx(def) || m.startsWith('rhel'))) || ['malta', 'sun4u', 'g3beige'].includes(m);
}

type Controller = NonNullable<NonNullable<DomainDef['devices']>['controller']>[number];

/** The alias of a controller (qemuAssignDeviceControllerAlias). */
function controllerAlias(def: DomainDef, c: Controller): string {
  const type = c.type ?? '';
  const idx = c.index ?? 0;
  if (type === 'pci') return c.model === 'pcie-root' ? `pcie.${idx}` : `pci.${idx}`;
  if (type === 'ide' && idx === 0 && hasBuiltinIDE(def)) return 'ide';
  if (type === 'sata' && idx === 0 && isQ35(def)) return 'ide';
  if (type === 'usb' && idx === 0) return 'usb';
  if (type === 'scsi' && idx === 0 && c.model === 'ncr53c90') return 'scsi';
  return `${type}${idx}`;
}

/** The model of the SCSI controller a drive address points at (qemuDomainFindSCSIControllerModel). */
function scsiControllerModel(def: DomainDef, controller: number): string | undefined {
  return (def.devices?.controller ?? []).find((c) => c.type === 'scsi' && (c.index ?? 0) === controller)
    ?.model;
}

const MEMORY_PREFIX: Record<string, string> = {
  dimm: 'dimm',
  nvdimm: 'nvdimm',
  'virtio-pmem': 'virtiopmem',
  'virtio-mem': 'virtiomem',
  'sgx-epc': 'epc',
};

export function assignAliases(def: DomainDef): void {
  const d = def.devices ?? {};

  for (const disk of d.disk ?? []) {
    if (disk.alias?.name) continue;
    const bus = disk.target?.bus ?? '';
    const a = disk.address;
    if (isDriveAddress(a)) {
      const model = bus === 'scsi' ? (scsiControllerModel(def, a.controller ?? 0) ?? 'lsilogic') : undefined;
      set(
        disk,
        bus !== 'scsi' || model === 'lsilogic'
          ? `${bus}${a.controller ?? 0}-${a.bus ?? 0}-${a.unit ?? 0}`
          : `${bus}${a.controller ?? 0}-${a.bus ?? 0}-${a.target ?? 0}-${a.unit ?? 0}`,
      );
    } else {
      set(disk, `${bus}-disk${diskNameToIndex(disk.target?.dev ?? '')}`);
    }
  }

  const nets = d.interface ?? [];
  const hostdevs = d.hostdev ?? [];
  const nextHostdev = () => `hostdev${Math.max(nextIndex(hostdevs, 'hostdev'), nextIndex(nets, 'hostdev'))}`;
  for (const net of nets) {
    if (net.alias?.name) continue;
    if (net.type === 'hostdev') set(net, nextHostdev());
    else set(net, `net${nextIndex(nets, 'net')}`);
  }

  const fss = d.filesystem ?? [];
  for (const fs of fss) set(fs, `fs${nextIndex(fss, 'fs')}`);
  byPosition(d.sound, 'sound');
  for (const h of hostdevs) if (!h.alias?.name) set(h, nextHostdev());
  byPosition(d.redirdev, 'redir');
  byPosition(d.video, 'video');
  for (const c of d.controller ?? []) set(c, controllerAlias(def, c));
  byPosition(d.input, 'input');
  byPosition(d.parallel, 'parallel');
  byPosition(d.serial, 'serial');
  byPosition(d.channel, 'channel');
  byPosition(d.console, 'console');
  byPosition(d.hub, 'hub');
  byPosition(d.shmem, 'shmem');
  byPosition(d.smartcard, 'smartcard');
  for (const w of d.watchdog ?? []) set(w, 'watchdog0');
  if (d.memballoon && d.memballoon.model !== 'none') set(d.memballoon, 'balloon0');
  const rngs = d.rng ?? [];
  for (const r of rngs) set(r, `rng${nextIndex(rngs, 'rng')}`);
  byPosition(d.tpm, 'tpm');
  const mems = d.memory ?? [];
  for (const m of mems) {
    const prefix = MEMORY_PREFIX[m.model ?? ''];
    if (!prefix || m.alias?.name) continue;
    const byOrder = m.model === 'virtio-pmem' || m.model === 'virtio-mem' || m.model === 'sgx-epc';
    const slot = isDimmAddress(m.address) ? (m.address.slot ?? 0) : 0;
    set(m, `${prefix}${byOrder ? nextIndex(mems, prefix) : slot}`);
  }
  if (d.vsock) set(d.vsock, 'vsock0');
  if (d.iommu) set(d.iommu, 'iommu0');
}
