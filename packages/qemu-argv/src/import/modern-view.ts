/**
 * What domxml-to-native loses, so a round trip (XML → `domxml-to-native` → `domxml-from-native`)
 * can be compared. `nativeRoundtripView` is applied to both models (each after libvirt's
 * post-parse) and removes only what the command line cannot carry, never anything it does:
 *
 * - every `<interface>` became a tap `type='ethernet'` one keeping only its MAC, model, script and
 *   boot order, and was placed again without its address (libvirt's qemuConnectDomainXMLToNative):
 *   both sides get the same rewrite and PCI placement;
 * - descriptive and host-side settings QEMU never sees: `<title>`, `<description>`, `<metadata>`,
 *   `<currentMemory>` (the balloon target is set at run time), `<cputune>`, `<blkiotune>`,
 *   `<memtune>`, `<vcpu cpuset>` (pinning is done by the driver, not by QEMU);
 * - sizes as QEMU gets them: libvirt aligns guest memory to whole MiB before building `-m`;
 * - `i686` vs `x86_64` on `qemu-system-x86_64`: the binary runs both and the line does not say;
 * - settings equal to what qemu.conf would say anyway (`dumpCore='off'`);
 * - the lifecycle actions (`<on_poweroff>`, `<on_reboot>`, `<on_crash>`): libvirt always starts
 *   QEMU with `-no-shutdown` and carries them out itself;
 * - a bare `<apic/>` and `<pae/>`, `<hap/>`, `<privnet/>`, `<viridian/>` (nothing on the x86 line);
 * - security labels (`<seclabel>` anywhere) and `startupPolicy`: applied by the driver;
 * - a disk's target name when it has a drive address: the line carries only the address (both
 *   sides are named after it), and NUMA cells' sizes aligned to MiB as for the whole memory;
 * - host-side checks and settings: the CPU `check` and model `fallback`, an interface's `<script>`
 *   (libvirt runs it when it opens the tap), a TPM emulator's version and state (swtpm's, not
 *   QEMU's);
 * - a CPU topology of one core and thread per socket, which `-smp` spells out anyway;
 * - a tray's state, an explicitly empty `<backingStore/>` (the line has no backing either way);
 * - the start time of a `variable`/`absolute` clock (the line has a timestamp made when printed);
 * - a VNC/SPICE listen address equal to qemu.conf's default (`127.0.0.1`), which the line spells
 *   out whether the XML did or not;
 * - controllers built into the machine (the i440FX IDE, the q35 SATA, the PCI(e) root) have no
 *   option of their own: listed or not, the line is the same; and the line orders controllers by
 *   type (PCI, USB, SCSI, IDE, SATA, virtio-serial, CCID), so both sides are sorted so; a USB
 *   master goes before its companions (libvirt's parser reorders them once indexes are given, as
 *   they are when read back, so the XML's order among them does not survive a round trip).
 *
 * Each rule below says in one line why the line has no trace of what it removes:
 * - `<iotune>`: libvirt sets throttling with `block_set_io_throttle` over QMP after start;
 * - a disk's `rawio`: a capability granted to the QEMU process, not a device property;
 * - a disk's `snapshot`: the default of libvirt's snapshot API, never given to QEMU;
 * - a disk's order among drive-addressed disks of one bus: libvirt orders them by target name,
 *   which the line does not carry (see above), so they are ordered by address;
 * - an empty drive's cache mode keeps only its `write-cache` half: the `direct`/`no-flush` half
 *   lives on a `-blockdev`, and an empty drive has none;
 * - a WWN's `0x` prefix: the line carries the WWN as a number;
 * - HTTP(S) `<cookies>`: their values travel as secrets encrypted with the per-VM master key;
 * - CPU feature policy `force` is `require`: both are `NAME=on`, the difference is a host check;
 * - `<vcpu placement>`: numad's advice is applied by the driver (pinning), like `cpuset`;
 * - `<vcpus>` and `current`: hotpluggable vCPUs are added with `device_add` over QMP after
 *   start, so `-smp` counts only the enabled non-hotpluggable ones;
 * - a hostdev with an `unassigned` address is never given to QEMU; an mdev's `ramfb='off'` is
 *   the default and writes nothing; a USB hostdev's `managed` is host-side (the line is the same);
 * - a USB companion controller's alias: libvirt gives companions no `id`;
 * - hugepages of the system page size (4 KiB) are ordinary memory (`memory-backend-ram`);
 * - `<idmap>` is for container drivers; QEMU never sees it;
 * - `<qemu:capabilities>`: they change what libvirt emits, not what QEMU is given;
 * - `<qemu:override>` properties as the device's JSON ends up: a `remove` and any value it
 *   cancels leave no trace, and a property set twice keeps its last value;
 * - firmware autoselection once resolved: `firmware='efi'|'bios'` and its `<firmware>` feature
 *   list chose the `<loader>` and `<nvram>` the line carries (prepareDomain fills them);
 * - a console of target type serial: it is serial port N itself (libvirt prints the serial's
 *   source in its place), and the line has the port once, as the serial device;
 * - the balloon's `<stats period>`: set with `qom-set` over QMP after start;
 * - `<memoryBacking><source type='file'|'anonymous'>` when an access mode is given: libvirt
 *   backs RAM with `memory-backend-file` either way; `<allocation mode='ondemand'>` is the
 *   default (no `prealloc`); a domain-wide access mode and the same mode on every NUMA cell give
 *   the same backends, so it is kept domain-wide;
 * - memory modules' sizes as QEMU gets them (2 MiB steps, 256 MiB on ppc64) and `<memory>` as
 *   the aligned initial memory plus the aligned modules;
 * - the floppy controller (`fdc`) is built into the PC machines and has no option of its own;
 * - Hyper-V enlightenments in state `off` and KVM features at QEMU's default (hidden, dedicated
 *   hint, poll control and dirty ring off; PV IPI on) are not written on the line;
 * - a 9p `<driver type='path'>`: it is the default, the line says `local` for both;
 * - a pflash loader's `readonly='no'`: unset means the same read-write image;
 * - an NVRAM `type='file'` with `<source file>` is the plain `<nvram>PATH</nvram>`, and its
 *   `template` is copied by libvirt before start;
 * - a watchdog `action='dump'`: libvirt gives QEMU `pause` and dumps on the event itself;
 * - a chardev source's `tls='no'`: qemu.conf's default (`chardev_tls = 0`) says the same;
 * - the alias of a `<video><model type='none'/>`: there is no device to carry it;
 * - a virtio console's target port: `virtconsole` is given no port number (`nr`).
 */
import type { DomainDef } from '@qvirt/core';
import { isImplicitController } from '../argv/sections/controllers.js';
import { effectiveBootIndexes } from '../argv/sections/disks.js';
import { rewriteInterfacesForNative } from '../argv/sections/io-net.js';
import { referenceContext } from '../context.js';
import { scaledToBytes } from '../domain-util.js';
import { pciAddresses } from '../post-parse/steps/pci-addresses.js';

type Obj = Record<string, any>;

const alignMiB = (kib: number): number => Math.ceil(kib / 1024) * 1024;

/** A scaled size in KiB, a fraction for decimal units (`kB`), undefined for an unknown unit. */
function sizeKiB(v: Obj | undefined): number | undefined {
  if (!v || !Number.isInteger(v.value)) return undefined;
  const bytes = scaledToBytes(v.value, v.unit === undefined ? undefined : String(v.unit));
  return bytes === undefined ? undefined : Number(bytes) / 1024;
}

/** KVM features libvirt writes only when they differ from QEMU's default. */
const KVM_DEFAULT: Record<string, string> = {
  hidden: 'off',
  'hint-dedicated': 'off',
  'poll-control': 'off',
  'pv-ipi': 'on',
  'dirty-ring': 'off',
};

/** `<qemu:override>` reduced to the properties the device's JSON ends up with, in that order. */
function netOverrides(def: Obj): void {
  const devs: Obj[] | undefined = def.qemuOverride?.device;
  if (!devs) return;
  for (const d of devs) {
    const net = new Map<string, Obj>();
    for (const p of (d.frontend?.property ?? []) as Obj[]) {
      net.delete(p.name);
      if (p.type !== 'remove') net.set(p.name, p);
    }
    if (d.frontend) d.frontend.property = [...net.values()];
  }
}

/** The rules listed last in the header, one block each. */
function hostSideRules(def: Obj): void {
  const devs: Obj = def.devices ?? {};
  strip(def, new Set(['iotune']));
  for (const d of (devs.disk ?? []) as Obj[]) {
    delete d.rawio;
    delete d.snapshot;
    if (typeof d.wwn === 'string') d.wwn = d.wwn.replace(/^0x/i, '').toLowerCase();
    if (d.source?.cookies) delete d.source.cookies;
    if (!d.source && d.driver?.cache) {
      const half: Record<string, string> = { none: 'writeback', directsync: 'writethrough' };
      d.driver.cache = half[d.driver.cache] ?? d.driver.cache;
    }
  }
  for (const f of (def.cpu?.feature ?? []) as Obj[]) if (f.policy === 'force') f.policy = 'require';
  if (def.vcpu) {
    delete def.vcpu.placement;
    const vcpus: Obj[] | undefined = def.vcpus?.vcpu;
    if (vcpus) {
      const current = vcpus.filter((v) => v.enabled !== 'no' && v.hotpluggable === 'no').length;
      if (current && current !== def.vcpu.value) def.vcpu.current = current;
      else delete def.vcpu.current;
      delete def.vcpus;
    }
  }
  for (const h of (devs.hostdev ?? []) as Obj[]) {
    if (h.type === 'mdev' && h.ramfb === 'off') delete h.ramfb;
    if (h.type === 'usb') delete h.managed;
  }
  for (const c of (devs.controller ?? []) as Obj[]) if (c.type === 'usb' && c.master) delete c.alias;
  if (devs.hostdev) {
    devs.hostdev = (devs.hostdev as Obj[]).filter((h) => h.address?.type !== 'unassigned');
    if (devs.hostdev.length === 0) delete devs.hostdev;
  }
  const cells: Obj[] = def.cpu?.numa?.cell ?? [];
  if (cells.some((c) => c.memAccess !== undefined)) def.memoryBacking ??= {};
  const mb: Obj | undefined = def.memoryBacking;
  if (mb) {
    if (mb.hugepages?.page?.length) {
      mb.hugepages.page = (mb.hugepages.page as Obj[]).filter(
        (p) => sizeKiB({ unit: 'KiB', ...p, value: p.size }) !== 4,
      );
      if (mb.hugepages.page.length === 0) delete mb.hugepages;
    }
    const modes = new Set(cells.map((c) => c.memAccess ?? mb.access?.mode));
    if (cells.length && modes.size === 1 && [...modes][0] !== undefined) {
      mb.access = { mode: [...modes][0] };
      for (const c of cells) delete c.memAccess;
    }
    const fileBacked = mb.access?.mode !== undefined || cells.some((c) => c.memAccess !== undefined);
    if (fileBacked && (mb.source?.type === 'file' || mb.source?.type === 'anonymous')) delete mb.source;
    if (mb.allocation?.mode === 'ondemand') {
      delete mb.allocation.mode;
      if (Object.keys(mb.allocation).length === 0) delete mb.allocation;
    }
    if (Object.keys(mb).length === 0) delete def.memoryBacking;
  }
  delete def.idmap;
  delete def.qemuCapabilities;
  if (def.os?.loader) {
    delete def.os.firmware;
    delete def.os.firmwareFeatures;
  }
  netOverrides(def);
  if (devs.memballoon?.stats) delete devs.memballoon.stats;
  const mods: Obj[] = devs.memory ?? [];
  if (mods.length && typeof def.memory?.value === 'number') {
    const step = /^ppc64/.test(def.os?.type?.arch ?? '') ? 256 * 1024 : 2048;
    let before = 0;
    let after = 0;
    for (const m of mods) {
      const size = sizeKiB(m.target?.size);
      if (size === undefined) continue;
      const aligned = Math.ceil(size / step) * step;
      before += size;
      after += aligned;
      m.target.size = { unit: 'KiB', value: aligned };
    }
    const total = sizeKiB({ unit: def.memory.unit, value: def.memory.value });
    if (total !== undefined)
      def.memory = { ...def.memory, unit: 'KiB', value: alignMiB(total - before) + after };
  }
  if (devs.controller) devs.controller = (devs.controller as Obj[]).filter((c) => c.type !== 'fdc');
  const hv: Obj | undefined = def.features?.hyperv;
  if (hv) {
    for (const [k, v] of Object.entries(hv)) if ((v as Obj)?.state === 'off') delete hv[k];
    if (Object.keys(hv).every((k) => k === 'mode')) delete def.features.hyperv;
  }
  const kvm: Obj | undefined = def.features?.kvm;
  if (kvm) {
    for (const [k, v] of Object.entries(kvm)) if (KVM_DEFAULT[k] === (v as Obj)?.state) delete kvm[k];
    if (Object.keys(kvm).length === 0) delete def.features.kvm;
  }
  for (const fs of (devs.filesystem ?? []) as Obj[]) {
    if (fs.driver?.type === 'path') {
      delete fs.driver.type;
      if (Object.keys(fs.driver).length === 0) delete fs.driver;
    }
  }
  if (def.os?.loader?.type === 'pflash' && def.os.loader.readonly === 'no') delete def.os.loader.readonly;
  const nv: Obj | undefined = def.os?.nvram;
  if (nv) {
    if (nv.type === 'file' && nv.source?.file && nv.value === undefined)
      def.os.nvram = { ...nv, value: nv.source.file };
    delete def.os.nvram.type;
    delete def.os.nvram.source;
    delete def.os.nvram.template;
    if (Object.keys(def.os.nvram).length === 0) delete def.os.nvram;
  }
  for (const w of (devs.watchdog ?? []) as Obj[]) if (w.action === 'dump') w.action = 'pause';
  for (const key of ['serial', 'parallel', 'console', 'channel']) {
    for (const c of (devs[key] ?? []) as Obj[]) {
      for (const src of [c.source].flat() as Obj[]) if (src?.tls === 'no') delete src.tls;
    }
  }
  for (const v of (devs.video ?? []) as Obj[]) if (v.model?.type === 'none') delete v.alias;
  for (const c of (devs.console ?? []) as Obj[]) if (c.target?.type === 'virtio') delete c.target.port;
  if (devs.console) {
    devs.console = (devs.console as Obj[]).filter((c) => c.target?.type !== 'serial');
    if (devs.console.length === 0) delete devs.console;
  }
}

/** Drive-addressed disks of one bus, put back in their places ordered by address. */
function orderDrives(def: Obj): void {
  const disks: Obj[] | undefined = def.devices?.disk;
  if (!disks) return;
  const key = (d: Obj) => {
    const a = d.address;
    return [a.controller ?? 0, a.bus ?? 0, a.target ?? 0, a.unit ?? 0];
  };
  const buses = new Set(disks.map((d) => d.target?.bus));
  for (const bus of buses) {
    const idx = disks.flatMap((d, i) => (d.target?.bus === bus && d.address?.type === 'drive' ? [i] : []));
    const sorted = idx
      .map((i) => disks[i]!)
      .sort((a, b) => {
        const ka = key(a);
        const kb = key(b);
        for (let i = 0; i < 4; i++) if (ka[i] !== kb[i]) return ka[i]! - kb[i]!;
        return 0;
      });
    idx.forEach((i, j) => {
      disks[i] = sorted[j]!;
    });
  }
}

/**
 * Boot order as the line carries it: a bootindex per device. `<os><boot dev>` and per-device
 * `<boot order>` both become per-device orders (libvirt's own translation), a `<boot dev>` of a
 * kind the domain lacks leaves no trace, and an interface's own `<boot order>` is not carried
 * by domxml-to-native (the rewritten interface gets none).
 */
function effectiveBoot(def: Obj): void {
  const eff = effectiveBootIndexes(def as DomainDef);
  const devs: Obj = def.devices ?? {};
  for (const key of ['disk', 'interface', 'hostdev', 'redirdev', 'filesystem']) {
    for (const d of (devs[key] ?? []) as Obj[]) {
      const order = eff.get(d);
      if (order && !(key === 'interface' && !def.os?.boot?.length)) d.boot = { order };
      else delete d.boot;
    }
  }
  if (def.os) delete def.os.boot;
}

function strip(node: unknown, keys: Set<string>): void {
  if (Array.isArray(node)) for (const x of node) strip(x, keys);
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (keys.has(k)) delete (node as Obj)[k];
      else strip(v, keys);
    }
  }
}

export function nativeRoundtripView(input: DomainDef): DomainDef {
  const def = structuredClone(input) as Obj;
  effectiveBoot(def);
  if (def.devices?.interface?.length) {
    // domxml-to-native builds each interface anew, without its address, and places it again.
    rewriteInterfacesForNative(def as DomainDef);
    pciAddresses(def as DomainDef, referenceContext());
  }
  for (const k of ['title', 'description', 'metadata', 'currentMemory', 'cputune', 'blkiotune', 'memtune'])
    delete def[k];
  if (def.vcpu) delete def.vcpu.cpuset;
  if (def.memory?.dumpCore === 'off') delete def.memory.dumpCore;
  if (typeof def.memory?.value === 'number' && (def.memory.unit ?? 'KiB') === 'KiB')
    def.memory.value = alignMiB(def.memory.value);
  for (const k of ['on_poweroff', 'on_reboot', 'on_crash', 'on_lockfailure']) delete def[k];
  if (def.features) {
    if (def.features.apic && def.features.apic.eoi === undefined) delete def.features.apic;
    for (const k of ['pae', 'hap', 'privnet', 'viridian']) delete def.features[k];
    if (Object.keys(def.features).length === 0) delete def.features;
  }
  strip(def, new Set(['seclabel', 'startupPolicy']));
  hostSideRules(def);
  orderDrives(def);
  for (const d of (def.devices?.disk ?? []) as Obj[]) {
    const a = d.address;
    if (a?.type === 'drive' && d.target) {
      d.target.dev = `${d.target.bus}@${a.controller ?? 0}.${a.bus ?? 0}.${a.target ?? 0}.${a.unit ?? 0}`;
    }
  }
  if (def.cpu) {
    delete def.cpu.check;
    if (def.cpu.model) delete def.cpu.model.fallback;
    const t = def.cpu.topology;
    const n = def.vcpu?.value ?? 1;
    if (t && t.sockets === n && (t.dies ?? 1) === 1 && (t.cores ?? 1) === 1 && (t.threads ?? 1) === 1)
      delete def.cpu.topology;
  }
  for (const n of (def.devices?.interface ?? []) as Obj[]) delete n.script;
  for (const t of (def.devices?.tpm ?? []) as Obj[]) {
    if (t.backend?.type === 'emulator') t.backend = { type: 'emulator' };
  }
  for (const d of (def.devices?.disk ?? []) as Obj[]) {
    if (d.target) delete d.target.tray;
    for (let n: Obj = d; n; n = n.backingStore) {
      if (n.backingStore && Object.keys(n.backingStore).length === 0) delete n.backingStore;
    }
  }
  if (def.clock && (def.clock.offset === 'variable' || def.clock.offset === 'absolute')) {
    def.clock = { offset: 'variable', ...(def.clock.timer ? { timer: def.clock.timer } : {}) };
  }
  for (const g of (def.devices?.graphics ?? []) as Obj[]) {
    if (g.type !== 'vnc' && g.type !== 'spice') continue;
    if (g.listen === '127.0.0.1') delete g.listen;
    // domxml-to-native prints an automatic VNC port as display 0, the same as port 5900.
    if (g.type === 'vnc' && g.port === 5900 && g.autoport === 'no') {
      g.port = -1;
      g.autoport = 'yes';
    }
    for (const l of (g.listens ?? []) as Obj[]) if (l.address === '127.0.0.1') delete l.address;
  }
  for (const c of (def.cpu?.numa?.cell ?? []) as Obj[]) {
    if (typeof c.memory === 'number' && (c.unit ?? 'KiB') === 'KiB') c.memory = alignMiB(c.memory);
  }
  const ctrls: Obj[] | undefined = def.devices?.controller;
  if (ctrls) {
    const order = ['pci', 'usb', 'scsi', 'ide', 'sata', 'virtio-serial', 'ccid'];
    const rank = (c: Obj) => {
      const i = order.indexOf(c.type);
      return i < 0 ? order.length : i;
    };
    def.devices.controller = ctrls
      .filter((c) => !isImplicitController(c as never, def as DomainDef) || c.pcihole64 || c.target)
      .map((c, i) => ({ c, i }))
      .sort(
        (a, b) =>
          rank(a.c) - rank(b.c) ||
          (a.c.index ?? 0) - (b.c.index ?? 0) ||
          (a.c.master ? 1 : 0) - (b.c.master ? 1 : 0) ||
          a.i - b.i,
      )
      .map((x) => x.c);
  }
  const type = def.os?.type;
  if (type?.arch === 'i686' && /qemu-system-x86_64$/.test(def.devices?.emulator ?? '')) type.arch = 'x86_64';
  return def as DomainDef;
}
