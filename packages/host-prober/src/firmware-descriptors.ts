/**
 * The host's QEMU firmware descriptors (QEMU's docs/interop/firmware.json) as libvirt 9.0 finds and
 * reads them (qemuInteropFetchConfigs, qemuFirmwareParse): `/usr/share/qemu/firmware`, then
 * `/etc/qemu/firmware`, then for a session instance `$XDG_CONFIG_HOME/qemu/firmware` (default
 * `~/.config`); a file name in a later directory overrides the same name in an earlier one, an
 * empty file hides it; the result is sorted by file name. A descriptor libvirt cannot read fails
 * the whole read (libvirt then fails the start), with libvirt's message naming the file.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { VirError, virReportError, virReportSystemError } from '@qvirt/core';
import {
  FIRMWARE_FEATURES,
  type FirmwareDescriptor,
  type FirmwareFeature,
  type FirmwareFlashFile,
  type FirmwareInterface,
  type FirmwareMapping,
  type FirmwareTarget,
} from '@qvirt/qemu-argv';
import { ARCHES } from './discover.js';

export interface FirmwareSearchOptions {
  /** The system instance (true) reads no per-user directory. */
  privileged: boolean;
  /** For `XDG_CONFIG_HOME`; default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** The user's home (when `XDG_CONFIG_HOME` is unset); default `$HOME`. */
  home?: string;
  /** Replaces libvirt's `QEMU_DATADIR`/`SYSCONFDIR` folders (tests): `[data, conf]`. */
  dirs?: [string, string];
}

const internal = (msg: string): VirError => virReportError('INTERNAL_ERROR', 'qemu', msg);

/** The folders searched, lowest priority first (qemuInteropFetchConfigs). */
export function firmwareSearchDirs(options: FirmwareSearchOptions): string[] {
  const [data, conf] = options.dirs ?? ['/usr/share/qemu', '/etc/qemu'];
  const out = [join(data, 'firmware'), join(conf, 'firmware')];
  if (!options.privileged) {
    const env = options.env ?? process.env;
    const xdg = env.XDG_CONFIG_HOME || `${options.home ?? env.HOME ?? ''}/.config`;
    out.push(`${xdg}/qemu/firmware`);
  }
  return out;
}

/** The descriptor files libvirt would read, in its order (empty files drop out). */
export function firmwareDescriptorPaths(options: FirmwareSearchOptions): string[] {
  const byName = new Map<string, string>();
  for (const dir of firmwareSearchDirs(options)) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch (err) {
      if (
        (err as NodeJS.ErrnoException).code === 'ENOENT' ||
        (err as NodeJS.ErrnoException).code === 'ENOTDIR'
      )
        continue;
      throw new VirError('SYSTEM_ERROR', 'qemu', `cannot open directory '${dir}': ${(err as Error).message}`);
    }
    for (const name of names) {
      if (name.startsWith('.')) continue;
      const p = `${dir}/${name}`;
      let st: ReturnType<typeof statSync>;
      try {
        st = statSync(p);
      } catch (err) {
        throw new VirError('SYSTEM_ERROR', 'qemu', `Unable to access ${p}: ${(err as Error).message}`);
      }
      if (!st.isFile()) continue;
      byName.set(name, p);
    }
  }
  // virHashGetItems(…, sortKeys=true): strcmp order of the file names
  const names = [...byName.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return names.map((n) => byName.get(n)!).filter((p) => statSync(p).size > 0);
}

/** Reads and parses every descriptor (qemuFirmwareFetchParsedConfigs). */
export function readFirmwareDescriptors(options: FirmwareSearchOptions): FirmwareDescriptor[] {
  return firmwareDescriptorPaths(options).map((p) => {
    let text: string;
    try {
      text = readFileSync(p, 'utf8');
    } catch (err) {
      throw new VirError('SYSTEM_ERROR', 'qemu', `Failed to open file '${p}': ${(err as Error).message}`);
    }
    return parseFirmwareDescriptor(text, p);
  });
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);
const str = (o: Json, key: string): string | undefined => (typeof o[key] === 'string' ? o[key] : undefined);

/** libvirt's arch for a QEMU arch name (virQEMUCapsArchFromString), undefined when unknown. */
function archFromQemu(name: string): string | undefined {
  if (name === 'i386') return 'i686';
  if (name === 'arm') return 'armv7l';
  if (name === 'or32') return 'or32';
  return ARCHES.some(([a]) => a === name) ? name : undefined;
}

/**
 * qemuFirmwareParse: one descriptor's text. Messages are libvirt's; the few of libvirt's that do
 * not name the file get it appended, so the bad file can be found.
 */
export function parseFirmwareDescriptor(text: string, path: string): FirmwareDescriptor {
  // 1 MiB, as libvirt's DOCUMENT_SIZE
  if (Buffer.byteLength(text) > 1024 * 1024)
    throw virReportSystemError('E2BIG', 'qemu', `Failed to read file '${path}'`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw internal(`unable to parse json file '${path}'`);
  }
  if (!isObject(doc)) throw internal(`failed to get interface-types from '${path}'`);

  // qemuFirmwareInterfaceParse
  const ifaces = doc['interface-types'];
  if (!Array.isArray(ifaces)) throw internal(`failed to get interface-types from '${path}'`);
  const interfaces = ifaces.map((v) => {
    if (v !== 'bios' && v !== 'openfirmware' && v !== 'uboot' && v !== 'uefi')
      throw internal(`unknown interface type: '${typeof v === 'string' ? v : ''}' in '${path}'`);
    return v as FirmwareInterface;
  });

  // qemuFirmwareMappingParse
  const mapping = doc.mapping;
  if (!isObject(mapping)) throw internal(`missing mapping in '${path}'`);
  const device = str(mapping, 'device');
  if (device === undefined) throw internal(`missing device type in '${path}'`);
  let parsedMapping: FirmwareMapping;
  const flashFile = (v: unknown): FirmwareFlashFile => {
    const o = isObject(v) ? v : {};
    const filename = str(o, 'filename');
    if (filename === undefined) throw internal(`missing 'filename' in '${path}'`);
    const format = str(o, 'format');
    if (format === undefined) throw internal(`missing 'format' in '${path}'`);
    return { filename, format };
  };
  switch (device) {
    case 'flash': {
      let mode: 'split' | 'combined' | 'stateless' = 'split'; // the historical default
      if ('mode' in mapping) {
        const m = mapping.mode;
        if (typeof m !== 'string') throw internal(`Firmware flash mode value was malformed in '${path}'`);
        if (m !== 'split' && m !== 'combined' && m !== 'stateless')
          throw internal(`Firmware flash mode value '${m}' unexpected in '${path}'`);
        mode = m;
      }
      if (!('executable' in mapping)) throw internal(`missing 'executable' in '${path}'`);
      const executable = flashFile(mapping.executable);
      if (mode === 'split') {
        if (!('nvram-template' in mapping)) throw internal(`missing 'nvram-template' in '${path}'`);
        parsedMapping = { device, mode, executable, nvramTemplate: flashFile(mapping['nvram-template']) };
      } else {
        parsedMapping = { device, mode, executable };
      }
      break;
    }
    case 'kernel':
    case 'memory': {
      const filename = str(mapping, 'filename');
      if (filename === undefined) throw internal(`missing 'filename' in '${path}'`);
      parsedMapping = { device, filename };
      break;
    }
    default:
      throw internal(`unknown device type in '${path}'`);
  }

  // qemuFirmwareTargetParse
  const targetsJson = doc.targets;
  if (!Array.isArray(targetsJson)) throw internal(`failed to get targets from '${path}'`);
  const targets: FirmwareTarget[] = targetsJson.map((t) => {
    const o = isObject(t) ? t : {};
    const archName = str(o, 'architecture');
    if (archName === undefined) throw internal(`missing 'architecture' in '${path}'`);
    const architecture = archFromQemu(archName);
    if (architecture === undefined) throw internal(`unknown architecture '${archName}' in '${path}'`);
    const machines = o.machines;
    if (!Array.isArray(machines)) throw internal(`missing 'machines' in '${path}'`);
    return { architecture, machines: machines.filter((m): m is string => typeof m === 'string') };
  });

  // qemuFirmwareFeatureParse: unknown features are ignored
  const featuresJson = doc.features;
  if (!Array.isArray(featuresJson)) throw internal(`failed to get features from '${path}'`);
  const features = featuresJson.filter((f): f is FirmwareFeature =>
    (FIRMWARE_FEATURES as readonly unknown[]).includes(f),
  );

  return { path, interfaces, mapping: parsedMapping, targets, features };
}
