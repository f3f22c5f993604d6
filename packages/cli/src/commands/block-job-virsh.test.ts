/**
 * blockjob, blockcommit and blockpull side by side: libvirt's own virsh and qvirsh against one
 * qvirtd print the same. A paused guest with three qcow2 chains (made by qemu-img, patterns
 * written by qemu-io): `blockjob --info` with and without a job, --bandwidth, --pivot of an
 * active commit; `blockcommit --active --pivot --wait --verbose`; `blockpull --wait`.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliTestDaemonPerFile, hasVirsh } from '../test-support/test-daemon.js';

const { t, virsh, qvirsh } = cliTestDaemonPerFile('qvirt-cli-blockjob-');

const img = (...args: string[]) => execFileSync('qemu-img', args).toString();
const holds = (file: string, pattern: string, offset: string) => {
  try {
    execFileSync('qemu-io', ['-r', '-f', 'qcow2', '-c', `read -P ${pattern} ${offset} 64k`, file]);
    return true;
  } catch {
    // qemu-io exits 1 when the pattern does not verify
    return false;
  }
};

describe.each([
  ['virsh', virsh],
  ['qvirsh', qvirsh],
])('block jobs with %s through qvirtd', (tool, run) => {
  it.runIf(tool === 'qvirsh' || hasVirsh)(
    'blockjob --info, blockcommit --active --pivot --wait, blockpull --wait',
    async () => {
      const name = `bj-${tool}`;
      const f = (n: string) => path.join(t.dir, `${name}-${n}.qcow2`);
      const disks: string[] = [];
      for (const dev of ['vda', 'vdb', 'vdc']) {
        img('create', '-q', '-f', 'qcow2', f(`${dev}-base`), '4M');
        execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0xaa 0 64k', f(`${dev}-base`)]);
        img('create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', f(`${dev}-base`), f(`${dev}-top`));
        execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0xcc 64k 64k', f(`${dev}-top`)]);
        disks.push(
          `<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='${f(`${dev}-top`)}'/><target dev='${dev}' bus='virtio'/></disk>`,
        );
      }
      const file = path.join(t.dir, `${name}.xml`);
      writeFileSync(
        file,
        `<domain type='qemu'><name>${name}</name><memory unit='KiB'>65536</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='pc'>hvm</type></os>
<devices><emulator>/usr/bin/qemu-system-x86_64</emulator>
${disks.join('\n')}
</devices></domain>`,
      );
      expect((await run('define', file)).code).toBe(0);
      expect((await run('start', name, '--paused')).code).toBe(0);

      expect(await run('blockjob', name, 'vda', '--info')).toEqual({
        code: 0,
        out: 'No current block job for vda\n',
        err: '',
      });
      expect(await run('blockjob', name, 'vda', '--raw')).toEqual({ code: 0, out: '\n', err: '' });
      expect(await run('blockjob', name, 'vda', '--abort')).toEqual({
        code: 1,
        out: '\n',
        err: 'error: invalid argument: disk vda does not have an active block job\n',
      });
      expect(await run('blockcommit', name, 'vda')).toEqual({
        code: 1,
        out: '\n',
        err: "error: invalid argument: commit of 'vda' active layer requires active flag\n",
      });

      // an active commit left in its synchronised phase, seen by --info, slowed, pivoted by hand
      expect(await run('blockcommit', name, 'vda', '--active')).toEqual({
        code: 0,
        out: 'Active Block Commit started\n',
        err: '',
      });
      const deadline = Date.now() + 20_000;
      let info = await run('blockjob', name, 'vda', '--info');
      while (!info.err.includes('[100 %]') && Date.now() < deadline)
        info = await run('blockjob', name, 'vda', '--info');
      expect(info).toEqual({ code: 0, out: '\n\n', err: '\rActive Block Commit: [100 %]' });
      expect(await run('blockjob', name, 'vda', '--bandwidth', '2')).toEqual({ code: 0, out: '\n', err: '' });
      expect(await run('blockjob', name, 'vda', '--info')).toEqual({
        code: 0,
        out: '    Bandwidth limit: 2097152 bytes/s (2.000 MiB/s)\n\n',
        err: '\rActive Block Commit: [100 %]',
      });
      const raw = await run('blockjob', name, 'vda', '--raw');
      expect(raw).toMatchObject({ code: 0, err: '' });
      expect(raw.out).toMatch(/^ type=Active Block Commit\n bandwidth=2\n cur=(\d+)\n end=\1\n\n$/);
      expect(await run('blockjob', name, 'vda', '--pivot')).toEqual({ code: 0, out: '\n', err: '' });
      expect((await run('dumpxml', name)).out).toContain(`<source file='${f('vda-base')}'`);

      // the whole of it in one command
      const commit = await run('blockcommit', name, 'vdb', '--active', '--pivot', '--wait', '--verbose');
      expect(commit).toMatchObject({ code: 0, out: '\nSuccessfully pivoted\n' });
      expect(commit.err).toMatch(/^(\rBlock commit: \[[ \d]{2}\d %\])*\rBlock commit: \[100 %\]$/);
      const live = (await run('dumpxml', name)).out;
      expect(live).toContain(`<source file='${f('vdb-base')}'`);
      expect(live).not.toContain(f('vdb-top'));

      expect(await run('blockpull', name, 'vdc', '--wait')).toEqual({
        code: 0,
        out: '\nPull complete\n',
        err: '',
      });
      expect(img('info', '-U', f('vdc-top'))).not.toContain('backing file');

      expect((await run('destroy', name)).code).toBe(0);
      // the data where the jobs put it, read once QEMU has flushed and closed the images
      expect(holds(f('vda-base'), '0xcc', '64k')).toBe(true);
      expect(holds(f('vdb-base'), '0xcc', '64k')).toBe(true);
      expect(holds(f('vdc-top'), '0xaa', '0')).toBe(true);
      expect((await run('undefine', name)).code).toBe(0);
    },
  );

  it.runIf(tool === 'qvirsh' || hasVirsh)(
    'blockcopy of a transient guest: --print-xml, --shallow --pivot, refusals',
    async () => {
      const name = `bc-${tool}`;
      const f = (n: string) => path.join(t.dir, `${name}-${n}.qcow2`);
      img('create', '-q', '-f', 'qcow2', f('base'), '4M');
      execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0xaa 0 64k', f('base')]);
      img('create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', f('base'), f('top'));
      execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0xcc 64k 64k', f('top')]);
      const file = path.join(t.dir, `${name}.xml`);
      writeFileSync(
        file,
        `<domain type='qemu'><name>${name}</name><memory unit='KiB'>65536</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='pc'>hvm</type></os>
<devices><emulator>/usr/bin/qemu-system-x86_64</emulator>
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='${f('top')}'/><target dev='vda' bus='virtio'/></disk>
</devices></domain>`,
      );
      expect((await run('create', file, '--paused')).code).toBe(0);
      expect(await run('blockcopy', name, 'vda')).toEqual({
        code: 1,
        out: '\n',
        err: 'error: need either --dest or --xml\n',
      });
      expect(await run('blockcopy', name, 'vda', '--dest', f('copy'), '--verbose')).toEqual({
        code: 1,
        out: '\n',
        err: 'error: --verbose requires at least one of --timeout, --wait, --pivot, or --finish\n',
      });
      expect(await run('blockcopy', name, 'vda', '--dest', f('copy'), '--bandwidth', '1x')).toEqual({
        code: 1,
        out: '\n',
        err: "error: Scaled numeric value '1x' for <--bandwidth> option is malformed or out of range\nerror: invalid argument: unknown suffix 'x'\n",
      });
      expect(
        await run('blockcopy', name, 'vda', '--dest', f('copy'), '--format', 'qcow2', '--print-xml'),
      ).toEqual({
        code: 0,
        out: `<disk type='file'>\n  <source file='${f('copy')}'/>\n  <driver type='qcow2'/>\n</disk>\n\n`,
        err: '',
      });
      expect(await run('blockcopy', name, 'vda', '--dest', f('copy'), '--granularity', '3000')).toEqual({
        code: 1,
        out: '\n',
        err: 'error: invalid argument: granularity must be power of 2\n',
      });
      expect(await run('blockcopy', name, 'vda', '--dest', f('copy'), '--shallow', '--pivot')).toEqual({
        code: 0,
        out: '\nSuccessfully pivoted\n',
        err: '',
      });
      const live = (await run('dumpxml', name)).out;
      expect(live).toContain(`<source file='${f('copy')}'`);
      expect(live).toMatch(
        new RegExp(
          `<backingStore type='file'[^>]*>\\s*<format type='qcow2'/>\\s*<source file='${f('base')}'/>`,
        ),
      );
      // shallow: the copy sits on the same base image
      expect(img('info', '-U', f('copy'))).toMatch(new RegExp(`^backing file: ${f('base')}$`, 'm'));
      expect((await run('destroy', name)).code).toBe(0);
      expect(holds(f('copy'), '0xcc', '64k')).toBe(true);
    },
  );
});
