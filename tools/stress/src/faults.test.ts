/**
 * Faults at each phase of a start: the driver (run in a child process) or QEMU is SIGKILLed
 * after label generation, after labelling (chown, xattrs, cgroup), after QEMU is exec'd and
 * before `cont`. A driver opened afterwards finds each domain running and reconnected, or shut
 * off with owners, xattrs, cgroups, labels and files rolled back.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, lstatSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { QemuDriver, type StartPhase } from '@qvirt/driver';
import { afterEach, describe, expect, it } from 'vitest';
import {
  guestXml,
  hasQemu,
  isRoot,
  leaks,
  makeInstance,
  removeInstance,
  snapshotHost,
  uriOf,
} from './host-state.js';

const CHILD = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../dist/fault-child.js');
const PHASES: StartPhase[] = ['labels-generated', 'labelled', 'spawned', 'before-cont'];
const roots: string[] = [];
const drivers: QemuDriver[] = [];

afterEach(async () => {
  for (const d of drivers.splice(0)) await d.close();
  for (const r of roots.splice(0)) removeInstance(r);
});

describe.skipIf(!hasQemu || !isRoot || !existsSync(CHILD))('SIGKILL at each phase of a start', () => {
  for (const victim of ['driver', 'qemu'] as const) {
    for (const phase of PHASES) {
      it(`${victim} killed at ${phase}: running and reconnected, or shut off with everything rolled back`, async () => {
        const before = snapshotHost();
        const root = makeInstance('explicit');
        roots.push(root);
        const setup = await QemuDriver.open(uriOf(root));
        await setup.defineXML(guestXml(root, 'f1'));
        await setup.close();
        const disk = path.join(root, 'f1.img');
        chownSync(disk, 1234, 1234);
        const run = spawnSync(process.execPath, [CHILD, root, 'f1', phase, victim], {
          encoding: 'utf8',
          timeout: 60_000,
        });
        if (victim === 'driver') expect(run.signal).toBe('SIGKILL');
        else expect(run.status, run.stderr).toBe(0);
        const d = await QemuDriver.open(uriOf(root));
        drivers.push(d);
        await d.reconnected();
        const { state } = d.getState('f1');
        expect(['running', 'shutoff']).toContain(state);
        if (state === 'running') {
          expect(lstatSync(disk).uid).toBe(65534);
          await d.destroy('f1');
        }
        expect(await leaks(root, before, { [disk]: '1234:1234' }, ['f1'])).toEqual([]);
        // and it starts again
        await d.start('f1');
        await d.destroy('f1');
        expect(await leaks(root, before, { [disk]: '1234:1234' }, ['f1'])).toEqual([]);
        execFileSync('true');
      });
    }
  }
});
