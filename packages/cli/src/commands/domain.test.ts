import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { greetingBootSector } from '@qvirt/driver';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../index.js';
import { makeTestDir } from '../test-support/embed-root.js';

let root: string | undefined;

function killUnder(dir: string): void {
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(dir)) process.kill(Number(e), 'SIGKILL');
    } catch {
      // gone
    }
  }
}

afterEach(() => {
  if (!root) return;
  killUnder(root);
  rmSync(root, { recursive: true, force: true });
  root = undefined;
});

async function qvirsh(...argv: string[]) {
  let out = '';
  let err = '';
  const code = await main(['-c', `qemu:///embed?root=${root}`, ...argv], {
    out: (t) => (out += t),
    err: (t) => (err += t),
  });
  return { code, out, err };
}

describe('qvirsh domain commands (embed, TCG)', () => {
  it('define, list, start, dominfo, domstate, destroy, undefine, with virsh output', async () => {
    root = makeTestDir('qvirt-cli-').root;
    writeFileSync(`${root}/boot.img`, greetingBootSector());
    const file = `${root}/g.xml`;
    writeFileSync(
      file,
      `<domain type='qemu'><name>g1</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>
       <memory>65536</memory><vcpu>1</vcpu><os><type arch='i686' machine='pc'>hvm</type></os>
       <devices><emulator>/usr/bin/qemu-system-x86_64</emulator>
       <disk type='file' device='disk'><source file='${root}/boot.img'/><target dev='hda' bus='ide'/></disk>
       </devices></domain>`,
    );
    expect(await qvirsh('define', file)).toEqual({
      code: 0,
      out: `Domain 'g1' defined from ${file}\n\n`,
      err: '',
    });
    expect((await qvirsh('list', '--all')).out).toBe(
      ' Id   Name   State\n-----------------------\n -    g1     shut off\n\n',
    );
    expect((await qvirsh('domstate', 'g1', '--reason')).out).toBe('shut off (unknown)\n\n');
    expect((await qvirsh('domid', 'g1')).out).toBe('-\n\n');
    expect(await qvirsh('start', 'g1')).toEqual({ code: 0, out: "Domain 'g1' started\n\n", err: '' });
    expect(await qvirsh('start', 'g1')).toEqual({
      code: 1,
      out: '\n',
      err: "error: Domain 'g1' is already active\n",
    });
    expect((await qvirsh('list')).out).toBe(
      ' Id   Name   State\n----------------------\n 1    g1     running\n\n',
    );
    expect((await qvirsh('domstate', '1', '--reason')).out).toBe('running (booted)\n\n');
    expect((await qvirsh('domname', 'c7a5fdbd-edaf-9455-926a-d65c16db1809')).out).toBe('g1\n\n');
    const info = (await qvirsh('dominfo', 'g1')).out;
    expect(info).toMatch(
      /^Id: {13}1\nName: {11}g1\nUUID: {11}c7a5fdbd-edaf-9455-926a-d65c16db1809\nOS Type: {8}hvm\nState: {10}running\n/,
    );
    expect(info).toContain('Max memory:     65536 KiB\n');
    expect((await qvirsh('dumpxml', 'g1')).out).toMatch(/^<domain type='qemu' id='1'>/);
    expect((await qvirsh('dumpxml', '--inactive', 'g1')).out).toMatch(/^<domain type='qemu'>/);
    expect(await qvirsh('suspend', 'g1')).toEqual({ code: 0, out: "Domain 'g1' suspended\n\n", err: '' });
    expect((await qvirsh('domstate', 'g1', '--reason')).out).toBe('paused (user)\n\n');
    expect(await qvirsh('resume', 'g1')).toMatchObject({ code: 0, out: "Domain 'g1' resumed\n\n" });
    expect(await qvirsh('destroy', 'g1')).toEqual({ code: 0, out: "Domain 'g1' destroyed\n\n", err: '' });
    expect(await qvirsh('destroy', 'g1')).toEqual({
      code: 1,
      out: '\n',
      err: "error: Failed to destroy domain 'g1'\nerror: Requested operation is not valid: domain is not running\n",
    });
    expect(await qvirsh('dominfo', 'nosuch')).toEqual({
      code: 1,
      out: '\n',
      err: "error: failed to get domain 'nosuch'\n",
    });
    expect(await qvirsh('autostart', 'g1')).toMatchObject({ out: "Domain 'g1' marked as autostarted\n\n" });
    expect((await qvirsh('list', '--all', '--autostart', '--name')).out).toBe('g1\n\n');
    expect(await qvirsh('undefine', 'g1')).toMatchObject({ out: "Domain 'g1' has been undefined\n\n" });
    expect((await qvirsh('list', '--all', '--uuid')).out).toBe('\n');
  });

  it.skipIf(process.getuid?.() !== 0)('domifstat prints a tap interface counters as virsh does', async () => {
    root = makeTestDir('qvirt-cli-').root;
    writeFileSync(`${root}/boot.img`, greetingBootSector());
    const file = `${root}/n.xml`;
    writeFileSync(
      file,
      `<domain type='qemu'><name>n1</name><memory>65536</memory><vcpu>1</vcpu>
       <os><type arch='i686' machine='pc'>hvm</type></os>
       <devices><emulator>/usr/bin/qemu-system-x86_64</emulator>
       <disk type='file' device='disk'><source file='${root}/boot.img'/><target dev='hda' bus='ide'/></disk>
       <interface type='ethernet'><target dev='qvcli%d'/><model type='e1000'/></interface>
       </devices></domain>`,
    );
    expect((await qvirsh('define', file)).code).toBe(0);
    expect((await qvirsh('start', 'n1')).code).toBe(0);
    try {
      const tap = /<target dev='(qvcli\d+)'\/>/.exec((await qvirsh('dumpxml', 'n1')).out)?.[1];
      expect(tap).toBeDefined();
      const { code, out } = await qvirsh('domifstat', 'n1', tap!);
      expect(code).toBe(0);
      expect(out).toMatch(
        new RegExp(
          `^${['rx_bytes', 'rx_packets', 'rx_errs', 'rx_drop', 'tx_bytes', 'tx_packets', 'tx_errs', 'tx_drop']
            .map((f) => `${tap} ${f} \\d+\n`)
            .join('')}\n$`,
        ),
      );
      expect(await qvirsh('domifstat', 'n1', 'nosuch0')).toEqual({
        code: 1,
        out: '\n',
        err: "error: Failed to get interface stats n1 nosuch0\nerror: invalid argument: 'nosuch0' is not a known interface\n",
      });
    } finally {
      await qvirsh('destroy', 'n1');
    }
  });

  it('domblkstat and dommemstat print as virsh does; no balloon means rss alone', async () => {
    root = makeTestDir('qvirt-cli-').root;
    writeFileSync(`${root}/boot.img`, greetingBootSector());
    const file = `${root}/s.xml`;
    writeFileSync(
      file,
      `<domain type='qemu'><name>s1</name><memory>65536</memory><vcpu>1</vcpu>
       <os><type arch='i686' machine='pc'>hvm</type></os>
       <devices><emulator>/usr/bin/qemu-system-x86_64</emulator>
       <disk type='file' device='disk'><source file='${root}/boot.img'/><target dev='hda' bus='ide'/></disk>
       <memballoon model='none'/>
       </devices></domain>`,
    );
    expect((await qvirsh('define', file)).code).toBe(0);
    expect(await qvirsh('domblkstat', 's1')).toEqual({
      code: 1,
      out: '\n',
      err: 'error: Requested operation is not valid: domain is not running\n',
    });
    expect((await qvirsh('start', 's1')).code).toBe(0);
    try {
      let stats = await qvirsh('domblkstat', 's1', 'hda');
      for (let i = 0; i < 100 && /^hda rd_req 0$/m.test(stats.out); i++) {
        await new Promise((r) => setTimeout(r, 100));
        stats = await qvirsh('domblkstat', 's1', 'hda');
      }
      expect(stats.err).toBe('');
      expect(stats.out).toMatch(
        /^hda rd_req [1-9]\d*\nhda rd_bytes \d+\nhda wr_req \d+\nhda wr_bytes \d+\nhda flush_operations \d+\nhda rd_total_times \d+\nhda wr_total_times \d+\nhda flush_total_times \d+\n\n$/,
      );
      expect((await qvirsh('domblkstat', 's1', `${root}/boot.img`, '--human')).out).toMatch(
        new RegExp(`^Device: ${root}/boot.img\n number of read operations: {6}[1-9]\\d*\n`),
      );
      expect(await qvirsh('domblkstat', 's1', 'nosuch')).toEqual({
        code: 1,
        out: '\n',
        err: 'error: invalid argument: invalid path: nosuch\n',
      });
      // <memballoon model='none'/>: libvirt asks QEMU nothing and reports the RSS alone
      expect((await qvirsh('dommemstat', 's1')).out).toMatch(/^rss [1-9]\d*\n\n$/);
    } finally {
      await qvirsh('destroy', 's1');
    }
    expect(await qvirsh('dommemstat', 's1')).toEqual({
      code: 1,
      out: '\n',
      err: 'error: Failed to get memory statistics for domain s1\nerror: Requested operation is not valid: domain is not running\n',
    });
  });
});
