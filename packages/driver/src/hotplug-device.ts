/**
 * The one device of an attach/detach/update XML (virDomainDeviceDefParse), its kind, the defaults
 * libvirt's parser and post-parse give it, and finding it again in a definition for detach (the
 * virDomain*Find family, each kind with libvirt's own rule and refusal text).
 */
import { type DomainDef, parseDomainXML, VirError } from '@qvirt/core';

/** A device of any kind, as the domain model holds it. */
export type Dev = Record<string, any>;

/** The `<devices>` list a device kind lives in (libvirt's virDomainDeviceType names). */
export type Kind =
  | 'disk'
  | 'interface'
  | 'serial'
  | 'console'
  | 'channel'
  | 'controller'
  | 'input'
  | 'rng'
  | 'memory'
  | 'watchdog'
  | string;

/** virDomainDeviceTypeToString, for messages (`interface` is libvirt's `net`, chardevs `chr`). */
export function deviceTypeName(kind: Kind): string {
  if (kind === 'interface') return 'net';
  if (kind === 'serial' || kind === 'console' || kind === 'channel' || kind === 'parallel') return 'chr';
  return kind;
}

export const unsupported = (msg: string) =>
  new VirError('OPERATION_UNSUPPORTED', 'qemu', `Operation not supported: ${msg}`);
export const failed = (msg: string) => new VirError('OPERATION_FAILED', 'qemu', `operation failed: ${msg}`);
export const invalid = (msg: string) =>
  new VirError('OPERATION_INVALID', 'qemu', `Requested operation is not valid: ${msg}`);
export const missing = (msg: string) => new VirError('DEVICE_MISSING', 'qemu', `device not found: ${msg}`);
export const internal = (msg: string) => new VirError('INTERNAL_ERROR', 'qemu', `internal error: ${msg}`);
export const configUnsupported = (msg: string) =>
  new VirError('CONFIG_UNSUPPORTED', 'qemu', `unsupported configuration: ${msg}`);
export const invalidArg = (msg: string) => new VirError('INVALID_ARG', 'qemu', `invalid argument: ${msg}`);

/** virDomainDeviceDefParse: the one device of `xml` and the `<devices>` list it belongs to. */
export function parseDevice(xml: string): { kind: Kind; dev: Dev } {
  const wrapped = `<domain type='qemu'><name>device</name><memory>1</memory><os><type>hvm</type></os><devices>${xml}</devices></domain>`;
  const devices = parseDomainXML(wrapped).devices as Record<string, unknown> | undefined;
  const kinds = Object.entries(devices ?? {}).filter(([, v]) => (Array.isArray(v) ? v.length > 0 : v));
  if (kinds.length !== 1) {
    const name = /^\s*<([A-Za-z]+)/.exec(xml)?.[1] ?? 'unknown';
    throw configUnsupported(`unknown device type '${name}'`);
  }
  const [kind, value] = kinds[0]!;
  const dev = (Array.isArray(value) ? value[0] : value) as Dev;
  return { kind, dev };
}

const MARK = 'ua-qvirt-hotplug-mark';

/**
 * The defaults a device gets when libvirt parses it against the domain (MAC addresses, models,
 * drive addresses, chardev targets): the device is canonicalised inside a copy of `base` with
 * nothing else, then taken back out. Addresses the post-parse invented are dropped unless the
 * user gave one or they are drive addresses (which libvirt assigns at parse); the hotplug code
 * assigns the others as libvirt's hotplug does.
 */
export function withDefaults(
  kind: Kind,
  dev: Dev,
  base: DomainDef,
  canonicalize: (def: DomainDef) => DomainDef,
): Dev {
  const given = structuredClone(dev);
  const userAlias = given.alias?.name;
  given.alias = { name: MARK };
  const mini = {
    type: base.type,
    name: base.name,
    uuid: base.uuid,
    memory: base.memory,
    maxMemory: base.maxMemory,
    vcpu: base.vcpu,
    cpu: base.cpu,
    os: { type: base.os?.type },
    features: base.features,
    devices: { emulator: base.devices?.emulator, [kind]: [given] },
  } as unknown as DomainDef;
  const canon = canonicalize(mini) as unknown as { devices?: Record<string, Dev[] | Dev> };
  const list = canon.devices?.[kind];
  const out = (Array.isArray(list) ? list : [list]).find((d) => d?.alias?.name === MARK);
  if (!out) return structuredClone(dev);
  if (userAlias) out.alias = { name: userAlias };
  else delete out.alias;
  if (!dev.address && out.address?.type !== 'drive') delete out.address;
  return out;
}

const aliasOf = (d: Dev | undefined): string | undefined => d?.alias?.name;

function normMac(mac: string | undefined): string | undefined {
  return mac?.toLowerCase();
}

function pciAddrString(a: Dev): string {
  const hex = (v: unknown, w: number) =>
    Number(v ?? 0)
      .toString(16)
      .padStart(w, '0');
  return `${hex(a.domain, 4)}:${hex(a.bus, 2)}:${hex(a.slot, 2)}.${hex(a.function, 1)}`;
}

function sameAddress(a: Dev | undefined, b: Dev | undefined): boolean {
  if (!a?.type) return true;
  if (!b || a.type !== b.type) return false;
  return ['domain', 'bus', 'slot', 'function', 'controller', 'target', 'unit', 'port'].every(
    (k) => a[k] === undefined || Number(a[k]) === Number(b[k]),
  );
}

/** virDomainNetFindIdx: by MAC, PCI address and alias, with libvirt's three refusals. */
export function findNet(def: DomainDef, match: Dev): number {
  const list = (def.devices?.interface ?? []) as Dev[];
  const mac = normMac(match.mac?.address);
  const pci = match.address?.type === 'pci' ? match.address : undefined;
  const alias = aliasOf(match);
  const hits = list
    .map((n, i) => ({ n, i }))
    .filter(
      ({ n }) =>
        (!mac || normMac(n.mac?.address) === mac) &&
        (!pci || sameAddress(pci, n.address)) &&
        (!alias || aliasOf(n) === alias),
    );
  if (hits.length > 1) {
    throw mac
      ? failed(`multiple devices matching MAC address ${mac} found`)
      : failed('multiple matching devices found');
  }
  if (hits.length === 1) return hits[0]!.i;
  throw missing(
    `no device found at address '${pci ? pciAddrString(pci) : '(<null>)'}' matching MAC address '${mac ?? '(<null>)'}' and alias '${alias ?? '(<null>)'}'`,
  );
}

/** The chardev target type of a serial/console/channel, as its defaults make it. */
function chrTargetType(kind: Kind, d: Dev): string | undefined {
  return d.target?.type ?? (kind === 'serial' ? 'isa-serial' : undefined);
}

/** virDomainChrSourceDefIsEqual: same type and the same path (a unix socket's mode too). */
function sameChrSource(a: Dev, b: Dev): boolean {
  if ((a.type ?? 'pty') !== (b.type ?? 'pty')) return false;
  const sa = (a.source?.[0] ?? {}) as Dev;
  const sb = (b.source?.[0] ?? {}) as Dev;
  switch (a.type ?? 'pty') {
    case 'file':
      return (sa.append ?? 'off') === (sb.append ?? 'off') && sa.path === sb.path;
    case 'pty':
    case 'dev':
    case 'pipe':
      return sa.path === sb.path;
    case 'unix':
      return (sa.mode ?? 'connect') === (sb.mode ?? 'connect') && sa.path === sb.path;
    case 'tcp':
    case 'udp':
      return JSON.stringify(a.source ?? []) === JSON.stringify(b.source ?? []);
    default:
      return true;
  }
}

/**
 * virDomainChrEquals over one list (qemuDomainChrRemove / virDomainChrFind): the source as
 * virDomainChrSourceDefIsEqual compares it (a pty's path included: detach takes the live XML's
 * element, as with libvirt), then the channel's name or the port.
 */
export function findChr(def: DomainDef, kind: Kind, match: Dev): number {
  const list = ((def.devices as Record<string, Dev[]> | undefined)?.[kind] ?? []) as Dev[];
  return list.findIndex((d) => {
    if (!sameChrSource(d, match)) return false;
    if (kind === 'channel') {
      return d.target?.type === match.target?.type && d.target?.name === match.target?.name;
    }
    if (kind === 'serial' && chrTargetType(kind, d) !== chrTargetType(kind, match)) return false;
    return match.target?.port === undefined || Number(d.target?.port ?? 0) === Number(match.target.port);
  });
}

/** virDomainInputDefFind: type, bus, source and alias. */
export function findInput(def: DomainDef, match: Dev): number {
  return ((def.devices?.input ?? []) as Dev[]).findIndex(
    (d) =>
      d.type === match.type &&
      (d.bus ?? 'ps2') === (match.bus ?? 'ps2') &&
      (!match.source || JSON.stringify(d.source) === JSON.stringify(match.source)) &&
      (!aliasOf(match) || aliasOf(d) === aliasOf(match)),
  );
}

/** virDomainRNGFind: model, backend, source, address and alias. */
export function findRng(def: DomainDef, match: Dev): number {
  return ((def.devices?.rng ?? []) as Dev[]).findIndex(
    (d) =>
      d.model === match.model &&
      (d.backend?.model ?? 'random') === (match.backend?.model ?? 'random') &&
      (match.backend?.value === undefined || d.backend?.value === match.backend.value) &&
      sameAddress(match.address, d.address) &&
      (!aliasOf(match) || aliasOf(d) === aliasOf(match)),
  );
}

/** virDomainMemoryFindByDef: model, size, target node and alias. */
export function findMemory(def: DomainDef, match: Dev): number {
  return ((def.devices?.memory ?? []) as Dev[]).findIndex(
    (d) =>
      d.model === match.model &&
      sizeKiB(d.target?.size) === sizeKiB(match.target?.size) &&
      (match.target?.node === undefined || Number(d.target?.node) === Number(match.target.node)) &&
      sameAddress(match.address, d.address) &&
      (!aliasOf(match) || aliasOf(d) === aliasOf(match)),
  );
}

/** virDomainControllerFind: type and index. */
export function findController(def: DomainDef, match: Dev): number {
  return ((def.devices?.controller ?? []) as Dev[]).findIndex(
    (d) => d.type === match.type && Number(d.index ?? 0) === Number(match.index ?? 0),
  );
}

/** The list of `kind` in `def` (created when absent, for inserting). */
export function listOf(def: DomainDef, kind: Kind): Dev[] {
  const devices = (def.devices ??= {}) as Record<string, unknown>;
  const v = devices[kind];
  if (Array.isArray(v)) return v as Dev[];
  const list = v ? [v as Dev] : [];
  devices[kind] = list;
  return list;
}

/** A `<size>`/`<memory>` value in KiB (its unit applied). */
export function sizeKiB(v: Dev | number | undefined): number {
  if (v === undefined) return 0;
  if (typeof v === 'number') return v;
  const n = Number(v.value ?? 0);
  const unit = String(v.unit ?? 'KiB').toLowerCase();
  const scale: Record<string, number> = {
    b: 1 / 1024,
    bytes: 1 / 1024,
    k: 1,
    kib: 1,
    kb: 1000 / 1024,
    m: 1024,
    mib: 1024,
    mb: 1e6 / 1024,
    g: 1024 ** 2,
    gib: 1024 ** 2,
    gb: 1e9 / 1024,
  };
  return Math.round(n * (scale[unit] ?? 1));
}
