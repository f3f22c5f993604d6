/**
 * The two ways every contract test runs: the QEMU driver in this process, and a RemoteClient
 * talking to a real qvirtd serving the same kind of instance. A behaviour that differs between
 * the two is a bug in the side that differs.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { type HypervisorDriver, VIR_CONNECT_LIST_DOMAINS } from '@qvirt/core/hypervisor';
import { QemuDriver } from '@qvirt/driver';
import { RemoteClient } from '../client/client.js';
import { defaultDaemonConfig } from '../daemon/config.js';
import { startDaemon } from '../daemon/daemon.js';
import { killMentioning, makeTestDir } from './harness.js';

/** One opened way: the connection, its test directory and embed root. */
export interface Way {
  conn: HypervisorDriver;
  dir: string;
  root: string;
  /** Destroys what still runs, closes the connection (and the daemon), kills strays, removes the directory. */
  close(): Promise<void>;
}

function wayOf(conn: HypervisorDriver, dir: string, root: string, closeConn: () => Promise<void>): Way {
  return {
    conn,
    dir,
    root,
    async close() {
      for (const d of await conn.connectListAllDomains(VIR_CONNECT_LIST_DOMAINS.ACTIVE).catch(() => []))
        await conn.domainDestroy(d).catch(() => {});
      await closeConn();
      killMentioning(dir);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The QEMU driver of a fresh embed instance, in this process. */
export async function inProcess(prefix: string): Promise<Way> {
  const { dir, root } = makeTestDir(`${prefix}local-`);
  const conn = await QemuDriver.open(`qemu:///embed?root=${root}`);
  return wayOf(conn, dir, root, () => conn.connectClose());
}

/** A RemoteClient on a real qvirtd serving a fresh embed instance. */
export async function throughQvirtd(prefix: string): Promise<Way> {
  const { dir, root } = makeTestDir(`${prefix}remote-`);
  const daemon = await startDaemon({
    uri: `qemu:///embed?root=${root}`,
    socketDir: path.join(dir, 'sock'),
    config: defaultDaemonConfig(),
  });
  const conn = await RemoteClient.open(`qemu+unix:///system?socket=${daemon.sockets.rw}`);
  return wayOf(conn, dir, root, async () => {
    await conn.connectClose();
    await daemon.close();
  });
}

/** `describe.each`'s table of both ways, with directories named after `prefix`. */
export function bothWays(prefix: string): Array<[string, () => Promise<Way>]> {
  return [
    ['in process', () => inProcess(prefix)],
    ['through qvirtd', () => throughQvirtd(prefix)],
  ];
}
