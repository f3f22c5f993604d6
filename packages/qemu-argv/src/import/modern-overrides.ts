/**
 * Properties of a `-device` that no importer read become `<qemu:override>` frontend properties of
 * the device's alias, so the exported line carries them again (libvirt's qemu namespace applies
 * them to the device's JSON) and nothing on the line is lost.
 *
 * The device's properties are watched while its importer runs: a property the importer looked at
 * is considered understood (it may be a default the model does not spell out); any other one is
 * kept. Keyword-syntax values are strings, so they come back as `type='string'`.
 */
import type { ModernState, Obj, Opt } from './modern-util.js';
import { propsOf } from './modern-util.js';

export interface Watch {
  read: Set<string>;
  props: Obj;
}

/** Starts watching which properties of `opt` are read. */
export function watchProps(opt: Opt): Watch {
  const read = new Set<string>();
  const target = propsOf(opt);
  opt.props = new Proxy(target, {
    get(obj, key, receiver) {
      if (typeof key === 'string') read.add(key);
      return Reflect.get(obj, key, receiver);
    },
    has(obj, key) {
      if (typeof key === 'string') read.add(key);
      return Reflect.has(obj, key);
    },
    getOwnPropertyDescriptor(obj, key) {
      if (typeof key === 'string') read.add(key);
      return Reflect.getOwnPropertyDescriptor(obj, key);
    },
  });
  return { read, props: target };
}

/**
 * Properties libvirt writes from other settings: understood when they hold the value libvirt
 * derives (a different value is a user's override and is kept).
 */
const DERIVED: Record<string, (p: Obj) => boolean> = {
  // Aliases are assigned again by post-parse; a user alias is read by the importers.
  id: () => true,
  // scsi-disk and friends: the disk's serial, else the device is named after its drive alias.
  device_id: (p) => p.device_id === (p.serial ?? `drive-${p.id}`),
  // USB3 controllers: libvirt gives the same port count to both port kinds.
  p3: (p) => p.p2 !== undefined && String(p.p3) === String(p.p2),
  // HDA codecs are numbered in order on their controller.
  cad: (p) => /^hda-/.test(String(p.driver)) && Number.isInteger(Number(p.cad)),
  // A file descriptor the driver opens at start.
  vhostfd: (p) => /^(-?\d+|@FD@)$/.test(String(p.vhostfd)),
};

function property(name: string, value: unknown): Obj | undefined {
  if (typeof value === 'string') return { name, type: 'string', value };
  if (typeof value === 'boolean') return { name, type: 'bool', value: String(value) };
  if (typeof value === 'number' && Number.isInteger(value))
    return { name, type: value < 0 ? 'signed' : 'unsigned', value: String(value) };
  return undefined;
}

/**
 * Ends the watch: properties nobody read are added to `<qemu:override>` for the device's id.
 * A property the override cannot express (an object, a fraction) or a device without an id
 * cannot be kept that way: the whole option is reported, naming the properties.
 */
export function keepUnreadProps(s: ModernState, opt: Opt, { read, props }: Watch): void {
  opt.props = props;
  const unread = Object.keys(props).filter((k) => !read.has(k) && !DERIVED[k]?.(props));
  if (unread.length === 0) return;
  const id = props.id;
  const kept: Obj[] = [];
  const lost: string[] = [];
  for (const k of unread) {
    const p = typeof id === 'string' ? property(k, props[k]) : undefined;
    if (p) kept.push(p);
    else lost.push(k);
  }
  if (kept.length) {
    const override = (s.def.qemuOverride ??= {});
    const devices: Obj[] = (override.device ??= []);
    let dev = devices.find((d) => d.alias === id);
    if (!dev) devices.push((dev = { alias: id, frontend: { property: [] } }));
    dev.frontend.property.push(...kept);
    s.warnings.push(
      `device '${id}': properties ${kept.map((p) => `'${p.name}'`).join(', ')} kept as <qemu:override>`,
    );
  }
  if (lost.length)
    s.warnings.push(
      `'${opt.name} ${opt.value}': properties ${lost.map((k) => `'${k}'`).join(', ')} not understood and not kept`,
    );
}
