/**
 * The domain-wide options of the modern syntax: identity (`-name`, `-uuid`), `-machine`,
 * `-accel`, `-cpu`, `-m` and the RAM backend, `-smp`, `-numa`, `-rtc`, `-boot`, `-global`,
 * `-smbios`, `-fw_cfg`, kernel boot, and the options libvirt always adds (monitor, sandbox, …).
 * The reverse of ../argv/sections/{identity,machine,head-cpu,memory,platform}.ts.
 */
import { importCpu } from './modern-cpu.js';
import { finishMemory, importNuma } from './modern-memory.js';
import { floppyBoot } from './modern-storage.js';
import { bad, type ModernState, num, type Obj, type Opt, onOff, propsOf } from './modern-util.js';
import { parseKeywords, type SplitArgv } from './split.js';

/** Environment libvirt sets for QEMU (or that the import reads): never kept as `<qemu:env>`. */
const KNOWN_ENV = new Set([
  'LC_ALL',
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'TMPDIR',
  'XDG_DATA_HOME',
  'XDG_CACHE_HOME',
  'XDG_CONFIG_HOME',
  'TZ',
  'SASL_CONF_PATH',
  'QEMU_AUDIO_DRV',
  'SDL_AUDIODRIVER',
  'DISPLAY',
  'XAUTHORITY',
]);

function kw(value: string | undefined): Map<string, string | undefined> {
  return new Map(parseKeywords(value ?? ''));
}

const os = (s: ModernState): Obj => (s.def.os ??= { type: { value: 'hvm' } });
const features = (s: ModernState): Obj => (s.def.features ??= {});
const clock = (s: ModernState): Obj => (s.def.clock ??= {});

function timer(s: ModernState, name: string): Obj {
  const list: Obj[] = (clock(s).timer ??= []);
  let t = list.find((x) => x.name === name);
  if (!t) {
    t = { name };
    list.push(t);
  }
  return t;
}

function machine(s: ModernState, value: string): void {
  const items = parseKeywords(value);
  const o = os(s);
  items.forEach(([k, v], i) => {
    if (i === 0 && v === undefined) o.type.machine = k;
    else if (k === 'type') o.type.machine = v;
    else if (k === 'dump-guest-core') {
      if (v === 'on') (s.def.memory ??= {}).dumpCore = 'on';
      else if (v === 'off') (s.def.memory ??= {}).dumpCore = 'off';
    } else if (k === 'mem-merge' && v === 'off') (s.def.memoryBacking ??= {}).nosharepages = true;
    else if (k === 'vmport') features(s).vmport = { state: v };
    else if (k === 'smm') features(s).smm = { ...features(s).smm, state: v };
    else if (k === 'gic-version') features(s).gic = { version: v };
    else if (k === 'kernel_irqchip') features(s).ioapic = { driver: v === 'split' ? 'qemu' : 'kvm' };
    else if (k === 'resize-hpt') features(s).hpt = { ...features(s).hpt, resizing: v };
    else if (k === 'cap-htm') features(s).htm = { state: v };
    else if (k === 'cap-nested-hv') features(s)['nested-hv'] = { state: v };
    else if (k === 'cap-ccf-assist') features(s)['ccf-assist'] = { state: v };
    else if (k === 'cap-cfpc') features(s).cfpc = { value: v };
    else if (k === 'cap-sbbc') features(s).sbbc = { value: v };
    else if (k === 'cap-ibs') features(s).ibs = { value: v };
    else if (k === 'iommu' && v === 'smmuv3') s.devices.iommu = { model: 'smmuv3' };
    else if (k === 'graphics' && v === 'off') o.bios = { ...o.bios, useserial: 'yes' };
    else if (k === 'hpet') timer(s, 'hpet').present = v === 'on' ? 'yes' : 'no';
    else if (k.endsWith('-key-wrap'))
      ((s.def.keywrap ??= { cipher: [] }).cipher as Obj[]).push({ name: k.slice(0, -9), state: v });
    else if (k === 'pflash0') s.def.pflash0 = v;
    else if (k === 'pflash1') s.def.pflash1 = v;
    else if (k === 'memory-backend') s.def.ramBackend = v;
    else if (k === 'confidential-guest-support' || k === 'memory-encryption') s.def.launchSecurityId = v;
    // usb=off, nvdimm=on, hmat=on, sgx-epc.*: follow from devices and NUMA
  });
}

function accel(s: ModernState, value: string): void {
  const [head, ...rest] = parseKeywords(value);
  const type = head?.[0] ?? '';
  s.def.type = type === 'tcg' ? 'qemu' : type;
  for (const [k, v] of rest) {
    if (k === 'tb-size') features(s).tcg = { 'tb-cache': { unit: 'MiB', value: num(v, 'tb-size') } };
    else if (k === 'dirty-ring-size')
      features(s).kvm = {
        ...features(s).kvm,
        'dirty-ring': { state: 'on', size: num(v, 'dirty-ring-size') },
      };
  }
}

function smp(s: ModernState, value: string): void {
  let n: number | undefined;
  const topo: Obj = {};
  let max: number | undefined;
  parseKeywords(value).forEach(([k, v], i) => {
    if (i === 0 && v === undefined) n = num(k, 'CPU count');
    else if (k === 'cpus') n = num(v, 'CPU count');
    else if (k === 'maxcpus') max = num(v, 'maxcpus');
    else if (k === 'sockets' || k === 'dies' || k === 'cores' || k === 'threads') topo[k] = num(v, k);
    else bad(`cannot parse CPU topology '${value}'`);
  });
  if (n === undefined) bad(`cannot parse CPU topology '${value}'`);
  const total = max ?? n;
  s.def.vcpu = { value: total, ...(n !== total ? { current: n } : {}) };
  const flat =
    topo.sockets === total && (topo.cores ?? 1) === 1 && (topo.threads ?? 1) === 1 && (topo.dies ?? 1) === 1;
  if (topo.sockets !== undefined && !flat) s.def.topology = topo;
}

/** `-m 128` (MiB) or `-m size=Nk,slots=S,maxmem=Mk`. */
function memory(s: ModernState, value: string): void {
  const size = (text: string | undefined): number => {
    const m = /^(\d+)([kKmMgGtT]?)$/.exec(text ?? '');
    if (!m) bad(`cannot parse memory size '${text}'`);
    const scale: Record<string, number> = { '': 1024, k: 1, m: 1024, g: 1024 ** 2, t: 1024 ** 3 };
    return Number(m[1]) * scale[m[2]!.toLowerCase()]!;
  };
  if (!value.includes('=')) {
    s.def.initialMemory = size(value);
    return;
  }
  const m = kw(value);
  s.def.initialMemory = size(m.get('size'));
  if (m.has('maxmem')) {
    s.def.maxMemory = {
      slots: num(m.get('slots') ?? '0', 'slots'),
      unit: 'KiB',
      value: size(m.get('maxmem')),
    };
  }
}

/** `-rtc base=…,clock=…,driftfix=slew`. */
function rtc(s: ModernState, value: string): void {
  const c = clock(s);
  for (const [k, v] of parseKeywords(value)) {
    if (k === 'base') {
      if (v === 'utc') c.offset = 'utc';
      else if (v === 'localtime') c.offset = s.env.has('TZ') ? 'timezone' : 'localtime';
      else {
        // A start time: a variable clock (its adjustment is relative to when the line was made).
        c.offset = 'variable';
        c.basis = 'utc';
        c.adjustment = '0';
      }
      if (c.offset === 'timezone') c.timezone = s.env.get('TZ');
    } else if (k === 'clock') {
      const track = { vm: 'guest', host: 'wall', rt: 'realtime' }[v ?? ''];
      if (track) timer(s, 'rtc').track = track;
    } else if (k === 'driftfix' && v === 'slew') timer(s, 'rtc').tickpolicy = 'catchup';
  }
}

function boot(s: ModernState, value: string): void {
  const o = os(s);
  for (const [k, v] of parseKeywords(value)) {
    if (k === 'menu') o.bootmenu = { ...o.bootmenu, enable: v === 'on' ? 'yes' : 'no' };
    else if (k === 'reboot-timeout') o.bios = { ...o.bios, rebootTimeout: num(v, 'reboot-timeout') };
    else if (k === 'splash-time') o.bootmenu = { ...o.bootmenu, timeout: num(v, 'splash-time') };
  }
}

/** `-global`: PM switches, PIT policy, TSEG, pflash secure mode, PCI hole. */
function global(s: ModernState, value: string): boolean {
  const m = /^([^.=]+)\.([^=]+)=(.*)$/.exec(value);
  if (m) {
    const [, obj, prop, v] = m as unknown as [string, string, string, string];
    if ((obj === 'PIIX4_PM' || obj === 'ICH9-LPC') && /^disable_s[34]$/.test(prop)) {
      const which = prop === 'disable_s3' ? 'suspend-to-mem' : 'suspend-to-disk';
      s.def.pm = { ...s.def.pm, [which]: { enabled: v === '0' ? 'yes' : 'no' } };
      return true;
    }
    if (obj === 'PIIX4_PM' && prop === 'acpi-root-pci-hotplug' && (v === 'on' || v === 'off')) {
      // The i440FX root bus has no device of its own: the setting is the pci-root's.
      const ctrls: Obj[] = (s.devices.controller ??= []);
      let root = ctrls.find((c) => c.type === 'pci' && (c.index ?? 0) === 0);
      if (!root) {
        root = { type: 'pci', index: 0, model: 'pci-root' };
        ctrls.push(root);
      }
      root.target = { ...root.target, hotplug: v };
      return true;
    }
    if (obj === 'isa-fdc' && /^bootindex[AB]$/.test(prop)) {
      s.def.fdcBoot = { ...s.def.fdcBoot, [prop.slice(-1)]: num(v, prop) };
      return true;
    }
    if (obj === 'kvm-pit' && prop === 'lost_tick_policy') {
      timer(s, 'pit').tickpolicy = v;
      return true;
    }
    if (obj === 'mch' && prop === 'extended-tseg-mbytes') {
      features(s).smm = { ...features(s).smm, state: 'on', tseg: { unit: 'MiB', value: num(v, 'TSEG') } };
      return true;
    }
    if ((obj === 'i440FX-pcihost' || obj === 'q35-pcihost') && prop === 'pci-hole64-size') {
      const k = /^(\d+)K$/.exec(v);
      if (!k) return false;
      s.def.pciHole64 = { model: obj === 'q35-pcihost' ? 'pcie-root' : 'pci-root', size: Number(k[1]) };
      return true;
    }
    return false;
  }
  if (value === 'driver=cfi.pflash01,property=secure,value=on') {
    s.def.pflashSecure = true;
    return true;
  }
  return false;
}

function smbios(s: ModernState, value: string): boolean {
  const items = parseKeywords(value);
  const type = items[0]?.[0] === 'type' ? items[0][1] : undefined;
  const entries = items.slice(1).map(([name, v]) => ({ name, value: v ?? '' }));
  const si: Obj = (s.def.smbiosSysinfo ??= { type: 'smbios' });
  switch (type) {
    case '0':
      si.bios = { entry: entries };
      break;
    case '1':
      si.system = { entry: entries };
      break;
    case '2':
      si.baseBoard = [
        ...(si.baseBoard ?? []),
        { entry: entries.filter((e) => e.value !== '' || e.name !== 'manufacturer') },
      ];
      break;
    case '3':
      si.chassis = { entry: entries.filter((e) => e.value !== '' || e.name !== 'manufacturer') };
      break;
    case '11':
      si.oemStrings = { entry: entries.map((e) => ({ value: e.value })) };
      break;
    default:
      return false;
  }
  return true;
}

function unescapeXml(s: string): string {
  return s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

/** One domain-wide option; false when it is not one we know. */
export function headOption(s: ModernState, opt: Opt): boolean {
  const v = opt.value;
  switch (opt.name) {
    case '-usb':
      s.def.legacyUsb = true;
      (s.devices.controller ??= []).push({ type: 'usb', index: 0 });
      return true;
    case '-S':
    case '-no-user-config':
    case '-nodefaults':
    case '-no-shutdown':
      return true;
    case '-name': {
      const m = kw(v);
      const guest =
        m.get('guest') ??
        (parseKeywords(v ?? '')[0]?.[1] === undefined ? parseKeywords(v ?? '')[0]?.[0] : undefined);
      if (guest !== undefined) s.def.name = guest;
      return true;
    }
    case '-uuid':
      s.def.uuid = v;
      return true;
    case '-machine':
    case '-M':
      machine(s, v ?? '');
      return true;
    case '-accel':
      accel(s, v ?? '');
      return true;
    case '-cpu':
      importCpu(s, v ?? '');
      return true;
    case '-m':
      memory(s, v ?? '');
      return true;
    case '-overcommit':
      if (kw(v).get('mem-lock') === 'on') (s.def.memoryBacking ??= {}).locked = true;
      return true;
    case '-mem-prealloc':
      s.def.memPrealloc = true;
      return true;
    case '-mem-path':
      s.def.memPath = v;
      return true;
    case '-smp':
      smp(s, v ?? '');
      return true;
    case '-numa':
      return importNuma(s, v ?? '');
    case '-mon':
      return kw(v).get('chardev') === 'charmonitor';
    case '-rtc':
      rtc(s, v ?? '');
      return true;
    case '-no-hpet':
      timer(s, 'hpet').present = 'no';
      return true;
    case '-no-acpi':
      s.def.noAcpi = true;
      return true;
    case '-boot':
      boot(s, v ?? '');
      return true;
    case '-kernel':
      os(s).kernel = v;
      return true;
    case '-initrd':
      os(s).initrd = v;
      return true;
    case '-append':
      os(s).cmdline = v;
      return true;
    case '-dtb':
      os(s).dtb = v;
      return true;
    case '-bios':
      os(s).loader = { type: 'rom', value: v };
      return true;
    case '-acpitable': {
      const m = kw(v);
      if (m.get('sig') !== 'SLIC') return false;
      os(s).acpi = { table: [{ type: 'slic', value: m.get('file') }] };
      return true;
    }
    case '-global':
      return global(s, v ?? '');
    case '-smbios':
      return smbios(s, v ?? '');
    case '-fw_cfg': {
      const m = kw(v);
      const name = m.get('name');
      if (!name) return false;
      const entry: Obj = { name };
      if (m.has('string')) entry.value = unescapeXml(m.get('string') ?? '');
      else entry.file = unescapeXml(m.get('file') ?? '');
      ((s.def.fwcfg ??= { type: 'fwcfg', entry: [] }).entry as Obj[]).push(entry);
      return true;
    }
    case '-sandbox':
    case '-msg':
      return true;
    case '-compat': {
      const p = propsOf(opt);
      const input = p['deprecated-input'];
      s.def.qemuDeprecation = {
        behavior: input === 'reject' ? 'reject' : input === 'crash' ? 'crash' : 'omit',
      };
      return true;
    }
    default:
      return false;
  }
}

function onOffFeature(v: unknown): Obj | undefined {
  const st = onOff(v);
  return st ? { state: st } : undefined;
}
void onOffFeature;

/**
 * Everything decided once the whole line is read: the environment, ACPI, memory, the guest CPU,
 * the boot order, firmware, and the model's top-level order.
 */
export function finishHead(s: ModernState, argv: SplitArgv): void {
  const def = s.def;
  const qemuEnv: Obj[] = [];
  for (const [name, value] of argv.env) {
    if (KNOWN_ENV.has(name)) continue;
    s.warnings.push(`unknown environment variable '${name}', adding to the qemu namespace`);
    qemuEnv.push(value === '' ? { name } : { name, value });
  }
  if (qemuEnv.length) def.qemuEnv = qemuEnv;
  const base = argv.binary.split('/').pop() ?? '';
  const bin = base.startsWith('qemu-system-') ? base.slice('qemu-system-'.length) : 'x86_64';
  const arch = bin === 'i386' ? 'i686' : bin;
  // No -accel: TCG, as QEMU itself and the legacy import (a <domain> needs its type)
  def.type ??= 'qemu';
  const o: Obj = def.os ?? { type: { value: 'hvm' } };
  o.type = { arch: def.cpuArch ?? arch, ...o.type, value: 'hvm' };
  delete def.cpuArch;
  const f: Obj = def.features ?? {};
  const x86 = o.type.arch === 'x86_64' || o.type.arch === 'i686';
  if (x86 && !def.noAcpi) f.acpi = true;
  delete def.noAcpi;
  finishMemory(s);
  // No balloon on the line: the guest has none (libvirt would add one otherwise).
  s.devices.memballoon ??= { model: 'none' };
  // No USB controller on a machine that would get a default one: the guest has none.
  if (!(s.devices.controller ?? []).some((c: Obj) => c.type === 'usb') && !def.legacyUsb)
    (s.devices.controller ??= []).push({ type: 'usb', index: 0, model: 'none' });
  delete def.legacyUsb;
  if (def.fdcBoot) {
    if (def.fdcBoot.A !== undefined) floppyBoot(s, 0, def.fdcBoot.A);
    if (def.fdcBoot.B !== undefined) floppyBoot(s, 1, def.fdcBoot.B);
    delete def.fdcBoot;
  }
  delete def.fullScreen;
  delete def.vncExplicit;
  bootOrder(s, o);
  // pflash firmware
  if (def.pflash0 || def.pflash1) {
    const fw = (id: string | undefined) => {
      if (!id) return undefined;
      const b = s.blockdevs.get(id);
      if (!b) return undefined;
      s.used.add(`-blockdev ${id}`);
      const fmt = propsOf(b);
      const storeId = fmt.file;
      const store = typeof storeId === 'string' ? s.blockdevs.get(storeId) : undefined;
      if (store) s.used.add(`-blockdev ${storeId}`);
      return { readOnly: fmt['read-only'] === true, storage: store ? propsOf(store) : undefined };
    };
    const l = fw(def.pflash0);
    if (l) {
      o.loader = { readonly: l.readOnly ? 'yes' : 'no', type: 'pflash', value: l.storage?.filename };
      if (def.pflashSecure) o.loader.secure = 'yes';
    }
    const n = fw(def.pflash1);
    // A read-only pflash code image with no varstore: libvirt would have added one unless the
    // firmware is stateless.
    if (l?.readOnly && !n) o.loader.stateless = 'yes';
    if (n?.storage) {
      const st = n.storage;
      if (st.driver === 'file') o.nvram = { value: st.filename };
      else if (st.driver === 'host_device') o.nvram = { type: 'block', source: { dev: st.filename } };
      else if (st.driver === 'nbd') {
        const server = st.server ?? {};
        o.nvram = {
          type: 'network',
          source: {
            protocol: 'nbd',
            ...(st.export ? { name: st.export } : {}),
            host: [
              server.type === 'unix'
                ? { transport: 'unix', socket: server.path }
                : { name: server.host, port: server.port },
            ],
          },
        };
      }
    }
  }
  delete def.pflash0;
  delete def.pflash1;
  delete def.pflashSecure;
  if (def.smbiosSysinfo) {
    o.smbios = { mode: 'sysinfo' };
    def.sysinfo = [def.smbiosSysinfo];
  }
  if (def.fwcfg) def.sysinfo = [...(def.sysinfo ?? []), def.fwcfg];
  delete def.smbiosSysinfo;
  delete def.fwcfg;
  if (def.pciHole64) {
    const c = (s.devices.controller ?? []).find(
      (x: Obj) => x.type === 'pci' && x.model === def.pciHole64.model && (x.index ?? 0) === 0,
    );
    if (c) c.pcihole64 = { unit: 'KiB', value: def.pciHole64.size };
    else
      (s.devices.controller ??= []).push({
        type: 'pci',
        index: 0,
        model: def.pciHole64.model,
        pcihole64: { unit: 'KiB', value: def.pciHole64.size },
      });
    delete def.pciHole64;
  }
  if (def.topology) {
    def.cpu = { ...def.cpu, topology: def.topology };
    delete def.topology;
  }
  // `<iothreads>N</iothreads>` alone numbers them 1..N; ids are kept only when they say more.
  const ids: Obj[] = def.iothreadids?.iothread ?? [];
  if (ids.every((t, i) => t.id === i + 1 && Object.keys(t).length === 1)) delete def.iothreadids;
  const out: Obj = {};
  for (const k of [
    'type',
    'name',
    'uuid',
    'maxMemory',
    'memory',
    'currentMemory',
    'memoryBacking',
    'vcpu',
    'iothreads',
    'iothreadids',
    'defaultiothread',
    'sysinfo',
  ])
    if (def[k] !== undefined) out[k] = def[k];
  out.os = o;
  if (Object.keys(f).length) out.features = f;
  for (const [k, v] of Object.entries(def)) if (!(k in out) && k !== 'features' && k !== 'os') out[k] = v;
  for (const k of Object.keys(def)) delete def[k];
  Object.assign(def, out);
}

/**
 * Boot order: libvirt turns `<os><boot dev=…>` into bootindexes on the first disk, CD-ROM, floppy
 * and NIC. When the bootindexes on the line are exactly such an assignment they are read back as
 * `<os><boot>`; otherwise each device keeps its `<boot order>`.
 */
function bootOrder(s: ModernState, o: Obj): void {
  const list = [...s.bootIndexes].sort((a, b) => a.index - b.index);
  if (list.length === 0) {
    if (o.kernel) return;
    // No bootindex at all: the boot device named a kind the domain lacks (libvirt's default `hd`
    // would have put one on the first disk).
    const absent = ['hd', 'network', 'cdrom', 'fd'].find((k) => !firstOfKind(s, k));
    o.boot = [{ dev: absent ?? 'hd' }];
    return;
  }
  const kinds = new Set<string>();
  let asOs = list.every(
    (b, i) => b.index === i + 1 && b.kind !== 'other' && !kinds.has(b.kind) && kinds.add(b.kind),
  );
  if (asOs) {
    // Each must be the first device of its kind.
    for (const b of list) {
      const first = firstOfKind(s, b.kind);
      if (first !== b.dev) asOs = false;
    }
  }
  if (asOs) {
    o.boot = list.map((b) => ({ dev: b.kind }));
  } else {
    for (const b of list) b.dev.boot = { order: b.index };
  }
}

function firstOfKind(s: ModernState, kind: string): Obj | undefined {
  if (kind === 'network') return s.devices.interface?.[0];
  const want = kind === 'hd' ? 'disk' : kind === 'cdrom' ? 'cdrom' : 'floppy';
  return (s.devices.disk ?? []).find((d: Obj) => (d.device ?? 'disk') === want);
}
