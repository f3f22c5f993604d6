/**
 * dump, domblkthreshold, freepages and allocpages, printed as virsh 9.0 prints them: the real
 * virsh and qvirsh, both through qvirtd, on one counting guest per tool.
 */
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliTestDaemonPerFile, hasVirsh, writeCounterGuest } from '../test-support/test-daemon.js';

const { t, virsh, qvirsh } = cliTestDaemonPerFile('qvirt-cli-dump-');

function guestFile(name: string): string {
  return writeCounterGuest(t.dir, name);
}

/** The host's free huge pages of one size on node 0, as sysfs says. */
const freeHuge = (kib: number) =>
  Number(
    readFileSync(`/sys/devices/system/node/node0/hugepages/hugepages-${kib}kB/free_hugepages`, 'utf8').trim(),
  );

describe.each([
  ['virsh', virsh],
  ['qvirsh', qvirsh],
])('dump and domblkthreshold with %s through qvirtd', (tool, run) => {
  it.runIf(tool === 'qvirsh' || hasVirsh)(
    'dumps a guest, refuses as virsh does, sets a threshold',
    async () => {
      const name = `dump-${tool}`;
      expect((await run('create', guestFile(name))).code).toBe(0);
      const core = path.join(t.dir, `${name}.core`);
      expect(await run('dump', name, core, '--memory-only', '--verbose')).toEqual({
        code: 0,
        out: `\nDomain '${name}' dumped to ${core}\n\n`,
        err: '\rDump: [100 %]',
      });
      expect(statSync(core).mode & 0o777).toBe(0o600);
      expect(readFileSync(core).subarray(0, 4).toString('latin1')).toBe('\x7fELF');
      rmSync(core);
      expect(await run('dump', name, core, '--format', 'kdump-zlib')).toEqual({
        code: 1,
        out: '\n',
        err: 'error: --format only works with --memory-only\n',
      });
      expect(await run('dump', name, core, '--memory-only', '--format', 'xz')).toEqual({
        code: 1,
        out: '\n',
        err: "error: format 'xz' is not supported, expecting 'kdump-zlib', 'kdump-lzo', 'kdump-snappy', 'win-dmp' or 'elf'\n",
      });
      expect(await run('dump', name, core, '--crash', '--reset')).toEqual({
        code: 1,
        out: '\n',
        err: `error: Failed to core dump domain '${name}' to ${core}\nerror: Flags 'VIR_DUMP_CRASH' and 'VIR_DUMP_RESET' are mutually exclusive\n`,
      });
      expect(await run('domblkthreshold', name, 'hda', '1M')).toEqual({ code: 0, out: '\n', err: '' });
      if (tool === 'virsh') {
        // libvirt's client receives qvirtd's BLOCK_THRESHOLD (REMOTE_PROC_DOMAIN_EVENT_BLOCK_THRESHOLD)
        let received = false;
        const event = virsh('event', name, '--event', 'block-threshold', '--timeout', '20').finally(() => {
          received = true;
        });
        const alias = /<target dev='hda'[^>]*\/>\s*<alias name='([^']+)'/.exec(
          (await run('dumpxml', name)).out,
        )?.[1];
        // until virsh has its callback and gets the event: a threshold, crossed by QEMU's own write
        // (QEMU forgets a threshold once crossed, so each round sets it again)
        const deadline = Date.now() + 15_000;
        while (!received && Date.now() < deadline) {
          expect((await run('domblkthreshold', name, 'hda', '100')).code).toBe(0);
          const w = await run('qemu-monitor-command', name, '--hmp', `qemu-io -d ${alias} "write 200 100"`);
          expect(w.code).toBe(0);
          await new Promise((r) => setTimeout(r, 100));
        }
        expect((await event).out).toBe(
          `event 'block-threshold' for domain '${name}': dev: hda(${path.join(t.dir, `${name}.img`)}) 100 200\nevents received: 1\n\n`,
        );
      }
      expect(await run('domblkthreshold', name, 'hdz', '1')).toEqual({
        code: 1,
        out: '\n',
        err: "error: invalid argument: failed to find disk 'hdz'\n",
      });
      expect(await run('dump', name, core, '--memory-only', '--crash')).toEqual({
        code: 0,
        out: `\nDomain '${name}' dumped to ${core}\n\n`,
        err: '',
      });
      // the transient guest went with its crash
      expect((await run('domstate', name)).code).toBe(1);
      rmSync(core);
    },
    30_000,
  );
});

describe.each([
  ['virsh', virsh],
  ['qvirsh', qvirsh],
])('domiftune with %s through qvirtd', (tool, run) => {
  it.runIf(tool === 'qvirsh' || hasVirsh)(
    "prints and sets an interface's bandwidth, refusing as virsh does",
    async () => {
      const name = `if-${tool}`;
      const mac = '52:54:00:d7:00:02';
      const file = guestFile(name);
      writeFileSync(
        file,
        readFileSync(file, 'utf8').replace(
          '</devices>',
          `<interface type='ethernet'><mac address='${mac}'/><model type='e1000'/></interface></devices>`,
        ),
      );
      expect((await run('define', file)).code).toBe(0);
      expect((await run('start', name)).code).toBe(0);
      const zeros = (outbound: number) =>
        'inbound.average: 0\ninbound.peak   : 0\ninbound.burst  : 0\ninbound.floor  : 0\n' +
        `outbound.average: ${outbound}\noutbound.peak  : 0\noutbound.burst : 0\n\n`;
      expect(await run('domiftune', name, mac)).toEqual({ code: 0, out: zeros(0), err: '' });
      expect(await run('domiftune', name, mac, '--config', '--outbound', '300')).toEqual({
        code: 0,
        out: '\n',
        err: '',
      });
      expect(await run('domiftune', name, mac, '--config')).toEqual({ code: 0, out: zeros(300), err: '' });
      expect(await run('domiftune', name, mac, '--live')).toEqual({ code: 0, out: zeros(0), err: '' });
      expect(await run('domiftune', name, 'eth9')).toEqual({
        code: 1,
        out: '\n',
        // the count comes before the interface is looked up (qemuDomainGetInterfaceParameters)
        err: "error: Unable to get interface parameters\nerror: invalid argument: 'eth9' is not a known interface\n",
      });
      expect(await run('domiftune', name, mac, '--inbound', '1,2,3,4,5')).toEqual({
        code: 1,
        out: '\n',
        err: "error: Rate string '1,2,3,4,5' has too many fields\n",
      });
      expect(await run('domiftune', name, mac, '--outbound', '0,5')).toEqual({
        code: 1,
        out: '\n',
        err: 'error: outbound average is mandatory\n',
      });
      expect(await run('domiftune', name, mac, '--live', '--current')).toMatchObject({
        code: 1,
        err: 'error: Options --current and --live are mutually exclusive\n',
      });
      expect((await run('destroy', name)).code).toBe(0);
      expect((await run('undefine', name)).code).toBe(0);
    },
    30_000,
  );
});

describe.each([
  ['virsh', virsh],
  ['qvirsh', qvirsh],
])('freepages and allocpages with %s through qvirtd', (tool, run) => {
  it.runIf(tool === 'qvirsh' || hasVirsh)(
    'prints the free pages of node 0 and refuses as virsh',
    async () => {
      expect(await run('freepages', '--cellno', '0', '--pagesize', '2048')).toEqual({
        code: 0,
        out: `2048KiB: ${freeHuge(2048)}\n\n`,
        err: '',
      });
      expect(await run('freepages', '0', '2M')).toEqual({
        code: 0,
        out: `2048KiB: ${freeHuge(2048)}\n\n`,
        err: '',
      });
      const all = await run('freepages', '--all');
      expect(all.code).toBe(0);
      expect(all.out).toMatch(/^Node 0:\n4KiB: \d+\n2048KiB: \d+\n1048576KiB: \d+\n\n/);
      expect(await run('freepages', '--cellno', '0')).toEqual({
        code: 1,
        out: '\n',
        err: 'error: missing pagesize argument\n',
      });
      expect(await run('freepages', '--cellno', '0', '--pagesize', '3')).toEqual({
        code: 1,
        out: '\n',
        err: 'error: operation failed: page size 3 is not available on node 0\n',
      });
      expect(await run('freepages', '--cellno', '9', '--pagesize', '2048')).toEqual({
        code: 1,
        out: '\n',
        err: 'error: internal error: start cell 9 out of range (0-0)\n',
      });
      expect(await run('freepages', '--all', '--cellno', '0')).toMatchObject({
        code: 1,
        err: 'error: Options --all and --cellno are mutually exclusive\n',
      });
      // setting a pool to what it holds changes nothing (virNumaSetPagePoolSize returns early)
      const nr = Number(
        readFileSync('/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages', 'utf8').trim(),
      );
      expect(await run('allocpages', '2048', String(nr), '--cellno', '0')).toEqual({
        code: 0,
        out: '\n',
        err: '',
      });
      expect(await run('allocpages', '4', '1', '--cellno', '0')).toEqual({
        code: 1,
        out: '\n',
        err: "error: Operation not supported: system pages pool can't be modified\n",
      });
    },
    30_000,
  );
});
