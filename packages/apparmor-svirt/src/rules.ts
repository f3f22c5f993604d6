/**
 * The rules of a domain's `libvirt-<uuid>.files`: virt-aa-helper's get_files() plus the base
 * rules its main() puts first, over the typed `DomainDef` of `@qvirt/core`. The CLI and the
 * in-process driver both call `generateRules`, so a profile is the same whichever made it.
 */
import type { DomainDef } from '@qvirt/core';
import { type HelperMessage, type PathFs, RuleBuffer } from './path-policy.js';
import { probeBackingChain } from './qcow2.js';

/** What rule generation reads from the host beyond the path policy. */
export interface RulesFs extends PathFs {
  /** Directory entries in directory order (libvirt uses readdir); throws when absent. */
  readdir(path: string): Promise<string[]>;
  readText(path: string): Promise<string>;
  /** The first `length` bytes of a file (image headers); undefined when unreadable. */
  readHead?(path: string, length: number): Promise<Uint8Array | undefined>;
}

export interface RulesOptions {
  /** The profile name the caller asked for (`-u`): it must match the definition's uuid. */
  profileName: string;
  /** `-f`/`-F FILE`: one more `rwk` file. */
  newFile?: string;
  /** `-F`: only `newFile` is returned (appended to the existing rules by the caller). */
  append?: boolean;
  /** LOCALSTATEDIR and RUNSTATEDIR of libvirt (`/var`, `/run`). */
  localStateDir?: string;
  runStateDir?: string;
}

export interface RulesResult {
  ok: boolean;
  /** Where it failed: the definition (`invalid VM definition`) or the appended file. */
  failedAt?: 'definition' | 'append';
  /** The rules, one `  "PATH" PERMS,` line each (empty when not ok). */
  rules: string;
  messages: HelperMessage[];
}

export const AA_PREFIX = 'libvirt-';

type Devices = NonNullable<DomainDef['devices']>;
/** The parts of a serial/console/parallel/channel the rules read. */
interface Chardev {
  type?: string;
  source?: Array<{ path?: string }>;
  target?: { type?: string };
}

const CHARDEV_FILE_TYPES = new Set(['pty', 'dev', 'file', 'unix', 'pipe']);
const QEMU_VIRT_TYPES = new Set(['qemu', 'kqemu', 'kvm']);
const VIRTIO_MODELS = new Set(['virtio', 'virtio-transitional', 'virtio-non-transitional']);

function chardevPath(chr: Chardev): string | undefined {
  for (const s of chr.source ?? []) if (s.path !== undefined) return s.path;
  return undefined;
}

/**
 * libvirt's console back-compat (virDomainDefAddConsoleCompat): in an HVM guest the first
 * console with a serial (or no) target is an alias of the first serial port, so its file is
 * that port's; the alias itself opens nothing.
 */
function chardevsAfterCompat(def: DomainDef): { serials: Chardev[]; consoles: Chardev[] } {
  const serials = [...((def.devices?.serial ?? []) as Chardev[])];
  const consoles = [...((def.devices?.console ?? []) as Chardev[])];
  const first = consoles[0];
  const targetType = first?.target?.type;
  const hvm = def.os?.type?.value === 'hvm';
  const stub: Chardev = {};
  if (first && hvm && (targetType === 'serial' || targetType === undefined)) {
    if (serials.length === 0) {
      serials.push(first);
      consoles[0] = stub;
    } else if (!sameSource(serials[0]!, first)) {
      consoles[0] = stub;
    }
  }
  return { serials, consoles };
}

function sameSource(a: Chardev, b: Chardev): boolean {
  return (
    (a.type ?? 'pty') === (b.type ?? 'pty') &&
    JSON.stringify(a.source ?? []) === JSON.stringify(b.source ?? [])
  );
}

/** `%.*s` on a UTF-8 string: at most `bytes` bytes. */
function truncateBytes(text: string, bytes: number): string {
  const buf = Buffer.from(text, 'utf8');
  return buf.length <= bytes ? text : buf.subarray(0, bytes).toString('utf8');
}

/** The base rules of a qemu/kvm domain (logs, monitor, pid, migration tunnel). */
export function baseRules(def: DomainDef, localStateDir = '/var', runStateDir = '/run'): string {
  if (!QEMU_VIRT_TYPES.has(def.type)) return '';
  const id = def.id ?? -1;
  const name = def.name;
  return (
    `  "${localStateDir}/log/libvirt/**/${name}.log" w,\n` +
    `  "${localStateDir}/lib/libvirt/qemu/domain-${name}/monitor.sock" rw,\n` +
    `  "${localStateDir}/lib/libvirt/qemu/domain-${id}-${truncateBytes(name, 20)}/*" rw,\n` +
    `  "${runStateDir}/libvirt/**/${name}.pid" rwk,\n` +
    `  "${runStateDir}/libvirt/**/*.tunnelmigrate.dest.${name}" rw,\n`
  );
}

/** Local layers of a disk, top first: the XML's chain, else what the image headers say. */
async function diskLayers(
  disk: NonNullable<Devices['disk']>[number],
  fs: RulesFs,
): Promise<Array<{ path: string; readonly: boolean }>> {
  const out: Array<{ path: string; readonly: boolean }> = [];
  const local = (t: string | undefined) => t === 'file' || t === 'block' || t === 'dir';
  const pathOf = (t: string | undefined, s: { file?: string; dev?: string; dir?: string } | undefined) => {
    const p = t === 'block' ? s?.dev : t === 'dir' ? s?.dir : s?.file;
    return p === '' ? undefined : p;
  };
  const type = disk.type ?? 'file';
  const top = pathOf(type, disk.source);
  if (local(type) && top === undefined) return out; // empty media
  if (local(type) && top !== undefined) out.push({ path: top, readonly: disk.readonly === true });
  if (disk.backingStore !== undefined) {
    let b: typeof disk.backingStore | undefined = disk.backingStore;
    for (; b?.type !== undefined; b = b.backingStore as typeof b) {
      const p = pathOf(b.type, b.source);
      if (local(b.type) && p !== undefined) out.push({ path: p, readonly: true });
    }
  } else if (type === 'file' && top !== undefined && fs.readHead) {
    for (const p of await probeBackingChain(top, disk.driver?.type, fs))
      out.push({ path: p, readonly: true });
  }
  return out;
}

async function hostdevRules(
  buf: RulesFs,
  rules: RuleBuffer,
  def: DomainDef,
): Promise<{ ok: boolean; vfio: boolean }> {
  let vfio = false;
  for (const dev of def.devices?.hostdev ?? []) {
    const h = dev as {
      mode?: string;
      type?: string;
      model?: string;
      driver?: { name?: string };
      source?: {
        vendor?: { id?: number };
        product?: { id?: number };
        address?: { bus?: number; device?: number; domain?: number; slot?: number; function?: number };
      };
    };
    if ((h.mode ?? 'subsystem') !== 'subsystem') continue;
    if (h.type === 'usb') {
      const dir = await findUsbDevice(buf, h.source ?? {});
      if (dir === undefined) continue;
      if (!(await rules.addFile(dir, 'rw'))) return { ok: false, vfio };
    } else if (h.type === 'mdev') {
      if (['vfio-pci', 'vfio-ap', 'vfio-ccw'].includes(h.model ?? '')) vfio = true;
    } else if (h.type === 'pci') {
      const backend = h.driver?.name;
      if (backend === undefined || backend === 'vfio' || backend === 'default') vfio = true;
      const a = h.source?.address ?? {};
      const hex = (n: number | undefined, w: number) => (n ?? 0).toString(16).padStart(w, '0');
      const dir = `/sys/bus/pci/devices/${hex(a.domain, 4)}:${hex(a.bus, 2)}:${hex(a.slot, 2)}.${hex(a.function, 1)}`;
      let entries: string[];
      try {
        entries = await buf.readdir(dir);
      } catch {
        continue; // libvirt ignores a PCI device it cannot list
      }
      for (const e of entries) {
        if (e === 'config' || e.startsWith('resource') || ['rom', 'vendor', 'device', 'reset'].includes(e)) {
          if (!(await rules.addFile(`${dir}/${e}`, 'rw'))) break;
        }
      }
    }
  }
  return { ok: true, vfio };
}

/** virHostdevFindUSBDevice: the /dev/bus/usb node of a device named by bus/device or vendor/product. */
async function findUsbDevice(
  fs: RulesFs,
  src: { vendor?: { id?: number }; product?: { id?: number }; address?: { bus?: number; device?: number } },
): Promise<string | undefined> {
  const root = '/sys/bus/usb/devices';
  let entries: string[];
  try {
    entries = await fs.readdir(root);
  } catch {
    return undefined;
  }
  const num = async (dir: string, file: string, radix: number) => {
    try {
      return Number.parseInt((await fs.readText(`${root}/${dir}/${file}`)).trim(), radix);
    } catch {
      return undefined;
    }
  };
  for (const e of entries) {
    if (e.includes(':')) continue; // interfaces
    if (src.vendor?.id !== undefined) {
      if ((await num(e, 'idVendor', 16)) !== src.vendor.id) continue;
      if (src.product?.id !== undefined && (await num(e, 'idProduct', 16)) !== src.product.id) continue;
    }
    const bus = await num(e, 'busnum', 10);
    const devno = await num(e, 'devnum', 10);
    if (bus === undefined || devno === undefined) continue;
    if (src.address?.bus !== undefined && src.address.bus !== bus) continue;
    if (src.address?.device !== undefined && src.address.device !== devno) continue;
    return `/dev/bus/usb/${String(bus).padStart(3, '0')}/${String(devno).padStart(3, '0')}`;
  }
  return undefined;
}

/** virHostGetDRMRenderNode: the first /dev/dri/renderD* node. */
async function defaultRenderNode(fs: RulesFs): Promise<string | undefined> {
  try {
    const e = (await fs.readdir('/dev/dri')).find((n) => n.startsWith('renderD'));
    return e === undefined ? undefined : `/dev/dri/${e}`;
  } catch {
    return undefined;
  }
}

const GL_RULES = [
  '  # DRI/Mesa/(e)GL config and driver paths\n',
  '  "/usr/lib{,32,64}/dri/*.so*" mr,\n',
  '  "/usr/lib/@{multiarch}/dri/*.so*" mr,\n',
  '  "/usr/lib/fglrx/dri/*.so*" mr,\n',
  '  "/etc/drirc" r,\n',
  '  "/usr/share/drirc.d/{,*.conf}" r,\n',
  '  "/etc/glvnd/egl_vendor.d/{,*}" r,\n',
  '  "/usr/share/glvnd/egl_vendor.d/{,*}" r,\n',
  '  "/usr/share/egl/egl_external_platform.d/" r,\n',
  '  "/usr/share/egl/egl_external_platform.d/*" r,\n',
  '  "/proc/modules" r,\n',
  '  "/proc/driver/nvidia/params" r,\n',
  '  "/dev/nvidiactl" rw,\n',
  '  # Probe DRI device attributes\n',
  '  "/dev/dri/" r,\n',
  '  "/sys/devices/**/{uevent,vendor,device,subsystem_vendor,subsystem_device,config,revision}" r,\n',
  '  # dri libs will trigger that, but t is not requited and DAC would deny it anyway\n',
  '  deny "/var/lib/libvirt/.cache/" w,\n',
].join('');

/** get_files(): every file of the definition, in virt-aa-helper's order. */
export async function domainFileRules(
  def: DomainDef,
  options: RulesOptions,
  fs: RulesFs,
): Promise<RulesResult> {
  const buf = new RuleBuffer(fs);
  const fail = (): RulesResult => ({ ok: false, failedAt: 'definition', rules: '', messages: buf.messages });
  const localState = options.localStateDir ?? '/var';
  const runState = options.runStateDir ?? '/run';
  if (`${AA_PREFIX}${def.uuid ?? ''}` !== options.profileName) {
    buf.messages.push({ level: 'error', text: 'given uuid does not match XML uuid' });
    return fail();
  }
  const devices: Devices = def.devices ?? {};

  for (const disk of devices.disk ?? []) {
    const layers = await diskLayers(disk, fs);
    for (let i = 0; i < layers.length; i++) {
      const l = layers[i]!;
      if (!(await buf.addFile(l.path, i === 0 && !l.readonly ? 'rwk' : 'rk'))) return fail();
    }
  }

  const { serials, consoles } = chardevsAfterCompat(def);
  const chardevOk = (c: Chardev) => CHARDEV_FILE_TYPES.has(c.type ?? '') && (chardevPath(c) ?? '') !== '';
  for (const c of serials)
    if (chardevOk(c) && !(await buf.addChardevFile(chardevPath(c), 'rw', c.type))) return fail();
  for (const c of consoles) if (chardevOk(c) && !(await buf.addFile(chardevPath(c), 'rw'))) return fail();
  for (const c of (devices.parallel ?? []) as Chardev[])
    if (chardevOk(c) && !(await buf.addChardevFile(chardevPath(c), 'rw', c.type))) return fail();
  for (const c of (devices.channel ?? []) as Chardev[])
    if (chardevOk(c) && !(await buf.addChardevFile(chardevPath(c), 'rw', c.type))) return fail();

  const os = def.os ?? {};
  for (const f of [os.kernel, os.initrd, os.dtb]) if (f && !(await buf.addFile(f, 'r'))) return fail();
  const slic = os.acpi?.table?.find((t) => t.type === 'slic')?.value;
  if (slic && !(await buf.addFile(slic, 'r'))) return fail();
  const loader = os.loader as { value?: string } | undefined;
  if (loader?.value && !(await buf.addFile(loader.value, 'rk'))) return fail();
  const nvram = os.nvram as
    | { value?: string; type?: string; source?: { file?: string; dev?: string } }
    | undefined;
  const nvramPath = nvram?.value || nvram?.source?.file || nvram?.source?.dev;
  if (nvramPath && !(await buf.addFile(nvramPath, 'rwk'))) return fail();

  let needsGl = false;
  const graphics = devices.graphics ?? [];
  for (const g of graphics) {
    const gr = g as {
      type?: string;
      gl?: { enable?: string; rendernode?: string };
      listens?: Array<{ type?: string; socket?: string }>;
      listen?: string;
      socket?: string;
    };
    const renderCapable = gr.type === 'spice' || gr.type === 'egl-headless' || gr.type === 'dbus';
    const rendernode = renderCapable ? gr.gl?.rendernode : undefined;
    if (rendernode) {
      await buf.addFile(rendernode, 'rw');
      needsGl = true;
    } else if (renderCapable && (gr.type === 'egl-headless' || gr.gl?.enable === 'yes')) {
      needsGl = true;
      const node = await defaultRenderNode(fs);
      if (node) await buf.addFile(node, 'rw');
    }
    const listens = [...(gr.listens ?? [])];
    // <graphics type='vnc' socket=…> is the first listen when it is not already a socket.
    if (gr.type === 'vnc' && gr.socket !== undefined) {
      if (listens.length === 0) listens.push({ type: 'socket', socket: gr.socket });
      else if (
        listens[0]!.type === 'address' ||
        listens[0]!.type === 'network' ||
        listens[0]!.type === undefined
      )
        listens[0] = { type: 'socket', socket: gr.socket };
    }
    for (const l of listens) {
      if (l.type === 'socket' && l.socket && !(await buf.addFile(l.socket, 'rw'))) return fail();
    }
  }
  if (graphics.length === 1 && (graphics[0] as { type?: string }).type === 'sdl') {
    if (!(await buf.addFile((graphics[0] as { xauth?: string }).xauth, 'r'))) return fail();
  }

  const hd = await hostdevRules(fs, buf, def);
  if (!hd.ok) return fail();

  for (const fsd of devices.filesystem ?? []) {
    const f = fsd as {
      type?: string;
      driver?: { type?: string };
      source?: { dir?: string };
      readonly?: boolean;
    };
    const driver = f.driver?.type;
    if (
      (f.type ?? 'mount') === 'mount' &&
      (driver === undefined || driver === 'path' || driver === 'default') &&
      f.source
    ) {
      if (!(await buf.addPath(f.source.dir, f.readonly ? 'R' : 'rwl', true))) return fail();
    }
  }

  for (const input of devices.input ?? []) {
    const i = input as { type?: string; source?: { evdev?: string; dev?: string } };
    if (i.type === 'passthrough' || i.type === 'evdev') {
      if (!(await buf.addFile(i.source?.evdev ?? i.source?.dev, 'rw'))) return fail();
    }
  }

  for (const net of devices.interface ?? []) {
    const n = net as { type?: string; source?: { type?: string; path?: string } };
    if (n.type === 'vhostuser' && n.source) {
      if (!(await buf.addChardevFile(n.source.path, 'rw', n.source.type ?? 'unix'))) return fail();
    }
  }

  for (const mem of devices.memory ?? []) {
    const m = mem as { model?: string; source?: { path?: string } };
    if (m.model === 'nvdimm' && !(await buf.addFile(m.source?.path, 'rw'))) return fail();
  }

  for (const si of def.sysinfo ?? []) {
    for (const e of (si as { entry?: Array<{ file?: string }> }).entry ?? []) {
      if ((si as { type?: string }).type === 'fwcfg' && e.file && !(await buf.addFile(e.file, 'r')))
        return fail();
    }
  }

  for (const shmem of devices.shmem ?? []) {
    const s = shmem as { name?: string; model?: { type?: string }; server?: { path?: string } };
    if (s.server?.path) {
      if (!(await buf.addFile(s.server.path, 'rw'))) return fail();
      continue;
    }
    const model = s.model?.type ?? 'ivshmem-plain';
    const memPath =
      model === 'ivshmem-plain'
        ? `/dev/shm/${s.name}`
        : model === 'ivshmem' || model === 'ivshmem-doorbell'
          ? `${localState}/lib/libvirt/shmem-${s.name}-sock`
          : undefined;
    if (memPath && !(await buf.addFile(memPath, 'rw'))) return fail();
  }

  for (const tpm of devices.tpm ?? []) {
    const t = tpm as { backend?: { type?: string; version?: string } };
    if (t.backend?.type !== 'emulator') continue;
    const shortName = `${def.id ?? -1}-${truncateBytes(def.name, 20)}`;
    const dir = t.backend.version === '1.2' ? 'tpm1.2' : t.backend.version === '2.0' ? 'tpm2' : '(null)';
    buf.raw(`  "${runState}/libvirt/qemu/swtpm/${shortName}-swtpm.sock" rw,\n`);
    buf.raw(`  "${localState}/lib/libvirt/swtpm/${def.uuid}/${dir}/" r,\n`);
    buf.raw(`  "${localState}/lib/libvirt/swtpm/${def.uuid}/${dir}/**" rwk,\n`);
    buf.raw(`  "${localState}/log/swtpm/libvirt/qemu/${def.name}-swtpm.log" w,\n`);
    buf.raw(`  "${runState}/libvirt/qemu/swtpm/${shortName}-swtpm.pid" rw,\n`);
  }

  for (const sc of devices.smartcard ?? []) {
    const s = sc as { mode?: string; database?: string };
    if (s.mode === 'host') buf.raw('  "/etc/pki/nssdb/{,*}" rk,\n');
    else if (s.mode === 'host-certificates') buf.raw(`  "${s.database ?? '/etc/pki/nssdb'}/{,*}" rk,\n`);
  }

  let needsVhost = false;
  if (def.type === 'kvm') {
    for (const net of devices.interface ?? []) {
      const n = net as { model?: { type?: string }; driver?: { name?: string } };
      if (n.model?.type !== undefined) {
        if (n.driver?.name === 'qemu') continue;
        if (!VIRTIO_MODELS.has(n.model.type)) continue;
      }
      needsVhost = true;
    }
  }
  if (needsVhost) buf.raw('  "/dev/vhost-net" rw,\n');
  if (hd.vfio) buf.raw('  "/dev/vfio/vfio" rw,\n  "/dev/vfio/[0-9]*" rw,\n');
  if (needsGl) buf.raw(GL_RULES);

  if (options.newFile !== undefined && !(await buf.addFile(options.newFile, 'rwk'))) return fail();
  return { ok: true, rules: buf.text, messages: buf.messages };
}

/**
 * What `virt-aa-helper -c|-r` writes to `.files` after the header: the base rules and the
 * domain's files, or (append) only the new file. `ok: false` means `invalid VM definition`.
 */
export async function generateRules(
  def: DomainDef,
  options: RulesOptions,
  fs: RulesFs,
): Promise<RulesResult> {
  const files = await domainFileRules(def, options, fs);
  if (!files.ok) return files;
  if (options.append && options.newFile !== undefined) {
    const extra = new RuleBuffer(fs);
    const ok = await extra.addFile(options.newFile, 'rwk');
    const messages = [...files.messages, ...extra.messages];
    return ok ? { ok, rules: extra.text, messages } : { ok, failedAt: 'append', rules: '', messages };
  }
  return {
    ok: true,
    rules: baseRules(def, options.localStateDir, options.runStateDir) + files.rules,
    messages: files.messages,
  };
}
