/**
 * The connection for one qvirsh command, for the URI it names (`-c`, then `LIBVIRT_DEFAULT_URI`,
 * then session/system by uid): `qemu:///embed?root=…` opens the driver in-process (as libvirt's
 * embed driver); every other URI talks to qvirtd over libvirt's remote protocol (@qvirt/remote's
 * RemoteClient), which starts a session daemon on demand. The connection is closed after the
 * command; guests keep running.
 */
import { defaultUri, parseConnectionUri, VirError } from '@qvirt/core';
import type {
  BlockStats,
  DomainInfo,
  DomainSummary,
  InterfaceStats,
  MemoryStat,
  QemuDriver,
} from '@qvirt/driver';
import type { Io, Session } from './command.js';

/** What commands use of a connection: QemuDriver's operations, all async. */
export interface Connection {
  /** True when the driver runs in this process (embed). */
  readonly local: boolean;
  listDomains(): Promise<DomainSummary[]>;
  find(key: string): Promise<DomainSummary | undefined>;
  defineXML(xml: string): Promise<DomainSummary>;
  createXML(xml: string, options?: { paused?: boolean }): Promise<DomainSummary>;
  undefine(name: string): Promise<void>;
  setAutostart(name: string, autostart: boolean): Promise<void>;
  start(name: string, options?: { paused?: boolean }): Promise<DomainSummary>;
  shutdown(name: string): Promise<unknown>;
  destroy(name: string): Promise<void>;
  reboot(name: string): Promise<void>;
  suspend(name: string): Promise<void>;
  resume(name: string): Promise<void>;
  getXMLDesc(name: string, options?: { inactive?: boolean; secure?: boolean }): Promise<string>;
  getInfo(name: string): Promise<DomainInfo>;
  interfaceStats(name: string, device: string): Promise<InterfaceStats>;
  /** A disk's counters by target or source path, "" for all disks (virDomainBlockStatsFlags). */
  blockStats(name: string, disk: string): Promise<BlockStats>;
  memoryStats(name: string): Promise<MemoryStat[]>;
  /** The host capabilities XML (remote only; in-process commands probe themselves). */
  getCapabilities?(): Promise<string>;
}

function localConnection(d: QemuDriver): Connection {
  return {
    local: true,
    listDomains: async () => d.listDomains(),
    find: async (key) => d.find(key),
    defineXML: (xml) => d.defineXML(xml),
    createXML: (xml, o) => d.createXML(xml, o),
    undefine: (n) => d.undefine(n),
    setAutostart: (n, a) => d.setAutostart(n, a),
    start: (n, o) => d.start(n, o),
    shutdown: (n) => d.shutdown(n),
    destroy: (n) => d.destroy(n),
    reboot: (n) => d.reboot(n),
    suspend: (n) => d.suspend(n),
    resume: (n) => d.resume(n),
    getXMLDesc: async (n, o) => d.getXMLDesc(n, o),
    getInfo: async (n) => d.getInfo(n),
    interfaceStats: async (n, dev) => d.interfaceStats(n, dev),
    blockStats: (n, disk) => d.blockStats(n, disk),
    memoryStats: (n) => d.memoryStats(n),
  };
}

/** Whether a URI runs the driver in-process (embed) rather than through qvirtd. */
export function isInProcess(session: Session): boolean {
  const text = session.uri ?? defaultUri({ uid: process.getuid?.() ?? 0, env: session.env });
  return parseConnectionUri(text).instance === 'embed';
}

export async function withDriver<T>(session: Session, fn: (conn: Connection) => Promise<T>): Promise<T> {
  const uri = session.uri ?? defaultUri({ uid: process.getuid?.() ?? 0, env: session.env });
  if (isInProcess(session)) {
    // Loaded here, not at the top, so commands that need no driver start faster.
    const { QemuDriver: Driver } = await import('@qvirt/driver');
    const driver = await Driver.open(uri, { env: session.env });
    try {
      return await fn(localConnection(driver));
    } finally {
      await driver.close();
    }
  }
  const { openRemote } = await import('@qvirt/remote');
  // virsh's first line when the connection cannot be made, then libvirt's reason. openRemote
  // knows every transport (unix, tcp with SASL, tls, ssh).
  const client = await reporting(session.io, 'failed to connect to the hypervisor', () =>
    openRemote(uri, { env: session.env }),
  );
  try {
    return await fn(Object.assign(client as unknown as Connection, { local: false }));
  } finally {
    await client.close();
  }
}

/** virsh's domain lookup (id, uuid, then name) with its error. */
export async function lookupDomain(conn: Connection, key: string): Promise<DomainSummary> {
  const dom = await conn.find(key);
  if (!dom) throw new VirError('NO_DOMAIN', 'none', `failed to get domain '${key}'`);
  return dom;
}

/** virsh prints a blank line after every command's output (vshCommandRun). */
export function print(io: Io, text: string): void {
  io.out(`${text}\n`);
}

/**
 * virsh reports a failed operation in two lines: what failed, then libvirt's error.
 * The first goes out here; the second is the thrown error, which qvirsh's main prints.
 */
export async function reporting<T>(io: Io, what: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    io.err(`error: ${what}\n`);
    throw err;
  }
}

export const DOMAIN_OPT = {
  name: 'domain',
  type: 'data' as const,
  required: true,
  help: 'domain name, id or uuid',
};
