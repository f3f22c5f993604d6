import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { QemuDriver } from './driver.js';
import { cleanupRoots, guestXml, makeRoot, pidsMentioning, sweepRun } from './test-support/guests.js';

const drivers: QemuDriver[] = [];
afterEach(async () => {
  for (const d of drivers.splice(0)) await d.close();
  cleanupRoots();
});
afterAll(sweepRun);

/** The guest of the driver tests with a `<numatune>` binding its memory to `nodeset`. */
function numaGuest(root: string, name: string, nodeset: string): string {
  return guestXml(root, name).replace(
    '<vcpu>1</vcpu>',
    `<vcpu>1</vcpu><numatune><memory mode='strict' nodeset='${nodeset}'/></numatune>`,
  );
}

describe('starts check the host description', () => {
  it('a domain bound to a NUMA node the host lacks is defined, but not started', async () => {
    const root = makeRoot();
    const d = await QemuDriver.open(`qemu:///embed?root=${root}`, {
      hostDescription: { numa: { nodes: [{ id: 0, cpus: [0] }] } },
    });
    drivers.push(d);
    await d.defineXML(numaGuest(root, 'n1', '1'));
    await expect(d.start('n1')).rejects.toThrow('unsupported configuration: NUMA node 1 is unavailable');
    expect(d.find('n1')?.state).toBe('shutoff');
    expect(pidsMentioning(root)).toEqual([]);
  });
});
