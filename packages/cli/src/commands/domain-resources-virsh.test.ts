import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { greetingBootSector } from '@qvirt/driver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CliTestDaemon,
  hasVirsh,
  qvirshOn,
  type Run,
  startCliTestDaemon,
  virshOn,
} from '../test-support/test-daemon.js';

let t: CliTestDaemon;
let dir: string;
let uri: string;

const virsh = virshOn(() => uri);
const qvirsh = qvirshOn(() => uri);

/** Both print the same for `argv` (after `mask`). */
async function same(argv: string[], mask: (s: string) => string = (s) => s): Promise<Run> {
  const real = await virsh(...argv);
  const ours = await qvirsh(...argv);
  expect({ ...ours, out: mask(ours.out) }, argv.join(' ')).toEqual({ ...real, out: mask(real.out) });
  return real;
}

/** CPU times and other figures that move between two calls. */
const moving = (s: string) =>
  s
    .replace(
      /^( {2}(cpu\.(time|user|system)|vcpu\.\d+\.(time|wait|delay)|balloon\.rss|block\.\d+\.rd\.times)=)\d+$/gm,
      '$1N',
    )
    .replace(/^(CPU time: +)[\d.]+s$/gm, '$1Ns')
    .replace(/^(CPU: +)\d+$/gm, '$1N');

describe.skipIf(!hasVirsh)('vCPU, memory and statistics commands: virsh and qvirsh through qvirtd', () => {
  beforeAll(async () => {
    t = await startCliTestDaemon('qvirt-cli-resources-');
    ({ dir, uri } = t);
  });

  afterAll(async () => {
    await t?.stop();
  });

  it('prints the same for a stopped and a running domain', async () => {
    const boot = path.join(dir, 'boot.img');
    writeFileSync(boot, greetingBootSector());
    const file = path.join(dir, 'rs.xml');
    writeFileSync(
      file,
      `<domain type='qemu'><name>rs1</name><memory unit='KiB'>65536</memory><vcpu current='1'>2</vcpu>
<os><type arch='i686' machine='pc'>hvm</type><boot dev='hd'/></os>
<devices><emulator>/usr/bin/qemu-system-x86_64</emulator>
<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${boot}'/><target dev='hda' bus='ide'/></disk>
</devices></domain>`,
    );
    expect((await qvirsh('define', file)).code).toBe(0);
    try {
      for (const argv of [
        ['vcpucount', 'rs1'],
        ['vcpucount', 'rs1', '--maximum', '--config'],
        ['vcpucount', 'rs1', '--live'],
        ['vcpupin', 'rs1'],
        ['vcpupin', 'rs1', '--vcpu', '1'],
        ['vcpupin', 'rs1', '--vcpu', '5'],
        ['vcpupin', 'rs1', '0', '0', '--config'],
        ['vcpupin', 'rs1', '--config'],
        ['vcpupin', 'rs1', '0', '99', '--config'],
        ['emulatorpin', 'rs1'],
        ['vcpuinfo', 'rs1'],
        ['vcpuinfo', 'rs1', '--pretty'],
        ['setvcpus', 'rs1', '3', '--config'],
        ['setvcpus', 'rs1', '2', '--maximum'],
        ['setmem', 'rs1', '32M', '--config'],
        ['dominfo', 'rs1'],
        ['setmem', 'rs1', '1G', '--config'],
        ['setmaxmem', 'rs1', '96M', '--config'],
        ['setmaxmem', 'rs1', '64M', '--config'],
        ['setmem', 'rs1', '64M', '--config'],
        ['desc', 'rs1'],
        ['desc', 'rs1', '--title'],
        ['desc', 'rs1', 'hello'],
        ['desc', 'rs1'],
        ['metadata', 'rs1', 'http://qvirt.example/a/'],
        ['metadata', 'rs1', 'http://qvirt.example/a/', '--key', 'a', '--set', '<x y="1"><z/></x>'],
        ['metadata', 'rs1', 'http://qvirt.example/a/'],
        ['metadata', 'rs1', 'http://qvirt.example/a/', '--remove'],
        ['domstats', 'rs1', '--state', '--balloon', '--vcpu', '--interface', '--block'],
        ['domblkinfo', 'rs1', 'hda'],
        ['domblkinfo', 'rs1', 'vdz'],
        ['domblkinfo', 'rs1', '--all'],
        ['domblkinfo', 'rs1', '--all', '--human'],
        ['domblkinfo', 'rs1', 'hda', '--human'],
        ['domjobinfo', 'rs1'],
        ['domjobinfo', 'rs1', '--completed'],
        ['domjobinfo', 'rs1', '--keep-completed'],
        ['domjobabort', 'rs1'],
        ['setvcpu', 'rs1', '1'],
        ['setvcpu', 'rs1', '1', '--enable', '--disable'],
        ['setvcpu', 'rs1', '0', '--disable', '--config'],
        ['setvcpu', 'rs1', '1', '--enable', '--live'],
        ['setvcpu', 'rs1', '1', '--enable', '--config'],
        ['vcpucount', 'rs1'],
        ['setvcpu', 'rs1', '1', '--disable'],
        ['detach-device-alias', 'rs1', 'nope', '--config'],
        ['detach-device-alias', 'rs1', 'nope', '--live', '--current'],
        ['domcontrol', 'rs1'],
        ['schedinfo', 'rs1', '--config'],
        ['domrename', 'rs1', 'rs1'],
      ]) {
        await same(argv);
      }
      // attach and detach change what the next call sees: virsh does one, qvirsh the other
      const disk = path.join(dir, 'hot.img');
      writeFileSync(disk, Buffer.alloc(1 << 20));
      const devXml = path.join(dir, 'hot.xml');
      writeFileSync(
        devXml,
        `<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${disk}'/><target dev='vdb' bus='virtio'/></disk>`,
      );
      const attached = await virsh('attach-device', 'rs1', devXml, '--config');
      expect(attached).toEqual({ code: 0, out: 'Device attached successfully\n\n', err: '' });
      await same(['attach-device', 'rs1', devXml, '--config']);
      expect((await qvirsh('dumpxml', 'rs1', '--inactive')).out).toContain(
        "<target dev='vdb' bus='virtio'/>",
      );
      const detached = await qvirsh('detach-device', 'rs1', devXml, '--config');
      expect(detached).toEqual({ code: 0, out: 'Device detached successfully\n\n', err: '' });
      await same(['detach-device', 'rs1', devXml, '--config']);
      await same(['attach-device', 'rs1', devXml]);

      // a rename changes what the next call sees: libvirt's virsh renames, qvirsh renames back
      const renamed = await virsh('domrename', 'rs1', 'rs2');
      expect(renamed.out).toBe('Domain successfully renamed\n\n');
      expect(await qvirsh('domrename', 'rs2', 'rs1')).toEqual(renamed);

      expect((await qvirsh('start', 'rs1')).code).toBe(0);
      for (const argv of [
        ['vcpucount', 'rs1'],
        ['vcpupin', 'rs1'],
        ['vcpupin', 'rs1', '0', '0'],
        ['vcpupin', 'rs1', '--live'],
        ['vcpupin', 'rs1', '7', '0'],
        ['emulatorpin', 'rs1', '0'],
        ['emulatorpin', 'rs1'],
        ['vcpuinfo', 'rs1'],
        ['setmaxmem', 'rs1', '100000'],
        ['setmem', 'rs1', '100000'],
        ['setvcpus', 'rs1', '3', '--live'],
        ['domjobinfo', 'rs1'],
        ['domjobinfo', 'rs1', '--rawstats'],
        ['domjobabort', 'rs1'],
        ['setvcpu', 'rs1', '0', '--disable'],
        ['domcontrol', 'rs1'],
        ['domstats', 'rs1', '--state', '--vcpu', '--interface', '--dirtyrate'],
        ['domstats', 'rs1', '--enforce', '--list-inactive'],
        ['domstats', 'rs1'],
        ['domstats', '--list-running'],
        ['domblkinfo', 'rs1', 'hda'],
        ['domblkinfo', 'rs1', '--all'],
        ['schedinfo', 'rs1'],
        ['cpu-stats', 'rs1'],
        ['cpu-stats', 'rs1', '--total'],
        ['setvcpus', 'rs1', '2', '--live'],
        ['vcpucount', 'rs1'],
        ['vcpuinfo', 'rs1'],
        ['desc', 'rs1', '--live', 'running'],
        ['desc', 'rs1', '--config'],
      ]) {
        await same(argv, moving);
      }
      // a live attach on i440fx without ACPI: QEMU's refusal, in libvirt's words, and nothing left
      const refused = await same(['attach-device', 'rs1', devXml, '--live']);
      expect(refused.err).toBe(
        `error: Failed to attach device from ${devXml}\nerror: internal error: unable to execute QEMU command 'device_add': Bus 'pci.0' does not support hotplugging\n`,
      );
      expect((await qvirsh('dumpxml', 'rs1')).out).not.toContain('vdb');
    } finally {
      await qvirsh('destroy', 'rs1');
      await qvirsh('undefine', 'rs1');
    }
  });
});
