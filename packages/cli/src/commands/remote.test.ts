/** qvirsh over qvirtd: a non-embed URI goes through @qvirt/remote's client to a daemon. */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { greetingBootSector } from '@qvirt/driver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../index.js';
import { type CliTestDaemon, startCliTestDaemon } from '../test-support/test-daemon.js';

let t: CliTestDaemon;
let dir: string;
let uri: string;

beforeAll(async () => {
  t = await startCliTestDaemon('qvirt-cli-remote-');
  ({ dir, uri } = t);
});

afterAll(async () => {
  await t?.stop();
});

async function qvirsh(...argv: string[]) {
  let out = '';
  let err = '';
  const code = await main(['-c', uri, ...argv], { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

describe('qvirsh through qvirtd', () => {
  it('define, list, start, domstate, dumpxml, destroy, undefine a TCG guest', async () => {
    const disk = path.join(dir, 'g.img');
    writeFileSync(disk, greetingBootSector());
    const file = path.join(dir, 'g.xml');
    writeFileSync(
      file,
      `<domain type='qemu'><name>rq1</name><memory unit='KiB'>65536</memory><vcpu>1</vcpu>
<os><type arch='i686' machine='pc'>hvm</type><boot dev='hd'/></os><on_poweroff>destroy</on_poweroff>
<devices><emulator>/usr/bin/qemu-system-x86_64</emulator>
<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${disk}'/><target dev='hda' bus='ide'/></disk>
</devices></domain>`,
    );
    expect(await qvirsh('define', file)).toEqual({
      code: 0,
      out: `Domain 'rq1' defined from ${file}\n\n`,
      err: '',
    });
    expect((await qvirsh('list', '--all')).out).toBe(
      ' Id   Name   State\n-----------------------\n -    rq1    shut off\n\n',
    );
    expect((await qvirsh('start', 'rq1')).out).toBe("Domain 'rq1' started\n\n");
    expect((await qvirsh('domstate', '--reason', 'rq1')).out).toBe('running (booted)\n\n');
    expect((await qvirsh('dumpxml', 'rq1')).out).toMatch(/^<domain type='qemu' id='1'>/);
    expect((await qvirsh('dominfo', 'rq1')).out).toMatch(/State: +running/);
    expect((await qvirsh('destroy', 'rq1')).out).toBe("Domain 'rq1' destroyed\n\n");
    expect((await qvirsh('undefine', 'rq1')).out).toBe("Domain 'rq1' has been undefined\n\n");
    const missing = await qvirsh('domstate', 'rq1');
    expect(missing.code).not.toBe(0);
    expect(missing.err).toContain("failed to get domain 'rq1'");
  });

  it('capabilities come from the daemon', async () => {
    const r = await qvirsh('capabilities');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^<capabilities>\n[\s\S]*<\/capabilities>\n\n\n$/);
  });

  it('a daemon that is not there: libvirt-style connect error', async () => {
    let err = '';
    const code = await main(['-c', `qemu+unix:///system?socket=${dir}/none`, 'list'], {
      out: () => {},
      err: (t) => (err += t),
    });
    expect(code).not.toBe(0);
    expect(err).toBe(
      `error: failed to connect to the hypervisor\nerror: Failed to connect socket to '${dir}/none': No such file or directory\n`,
    );
  });
});
