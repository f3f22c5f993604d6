/**
 * The APIs answered by the guest agent (qemu_driver.c's agent paths over qemu_agent.c's
 * commands): time, host name, interfaces, file systems, freeze/thaw/trim, passwords, SSH keys,
 * guest vCPUs, guest info and arbitrary agent commands. Each takes the agent the driver found
 * available (agent-channel.ts) and the running definition, and answers with libvirt's shapes
 * and texts.
 */
import { readFile } from 'node:fs/promises';
import { type DomainDef, virReportError } from '@qvirt/core';
import {
  type DomainFSInfo,
  type DomainInterface,
  type TypedParam,
  VIR_TYPED_PARAM,
} from '@qvirt/core/hypervisor';
import { AgentUnsupported, type GuestAgent, parseAgentJSON } from './guest-agent.js';

/** VIR_IP_ADDR_TYPE_* */
export const VIR_IP_ADDR_TYPE = { IPV4: 0, IPV6: 1 } as const;
/** VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_* */
export const VIR_DOMAIN_INTERFACE_ADDRESSES_SRC = { LEASE: 0, AGENT: 1, ARP: 2 } as const;
/** VIR_DOMAIN_GUEST_INFO_* */
export const VIR_DOMAIN_GUEST_INFO = {
  USERS: 1,
  OS: 2,
  TIMEZONE: 4,
  HOSTNAME: 8,
  FILESYSTEM: 16,
  DISKS: 32,
  INTERFACES: 64,
} as const;
const GUEST_INFO_SUPPORTED = 127;
/** QEMU_GUEST_VCPU_MAX_ID */
const QEMU_GUEST_VCPU_MAX_ID = 4096;

export type { DomainFSInfo, DomainInterface };

const internal = (info: string) => virReportError('INTERNAL_ERROR', 'qemu', info);
const malformed = () => internal('malformed return value');
const P = VIR_TYPED_PARAM;
const str = (field: string, value: string): TypedParam => ({ field, type: P.STRING, value });
const uint = (field: string, value: number): TypedParam => ({ field, type: P.UINT, value });

/** qemuAgentGetTime: the guest's clock, split as virDomainGetTime gives it. */
export async function getTime(agent: GuestAgent): Promise<{ seconds: number; nseconds: number }> {
  const ns = await agent.call<unknown>('guest-get-time');
  if (typeof ns !== 'number') throw malformed();
  const big = BigInt(Math.round(ns));
  return { seconds: Number(big / 1_000_000_000n), nseconds: Number(big % 1_000_000_000n) };
}

/** qemuAgentSetTime: the given time, or (`rtcSync`) the guest reads its RTC. */
export async function setTime(
  agent: GuestAgent,
  seconds: number,
  nseconds: number,
  rtcSync: boolean,
): Promise<void> {
  if (rtcSync) {
    await agent.call('guest-set-time');
    return;
  }
  const max = 9223372036854775807n / 1_000_000_000n;
  if (BigInt(seconds) > max)
    throw virReportError('INVALID_ARG', 'qemu', `Time '${seconds}' is too big for guest agent`);
  // the agent takes nanoseconds; JSON numbers past 2^53 are written exactly from a bigint
  const time = BigInt(seconds) * 1_000_000_000n + BigInt(nseconds);
  await agent.command({ execute: 'guest-set-time', arguments: { time: Number(time) } }, agent.timeout, {
    raw: `{"execute":"guest-set-time","arguments":{"time":${time}}}`,
  });
}

/** qemuAgentGetHostname (undefined: the agent lacks the command and it was not to be reported). */
export async function getHostname(agent: GuestAgent, reportUnsupported = true): Promise<string | undefined> {
  const reply = await optional(agent, 'guest-get-host-name', reportUnsupported);
  if (reply === undefined) return undefined;
  const name = (reply as { 'host-name'?: unknown } | null)?.['host-name'];
  if (reply === null || typeof reply !== 'object') throw malformed();
  if (typeof name !== 'string') throw internal("'host-name' missing in guest-get-host-name reply");
  return name;
}

/** A command whose absence from the agent is not an error when `reportUnsupported` is false. */
async function optional(
  agent: GuestAgent,
  execute: string,
  reportUnsupported: boolean,
): Promise<unknown | undefined> {
  try {
    const reply = await agent.command({ execute }, agent.timeout, { reportUnsupported });
    return reply?.return;
  } catch (err) {
    if (err instanceof AgentUnsupported) return undefined;
    throw err;
  }
}

/** qemuAgentGetInterfaces: the guest's interfaces, aliases (`eth0:1`) folded into their device. */
export async function agentInterfaces(
  agent: GuestAgent,
  reportUnsupported = true,
): Promise<DomainInterface[] | undefined> {
  const list = await optional(agent, 'guest-network-get-interfaces', reportUnsupported);
  if (list === undefined) return undefined;
  if (!Array.isArray(list)) throw internal("qemu agent didn't return an array of interfaces");
  const out: DomainInterface[] = [];
  const byName = new Map<string, DomainInterface>();
  for (const obj of list as Array<Record<string, unknown>>) {
    const name = obj.name;
    if (typeof name !== 'string') throw internal("qemu agent didn't provide 'name' field");
    const ifname = name.split(':')[0]!;
    let iface = byName.get(ifname);
    if (!iface) {
      const hw = obj['hardware-address'];
      iface = { name: ifname, hwaddr: typeof hw === 'string' ? hw : null, addrs: [] };
      byName.set(ifname, iface);
      out.push(iface);
    }
    const addrs = obj['ip-addresses'];
    if (addrs === undefined) continue;
    if (!Array.isArray(addrs)) throw internal('Malformed ip-addresses array');
    for (const a of addrs as Array<Record<string, unknown>>) {
      const type = a['ip-address-type'];
      if (typeof type !== 'string')
        throw internal(`qemu agent didn't provide 'ip-address-type' field for interface '${name}'`);
      if (type !== 'ipv4' && type !== 'ipv6') throw internal(`unknown ip address type '${type}'`);
      const addr = a['ip-address'];
      if (typeof addr !== 'string')
        throw internal(`qemu agent didn't provide 'ip-address' field for interface '${name}'`);
      const prefix = a.prefix;
      if (typeof prefix !== 'number' || prefix < 0) throw internal("malformed 'prefix' field");
      iface.addrs.push({
        type: type === 'ipv4' ? VIR_IP_ADDR_TYPE.IPV4 : VIR_IP_ADDR_TYPE.IPV6,
        addr,
        prefix,
      });
    }
  }
  return out;
}

interface NetDef {
  type?: string;
  mac?: { address?: string };
  target?: { dev?: string };
  source?: { network?: string };
}
const netsOf = (def: DomainDef): NetDef[] =>
  ((def.devices as { interface?: NetDef[] } | undefined)?.interface ?? []) as NetDef[];

/**
 * virDomainNetARPInterfaces: the host's neighbour table (/proc/net/arp) entries whose MAC is one
 * of the domain's NICs.
 */
export async function arpInterfaces(def: DomainDef, arpTable = '/proc/net/arp'): Promise<DomainInterface[]> {
  const text = await readFile(arpTable, 'utf8').catch(() => '');
  const entries = text
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 6)
    .map((f) => ({ ip: f[0]!, mac: f[3]!.toLowerCase() }));
  const out: DomainInterface[] = [];
  for (const net of netsOf(def)) {
    const mac = net.mac?.address?.toLowerCase();
    if (!mac) continue;
    for (const e of entries) {
      if (e.mac !== mac) continue;
      out.push({
        name: net.target?.dev ?? '',
        hwaddr: mac,
        addrs: [{ type: VIR_IP_ADDR_TYPE.IPV4, addr: e.ip, prefix: 0 }],
      });
    }
  }
  return out;
}

/**
 * virDomainNetDHCPInterfaces: DHCP leases of the libvirt networks the NICs use. Only NICs of
 * type 'network' are asked about; qvirt has no network driver, so such a NIC's network is not
 * found, as libvirt answers for a network it does not know.
 */
export function leaseInterfaces(def: DomainDef): DomainInterface[] {
  for (const net of netsOf(def)) {
    if (net.type !== 'network') continue;
    throw virReportError(
      'NO_NETWORK',
      'network',
      `no network with matching name '${net.source?.network ?? ''}'`,
    );
  }
  return [];
}

interface AgentDiskAddress {
  pci: { domain: number; bus: number; slot: number; function: number };
  bus: number;
  target: number;
  unit: number;
  serial?: string;
  dev?: string;
}

interface AgentFSInfo {
  mountpoint: string;
  name: string;
  fstype: string;
  totalBytes?: number;
  usedBytes?: number;
  disks: AgentDiskAddress[];
}

/** qemuAgentGetDiskAddress. */
function diskAddress(json: Record<string, unknown>): AgentDiskAddress {
  const num = (o: Record<string, unknown>, name: string): number => {
    const v = o[name];
    if (typeof v !== 'number' || v < 0) throw internal(`'${name}' missing`);
    return v;
  };
  const bus = num(json, 'bus');
  const target = num(json, 'target');
  const unit = num(json, 'unit');
  const pci = json['pci-controller'] as Record<string, unknown> | undefined;
  if (!pci) throw internal("'pci-controller' missing");
  return {
    pci: {
      domain: num(pci, 'domain'),
      bus: num(pci, 'bus'),
      slot: num(pci, 'slot'),
      function: num(pci, 'function'),
    },
    bus,
    target,
    unit,
    ...(typeof json.serial === 'string' ? { serial: json.serial } : {}),
    ...(typeof json.dev === 'string' ? { dev: json.dev } : {}),
  };
}

/** qemuAgentGetFSInfo: the guest's file systems in mount order. */
async function agentFSInfo(
  agent: GuestAgent,
  reportUnsupported: boolean,
): Promise<AgentFSInfo[] | undefined> {
  const data = await optional(agent, 'guest-get-fsinfo', reportUnsupported);
  if (data === undefined) return undefined;
  if (data === null) throw internal('guest-get-fsinfo reply was missing return data');
  if (!Array.isArray(data)) throw internal('Malformed guest-get-fsinfo data array');
  // the agent lists them last mounted first
  return [...(data as Array<Record<string, unknown>>)].reverse().map((e) => {
    if (typeof e.mountpoint !== 'string') throw internal("'mountpoint' missing in reply of guest-get-fsinfo");
    if (typeof e.name !== 'string') throw internal("'name' missing in reply of guest-get-fsinfo");
    if (typeof e.type !== 'string') throw internal("'type' missing in reply of guest-get-fsinfo");
    const disk = e.disk;
    if (disk === undefined) throw internal("'disk' missing in reply of guest-get-fsinfo");
    if (!Array.isArray(disk)) throw internal("Malformed guest-get-fsinfo 'disk' data array");
    return {
      mountpoint: e.mountpoint,
      name: e.name,
      fstype: e.type,
      ...(typeof e['total-bytes'] === 'number' ? { totalBytes: e['total-bytes'] } : {}),
      ...(typeof e['used-bytes'] === 'number' ? { usedBytes: e['used-bytes'] } : {}),
      disks: (disk as Array<Record<string, unknown>>).map(diskAddress),
    };
  });
}

/** virDomainDiskByAddress: the domain's disk on that PCI address (or drive address). */
function diskByAddress(def: DomainDef, a: AgentDiskAddress): string | undefined {
  type Addr = { type?: string; domain?: number; bus?: number; slot?: number; function?: number };
  type Disk = {
    target?: { dev?: string };
    address?: Addr & { controller?: number; target?: number; unit?: number };
  };
  const disks = ((def.devices as { disk?: Disk[] } | undefined)?.disk ?? []) as Disk[];
  for (const d of disks) {
    const addr = d.address;
    if (!addr) continue;
    const n = (v: unknown) => Number(v ?? 0);
    if (
      addr.type === 'pci' &&
      n(addr.domain) === a.pci.domain &&
      n(addr.bus) === a.pci.bus &&
      n(addr.slot) === a.pci.slot &&
      n(addr.function) === a.pci.function
    )
      return d.target?.dev;
    if (
      addr.type === 'drive' &&
      n(addr.bus) === a.bus &&
      n(addr.target) === a.target &&
      n(addr.unit) === a.unit
    )
      return d.target?.dev;
  }
  return undefined;
}

/** virDomainGetFSInfo through the agent, disks named by their target in the definition. */
export async function getFSInfo(agent: GuestAgent, def: DomainDef): Promise<DomainFSInfo[]> {
  const list = (await agentFSInfo(agent, true)) ?? [];
  return list.map((fs) => ({
    mountpoint: fs.mountpoint,
    name: fs.name,
    fstype: fs.fstype,
    dev_aliases: fs.disks.map((d) => diskByAddress(def, d)).filter((x): x is string => x !== undefined),
  }));
}

/** qemuAgentFSFreeze: the number of file systems frozen. */
export async function fsFreeze(agent: GuestAgent, mountpoints: string[]): Promise<number> {
  const n =
    mountpoints.length > 0
      ? await agent.call('guest-fsfreeze-freeze-list', { mountpoints })
      : await agent.call('guest-fsfreeze-freeze');
  if (typeof n !== 'number') throw malformed();
  return n;
}

/** qemuAgentFSThaw: the number of file systems thawed. */
export async function fsThaw(agent: GuestAgent): Promise<number> {
  const n = await agent.call('guest-fsfreeze-thaw');
  if (typeof n !== 'number') throw malformed();
  return n;
}

/** qemuAgentFSTrim. */
export async function fsTrim(agent: GuestAgent, minimum: number): Promise<void> {
  await agent.call('guest-fstrim', { minimum });
}

/** qemuAgentSetUserPassword: the password travels base64-encoded. */
export async function setUserPassword(
  agent: GuestAgent,
  user: string,
  password: string,
  crypted: boolean,
): Promise<void> {
  await agent.call('guest-set-user-password', {
    username: user,
    password: Buffer.from(password).toString('base64'),
    crypted,
  });
}

/** qemuAgentSSHGetAuthorizedKeys. */
export async function sshKeysGet(agent: GuestAgent, user: string): Promise<string[]> {
  const data = await agent.call<{ keys?: unknown } | null>('guest-ssh-get-authorized-keys', {
    username: user,
  });
  if (!data || !Array.isArray(data.keys)) throw malformed();
  return data.keys as string[];
}

/** VIR_DOMAIN_AUTHORIZED_SSH_KEYS_SET_* */
export const SSH_KEYS_SET = { APPEND: 1, REMOVE: 2 } as const;

/** qemuDomainAuthorizedSSHKeysSet's agent part: add (replace unless appending) or remove keys. */
export async function sshKeysSet(
  agent: GuestAgent,
  user: string,
  keys: string[],
  flags: number,
): Promise<void> {
  if (flags & SSH_KEYS_SET.REMOVE) {
    await agent.call('guest-ssh-remove-authorized-keys', { username: user, keys });
  } else {
    await agent.call('guest-ssh-add-authorized-keys', {
      username: user,
      keys,
      reset: (flags & SSH_KEYS_SET.APPEND) === 0,
    });
  }
}

interface AgentCpu {
  id: number;
  online: boolean;
  offlinable: boolean;
}

/** qemuAgentGetVCPUs. */
async function agentVcpus(agent: GuestAgent): Promise<AgentCpu[]> {
  const data = await agent.call<unknown>('guest-get-vcpus');
  if (!Array.isArray(data)) throw internal('guest-get-vcpus reply was missing return data');
  return (data as Array<Record<string, unknown>>).map((e) => {
    if (typeof e['logical-id'] !== 'number')
      throw internal("'logical-id' missing in reply of guest-get-vcpus");
    if (typeof e.online !== 'boolean') throw internal("'online' missing in reply of guest-get-vcpus");
    if (typeof e['can-offline'] !== 'boolean')
      throw internal("'can-offline' missing in reply of guest-get-vcpus");
    return { id: e['logical-id'], online: e.online, offlinable: e['can-offline'] };
  });
}

/** virBitmapFormat: ranges, `0-3,5`. */
export function formatBitmap(ids: number[]): string {
  const sorted = [...new Set(ids)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/** virBitmapParse: `0-3,^2,5` within [0, max). */
export function parseBitmap(text: string, max: number): Set<number> {
  const bad = () => virReportError('INVALID_ARG', 'qemu', `Failed to parse bitmap '${text}'`);
  const set = new Set<number>();
  for (const raw of text.split(',')) {
    const part = raw.trim();
    if (!part) throw bad();
    const neg = part.startsWith('^');
    const m = /^(\d+)(?:-(\d+))?$/.exec(neg ? part.slice(1) : part);
    if (!m) throw bad();
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a || b >= max || (neg && m[2] !== undefined)) throw bad();
    for (let i = a; i <= b; i++) {
      if (neg) set.delete(i);
      else set.add(i);
    }
  }
  return set;
}

/** qemuDomainGetGuestVcpusParams: vcpus, online, offlinable as bitmaps. */
export async function getGuestVcpus(agent: GuestAgent): Promise<TypedParam[]> {
  const cpus = await agentVcpus(agent);
  for (const c of cpus) {
    if (c.id >= QEMU_GUEST_VCPU_MAX_ID)
      throw internal(`vcpu id '${c.id}' reported by guest agent is out of range`);
  }
  return [
    str('vcpus', formatBitmap(cpus.map((c) => c.id))),
    str('online', formatBitmap(cpus.filter((c) => c.online).map((c) => c.id))),
    str('offlinable', formatBitmap(cpus.filter((c) => c.offlinable).map((c) => c.id))),
  ];
}

/** qemuDomainSetGuestVcpus' agent part (the map and state are checked by the caller). */
export async function setGuestVcpus(agent: GuestAgent, map: Set<number>, state: boolean): Promise<void> {
  const cpus = await agentVcpus(agent);
  const left = new Set(map);
  const changed: AgentCpu[] = [];
  for (const c of cpus) {
    if (!left.has(c.id)) continue;
    if (!state && !c.offlinable)
      throw virReportError('OPERATION_UNSUPPORTED', 'qemu', `vCPU '${c.id}' is not offlinable`);
    changed.push({ ...c, online: state });
    left.delete(c.id);
  }
  if (left.size > 0)
    throw virReportError('INVALID_ARG', 'qemu', `guest is missing vCPUs '${formatBitmap([...left])}'`);
  // qemuAgentSetVCPUs: only the changed ones are sent
  const args = changed.map((c) => ({ 'logical-id': c.id, online: c.online }));
  if (args.length === 0) return;
  const done = await agent.call<number>('guest-set-vcpus', { vcpus: args });
  if (typeof done !== 'number') throw internal('malformed return value');
  if (done !== args.length) {
    if (done <= 0) throw internal('guest agent reports less cpu than requested');
  }
}

/** The vCPUs the guest reports, online ones or (`all`) every one (VIR_DOMAIN_VCPU_GUEST). */
export async function guestVcpuCount(agent: GuestAgent, all: boolean): Promise<number> {
  const cpus = await agentVcpus(agent);
  return all ? cpus.length : cpus.filter((c) => c.online).length;
}

/** qemuDomainGetGuestInfoCheckSupport. */
export function guestInfoTypes(types: number): number {
  if (types === 0) return GUEST_INFO_SUPPORTED;
  const supported = types & GUEST_INFO_SUPPORTED;
  if (types !== supported)
    throw virReportError(
      'INVALID_ARG',
      'qemu',
      `unsupported guest information types '0x${(types & ~GUEST_INFO_SUPPORTED).toString(16)}'`,
    );
  return supported;
}

/**
 * qemuDomainGetGuestInfo's agent part: each type asked for, as typed parameters in libvirt's
 * order; with `types` 0 (all), types the agent lacks are left out instead of failing.
 */
export async function getGuestInfo(agent: GuestAgent, def: DomainDef, types: number): Promise<TypedParam[]> {
  const want = guestInfoTypes(types);
  const report = types !== 0;
  const G = VIR_DOMAIN_GUEST_INFO;
  const out: TypedParam[] = [];
  if (want & G.USERS) {
    const users = await optional(agent, 'guest-get-users', report);
    if (users !== undefined) {
      if (!Array.isArray(users)) throw internal('guest-get-users reply was missing return data');
      out.push(uint('user.count', users.length));
      (users as Array<Record<string, unknown>>).forEach((u, i) => {
        if (typeof u.user !== 'string') throw internal("'user' missing in reply of guest-get-users");
        out.push(str(`user.${i}.name`, u.user));
        if (typeof u.domain === 'string') out.push(str(`user.${i}.domain`, u.domain));
        if (typeof u['login-time'] !== 'number')
          throw internal("'login-time' missing in reply of guest-get-users");
        out.push({
          field: `user.${i}.login-time`,
          type: P.ULLONG,
          value: Math.trunc(u['login-time'] * 1000),
        });
      });
    }
  }
  if (want & G.OS) {
    const os = await optional(agent, 'guest-get-osinfo', report);
    if (os !== undefined) {
      if (!os || typeof os !== 'object') throw internal('guest-get-osinfo reply was missing return data');
      const o = os as Record<string, unknown>;
      for (const k of [
        'id',
        'name',
        'pretty-name',
        'version',
        'version-id',
        'machine',
        'variant',
        'variant-id',
        'kernel-release',
        'kernel-version',
      ]) {
        if (typeof o[k] === 'string') out.push(str(`os.${k}`, o[k] as string));
      }
    }
  }
  if (want & G.TIMEZONE) {
    const tz = await optional(agent, 'guest-get-timezone', report);
    if (tz !== undefined) {
      if (!tz || typeof tz !== 'object') throw internal('guest-get-timezone reply was missing return data');
      const t = tz as Record<string, unknown>;
      if (typeof t.zone === 'string') out.push(str('timezone.name', t.zone));
      if (typeof t.offset !== 'number') throw internal("'offset' missing in reply of guest-get-timezone");
      out.push({ field: 'timezone.offset', type: P.INT, value: t.offset });
    }
  }
  if (want & G.HOSTNAME) {
    const name = await getHostname(agent, report);
    if (name !== undefined) out.push(str('hostname', name));
  }
  const fs = want & G.FILESYSTEM ? await agentFSInfo(agent, report) : undefined;
  const disks = want & G.DISKS ? await agentDisks(agent, report) : undefined;
  const ifaces = want & G.INTERFACES ? await agentInterfaces(agent, report) : undefined;
  if (fs && fs.length > 0) out.push(...fsParams(fs, def));
  if (disks && disks.length > 0) out.push(...diskParams(disks, def));
  if (ifaces && ifaces.length > 0) out.push(...interfaceParams(ifaces));
  return out;
}

/** qemuAgentFSInfoFormatParams. */
function fsParams(list: AgentFSInfo[], def: DomainDef): TypedParam[] {
  const out: TypedParam[] = [uint('fs.count', list.length)];
  list.forEach((fs, i) => {
    out.push(
      str(`fs.${i}.name`, fs.name),
      str(`fs.${i}.mountpoint`, fs.mountpoint),
      str(`fs.${i}.fstype`, fs.fstype),
    );
    if (fs.totalBytes !== undefined)
      out.push({ field: `fs.${i}.total-bytes`, type: P.ULLONG, value: fs.totalBytes });
    if (fs.usedBytes !== undefined)
      out.push({ field: `fs.${i}.used-bytes`, type: P.ULLONG, value: fs.usedBytes });
    out.push(uint(`fs.${i}.disk.count`, fs.disks.length));
    fs.disks.forEach((d, j) => {
      const alias = diskByAddress(def, d);
      if (alias) out.push(str(`fs.${i}.disk.${j}.alias`, alias));
      if (d.serial) out.push(str(`fs.${i}.disk.${j}.serial`, d.serial));
      if (d.dev) out.push(str(`fs.${i}.disk.${j}.device`, d.dev));
    });
  });
  return out;
}

interface AgentDisk {
  name: string;
  partition: boolean;
  dependencies?: string[];
  address?: AgentDiskAddress;
  alias?: string;
}

/** qemuAgentGetDisks. */
async function agentDisks(agent: GuestAgent, reportUnsupported: boolean): Promise<AgentDisk[] | undefined> {
  const data = await optional(agent, 'guest-get-disks', reportUnsupported);
  if (data === undefined) return undefined;
  if (!Array.isArray(data)) throw internal('guest-get-disks reply was missing return data');
  return (data as Array<Record<string, unknown>>).map((e) => {
    if (typeof e.name !== 'string') throw internal("'name' missing in reply of guest-get-disks");
    if (typeof e.partition !== 'boolean') throw internal("'partition' missing in reply of guest-get-disks");
    return {
      name: e.name,
      partition: e.partition,
      ...(Array.isArray(e.dependencies) ? { dependencies: e.dependencies as string[] } : {}),
      ...(e.address && typeof e.address === 'object'
        ? { address: diskAddress(e.address as Record<string, unknown>) }
        : {}),
      ...(typeof e.alias === 'string' ? { alias: e.alias } : {}),
    };
  });
}

/** qemuAgentDiskInfoFormatParams. */
function diskParams(list: AgentDisk[], def: DomainDef): TypedParam[] {
  const out: TypedParam[] = [uint('disk.count', list.length)];
  list.forEach((d, i) => {
    out.push(str(`disk.${i}.name`, d.name), {
      field: `disk.${i}.partition`,
      type: P.BOOLEAN,
      value: d.partition,
    });
    if (d.dependencies) {
      if (d.dependencies.length) out.push(uint(`disk.${i}.dependency.count`, d.dependencies.length));
      d.dependencies.forEach((dep, j) => {
        out.push(str(`disk.${i}.dependency.${j}.name`, dep));
      });
    }
    if (d.address) {
      if (d.address.serial) out.push(str(`disk.${i}.serial`, d.address.serial));
      const alias = diskByAddress(def, d.address);
      if (alias) out.push(str(`disk.${i}.alias`, alias));
    }
    if (d.alias) out.push(str(`disk.${i}.guest_alias`, d.alias));
  });
  return out;
}

/** virDomainInterfaceFormatParams. */
function interfaceParams(list: DomainInterface[]): TypedParam[] {
  const out: TypedParam[] = [uint('if.count', list.length)];
  list.forEach((iface, i) => {
    out.push(str(`if.${i}.name`, iface.name));
    if (iface.hwaddr !== null) out.push(str(`if.${i}.hwaddr`, iface.hwaddr));
    out.push(uint(`if.${i}.addr.count`, iface.addrs.length));
    iface.addrs.forEach((a, j) => {
      out.push(
        str(`if.${i}.addr.${j}.type`, a.type === VIR_IP_ADDR_TYPE.IPV4 ? 'ipv4' : 'ipv6'),
        str(`if.${i}.addr.${j}.addr`, a.addr),
        uint(`if.${i}.addr.${j}.prefix`, a.prefix),
      );
    });
  });
  return out;
}

/** qemuAgentArbitraryCommand: the reply, as JSON text. */
export async function arbitraryCommand(agent: GuestAgent, cmd: string, timeout: number): Promise<string> {
  if (timeout < -2)
    throw virReportError(
      'INVALID_ARG',
      'qemu',
      `guest agent timeout '${timeout}' is less than the minimum '-2'`,
    );
  const parsed = parseAgentJSON(cmd);
  const reply = await agent.command(parsed, timeout, { raw: JSON.stringify(parsed) });
  return JSON.stringify(reply);
}
