/**
 * Disks: a guest `-device` (ide-hd, scsi-hd, virtio-blk-pci, usb-storage, floppy, …) and the
 * `-blockdev` chain it names (format layer → storage layer, `backing` → the next image). The
 * reverse of ../argv/sections/disks.ts and ../argv/storage-blockdev.ts.
 *
 * The target name (`hda`, `vdb`, …) is not on the command line; it is derived from libvirt's alias
 * (`virtio-disk1` → `vdb`) or from the drive address (`ide0-1-0` → `hdc`), as libvirt derives the
 * address from the name.
 */
import {
  backend,
  bad,
  bootIndex,
  type ModernState,
  num,
  type Obj,
  type Opt,
  onOff,
  placeDevice,
  propsOf,
  push,
} from './modern-util.js';
import { parseKeywords } from './split.js';

const DISK_DRIVERS = new Set([
  'ide-hd',
  'ide-cd',
  'scsi-hd',
  'scsi-cd',
  'scsi-block',
  'usb-storage',
  'floppy',
]);

export function isDiskDriver(driver: string): boolean {
  return (
    DISK_DRIVERS.has(driver) ||
    /^(virtio-blk|vhost-user-blk)-(pci|ccw|device)(-(non-)?transitional)?$/.test(driver)
  );
}

/** `vd` + 0 → `vda`, 26 → `vdaa` (virIndexToDiskName). */
export function indexToDiskName(prefix: string, idx: number): string {
  let name = '';
  for (let i = idx; i >= 0; i = Math.floor(i / 26) - 1) name = String.fromCharCode(97 + (i % 26)) + name;
  return prefix + name;
}

/** The image format layer and what is below it, as an `<source>`/`<driver>`/`<backingStore>`. */
interface Image {
  type: string;
  source: Obj;
  format?: string;
  readOnly: boolean;
  cache?: { direct: boolean; noFlush: boolean };
  io?: string;
  discard?: string;
  detectZeroes?: string;
  metadataCache?: number;
  /** undefined: no `backing` prop; null: explicitly none. */
  backing?: Image | null;
  floppy?: boolean;
}

function cacheOf(p: Obj): Image['cache'] {
  const c = p.cache;
  if (!c || typeof c !== 'object') return undefined;
  return { direct: c.direct === true, noFlush: c['no-flush'] === true };
}

/** `http://host:port/path?query` → source. */
function urlSource(proto: string, url: string): Obj {
  const m = /^([a-z]+)(?:\+([a-z]+))?:\/\/(\[[^\]]+\]|[^/:?]*)(?::(\d+))?(\/[^?]*)?(?:\?(.*))?$/.exec(url);
  if (!m) bad(`cannot parse URL '${url}'`);
  const host: Obj = { name: m[3]!.replace(/^\[|\]$/g, '') };
  if (m[4]) host.port = Number(m[4]);
  if (m[2]) host.transport = m[2];
  const src: Obj = { protocol: proto, name: m[5] ? m[5].replace(/^\//, '') : undefined, host: [host] };
  if (src.name === undefined) delete src.name;
  if (m[6] !== undefined) src.query = m[6];
  return src;
}

function socketHost(server: Obj | undefined): Obj {
  if (!server) return {};
  if (server.type === 'unix') return { transport: 'unix', socket: server.path };
  const h: Obj = { name: server.host };
  if (server.port !== undefined) h.port = Number(server.port);
  return h;
}

/** The storage layer of an image: type and `<source>`. */
function storage(s: ModernState, p: Obj, img: Image): void {
  const driver = p.driver;
  img.cache ??= cacheOf(p);
  if (p.aio !== undefined) img.io = p.aio;
  switch (driver) {
    case 'file':
      img.type = 'file';
      img.source = { file: p.filename };
      break;
    case 'host_device':
    case 'host_cdrom':
      img.type = 'block';
      img.source = { dev: p.filename };
      break;
    case 'vvfat':
      img.type = 'dir';
      img.source = { dir: p.dir };
      img.floppy = p.floppy === true;
      break;
    case 'nvme': {
      const m = /^([0-9a-f]{4}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/i.exec(String(p.device));
      img.type = 'nvme';
      img.source = {
        type: 'pci',
        managed: 'yes',
        ...(p.namespace !== undefined ? { namespace: p.namespace } : {}),
        address: m
          ? {
              domain: Number.parseInt(m[1]!, 16),
              bus: Number.parseInt(m[2]!, 16),
              slot: Number.parseInt(m[3]!, 16),
              function: Number.parseInt(m[4]!, 16),
            }
          : {},
      };
      break;
    }
    case 'nbd':
      img.type = 'network';
      img.source = {
        protocol: 'nbd',
        ...(p.export !== undefined ? { name: p.export } : {}),
        host: [socketHost(p.server)],
      };
      if (p['tls-creds']) {
        img.source.tls = 'yes';
        backend(s, s.objects, p['tls-creds']);
        if (p['tls-hostname']) img.source.tlsHostname = p['tls-hostname'];
      }
      break;
    case 'gluster':
      img.type = 'network';
      img.source = {
        protocol: 'gluster',
        name: `${p.volume}/${p.path}`,
        host: (p.server ?? []).map((x: Obj) => {
          const h = socketHost(x);
          if (x.type === 'inet' && h.port === undefined) h.port = 24007;
          return h;
        }),
      };
      break;
    case 'http':
    case 'https':
    case 'ftp':
    case 'ftps':
    case 'tftp':
      img.type = 'network';
      img.source = urlSource(driver, String(p.url));
      if (p.sslverify !== undefined) img.source.ssl = { verify: p.sslverify ? 'yes' : 'no' };
      if (p.timeout !== undefined) img.source.timeout = { seconds: String(p.timeout) };
      if (p.readahead !== undefined) img.source.readahead = { size: String(p.readahead) };
      // The cookies' values are encrypted with the master key: only their secret is named.
      if (p['cookie-secret'] !== undefined) backend(s, s.objects, p['cookie-secret']);
      break;
    case 'iscsi': {
      img.type = 'network';
      const portal = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(String(p.portal ?? ''));
      const host: Obj = portal ? { name: portal[1]!.replace(/^\[|\]$/g, ''), port: Number(portal[2]) } : {};
      img.source = { protocol: 'iscsi', name: `${p.target}/${p.lun ?? 0}`, host: [host] };
      if (p['initiator-name']) img.source.initiator = { iqn: { name: p['initiator-name'] } };
      break;
    }
    case 'rbd':
      img.type = 'network';
      img.source = { protocol: 'rbd', name: `${p.pool}/${p.image}` };
      if (p.snapshot) img.source.snapshot = { name: p.snapshot };
      if (p.conf) img.source.config = { file: p.conf };
      if (Array.isArray(p.server))
        img.source.host = p.server.map((x: Obj) => socketHost({ type: 'inet', ...x }));
      break;
    case 'sheepdog':
      img.type = 'network';
      img.source = { protocol: 'sheepdog', name: p.vdi, host: [socketHost(p.server)] };
      break;
    case 'ssh':
      img.type = 'network';
      img.source = { protocol: 'ssh', name: p.path, host: [socketHost({ type: 'inet', ...p.server })] };
      break;
    case 'nfs':
      img.type = 'network';
      img.source = { protocol: 'nfs', name: p.path, host: [{ name: p.server?.host }] };
      if (p.user !== undefined || p.group !== undefined) {
        img.source.identity = {
          ...(p.user !== undefined ? { user: `+${p.user}` } : {}),
          ...(p.group !== undefined ? { group: `+${p.group}` } : {}),
        };
      }
      break;
    default:
      bad(`unknown blockdev driver '${driver}'`);
  }
  if (p['pr-manager']) {
    const pr = backend(s, s.objects, p['pr-manager']);
    const pp = pr ? propsOf(pr, 'qom-type') : {};
    img.source.reservations =
      p['pr-manager'] === 'pr-helper0'
        ? { managed: 'yes' }
        : { managed: 'no', source: { type: 'unix', path: pp.path, mode: 'client' } };
  }
}

const FORMAT_DRIVERS: Record<string, string> = {
  parallels: 'ploop',
  vhdx: 'vhd',
};

/** A format layer (and everything below it). */
function image(s: ModernState, node: string, depth = 0): Image {
  if (depth > 64) bad(`backing chain of '${node}' is too deep`);
  const opt = backend(s, s.blockdevs, node);
  if (!opt) bad(`no -blockdev with node-name '${node}'`);
  const p = propsOf(opt);
  const img: Image = { type: 'file', source: {}, readOnly: p['read-only'] === true };
  img.cache = cacheOf(p);
  if (p.discard !== undefined && p.discard !== 'unmap') img.discard = p.discard;
  if (p.discard === 'unmap' && p.file !== undefined && p.driver !== 'file') img.discard = 'unmap';
  if (p['detect-zeroes'] !== undefined) img.detectZeroes = p['detect-zeroes'];
  let lower = p.file;
  if (p.driver === 'raw' || p.driver === 'luks') img.format = 'raw';
  else if (p.driver === 'qcow2' || p.driver === 'qcow') {
    img.format = p.driver;
    if (p['cache-size'] !== undefined) img.metadataCache = num(p['cache-size'], 'cache-size');
  } else if (typeof p.driver === 'string' && typeof lower === 'string') {
    img.format = FORMAT_DRIVERS[p.driver] ?? p.driver;
  }
  if (typeof lower !== 'string') {
    // no format layer: the storage node itself
    storage(s, p, img);
    img.format = undefined;
    return img;
  }
  let slice: Obj | undefined;
  if (p.offset !== undefined || p.size !== undefined)
    slice = { type: 'storage', offset: p.offset, size: p.size };
  let lowerOpt = backend(s, s.blockdevs, lower);
  if (!lowerOpt) bad(`no -blockdev with node-name '${lower}'`);
  let lp = propsOf(lowerOpt);
  if (lp.driver === 'raw' && typeof lp.file === 'string') {
    // a slice layer
    slice = { type: 'storage', offset: lp.offset, size: lp.size };
    lower = lp.file;
    lowerOpt = backend(s, s.blockdevs, lower);
    if (!lowerOpt) bad(`no -blockdev with node-name '${lower}'`);
    lp = propsOf(lowerOpt);
  }
  storage(s, lp, img);
  if (slice) {
    const sl: Obj = { type: 'storage' };
    if (slice.offset !== undefined) sl.offset = slice.offset;
    if (slice.size !== undefined) sl.size = slice.size;
    img.source.slices = { slice: sl };
  }
  if (p.backing === null) img.backing = null;
  else if (typeof p.backing === 'string') img.backing = image(s, p.backing, depth + 1);
  return img;
}

function cacheMode(c: Image['cache'], writeCache: unknown): string | undefined {
  if (!c) return undefined;
  if (c.noFlush) return 'unsafe';
  const wc = writeCache === 'on' || writeCache === true;
  if (c.direct) return wc ? 'none' : 'directsync';
  return wc ? 'writeback' : 'writethrough';
}

function backingStore(img: Image | null | undefined): Obj | undefined {
  if (img === undefined) return undefined;
  if (img === null) return {};
  const bs: Obj = { type: img.type };
  if (img.format)
    bs.format = {
      type: img.format,
      ...(img.metadataCache
        ? { metadata_cache: { max_size: { unit: 'bytes', value: String(img.metadataCache) } } }
        : {}),
    };
  bs.source = img.source;
  const next = backingStore(img.backing);
  if (next) bs.backingStore = next;
  return bs;
}

function busOf(driver: string): string {
  if (driver.startsWith('ide-')) return 'ide';
  if (driver.startsWith('scsi-')) return 'scsi';
  if (driver === 'usb-storage') return 'usb';
  if (driver === 'floppy') return 'fdc';
  return 'virtio';
}

/** Drive address and target name from the bus props and the alias. */
function driveTarget(s: ModernState, disk: Obj, p: Obj, bus: string): void {
  const id = typeof p.id === 'string' ? p.id : '';
  const q35 = /q35/.test(s.def.os?.type?.machine ?? '');
  const pbus = typeof p.bus === 'string' ? p.bus : '';
  if (bus === 'ide') {
    // `ide.B`+unit (IDE) / `ide.U` (q35 SATA) / `sataN.U`
    const sata = /^sata(\d+)\.(\d+)$/.exec(pbus);
    const ideBus = /^(ide|ide\d+)\.(\d+)$/.exec(pbus);
    if (sata || (q35 && ideBus && p.unit === undefined)) {
      disk.target.bus = 'sata';
      const ctrl = sata ? Number(sata[1]) : 0;
      const unit = Number(sata ? sata[2] : ideBus![2]);
      disk.address = { type: 'drive', controller: ctrl, bus: 0, target: 0, unit };
      disk.target.dev = indexToDiskName('sd', ctrl * 6 + unit);
    } else if (ideBus) {
      const ctrl = ideBus[1] === 'ide' ? 0 : Number(ideBus[1]!.slice(3));
      const b = Number(ideBus[2]);
      const unit = num(p.unit ?? 0, 'unit');
      disk.address = { type: 'drive', controller: ctrl, bus: b, target: 0, unit };
      disk.target.dev = indexToDiskName('hd', ctrl * 4 + b * 2 + unit);
    }
  } else if (bus === 'scsi') {
    const m = /^(.*?)(\d*)\.(\d+)$/.exec(pbus);
    if (m) {
      const ctrl = m[2] ? Number(m[2]) : 0;
      let unit: number;
      if (p.lun !== undefined || p.channel !== undefined) {
        const target = num(p['scsi-id'] ?? 0, 'scsi-id');
        unit = num(p.lun ?? 0, 'lun');
        disk.address = { type: 'drive', controller: ctrl, bus: num(p.channel ?? 0, 'channel'), target, unit };
      } else {
        unit = num(p['scsi-id'] ?? 0, 'scsi-id');
        disk.address = { type: 'drive', controller: ctrl, bus: Number(m[3]), target: 0, unit };
      }
      disk.target.dev = indexToDiskName('sd', ctrl * 7 + unit);
    }
  } else if (bus === 'fdc') {
    const unit = num(p.unit ?? 0, 'unit');
    disk.address = { type: 'drive', controller: 0, bus: 0, target: 0, unit };
    disk.target.dev = indexToDiskName('fd', unit);
  }
  const alias = /^(virtio|usb|sata|ide|scsi|fdc|xen|sd)-disk(\d+)$/.exec(id);
  if (alias) {
    const prefix = {
      virtio: 'vd',
      usb: 'sd',
      sata: 'sd',
      ide: 'hd',
      scsi: 'sd',
      fdc: 'fd',
      xen: 'xvd',
      sd: 'sd',
    }[alias[1]!]!;
    disk.target.dev = indexToDiskName(prefix, Number(alias[2]));
  }
}

/** Two disks never share a target name: a taken one moves to the next free index. */
function uniqueTarget(s: ModernState, disk: Obj): void {
  const taken = new Set((s.devices.disk ?? []).map((d: Obj) => d.target?.dev));
  const m = /^([a-z]+?d)([a-z]+)$/.exec(disk.target.dev ?? '');
  if (!m || !taken.has(disk.target.dev)) return;
  let idx = 0;
  for (const c of m[2]!) idx = idx * 26 + (c.charCodeAt(0) - 96);
  idx -= 1;
  while (taken.has(indexToDiskName(m[1]!, idx))) idx++;
  disk.target.dev = indexToDiskName(m[1]!, idx);
}

/** A disk `-device`; false when its driver is not a disk's. */
export function importDisk(s: ModernState, opt: Opt): boolean {
  const p = propsOf(opt);
  const driver = String(p.driver);
  if (!isDiskDriver(driver)) return false;
  const bus = busOf(driver);
  const device =
    driver === 'ide-cd' || driver === 'scsi-cd'
      ? 'cdrom'
      : driver === 'scsi-block'
        ? 'lun'
        : driver === 'floppy'
          ? 'floppy'
          : 'disk';
  const disk: Obj = { type: 'file', device };
  disk.target = { dev: '', bus };
  const drv: Obj = {};
  let img: Image | undefined;
  if (driver.startsWith('vhost-user-blk')) {
    disk.type = 'vhostuser';
    const chr = backend(s, s.chardevs, p.chardev);
    const cp = chr ? propsOf(chr, 'backend') : {};
    disk.source = { type: 'unix', path: cp.path };
    if (cp.reconnect !== undefined)
      disk.source.reconnect = { enabled: 'yes', timeout: num(cp.reconnect, 'reconnect') };
    drv.name = 'qemu';
    drv.type = 'raw';
  } else if (typeof p.drive === 'string') {
    let top = p.drive;
    const cor = s.blockdevs.get(top);
    if (cor && propsOf(cor).driver === 'copy-on-read') {
      backend(s, s.blockdevs, top);
      drv.copy_on_read = 'on';
      top = String(propsOf(cor).file);
    }
    img = image(s, top);
    disk.type = img.type;
    disk.source = img.source;
    if (img.format) {
      drv.name = 'qemu';
      drv.type = img.format;
    }
    const cache = cacheMode(img.cache, p['write-cache']);
    if (cache && !(cache === 'none' && p['share-rw'] === true && !img.readOnly)) drv.cache = cache;
    if (img.io) drv.io = img.io;
    if (img.discard) drv.discard = img.discard;
    if (img.detectZeroes) drv.detect_zeroes = img.detectZeroes;
    if (img.metadataCache)
      drv.metadata_cache = { max_size: { unit: 'bytes', value: String(img.metadataCache) } };
    if (img.readOnly) disk.readonly = true;
    const bs = backingStore(img.backing);
    if (bs) disk.backingStore = bs;
  } else if (p['write-cache'] === 'on' || p['write-cache'] === true) {
    // An empty drive: only the write-cache half of the cache mode is on the line.
    drv.cache = 'writeback';
  }
  // `scsi` on a virtio-blk device: SCSI commands pass through, a `device='lun'`.
  if (p.scsi === true && bus === 'virtio') disk.device = 'lun';
  if (p.werror !== undefined) drv.error_policy = p.werror === 'enospc' ? 'enospace' : p.werror;
  if (p.rerror !== undefined && p.rerror !== p.werror) drv.rerror_policy = p.rerror;
  if (p.iothread !== undefined) drv.iothread = num(String(p.iothread).replace(/^iothread/, ''), 'iothread');
  if (p.ioeventfd !== undefined) drv.ioeventfd = onOff(p.ioeventfd);
  if (p.event_idx !== undefined) drv.event_idx = onOff(p.event_idx);
  if (p['num-queues'] !== undefined) drv.queues = num(p['num-queues'], 'num-queues');
  if (p['queue-size'] !== undefined) drv.queue_size = num(p['queue-size'], 'queue-size');
  virtioOptions(drv, p);
  if (Object.keys(drv).length) disk.driver = drv;
  if (driver.endsWith('-non-transitional')) disk.model = 'virtio-non-transitional';
  else if (driver.endsWith('-transitional')) disk.model = 'virtio-transitional';
  if (p['share-rw'] === true) disk.shareable = true;
  if (p.serial !== undefined) disk.serial = String(p.serial).replace(/\\ /g, ' ');
  if (p.wwn !== undefined) {
    // JSON numbers lose digits past 2^53: read the WWN from the word itself.
    const raw = /"wwn":(\d+)/.exec(opt.value ?? '')?.[1] ?? String(p.wwn);
    disk.wwn = BigInt(raw).toString(16).padStart(16, '0');
  }
  if (p.vendor !== undefined) disk.vendor = p.vendor;
  if (p.product !== undefined) disk.product = p.product;
  if (p.removable !== undefined && p.removable === true) disk.target.removable = 'on';
  if (p.rotation_rate !== undefined) disk.target.rotation_rate = num(p.rotation_rate, 'rotation_rate');
  if (p.logical_block_size !== undefined || p.physical_block_size !== undefined) {
    disk.blockio = {};
    if (p.logical_block_size !== undefined) disk.blockio.logical_block_size = p.logical_block_size;
    if (p.physical_block_size !== undefined) disk.blockio.physical_block_size = p.physical_block_size;
  }
  if (p.cyls !== undefined) {
    disk.geometry = { cyls: p.cyls, heads: p.heads, secs: p.secs };
    if (p['bios-chs-trans'] !== undefined) disk.geometry.trans = p['bios-chs-trans'];
  }
  placeDevice(disk, p);
  driveTarget(s, disk, p, bus);
  uniqueTarget(s, disk);
  if (disk.address?.type === 'usb' || disk.address?.type === 'pci' || disk.address?.type === 'ccw') {
    // keep
  }
  bootIndex(s, disk, p, device === 'cdrom' ? 'cdrom' : device === 'floppy' ? 'fd' : 'hd');
  push(s, 'disk', disk);
  return true;
}

/** The virtio `<driver>` options common to virtio devices. */
export function virtioOptions(drv: Obj, p: Obj): void {
  if (p.iommu_platform !== undefined) drv.iommu = onOff(p.iommu_platform);
  if (p.ats !== undefined) drv.ats = onOff(p.ats);
  if (p.packed !== undefined) drv.packed = onOff(p.packed);
  if (p['page-per-vq'] !== undefined) drv.page_per_vq = onOff(p['page-per-vq']);
}

/** `-global isa-fdc.bootindexA=N` / an `isa-fdc` device with boot indexes. */
export function floppyBoot(s: ModernState, unit: 0 | 1, index: number): void {
  const disk = (s.devices.disk ?? []).find(
    (d: Obj) => d.target?.bus === 'fdc' && (d.address?.unit ?? 0) === unit,
  );
  if (disk) s.bootIndexes.push({ dev: disk, kind: 'fd', index });
}

/** `-drive file=…,format=…,if=sd,index=N[,…]`: an SD card (libvirt's only `-drive`). */
export function importSdDrive(s: ModernState, value: string): boolean {
  const kw = new Map(parseKeywords(value));
  if (kw.get('if') !== 'sd') return false;
  const index = num(kw.get('index') ?? '0', 'drive index');
  const file = kw.get('file');
  const disk: Obj = { type: 'file', device: 'disk' };
  if (file?.startsWith('fat:')) {
    disk.type = 'dir';
    disk.source = { dir: file.replace(/^fat:(floppy:)?/, '') };
  } else if (file?.startsWith('/dev/')) {
    disk.type = 'block';
    disk.source = { dev: file };
  } else if (file) disk.source = { file };
  const drv: Obj = {};
  if (kw.has('format')) {
    drv.name = 'qemu';
    drv.type = kw.get('format');
  }
  if (kw.has('cache')) drv.cache = kw.get('cache');
  if (kw.has('copy-on-read')) drv.copy_on_read = kw.get('copy-on-read');
  if (kw.has('discard')) drv.discard = kw.get('discard');
  if (kw.has('detect-zeroes')) drv.detect_zeroes = kw.get('detect-zeroes');
  if (kw.has('aio')) drv.io = kw.get('aio');
  if (Object.keys(drv).length) disk.driver = drv;
  disk.target = { dev: indexToDiskName('sd', index), bus: 'sd' };
  if (kw.get('readonly') === 'on') disk.readonly = true;
  push(s, 'disk', disk);
  return true;
}
