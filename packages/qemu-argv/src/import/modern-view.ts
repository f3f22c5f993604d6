/**
 * What domxml-to-native loses, so a round trip (XML → `domxml-to-native` → `domxml-from-native`)
 * can be compared. `nativeRoundtripView` is applied to both models (each after libvirt's
 * post-parse) and removes only what the command line cannot carry, never anything it does:
 *
 * - every `<interface>` became a tap `type='ethernet'` one keeping only its MAC, model, script and
 *   boot order (libvirt's qemuConnectDomainXMLToNative): the expected side gets the same rewrite;
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
 *   type (PCI, USB, SCSI, IDE, SATA, virtio-serial, CCID), so both sides are sorted so.
 */
import type { DomainDef } from '@qvirt/core';
import { isImplicitController } from '../argv/sections/controllers.js';
import { effectiveBootIndexes } from '../argv/sections/disks.js';
import { nativeInterface } from '../argv/sections/io-net.js';

type Obj = Record<string, any>;

const alignMiB = (kib: number): number => Math.ceil(kib / 1024) * 1024;

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
  const nets: Obj[] | undefined = def.devices?.interface;
  if (nets) def.devices.interface = nets.map((n) => nativeInterface(n as never, true));
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
      .sort((a, b) => rank(a.c) - rank(b.c) || (a.c.index ?? 0) - (b.c.index ?? 0) || a.i - b.i)
      .map((x) => x.c);
  }
  const type = def.os?.type;
  if (type?.arch === 'i686' && /qemu-system-x86_64$/.test(def.devices?.emulator ?? '')) type.arch = 'x86_64';
  return def as DomainDef;
}
