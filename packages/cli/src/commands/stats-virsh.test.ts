import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { greetingBootSector } from '@qvirt/driver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CliTestDaemon,
  hasVirsh,
  qvirshOn,
  startCliTestDaemon,
  virshOn,
} from '../test-support/test-daemon.js';

let t: CliTestDaemon;
let dir: string;
let uri: string;

const virsh = virshOn(() => uri);
const qvirsh = qvirshOn(() => uri);

describe.skipIf(!hasVirsh)('domblkstat and dommemstat: virsh and qvirsh through qvirtd', () => {
  beforeAll(async () => {
    t = await startCliTestDaemon('qvirt-cli-stats-');
    ({ dir, uri } = t);
  });

  afterAll(async () => {
    await t?.stop();
  });

  it('prints the same counters, labels and errors for one disk, a source path and all disks', async () => {
    const boot = path.join(dir, 'boot.img');
    const data = path.join(dir, 'data.img');
    writeFileSync(boot, greetingBootSector());
    writeFileSync(data, Buffer.alloc(1 << 20));
    const file = path.join(dir, 'st.xml');
    writeFileSync(
      file,
      `<domain type='qemu'><name>st1</name><memory unit='KiB'>65536</memory><vcpu>1</vcpu>
<os><type arch='i686' machine='pc'>hvm</type><boot dev='hd'/></os>
<devices><emulator>/usr/bin/qemu-system-x86_64</emulator>
<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${boot}'/><target dev='hda' bus='ide'/></disk>
<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${data}'/><target dev='vda' bus='virtio'/></disk>
</devices></domain>`,
    );
    expect((await qvirsh('define', file)).code).toBe(0);
    // not running: virsh's first virDomainBlockStatsFlags call fails, libvirt's error alone
    const inactive = await virsh('domblkstat', 'st1', 'hda');
    expect(inactive.err).toBe('error: Requested operation is not valid: domain is not running\n');
    expect((await qvirsh('domblkstat', 'st1', 'hda')).err).toBe(inactive.err);
    const inactiveMem = await virsh('dommemstat', 'st1');
    expect(inactiveMem.err).toBe(
      'error: Failed to get memory statistics for domain st1\nerror: Requested operation is not valid: domain is not running\n',
    );
    expect((await qvirsh('dommemstat', 'st1')).err).toBe(inactiveMem.err);

    expect((await qvirsh('start', 'st1')).code).toBe(0);
    try {
      // wait until the BIOS has read the boot sector and the guest has halted (counters settle)
      let last = '';
      for (let i = 0; i < 100; i++) {
        const now = (await qvirsh('domblkstat', 'st1')).out;
        if (now === last && !/^ rd_req 0$/m.test(now)) break;
        last = now;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(last).toMatch(/^ rd_req [1-9]/);
      for (const args of [
        ['hda'],
        ['vda'],
        [],
        [''],
        [data],
        ['hda', '--human'],
        ['--human'],
        [boot, '--human'],
      ]) {
        const real = await virsh('domblkstat', 'st1', ...args);
        expect(real.err).toBe('');
        expect(await qvirsh('domblkstat', 'st1', ...args)).toEqual(real);
      }
      for (const bad of ['sdz', '/no/such.img']) {
        const real = await virsh('domblkstat', 'st1', bad);
        expect(real.err).toBe(`error: invalid argument: invalid path: ${bad}\n`);
        const ours = await qvirsh('domblkstat', 'st1', bad);
        expect([ours.code, ours.err]).toEqual([real.code, real.err]);
      }

      const rss = (text: string) => text.replace(/^rss \d+$/m, 'rss N');
      const real = await virsh('dommemstat', 'st1');
      expect(real.err).toBe('');
      expect(real.out).toMatch(/^actual 65536\n.*rss \d+\n\n$/s);
      const ours = await qvirsh('dommemstat', 'st1');
      expect({ ...ours, out: rss(ours.out) }).toEqual({ ...real, out: rss(real.out) });
    } finally {
      await qvirsh('destroy', 'st1');
      await qvirsh('undefine', 'st1');
    }
  });
});
