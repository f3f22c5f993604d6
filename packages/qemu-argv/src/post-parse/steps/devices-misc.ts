/**
 * Per-device defaults of libvirt 9.0's device post-parse (virDomainDeviceDefPostParseCommon and
 * qemuDomainDeviceDefPostParse) for disks, interfaces, inputs, filesystems, RNG, TPM, panic,
 * vsock, shared memory and mediated host devices; the devices a QEMU guest always has (PS/2
 * input, memory balloon); and the disk order of the parser (virDomainDiskInsert).
 */
import { randomBytes } from 'node:crypto';
import type { DomainDef } from '@qvirt/core';
import { hasFlag } from '../../caps/qemu-caps.js';
import type { QemuContext } from '../../context.js';
import { devicesOf, isX86, machineOf } from '../../domain-util.js';
import { knownNetModel } from '../../libvirt-names.js';
import { type Disk, diskIndex } from './devices-util.js';

/** virDomainDiskInsert, applied as each disk is parsed (with the bus as written). */
export function diskParseOrder(def: DomainDef): void {
  const disks = def.devices?.disk;
  if (!disks || disks.length < 2) return;
  const sorted: Disk[] = [];
  for (const disk of disks) {
    let at = -1;
    const bus = disk.target?.bus;
    for (let i = sorted.length - 1; i >= 0; i--) {
      const other = sorted[i]!;
      if (other.target?.bus !== bus) continue;
      if (other.target?.dev && disk.target?.dev && diskIndex(other.target.dev) > diskIndex(disk.target.dev))
        at = i;
      else if (at === -1) at = i + 1;
    }
    if (at === -1) sorted.push(disk);
    else sorted.splice(at, 0, disk);
  }
  def.devices!.disk = sorted;
}

type Encryptable = { encryption?: { format?: string; engine?: string }; backingStore?: unknown };

function encryptionEngines(src: Encryptable | undefined): void {
  for (let n = src; n; n = (n.backingStore as { source?: Encryptable } | undefined)?.source) {
    if (n.encryption && n.encryption.engine === undefined) n.encryption.engine = 'qemu';
    if (!n.backingStore) break;
  }
}

const DEFAULT_PORTS: Record<string, number> = {
  http: 80,
  https: 443,
  ftp: 21,
  ftps: 990,
  tftp: 69,
  sheepdog: 7000,
  nbd: 10809,
  ssh: 22,
  iscsi: 3260,
  gluster: 24007,
  vxhs: 9999,
};

type NetSource = { protocol?: string; host?: Array<{ port?: number; transport?: string }> };

/** virStorageSourceNetworkAssignDefaultPorts, for a source and its backing chain. */
function networkPorts(src: (NetSource & { backingStore?: unknown }) | undefined, backing: unknown): void {
  const sources: NetSource[] = [];
  if (src) sources.push(src);
  for (
    let b = backing as { source?: NetSource; backingStore?: unknown } | undefined;
    b;
    b = b.backingStore as typeof b
  ) {
    if (b.source) sources.push(b.source);
  }
  for (const s of sources) {
    const port = DEFAULT_PORTS[s.protocol ?? ''];
    if (!port) continue;
    for (const h of s.host ?? []) if ((h.transport ?? 'tcp') === 'tcp' && !h.port) h.port = port;
  }
}

/**
 * virDomainStorageSourceParse: "People sometimes pass a bogus '' source path when they mean to
 * omit the source element completely (e.g. CDROM without media)": an empty file, dev, dir or
 * network name is no path at all, on the disk and down its backing chain. A `<source>` left with
 * nothing is not printed (virXMLFormatElement), as if absent.
 */
function dropEmptySourcePath(disk: Disk): void {
  const sourceKey = (type: string | undefined) =>
    type === 'block' ? 'dev' : type === 'dir' ? 'dir' : type === 'network' ? 'name' : 'file';
  const clean = (owner: { type?: string; source?: unknown } | undefined) => {
    const src = owner?.source as Record<string, unknown> | undefined;
    if (!owner || !src) return;
    const key = sourceKey(owner.type ?? 'file');
    if (src[key] === '') delete src[key];
    if (Object.keys(src).length === 0) delete owner.source;
  };
  clean(disk as { type?: string; source?: unknown });
  for (
    let b = disk.backingStore as { type?: string; source?: unknown; backingStore?: unknown } | undefined;
    b;
  ) {
    clean(b);
    b = b.backingStore as typeof b;
  }
}

/** virDomainDiskDefPostParse + qemuDomainDeviceDiskDefPostParse. */
export function diskDefaults(def: DomainDef): void {
  for (const disk of def.devices?.disk ?? []) {
    const target = (disk.target ??= {});
    if (target.dev?.startsWith('ioemu:')) target.dev = target.dev.slice(6);
    if (disk.device === 'cdrom') disk.readonly = true;
    // The formatter leaves out the default tray state, and the default cache mode (enum value 0).
    if (target.tray === 'closed') delete target.tray;
    if (disk.driver?.cache === 'default') delete disk.driver.cache;
    if (disk.type === 'network') networkPorts(disk.source as NetSource, disk.backingStore);
    if (target.bus === undefined) {
      let bus = 'ide';
      if (disk.device === 'floppy') bus = 'fdc';
      else if (target.dev) {
        const dev = target.dev;
        if (dev.startsWith('hd')) bus = 'ide';
        else if (dev.startsWith('sd')) bus = 'scsi';
        else if (dev.startsWith('vd')) bus = 'virtio';
        else if (dev.startsWith('xvd')) bus = 'xen';
        else if (dev.startsWith('ubd')) bus = 'uml';
      }
      target.bus = bus as NonNullable<typeof target.bus>;
    }
    // The formatter hides snapshot='no' on read-only disks, where it is implied.
    if (disk.snapshot === undefined && disk.type === 'vhostuser' && !disk.readonly) disk.snapshot = 'no';
    if (disk.snapshot === 'no' && disk.readonly) delete disk.snapshot;
    // virDomainDiskDefParseSourceXML: a disk without <source> is a file disk (an empty cdrom)
    if (disk.source === undefined && disk.type !== undefined && disk.type !== 'file') disk.type = 'file';
    dropEmptySourcePath(disk);
    const src = disk.source as
      | (Encryptable & { protocol?: string; name?: string; managed?: string; type?: string })
      | undefined;
    if (disk.type === 'network' && src?.protocol === 'iscsi' && src.name && !src.name.includes('/')) {
      src.name = `${src.name}/0`;
    }
    const driver = (disk.driver ??= {}) as { name?: string; type?: string };
    driver.name ??= 'qemu';
    if (driver.type === undefined && disk.type !== 'volume') driver.type = 'raw';
    encryptionEngines(src);
    if (disk.encryption && disk.encryption.engine === undefined) disk.encryption.engine = 'qemu';
  }
}

/** A locally administered MAC in QEMU's 52:54:00 range (virDomainNetGenerateMAC). */
function generateMac(): string {
  const tail = [...randomBytes(3)].map((b) => b.toString(16).padStart(2, '0'));
  return ['52', '54', '00', ...tail].join(':');
}

/** Interfaces: a generated MAC when none is given, and the machine's default NIC model. */
export function netDefaults(def: DomainDef, ctx: QemuContext): void {
  for (const net of def.devices?.interface ?? []) {
    const n = net as {
      type?: string;
      mac?: { address?: string };
      model?: { type?: string };
      source?: object;
    };
    if (!n.mac?.address) n.mac = { ...n.mac, address: generateMac() };
    // virDomainNetDefFormat prints an ethernet or user <source> only for its host-side IPs and
    // routes: an empty one (KubeVirt writes `<source></source>`) is gone
    if ((n.type === 'ethernet' || n.type === 'user') && n.source && Object.keys(n.source).length === 0)
      delete n.source;
    if (n.model?.type) {
      const known = knownNetModel(n.model!.type!);
      if (known) n.model.type = known;
      continue;
    }
    if (n.type === 'vdpa') n.model = { type: 'virtio' };
    else if (n.type !== 'hostdev') {
      let model = 'rtl8139';
      if (!isX86(def)) continue;
      if (hasFlag(ctx.caps, 'rtl8139')) model = 'rtl8139';
      else if (hasFlag(ctx.caps, 'e1000')) model = 'e1000';
      else if (hasFlag(ctx.caps, 'virtio-net-pci')) model = 'virtio';
      n.model = { type: model };
    }
  }
}

/** x86 guests always have a PS/2 mouse and keyboard (qemuDomainDefAddImplicitInputDevice). */
export function implicitInputs(def: DomainDef): void {
  if (!isX86(def)) return;
  const inputs = (devicesOf(def).input ??= []);
  for (const type of ['mouse', 'keyboard'] as const) {
    if (!inputs.some((i) => i.type === type && i.bus === 'ps2')) inputs.push({ type, bus: 'ps2' });
  }
}

/** Every x86 QEMU guest has a virtio memory balloon unless it asks for none. */
export function implicitMemballoon(def: DomainDef): void {
  if (!isX86(def)) return;
  devicesOf(def).memballoon ??= { model: 'virtio' };
}

/** The smaller device families' defaults. */
export function otherDeviceDefaults(def: DomainDef, ctx: QemuContext): void {
  const devices = def.devices;
  if (!devices) return;
  for (const fs of devices.filesystem ?? []) {
    fs.type ??= 'mount';
    // virDomainFSDefParseXML reads the queue size and <binary> for virtiofs only, and a zero
    // queue is no queue
    if (fs.driver?.type !== 'virtiofs') {
      if (fs.driver) delete fs.driver.queue;
      delete (fs as { binary?: unknown }).binary;
    } else if (fs.driver.queue !== undefined && /^\+?0*$/.test(fs.driver.queue)) delete fs.driver.queue;
    const sock = (fs.source as { socket?: string } | undefined)?.socket;
    if ((fs.accessmode === undefined || fs.accessmode === '') && !sock) fs.accessmode = 'passthrough';
  }
  for (const rng of devices.rng ?? []) {
    const b = rng.backend as { model?: string; value?: string } | undefined;
    if (b?.model === 'random' && !b.value) b.value = '/dev/random';
  }
  for (const tpm of devices.tpm ?? []) {
    tpm.model ??= 'tpm-tis';
    const backend = tpm.backend;
    if (backend?.type === 'emulator' && backend.version === undefined) {
      // qemuDomainTPMDefPostParse: 2.0 where 1.2 cannot work (CRB, SPAPR, ARM virt)
      const armVirt =
        /^(aarch64|armv7l)$/.test(def.os?.type?.arch ?? '') && machineOf(def).startsWith('virt');
      backend.version = tpm.model === 'tpm-spapr' || tpm.model === 'tpm-crb' || armVirt ? '2.0' : '1.2';
    }
  }
  for (const panic of devices.panic ?? []) panic.model ??= 'isa';
  // A D-Bus redirection channel defaults to QEMU's usbredir one (virDomainChrSourceDefPostParse).
  for (const redir of devices.redirdev ?? []) {
    if (redir.type === 'dbus' && !redir.source?.some((s) => (s as { channel?: string }).channel)) {
      redir.source = [
        { ...redir.source?.[0], channel: 'org.qemu.usbredir' } as NonNullable<typeof redir.source>[number],
      ];
    }
  }
  for (const u of devices.redirfilter?.usbdev ?? []) {
    const dev = u as Record<string, unknown>;
    for (const k of ['class', 'vendor', 'product', 'version'])
      if (dev[k] === -1 || dev[k] === '-1') delete dev[k];
  }
  const vsock = devices.vsock;
  if (vsock) {
    vsock.model ??= 'virtio';
    const cid = (vsock.cid ??= {});
    if (cid.auto === undefined) cid.auto = cid.address ? 'no' : 'yes';
  }
  for (const shm of devices.shmem ?? []) {
    const model = shm.model?.type ?? 'ivshmem';
    if (model !== 'ivshmem-doorbell' && !shm.size) shm.size = { unit: 'M', value: 4 };
  }
  for (const h of devices.hostdev ?? []) {
    const hd = h as { mode?: string; type?: string; model?: string; display?: string; managed?: string };
    if ((hd.mode ?? 'subsystem') === 'subsystem') hd.managed ??= 'no';
    const iscsi = (h as { source?: { protocol?: string; name?: string } }).source;
    if (hd.type === 'scsi' && iscsi?.protocol === 'iscsi' && iscsi.name && !iscsi.name.includes('/')) {
      iscsi.name = `${iscsi.name}/0`;
    }
    if (hd.type === 'mdev' && hd.model === 'vfio-pci' && hd.display === undefined) {
      if (hasFlag(ctx.caps, 'vfio-pci.display')) hd.display = 'off';
    }
  }
}
