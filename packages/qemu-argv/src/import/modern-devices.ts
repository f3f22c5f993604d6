/**
 * `-device` by driver: controllers, interfaces, the memory balloon, RNGs, TPMs, host devices,
 * redirected USB, smartcards, hubs, IOMMU, panic, shared memory, vsock, memory modules, and the
 * families in their own modules (disks, character devices, audio/video). A driver we do not know
 * returns false: the caller keeps the option as `<qemu:arg>`s.
 */
import { importInput, importSound, importVideo, importWatchdog } from './modern-av.js';
import { chardevSpec, importChrDevice } from './modern-chardev.js';
import { importDisk, virtioOptions } from './modern-storage.js';
import {
  backend,
  bad,
  bootIndex,
  kib,
  type ModernState,
  num,
  type Obj,
  type Opt,
  onOff,
  placeDevice,
  propsOf,
  push,
} from './modern-util.js';

const USB_MODELS: Record<string, string> = {
  'piix3-usb-uhci': 'piix3-uhci',
  'piix4-usb-uhci': 'piix4-uhci',
  'usb-ehci': 'ehci',
  'ich9-usb-ehci1': 'ich9-ehci1',
  'ich9-usb-uhci1': 'ich9-uhci1',
  'ich9-usb-uhci2': 'ich9-uhci2',
  'ich9-usb-uhci3': 'ich9-uhci3',
  'vt82c686b-usb-uhci': 'vt82c686b-uhci',
  'pci-ohci': 'pci-ohci',
  'nec-usb-xhci': 'nec-xhci',
  qusb1: 'qusb1',
  qusb2: 'qusb2',
  'qemu-xhci': 'qemu-xhci',
};

const SCSI_MODELS: Record<string, string> = {
  lsi: 'lsilogic',
  'spapr-vscsi': 'ibmvscsi',
  mptsas1068: 'lsisas1068',
  megasas: 'lsisas1078',
  pvscsi: 'vmpvscsi',
  am53c974: 'am53c974',
  'dc-390': 'dc390',
};

/** PCI controller drivers and libvirt's model for each. */
const PCI_MODELS: Record<string, string> = {
  'pci-bridge': 'pci-bridge',
  'i82801b11-bridge': 'dmi-to-pci-bridge',
  ioh3420: 'pcie-root-port',
  'pcie-root-port': 'pcie-root-port',
  'x3130-upstream': 'pcie-switch-upstream-port',
  'xio3130-downstream': 'pcie-switch-downstream-port',
  pxb: 'pci-expander-bus',
  'pxb-pcie': 'pcie-expander-bus',
  'pcie-pci-bridge': 'pcie-to-pci-bridge',
  'spapr-pci-host-bridge': 'pci-root',
};

/** The index at the end of a controller id (`usb` → 0, `scsi1` → 1, `pci.3` → 3). */
function indexOf(id: unknown, prefix: string): number | undefined {
  if (typeof id !== 'string') return undefined;
  if (id === prefix) return 0;
  const m = new RegExp(`^${prefix}\\.?(\\d+)$`).exec(id);
  return m ? Number(m[1]) : undefined;
}

function virtioModel(dev: Obj, driver: string): void {
  if (driver.endsWith('-non-transitional')) dev.model = 'virtio-non-transitional';
  else if (driver.endsWith('-transitional')) dev.model = 'virtio-transitional';
}

function virtioBase(driver: string): string {
  return driver.replace(/-(pci|ccw|device)(-(non-)?transitional)?$/, '');
}

function controller(s: ModernState, p: Obj): boolean {
  const driver = String(p.driver);
  const base = virtioBase(driver);
  let c: Obj | undefined;
  if (USB_MODELS[driver]) {
    c = { type: 'usb', model: USB_MODELS[driver] };
    if (p.masterbus !== undefined) {
      const m = /^(usb\d*)\.0$/.exec(String(p.masterbus));
      const ua = /^(ua-.*)\.0$/.exec(String(p.masterbus))?.[1];
      const master = ua
        ? (s.devices.controller ?? []).find((x: Obj) => x.type === 'usb' && x.alias?.name === ua)
        : undefined;
      c.index = m ? (indexOf(m[1], 'usb') ?? 0) : (master?.index ?? 0);
      c.master = { startport: num(p.firstport ?? 0, 'firstport') };
    } else
      c.index =
        indexOf(p.id, 'usb') ??
        (s.devices.controller ?? []).filter((x: Obj) => x.type === 'usb' && !x.master).length;
    if (p.p2 !== undefined) c.ports = num(p.p2, 'ports');
  } else if (SCSI_MODELS[driver]) {
    c = { type: 'scsi', index: indexOf(p.id, 'scsi') ?? 0, model: SCSI_MODELS[driver] };
  } else if (base === 'virtio-scsi') {
    c = { type: 'scsi', index: indexOf(p.id, 'scsi') ?? 0, model: 'virtio-scsi' };
    virtioModel(c, driver);
    const drv: Obj = {};
    if (p.iothread !== undefined) drv.iothread = num(String(p.iothread).replace(/^iothread/, ''), 'iothread');
    if (p.num_queues !== undefined) drv.queues = p.num_queues;
    if (p.cmd_per_lun !== undefined) drv.cmd_per_lun = p.cmd_per_lun;
    if (p.max_sectors !== undefined) drv.max_sectors = p.max_sectors;
    if (p.ioeventfd !== undefined) drv.ioeventfd = onOff(p.ioeventfd);
    virtioOptions(drv, p);
    if (Object.keys(drv).length) c.driver = drv;
  } else if (base === 'virtio-serial') {
    c = { type: 'virtio-serial', index: indexOf(p.id, 'virtio-serial') ?? 0 };
    virtioModel(c, driver);
    if (p.max_ports !== undefined) c.ports = p.max_ports;
    if (p.vectors !== undefined) c.vectors = p.vectors;
    const drv: Obj = {};
    virtioOptions(drv, p);
    if (Object.keys(drv).length) c.driver = drv;
  } else if (driver === 'usb-ccid') {
    c = { type: 'ccid', index: indexOf(p.id, 'ccid') ?? 0 };
  } else if (driver === 'ahci') {
    c = { type: 'sata', index: indexOf(p.id, 'sata') ?? 0 };
  } else if (PCI_MODELS[driver]) {
    const model = PCI_MODELS[driver]!;
    c = { type: 'pci', index: indexOf(p.id, 'pci') ?? 0, model, modelName: { name: driver } };
    const t: Obj = {};
    if (p.chassis_nr !== undefined) t.chassisNr = p.chassis_nr;
    if (p.chassis !== undefined) t.chassis = p.chassis;
    if (p.port !== undefined) t.port = num(p.port, 'port');
    if (p.bus_nr !== undefined) t.busNr = p.bus_nr;
    if (p.numa_node !== undefined) t.node = p.numa_node;
    if (p.hotplug !== undefined) t.hotplug = onOff(p.hotplug);
    if (p.index !== undefined) t.index = p.index;
    if (Object.keys(t).length) c.target = t;
  }
  if (!c) return false;
  placeDevice(c, p);
  push(s, 'controller', c);
  return true;
}

const NIC_MODELS = new Set([
  'rtl8139',
  'e1000',
  'e1000e',
  'netfront',
  'usb-net',
  'spapr-vlan',
  'lan9118',
  'smc91c111',
  'vlance',
  'vmxnet',
  'vmxnet2',
  'vmxnet3',
  'Am79C970A',
  'Am79C973',
  '82540EM',
  '82545EM',
  '82543GC',
  'ne2k_pci',
  'pcnet',
  'i82551',
  'i82557b',
  'i82559er',
]);

function nic(s: ModernState, p: Obj): boolean {
  const driver = String(p.driver);
  const base = virtioBase(driver);
  // Any other device on a -netdev is a NIC too: libvirt passes a model it does not know through
  // as the device's driver.
  const onNetdev = typeof p.netdev === 'string' && s.netdevs.has(p.netdev);
  if (base !== 'virtio-net' && !NIC_MODELS.has(driver) && !onNetdev) return false;
  const net: Obj = { type: 'ethernet' };
  const nd = backend(s, s.netdevs, p.netdev);
  const np = nd ? propsOf(nd, 'type') : {};
  if (p.mac !== undefined) {
    const mac = String(p.mac).toLowerCase();
    if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(mac)) bad(`unable to parse mac address '${p.mac}'`);
    net.mac = { address: mac };
  }
  if (np.type === 'socket') {
    const [addr, port] = splitHostPort(String(np.connect ?? np.listen ?? np.mcast ?? np.udp ?? ':'));
    net.type = np.connect ? 'client' : np.listen ? 'server' : np.mcast ? 'mcast' : 'udp';
    net.source = { address: addr, port: num(port, 'port') };
    if (np.localaddr !== undefined) {
      const [la, lp] = splitHostPort(String(np.localaddr));
      net.source.local = { address: la, port: num(lp, 'port') };
    }
  } else if (np.type === 'user') {
    net.type = 'user';
  } else if (np.type === 'vhost-user') {
    net.type = 'vhostuser';
    const spec = chardevSpec(s, np.chardev);
    const src = spec?.source?.[0] ?? {};
    net.source = {
      type: spec?.type ?? 'unix',
      path: src.path,
      mode: src.mode === 'bind' ? 'server' : 'client',
    };
  } else if (np.type === 'tap') {
    if (np.sndbuf !== undefined) net.tune = { sndbuf: np.sndbuf };
    if (typeof np.fds === 'string') (net.driver ??= {}).queues = np.fds.split(':').length;
    if (typeof np.script === 'string') net.script = { path: np.script };
  }
  net.model = { type: base === 'virtio-net' ? 'virtio' : driver };
  virtioModel(net, driver);
  if (base === 'virtio-net') {
    const d: Obj = net.driver ?? {};
    if (p.tx === 'bh') d.txmode = 'iothread';
    else if (p.tx === 'timer') d.txmode = 'timer';
    if (p.ioeventfd !== undefined) d.ioeventfd = onOff(p.ioeventfd);
    if (p.event_idx !== undefined) d.event_idx = onOff(p.event_idx);
    const host: Obj = {};
    const guest: Obj = {};
    for (const [k, v] of Object.entries(p)) {
      const m = /^(host|guest)_(tso4|tso6|ecn|ufo|csum|mrg_rxbuf)$/.exec(k);
      if (m) (m[1] === 'host' ? host : guest)[m[2]!] = onOff(v);
    }
    if (p.csum !== undefined) host.csum = onOff(p.csum);
    if (p.gso !== undefined) host.gso = onOff(p.gso);
    if (Object.keys(host).length) d.host = host;
    if (Object.keys(guest).length) d.guest = guest;
    if (p.rx_queue_size !== undefined) d.rx_queue_size = p.rx_queue_size;
    if (p.tx_queue_size !== undefined) d.tx_queue_size = p.tx_queue_size;
    if (p.rss !== undefined) d.rss = onOff(p.rss);
    if (p.hash !== undefined) d.rss_hash_report = onOff(p.hash);
    virtioOptions(d, p);
    if (Object.keys(d).length) net.driver = d;
    if (p.host_mtu !== undefined) net.mtu = { size: p.host_mtu };
  }
  if (p.romfile !== undefined || p.romfile === '' || p.rombar !== undefined) {
    net.rom = {};
    if (p.rombar !== undefined) net.rom.bar = num(p.rombar, 'rombar') ? 'on' : 'off';
    if (p.romfile === '') net.rom.enabled = 'no';
    else if (p.romfile !== undefined) net.rom.file = p.romfile;
  }
  placeDevice(net, p);
  bootIndex(s, net, p, 'network');
  push(s, 'interface', net);
  return true;
}

function splitHostPort(text: string): [string, string] {
  const i = text.lastIndexOf(':');
  return [text.slice(0, i), text.slice(i + 1)];
}

function balloon(s: ModernState, p: Obj): boolean {
  const driver = String(p.driver);
  if (virtioBase(driver) !== 'virtio-balloon') return false;
  const m: Obj = { model: 'virtio' };
  virtioModel(m, driver);
  if (m.model === 'virtio') m.model = 'virtio';
  if (p['deflate-on-oom'] !== undefined) m.autodeflate = onOff(p['deflate-on-oom']);
  if (p['free-page-reporting'] !== undefined) m.freePageReporting = onOff(p['free-page-reporting']);
  const drv: Obj = {};
  virtioOptions(drv, p);
  if (Object.keys(drv).length) m.driver = drv;
  placeDevice(m, p);
  s.devices.memballoon = m;
  return true;
}

function rng(s: ModernState, p: Obj): boolean {
  const driver = String(p.driver);
  if (virtioBase(driver) !== 'virtio-rng') return false;
  const o = backend(s, s.objects, p.rng);
  const op = o ? propsOf(o, 'qom-type') : {};
  const r: Obj = { model: 'virtio' };
  virtioModel(r, driver);
  if (op['qom-type'] === 'rng-random') r.backend = { model: 'random', value: op.filename };
  else if (op['qom-type'] === 'rng-builtin') r.backend = { model: 'builtin' };
  else if (op['qom-type'] === 'rng-egd') {
    const spec = chardevSpec(s, op.chardev) ?? {};
    const { spicevmcName: _n, ...rest } = spec;
    r.backend = { model: 'egd', ...rest };
  }
  if (p['max-bytes'] !== undefined)
    r.rate = { bytes: p['max-bytes'], ...(p.period !== undefined ? { period: p.period } : {}) };
  const drv: Obj = {};
  virtioOptions(drv, p);
  if (Object.keys(drv).length) r.driver = drv;
  placeDevice(r, p);
  push(s, 'rng', r);
  return true;
}

function tpm(s: ModernState, p: Obj): boolean {
  const driver = String(p.driver);
  if (!['tpm-tis', 'tpm-crb', 'tpm-tis-device', 'tpm-spapr', 'spapr-tpm-proxy'].includes(driver))
    return false;
  const t: Obj = { model: driver === 'tpm-tis-device' ? 'tpm-tis' : driver };
  if (driver === 'spapr-tpm-proxy') t.backend = { type: 'passthrough', device: { path: p['host-path'] } };
  else {
    const td = backend(s, s.tpmdevs, String(p.tpmdev ?? ''));
    const tp = td ? propsOf(td, 'type') : {};
    const chr = backend(s, s.chardevs, tp.chardev);
    const cp = chr ? propsOf(chr, 'backend') : {};
    if (cp.backend === 'null' || !chr) t.backend = { type: 'emulator' };
    else {
      t.backend = {
        type: 'external',
        source: {
          type: 'unix',
          ...(cp.server === 'on' ? { mode: 'bind' } : { mode: 'connect' }),
          path: cp.path,
        },
      };
    }
  }
  placeDevice(t, p);
  push(s, 'tpm', t);
  return true;
}

function hostdev(s: ModernState, p: Obj): boolean {
  const driver = String(p.driver);
  const mdev = /^\/sys\/bus\/mdev\/devices\/([0-9a-f-]{36})$/i.exec(String(p.sysfsdev ?? ''));
  if (mdev && ['vfio-pci', 'vfio-pci-nohotplug', 'vfio-ccw', 'vfio-ap'].includes(driver)) {
    // A mediated device (qemuBuildHostdevMediatedDevProps): `vfio-pci-nohotplug` is vfio-pci
    // with a ramfb.
    const h: Obj = {
      mode: 'subsystem',
      type: 'mdev',
      managed: 'no',
      model: driver === 'vfio-pci-nohotplug' ? 'vfio-pci' : driver,
      source: { address: { uuid: mdev[1]!.toLowerCase() } },
    };
    if (p.display !== undefined) h.display = onOff(p.display);
    if (p.ramfb === true || p.ramfb === 'on') h.ramfb = 'on';
    placeDevice(h, p);
    bootIndex(s, h, p, 'other');
    push(s, 'hostdev', h);
    return true;
  }
  if (driver === 'vfio-pci' || driver === 'vfio-pci-nohotplug') {
    const m = /^([0-9a-f]{4}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/i.exec(String(p.host ?? ''));
    if (!m) return false;
    const h: Obj = {
      mode: 'subsystem',
      type: 'pci',
      managed: 'yes',
      source: {
        address: {
          domain: Number.parseInt(m[1]!, 16),
          bus: Number.parseInt(m[2]!, 16),
          slot: Number.parseInt(m[3]!, 16),
          function: Number.parseInt(m[4]!, 16),
        },
      },
    };
    h.driver = { name: 'vfio' };
    if (p.display !== undefined) h.display = onOff(p.display);
    if (p.ramfb !== undefined) h.ramfb = onOff(p.ramfb);
    if (p.romfile !== undefined || p.rombar !== undefined) {
      h.rom = {};
      if (p.rombar !== undefined) h.rom.bar = num(p.rombar, 'rombar') ? 'on' : 'off';
      if (p.romfile === '') h.rom.enabled = 'no';
      else if (p.romfile !== undefined) h.rom.file = p.romfile;
    }
    placeDevice(h, p);
    bootIndex(s, h, p, 'other');
    push(s, 'hostdev', h);
    return true;
  }
  if (driver === 'usb-host') {
    const src: Obj = {};
    if (p.vendorid !== undefined) {
      src.vendor = { id: `0x${num(p.vendorid, 'vendorid').toString(16).padStart(4, '0')}` };
      src.product = { id: `0x${num(p.productid, 'productid').toString(16).padStart(4, '0')}` };
    }
    if (p.hostdevice !== undefined) {
      const m = /\/dev\/bus\/usb\/(\d+)\/(\d+)$/.exec(String(p.hostdevice));
      if (m) src.address = { bus: Number(m[1]), device: Number(m[2]) };
    }
    if (p.hostbus !== undefined)
      src.address = { bus: num(p.hostbus, 'hostbus'), device: num(p.hostaddr, 'hostaddr') };
    const h: Obj = { mode: 'subsystem', type: 'usb', managed: 'no', source: src };
    placeDevice(h, p);
    bootIndex(s, h, p, 'other');
    push(s, 'hostdev', h);
    return true;
  }
  return false;
}

function redirdev(s: ModernState, p: Obj): boolean {
  if (p.driver !== 'usb-redir') return false;
  const spec = chardevSpec(s, p.chardev) ?? { type: 'spicevmc' };
  const { spicevmcName: _n, ...rest } = spec;
  const r: Obj = { bus: 'usb', ...rest };
  if (r.type === 'dbus' && r.source?.[0]?.channel === 'org.qemu.usbredir') delete r.source;
  if (typeof p.filter === 'string' && !s.devices.redirfilter) {
    s.devices.redirfilter = {
      usbdev: p.filter.split('|').map((f: string) => {
        const [cls, vendor, product, version, allow] = f.split(':');
        const u: Obj = {};
        const hex = (x: string | undefined) =>
          x === undefined || x === '-1' ? undefined : Number.parseInt(x, 16);
        if (hex(cls) !== undefined) u.class = hex(cls);
        if (hex(vendor) !== undefined) u.vendor = hex(vendor);
        if (hex(product) !== undefined) u.product = hex(product);
        const v = hex(version);
        if (v !== undefined) {
          const major = ((v >> 12) & 0xf) * 10 + ((v >> 8) & 0xf);
          const minor = ((v >> 4) & 0xf) * 10 + (v & 0xf);
          u.version = `${major}.${String(minor).padStart(2, '0')}`;
        }
        u.allow = allow === '1' ? 'yes' : 'no';
        return u;
      }),
    };
  }
  placeDevice(r, p);
  bootIndex(s, r, p, 'other');
  push(s, 'redirdev', r);
  return true;
}

function smartcard(s: ModernState, p: Obj): boolean {
  const driver = String(p.driver);
  let card: Obj | undefined;
  if (driver === 'ccid-card-emulated') {
    if (p.backend === 'certificates') {
      card = {
        mode: 'host-certificates',
        certificate: [p.cert1, p.cert2, p.cert3].filter((x) => x !== undefined),
      };
      if (p.db !== undefined && p.db !== '/etc/pki/nssdb') card.database = p.db;
    } else card = { mode: 'host' };
  } else if (driver === 'ccid-card-passthru') {
    const spec = chardevSpec(s, p.chardev) ?? {};
    const { spicevmcName: _n, ...rest } = spec;
    card = { mode: 'passthrough', ...rest };
  }
  if (!card) return false;
  const m = /^ccid(\d+)\.0$/.exec(String(p.bus ?? ''));
  card.address = { type: 'ccid', controller: m ? Number(m[1]) : 0, slot: 0 };
  push(s, 'smartcard', card);
  return true;
}

function memoryDevice(s: ModernState, p: Obj): boolean {
  const models: Record<string, string> = {
    'pc-dimm': 'dimm',
    nvdimm: 'nvdimm',
    'virtio-pmem-pci': 'virtio-pmem',
    'virtio-mem-pci': 'virtio-mem',
  };
  const model = models[String(p.driver)];
  if (!model) return false;
  const o = backend(s, s.objects, p.memdev);
  const op = o ? propsOf(o, 'qom-type') : {};
  const mem: Obj = { model };
  const src: Obj = {};
  if (model === 'nvdimm' || model === 'virtio-pmem') {
    if (op['mem-path'] !== undefined) src.path = op['mem-path'];
    if (op.align !== undefined) src.alignsize = { unit: 'KiB', value: kib(op.align, 'align') };
    if (op.pmem === true) src.pmem = true;
  } else if (op['mem-path'] !== undefined && /\/libvirt\/qemu\//.test(String(op['mem-path']))) {
    // hugepages
  }
  if (Array.isArray(op['host-nodes'])) src.nodemask = (op['host-nodes'] as number[]).join(',');
  if (Object.keys(src).length) mem.source = src;
  if (op.share !== undefined) mem.access = op.share ? 'shared' : 'private';
  if (op['discard-data'] !== undefined) mem.discard = op['discard-data'] ? 'yes' : 'no';
  const t: Obj = { size: { unit: 'KiB', value: kib(op.size ?? 0, 'size') } };
  if (p.node !== undefined) t.node = p.node;
  if (p['label-size'] !== undefined)
    t.label = { size: { unit: 'KiB', value: kib(p['label-size'], 'label-size') } };
  if (p['block-size'] !== undefined) t.block = { unit: 'KiB', value: kib(p['block-size'], 'block-size') };
  if (p['requested-size'] !== undefined)
    t.requested = { unit: 'KiB', value: kib(p['requested-size'], 'requested-size') };
  if (p.unarmed === true) t.readonly = true;
  mem.target = t;
  if (p.uuid !== undefined) mem.uuid = p.uuid;
  placeDevice(mem, p);
  if (p.slot !== undefined) {
    mem.address = { type: 'dimm', slot: num(p.slot, 'slot') };
    if (p.addr !== undefined) mem.address.base = p.addr;
  }
  push(s, 'memory', mem);
  return true;
}

function shmem(s: ModernState, p: Obj): boolean {
  const driver = String(p.driver);
  if (driver !== 'ivshmem-plain' && driver !== 'ivshmem-doorbell') return false;
  const sh: Obj = { model: { type: driver } };
  if (p.memdev !== undefined) {
    const o = backend(s, s.objects, p.memdev);
    const op = o ? propsOf(o, 'qom-type') : {};
    sh.name = String(op['mem-path'] ?? '').replace(/^\/dev\/shm\//, '');
    if (op.size !== undefined) sh.size = { unit: 'M', value: num(op.size, 'size') / (1024 * 1024) };
  }
  if (p.chardev !== undefined) {
    const spec = chardevSpec(s, p.chardev);
    const path = spec?.source?.[0]?.path;
    const m = /^\/var\/lib\/libvirt\/shmem-(.*)-sock$/.exec(path ?? '');
    if (m) sh.name = m[1];
    sh.server = m ? {} : { path };
  }
  if (p.master !== undefined) sh.role = p.master === 'on' || p.master === true ? 'master' : 'peer';
  if (p.vectors !== undefined || p.ioeventfd !== undefined) {
    sh.msi = {};
    if (p.vectors !== undefined) sh.msi.vectors = p.vectors;
    if (p.ioeventfd !== undefined) sh.msi.ioeventfd = onOff(p.ioeventfd);
  }
  placeDevice(sh, p);
  push(s, 'shmem', sh);
  return true;
}

function filesystem(s: ModernState, p: Obj): boolean {
  const driver = String(p.driver);
  const base = virtioBase(driver);
  if (base === 'virtio-9p') {
    const fsd = backend(s, s.fsdevs, p.fsdev);
    const fp = fsd ? propsOf(fsd, 'fsdriver') : {};
    const fs: Obj = { type: 'mount' };
    const access = { passthrough: 'passthrough', mapped: 'mapped', none: 'squash' }[
      String(fp.security_model ?? '')
    ];
    if (access) fs.accessmode = access;
    const drv: Obj = {};
    if (fp.fsdriver === 'handle') drv.type = 'handle';
    if (fp.writeout !== undefined) drv.wrpolicy = fp.writeout;
    if (fp.fmode !== undefined) fs.fmode = fp.fmode;
    if (fp.dmode !== undefined) fs.dmode = fp.dmode;
    if (fp.multidevs !== undefined) fs.multidevs = fp.multidevs;
    virtioOptions(drv, p);
    if (Object.keys(drv).length) fs.driver = drv;
    fs.source = { dir: fp.path };
    fs.target = { dir: p.mount_tag };
    if (fp.readonly === 'on') fs.readonly = true;
    virtioModel(fs, driver);
    placeDevice(fs, p);
    push(s, 'filesystem', fs);
    return true;
  }
  if (base === 'vhost-user-fs') {
    const spec = chardevSpec(s, p.chardev);
    // virtiofs is always passthrough; libvirt leaves the access mode unset.
    const fs: Obj = { type: 'mount' };
    fs.driver = { type: 'virtiofs' };
    const queue = p['queue-size'] ?? p.queue_size;
    if (queue !== undefined) fs.driver.queue = String(num(queue, 'queue-size'));
    const path = spec?.source?.[0]?.path;
    if (path && !/-fs\d+-fs\.sock$/.test(path)) fs.source = { socket: path };
    fs.target = { dir: p.tag };
    bootIndex(s, fs, p, 'other');
    placeDevice(fs, p);
    push(s, 'filesystem', fs);
    return true;
  }
  return false;
}

function misc(s: ModernState, p: Obj): boolean {
  const driver = String(p.driver);
  switch (driver) {
    case 'vmgenid':
      s.def.genid = p.guid;
      return true;
    case 'intel-iommu': {
      const io: Obj = { model: 'intel' };
      const d: Obj = {};
      if (p.intremap !== undefined) d.intremap = onOff(p.intremap);
      if (p['caching-mode'] !== undefined) d.caching_mode = onOff(p['caching-mode']);
      if (p.eim !== undefined) d.eim = onOff(p.eim);
      if (p['device-iotlb'] !== undefined) d.iotlb = onOff(p['device-iotlb']);
      if (p['aw-bits'] !== undefined) d.aw_bits = p['aw-bits'];
      if (Object.keys(d).length) io.driver = d;
      s.devices.iommu = placeDevice(io, p);
      return true;
    }
    case 'virtio-iommu':
    case 'virtio-iommu-pci':
      s.devices.iommu = placeDevice({ model: 'virtio' }, p);
      return true;
    case 'vmcoreinfo':
      (s.def.features ??= {}).vmcoreinfo = { state: 'on' };
      return true;
    case 'pvpanic': {
      const panic: Obj = { model: 'isa' };
      if (p.ioport !== undefined) panic.address = { type: 'isa', iobase: num(p.ioport, 'ioport') };
      push(s, 'panic', panic);
      return true;
    }
    case 'usb-hub':
      push(s, 'hub', placeDevice({ type: 'usb' }, p));
      return true;
    case 'isa-fdc':
      if (p.bootindexA !== undefined)
        s.def.fdcBoot = { ...s.def.fdcBoot, A: num(p.bootindexA, 'bootindexA') };
      if (p.bootindexB !== undefined)
        s.def.fdcBoot = { ...s.def.fdcBoot, B: num(p.bootindexB, 'bootindexB') };
      return true;
    default:
      break;
  }
  if (virtioBase(driver) === 'vhost-vsock') {
    const v: Obj = { model: 'virtio' };
    virtioModel(v, driver);
    if (p['guest-cid'] !== undefined) v.cid = { auto: 'no', address: p['guest-cid'] };
    const drv: Obj = {};
    virtioOptions(drv, p);
    if (Object.keys(drv).length) v.driver = drv;
    s.devices.vsock = placeDevice(v, p);
    return true;
  }
  return false;
}

const IMPORTERS: Array<(s: ModernState, p: Obj) => boolean> = [
  controller,
  nic,
  balloon,
  importVideo,
  importSound,
  importInput,
  importWatchdog,
  rng,
  tpm,
  hostdev,
  redirdev,
  smartcard,
  memoryDevice,
  shmem,
  filesystem,
  misc,
];

/** One `-device`; false when its driver is unknown. Malformed JSON is an error naming the word. */
export function importDevice(s: ModernState, opt: Opt): boolean {
  const p = propsOf(opt);
  if (typeof p.driver !== 'string' || p.driver === '') return false;
  if (importDisk(s, opt)) return true;
  if (importChrDevice(s, opt)) return true;
  return IMPORTERS.some((f) => f(s, p));
}
