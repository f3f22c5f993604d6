import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CliTestDaemon,
  hasVirsh,
  qvirshOn,
  startCliTestDaemon,
  virshOn,
} from '../test-support/test-daemon.js';

let t: CliTestDaemon;
let uri: string;

const virsh = virshOn(() => uri);
const qvirsh = qvirshOn(() => uri);

/** Digits masked, so two samples of moving counters compare by layout. */
const layout = (text: string) => text.replace(/\d/g, '0');

describe.skipIf(!hasVirsh)('host commands: virsh and qvirsh through qvirtd', () => {
  beforeAll(async () => {
    t = await startCliTestDaemon('qvirt-cli-node-');
    ({ uri } = t);
  });

  afterAll(async () => {
    await t?.stop();
  });

  it('prints the same node info, CPU map, versions, KSM parameters and vCPU limits', async () => {
    const same = [
      ['nodeinfo'],
      ['nodecpumap'],
      ['nodecpumap', '--pretty'],
      ['version'],
      ['version', '--daemon'],
      ['node-memory-tune'],
      ['maxvcpus'],
      ['maxvcpus', '--type', 'qemu'],
      ['sysinfo'],
      ...(existsSync('/dev/kvm') ? [['maxvcpus', '--type', 'kvm']] : []),
    ];
    for (const args of same) {
      const real = await virsh(...args);
      const ours = await qvirsh(...args);
      expect([args, ours.code, ours.out, ours.err]).toEqual([args, real.code, real.out, real.err]);
    }
  });

  it('prints free memory and memory and CPU stats in the same layout, and the same errors', async () => {
    for (const args of [
      ['freecell'],
      ['freecell', '--all'],
      ['freecell', '--cellno', '0'],
      ['freecell', '0'],
      ['nodememstats'],
      ['nodememstats', '--cell', '0'],
      ['nodecpustats'],
      ['nodecpustats', '--cpu', '0'],
    ]) {
      const real = await virsh(...args);
      expect(real.err).toBe('');
      const ours = await qvirsh(...args);
      expect([args, ours.code, layout(ours.out)]).toEqual([args, real.code, layout(real.out)]);
    }
    for (const args of [
      ['freecell', '--cellno', '4096'],
      ['freecell', 'abc'],
      ['freecell', '--all', '--cellno', '0'],
      ['nodememstats', '--cell', '4096'],
      ['nodecpustats', '--cpu', '65536'],
      ['maxvcpus', '--type', 'xen'],
    ]) {
      const real = await virsh(...args);
      expect(real.err).toMatch(/^error: /);
      const ours = await qvirsh(...args);
      expect([args, ours.code, ours.err]).toEqual([args, real.code, real.err]);
    }
  });
});
