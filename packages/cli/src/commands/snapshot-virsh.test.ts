/**
 * snapshot-create-as, snapshot-list, snapshot-current, snapshot-revert, snapshot-delete side by
 * side: libvirt's own virsh and qvirsh against one qvirtd print the same.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { serialGuestBootSector } from '@qvirt/driver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CliTestDaemon,
  hasVirsh,
  qvirshOn,
  startCliTestDaemon,
  virshOn,
} from '../test-support/test-daemon.js';

let t: CliTestDaemon;

const virsh = virshOn(() => t.uri);
const qvirsh = qvirshOn(() => t.uri);

beforeAll(async () => {
  t = await startCliTestDaemon('qvirt-cli-snap-');
});
afterAll(async () => {
  await t?.stop();
});

describe.each([
  ['virsh', virsh],
  ['qvirsh', qvirsh],
])('snapshots with %s through qvirtd', (tool, run) => {
  it.runIf(tool === 'qvirsh' || hasVirsh)('create, list, current, revert, delete', async () => {
    const name = `sn-${tool}`;
    const raw = path.join(t.dir, `${name}.raw`);
    writeFileSync(raw, serialGuestBootSector(2));
    const disk = path.join(t.dir, `${name}.qcow2`);
    execFileSync('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, disk]);
    const file = path.join(t.dir, `${name}.xml`);
    writeFileSync(
      file,
      `<domain type='qemu'><name>${name}</name><memory unit='KiB'>65536</memory><vcpu>1</vcpu>
<os><type arch='i686' machine='pc'>hvm</type><boot dev='hd'/></os>
<devices><emulator>/usr/bin/qemu-system-x86_64</emulator>
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='${disk}'/><target dev='hda' bus='ide'/></disk>
</devices></domain>`,
    );
    expect((await run('define', file)).code).toBe(0);
    expect((await run('start', name)).code).toBe(0);
    expect(await run('snapshot-create-as', name, 's1', '--description', 'first')).toEqual({
      code: 0,
      out: 'Domain snapshot s1 created\n',
      err: '',
    });
    const list = await run('snapshot-list', name);
    expect(list.out).toMatch(
      /^ Name {3}Creation Time {15}State\n-{45}\n s1 {5}\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4} {3}running\n\n$/,
    );
    expect((await run('snapshot-current', name, '--name')).out).toBe('s1\n');
    expect((await run('snapshot-dumpxml', name, 's1')).out).toMatch(
      /^<domainsnapshot>\n {2}<name>s1<\/name>/,
    );
    expect(await run('snapshot-revert', name, 's1')).toEqual({
      code: 0,
      out: 'Domain snapshot s1 reverted\n\n',
      err: '',
    });
    expect(await run('snapshot-delete', name, 's1')).toEqual({
      code: 0,
      out: 'Domain snapshot s1 deleted\n\n',
      err: '',
    });
    expect((await run('destroy', name)).code).toBe(0);
    expect((await run('undefine', name)).code).toBe(0);
  });
});
