/**
 * Load through one driver: 50 tiny guests started at once, each reaches its greeting, all are
 * destroyed, and nothing is left (processes, cgroups, BPF programs, xattrs, owners, sockets,
 * status files, private directories). Once with the default stack in libvirt mode, once with
 * `security_driver = ["dac","capng","cgroup-devices"]`. And two concurrent defines of one name:
 * exactly one wins, the other gets libvirt's error.
 *
 * QVIRT_LOAD_GUESTS changes the count (default 50).
 */
import { lstatSync } from 'node:fs';
import path from 'node:path';
import { QemuDriver } from '@qvirt/driver';
import { afterEach, describe, expect, it } from 'vitest';
import {
  guestXml,
  hasQemu,
  isRoot,
  leaks,
  makeInstance,
  removeInstance,
  type StackName,
  serialText,
  snapshotHost,
  uriOf,
  waitFor,
} from './host-state.js';

const GUESTS = Number(process.env.QVIRT_LOAD_GUESTS ?? 50);
const roots: string[] = [];
const drivers: QemuDriver[] = [];

afterEach(async () => {
  for (const d of drivers.splice(0)) await d.close();
  for (const r of roots.splice(0)) removeInstance(r);
});

async function open(stack: StackName): Promise<{ root: string; driver: QemuDriver }> {
  const root = makeInstance(stack);
  roots.push(root);
  const driver = await QemuDriver.open(uriOf(root));
  drivers.push(driver);
  return { root, driver };
}

describe.skipIf(!hasQemu)(`${GUESTS} guests at once through one driver`, () => {
  for (const stack of ['libvirt', 'explicit'] as const) {
    it.skipIf(!isRoot && stack === 'explicit')(
      `${stack} stack: every guest greets, and destroying them all leaves nothing`,
      async () => {
        const before = snapshotHost();
        const { root, driver } = await open(stack);
        const expected =
          stack === 'libvirt' && isRoot ? ['none', 'dac', 'capng', 'cgroup-devices'] : undefined;
        if (expected) expect(driver.security.drivers.map((d) => d.name)).toEqual(expected);
        const names = Array.from({ length: GUESTS }, (_, i) => `load${String(i).padStart(2, '0')}`);
        const owners: Record<string, string> = {};
        for (const n of names) {
          await driver.defineXML(guestXml(root, n));
          const st = lstatSync(path.join(root, `${n}.img`));
          owners[path.join(root, `${n}.img`)] = `${st.uid}:${st.gid}`;
        }
        const t0 = Date.now();
        const started = await Promise.allSettled(names.map((n) => driver.start(n)));
        const failed = started.flatMap((r, i) =>
          r.status === 'rejected' ? [`${names[i]}: ${r.reason}`] : [],
        );
        expect(failed).toEqual([]);
        const running = driver.listDomains().filter((d) => d.state === 'running');
        expect(running).toHaveLength(GUESTS);
        // every guest is its own QEMU, and greets
        const pids = new Set(names.map((n) => driver.getProcess(n)!.pid));
        expect(pids.size).toBe(GUESTS);
        await waitFor(
          () => names.every((n) => serialText(root, n).includes(`Hello from ${n}!`)),
          90_000,
          'every greeting',
        );
        const bootMs = Date.now() - t0;
        if (isRoot) {
          const disk = path.join(root, `${names[0]}.img`);
          expect(lstatSync(disk).uid).toBe(65534); // labelled while running
        }
        await Promise.all(names.map((n) => driver.destroy(n)));
        expect(driver.listDomains().every((d) => d.state === 'shutoff' && d.reason === 'destroyed')).toBe(
          true,
        );
        expect(await leaks(root, before, owners, names)).toEqual([]);
        expect(driver.warnings).toEqual([]);
        console.log(`${stack}: ${GUESTS} guests greeted ${bootMs} ms after the concurrent start`);
      },
    );
  }
});

describe.skipIf(!hasQemu)('two defines of one name at once', () => {
  it("exactly one wins; the other gets libvirt's 'already exists' error", async () => {
    const { root, driver } = await open('libvirt');
    for (let round = 0; round < 10; round++) {
      const name = `race${round}`;
      const xml = guestXml(root, name);
      const a = `${xml.replace('<name>', '<uuid>c7a5fdbd-edaf-9455-926a-d65c16db18aa</uuid><name>')}`;
      const results = await Promise.allSettled([
        driver.defineXML(a.replace('18aa', `18${round}a`)),
        driver.defineXML(a.replace('18aa', `18${round}b`)),
      ]);
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(1);
      const winner = (won[0] as PromiseFulfilledResult<{ uuid: string }>).value.uuid;
      expect(String(lost[0]!.reason.message)).toBe(
        `operation failed: domain '${name}' already exists with uuid ${winner}`,
      );
      expect(driver.listDomains().filter((d) => d.name === name)).toHaveLength(1);
      // the stored definition is the winner's
      const d2 = await QemuDriver.open(uriOf(root));
      drivers.push(d2);
      expect(d2.find(name)?.uuid).toBe(winner);
    }
  });
});
