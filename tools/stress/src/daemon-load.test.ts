/**
 * Load through qvirtd: one daemon on an embed root, 5 RemoteClients connected at once over its
 * read-write Unix socket, each defining and starting its share of 50 tiny TCG guests
 * concurrently. Every guest greets on its serial log; the clients destroy them all, the daemon
 * stops, and nothing is left (QEMU processes, cgroups, BPF programs, xattrs, owners, sockets —
 * the daemon's own included — status files, private directories).
 *
 * QVIRT_DAEMON_GUESTS and QVIRT_DAEMON_CLIENTS change the counts (default 50 and 5).
 */
import { lstatSync } from 'node:fs';
import path from 'node:path';
import { domainReasonNumber, VIR_CONNECT_LIST_DOMAINS, VIR_DOMAIN_STATE } from '@qvirt/core/hypervisor';
import { type Daemon, defaultDaemonConfig, RemoteClient, startDaemon } from '@qvirt/remote';
import { afterEach, describe, expect, it } from 'vitest';
import {
  guestXml,
  hasQemu,
  isRoot,
  leaks,
  makeInstance,
  removeInstance,
  serialText,
  snapshotHost,
  uriOf,
  waitFor,
} from './host-state.js';

const GUESTS = Number(process.env.QVIRT_DAEMON_GUESTS ?? 50);
const CLIENTS = Number(process.env.QVIRT_DAEMON_CLIENTS ?? 5);
const roots: string[] = [];
const daemons: Daemon[] = [];
const clients: RemoteClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) await c.connectClose().catch(() => {});
  for (const d of daemons.splice(0)) {
    for (const dom of d.driver.listDomains())
      if (dom.state !== 'shutoff') await d.driver.destroy(dom.name).catch(() => {});
    await d.close();
  }
  for (const r of roots.splice(0)) removeInstance(r);
});

describe.skipIf(!hasQemu)(`${GUESTS} guests through qvirtd from ${CLIENTS} clients at once`, () => {
  it('every guest greets, and destroying them all leaves nothing', async () => {
    const before = snapshotHost();
    const root = makeInstance('libvirt');
    roots.push(root);
    const daemon = await startDaemon({
      uri: uriOf(root),
      // inside the root, so that the leak scan also proves the daemon removed its sockets
      socketDir: path.join(root, 'sock'),
      config: defaultDaemonConfig(),
    });
    daemons.push(daemon);
    const uri = `qemu+unix:///system?socket=${daemon.sockets.rw}`;
    const conns = await Promise.all(
      Array.from({ length: CLIENTS }, () => RemoteClient.open(uri, { keepalive: false })),
    );
    clients.push(...conns);

    const names = Array.from({ length: GUESTS }, (_, i) => `dload${String(i).padStart(2, '0')}`);
    const share = (c: number) => names.filter((_, i) => i % CLIENTS === c);
    const owners: Record<string, string> = {};
    for (const n of names) {
      guestXml(root, n);
      const st = lstatSync(path.join(root, `${n}.img`));
      owners[path.join(root, `${n}.img`)] = `${st.uid}:${st.gid}`;
    }

    const t0 = Date.now();
    // each client defines and starts its share, all clients and all their calls at once
    const results = await Promise.allSettled(
      conns.flatMap((c, ci) =>
        share(ci).map(async (n) => {
          return c.domainCreateWithFlags(await c.domainDefineXML(guestXml(root, n)), 0);
        }),
      ),
    );
    const failed = results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []));
    expect(failed).toEqual([]);
    const startMs = Date.now() - t0;

    // every client sees every guest running
    for (const c of conns) {
      const running = await c.connectListAllDomains(VIR_CONNECT_LIST_DOMAINS.RUNNING);
      expect(running.map((d) => d.name).sort()).toEqual(names);
    }
    expect(new Set(names.map((n) => daemon.driver.getProcess(n)!.pid)).size).toBe(GUESTS);
    await waitFor(
      () => names.every((n) => serialText(root, n).includes(`Hello from ${n}!`)),
      90_000,
      'every greeting',
    );
    const greetMs = Date.now() - t0;
    if (isRoot) expect(lstatSync(path.join(root, `${names[0]}.img`)).uid).toBe(65534);

    // destroyed by other clients than the ones that started them
    await Promise.all(
      conns.flatMap((c, ci) =>
        share((ci + 1) % CLIENTS).map(async (n) => c.domainDestroy(await c.domainLookupByName(n))),
      ),
    );
    for (const n of names)
      expect(await conns[0]!.domainGetState(await conns[0]!.domainLookupByName(n), 0)).toEqual({
        state: VIR_DOMAIN_STATE.shutoff,
        reason: domainReasonNumber('shutoff', 'destroyed'),
      });
    expect(daemon.driver.warnings).toEqual([]);

    for (const c of clients.splice(0)) await c.connectClose();
    await daemons.splice(0)[0]!.close();
    expect(await leaks(root, before, owners, names)).toEqual([]);
    console.log(
      `qvirtd: ${GUESTS} guests from ${CLIENTS} clients started in ${startMs} ms, all greeted after ${greetMs} ms`,
    );
  });
});
