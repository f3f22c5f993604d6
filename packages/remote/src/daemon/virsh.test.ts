/** The real virsh (libvirt-clients 9.0) against qvirtd on Unix sockets, with a real TCG guest. */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guestXml, hasVirsh, run, startTestDaemon, type TestDaemon, virsh } from '../test-support/harness.js';

describe.skipIf(!hasVirsh)('virsh against qvirtd (qemu+unix)', () => {
  let t: TestDaemon;
  beforeAll(async () => {
    t = await startTestDaemon();
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('lists no domains, prints capabilities and the version', async () => {
    const list = await virsh(t.rwUri, 'list', '--all');
    expect(list.stderr).toBe('');
    expect(list.stdout).toBe(' Id   Name   State\n--------------------\n\n');
    const caps = await virsh(t.rwUri, 'capabilities');
    expect(caps.code).toBe(0);
    // libvirt's XML ends in a newline, virsh adds "%s\n" and its blank line
    expect(caps.stdout).toMatch(/^<capabilities>\n\n {2}<host>[\s\S]*<\/capabilities>\n\n\n$/);
    expect(caps.stdout).toContain('<arch>x86_64</arch>');
    expect(caps.stdout).toContain("<domain type='qemu'/>");
    const ver = await virsh(t.rwUri, 'version');
    // the probed emulator's own version, micro included, as libvirt reports it
    const qemu = /version (\d+\.\d+\.\d+)/.exec(
      execFileSync('qemu-system-x86_64', ['--version'], { encoding: 'utf8' }),
    )?.[1];
    expect(ver.stdout).toContain(`Running hypervisor: QEMU ${qemu}`);
  });

  it('defines, starts, dumps, reports, destroys and undefines a real guest', async () => {
    const file = guestXml(t.dir, 'rg1');
    const def = await virsh(t.rwUri, 'define', file);
    expect(def.stderr).toBe('');
    expect(def.stdout).toBe(`Domain 'rg1' defined from ${file}\n\n`);
    expect((await virsh(t.rwUri, 'list', '--all')).stdout).toContain(' -    rg1    shut off');

    const start = await virsh(t.rwUri, 'start', 'rg1');
    expect(start.stderr).toBe('');
    expect(start.stdout).toBe("Domain 'rg1' started\n\n");
    expect((await virsh(t.rwUri, 'domstate', 'rg1')).stdout).toBe('running\n\n');
    expect((await virsh(t.rwUri, 'list')).stdout).toMatch(/ 1 +rg1 +running/);

    const xml = await virsh(t.rwUri, 'dumpxml', 'rg1');
    expect(xml.stdout).toMatch(/^<domain type='qemu' id='1'>\n {2}<name>rg1<\/name>/);
    expect((await virsh(t.rwUri, 'dumpxml', '--inactive', 'rg1')).stdout).toMatch(/^<domain type='qemu'>/);

    const info = await virsh(t.rwUri, 'dominfo', 'rg1');
    expect(info.stdout).toMatch(/State: +running/);
    expect(info.stdout).toMatch(/Max memory: +65536 KiB/);
    expect(info.stdout).toMatch(/Persistent: +yes/);
    expect(info.stdout).toMatch(/Security model: +none\nSecurity DOI: +0\n/);

    expect((await virsh(t.rwUri, 'suspend', 'rg1')).stdout).toBe("Domain 'rg1' suspended\n\n");
    expect((await virsh(t.rwUri, 'domstate', '--reason', 'rg1')).stdout).toBe('paused (user)\n\n');
    expect((await virsh(t.rwUri, 'resume', 'rg1')).stdout).toBe("Domain 'rg1' resumed\n\n");

    expect((await virsh(t.rwUri, 'destroy', 'rg1')).stdout).toBe("Domain 'rg1' destroyed\n\n");
    expect((await virsh(t.rwUri, 'domstate', '--reason', 'rg1')).stdout).toBe('shut off (destroyed)\n\n');
    expect((await virsh(t.rwUri, 'autostart', 'rg1')).stdout).toBe("Domain 'rg1' marked as autostarted\n\n");
    expect((await virsh(t.rwUri, 'dominfo', 'rg1')).stdout).toMatch(/Autostart: +enable/);
    const undef = await virsh(t.rwUri, 'undefine', 'rg1');
    expect(undef.stdout).toBe("Domain 'rg1' has been undefined\n\n");
    expect((await virsh(t.rwUri, 'list', '--all', '--name')).stdout).toBe('\n');
  });

  it.skipIf(process.getuid?.() !== 0)(
    'reports a tap interface with domifstat, by name and by MAC',
    async () => {
      const file = guestXml(t.dir, 'if1');
      const xml = readFileSync(file, 'utf8').replace(
        '  </devices>',
        "    <interface type='ethernet'><mac address='52:54:00:12:34:56'/><target dev='qvifs%d'/><model type='e1000'/></interface>\n  </devices>",
      );
      writeFileSync(file, xml);
      expect((await virsh(t.rwUri, 'define', file)).stderr).toBe('');
      expect((await virsh(t.rwUri, 'start', 'if1')).stderr).toBe('');
      try {
        const live = (await virsh(t.rwUri, 'dumpxml', 'if1')).stdout;
        const tap = /<target dev='(qvifs\d+)'\/>/.exec(live)?.[1];
        expect(tap).toBeDefined();
        const byName = await virsh(t.rwUri, 'domifstat', 'if1', tap!);
        expect(byName.stderr).toBe('');
        const fields = byName.stdout
          .trim()
          .split('\n')
          .map((l) => l.split(' ').slice(0, 2).join(' '));
        expect(fields).toEqual(
          [
            'rx_bytes',
            'rx_packets',
            'rx_errs',
            'rx_drop',
            'tx_bytes',
            'tx_packets',
            'tx_errs',
            'tx_drop',
          ].map((f) => `${tap} ${f}`),
        );
        expect((await virsh(t.rwUri, 'domifstat', 'if1', '52:54:00:12:34:56')).stdout).toContain('rx_bytes');
        const unknown = await virsh(t.rwUri, 'domifstat', 'if1', 'nosuch0');
        expect(unknown.stderr).toContain("invalid argument: 'nosuch0' is not a known interface");
      } finally {
        await virsh(t.rwUri, 'destroy', 'if1');
        await virsh(t.rwUri, 'undefine', 'if1');
      }
    },
  );

  it('reports disk counters with domblkstat and memory figures with dommemstat', async () => {
    const file = guestXml(t.dir, 'bs1');
    const disk = path.join(t.dir, 'bs1.img');
    expect((await virsh(t.rwUri, 'define', file)).stderr).toBe('');
    expect((await virsh(t.rwUri, 'domblkstat', 'bs1', 'hda')).stderr).toBe(
      'error: Requested operation is not valid: domain is not running\n',
    );
    expect((await virsh(t.rwUri, 'start', 'bs1')).stderr).toBe('');
    try {
      // the BIOS reads the boot sector: one request of 512 bytes, soon after the start
      const counters = async (...args: string[]) => {
        const r = await virsh(t.rwUri, 'domblkstat', 'bs1', ...args);
        expect(r.stderr).toBe('');
        return r.stdout;
      };
      let out = await counters('hda');
      for (let i = 0; i < 100 && /^hda rd_req 0$/m.test(out); i++) {
        await new Promise((r) => setTimeout(r, 100));
        out = await counters('hda');
      }
      const names = [
        'rd_req',
        'rd_bytes',
        'wr_req',
        'wr_bytes',
        'flush_operations',
        'rd_total_times',
        'wr_total_times',
        'flush_total_times',
      ];
      expect(out).toMatch(new RegExp(`^${names.map((n) => `hda ${n} \\d+\n`).join('')}\n$`));
      expect(Number(/^hda rd_req (\d+)$/m.exec(out)?.[1])).toBeGreaterThan(0);
      expect(Number(/^hda rd_bytes (\d+)$/m.exec(out)?.[1])).toBeGreaterThanOrEqual(512);
      // the only disk: "all disks" sums to the same counters, without a device name
      expect(await counters()).toBe(out.replaceAll('hda ', ' '));
      expect(await counters(disk)).toBe(out.replaceAll('hda ', `${disk} `));
      expect(await counters('hda', '--human')).toMatch(
        /^Device: hda\n number of read operations: {6}[1-9]\d*\n number of bytes read: {11}\d+\n/,
      );
      const unknown = await virsh(t.rwUri, 'domblkstat', 'bs1', 'vdz');
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toBe('error: invalid argument: invalid path: vdz\n');

      // libvirt-python reaches the legacy call and the typed one with every parameter asked for
      if (existsSync('/usr/lib/python3/dist-packages/libvirt.py')) {
        const script = `
import libvirt, sys
d = libvirt.open(sys.argv[1]).lookupByName('bs1')
print(d.blockStats('hda'))
print(sorted(d.blockStatsFlags('').items()))
print(sorted(d.memoryStats().keys()))
`;
        const py = await run('/usr/bin/python3', ['-c', script, t.rwUri], {
          ...process.env,
          LIBVIRT_AUTOSTART: '0',
        });
        expect(py.stderr).toBe('');
        const field = (name: string) => Number(new RegExp(`^hda ${name} (\\d+)$`, 'm').exec(out)?.[1]);
        const [rdReq, rdBytes, wrReq, wrBytes] = ['rd_req', 'rd_bytes', 'wr_req', 'wr_bytes'].map(field);
        expect(py.stdout.split('\n')).toEqual([
          `(${rdReq}, ${rdBytes}, ${wrReq}, ${wrBytes}, -1)`,
          `[('flush_operations', ${field('flush_operations')}), ('flush_total_times', ${field('flush_total_times')}), ('rd_bytes', ${rdBytes}), ('rd_operations', ${rdReq}), ('rd_total_times', ${field('rd_total_times')}), ('wr_bytes', ${wrBytes}), ('wr_operations', ${wrReq}), ('wr_total_times', ${field('wr_total_times')})]`,
          "['actual', 'last_update', 'rss']",
          '',
        ]);
      }

      const mem = await virsh(t.rwUri, 'dommemstat', 'bs1');
      expect(mem.stderr).toBe('');
      // the default virtio balloon: its size, the guest's (never updated) stamp, QEMU's RSS
      expect(mem.stdout).toMatch(/^actual 65536\nlast_update 0\nrss [1-9]\d*\n\n$/);
    } finally {
      await virsh(t.rwUri, 'destroy', 'bs1');
      await virsh(t.rwUri, 'undefine', 'bs1');
    }
  });

  it('answers libvirt errors: an unknown domain, a procedure qvirt does not serve', async () => {
    const missing = await virsh(t.rwUri, 'domstate', 'nope');
    expect(missing.code).toBe(1);
    // virsh tries id, uuid then name and keeps only its own line, as against libvirtd
    expect(missing.stderr).toBe("error: failed to get domain 'nope'\n");
    const net = await virsh(t.rwUri, 'net-list');
    expect(net.stderr).toContain(
      'error: this function is not supported by the connection driver: virConnectNumOfNetworks',
    );
  });

  it('converts with domxml-to-native and domxml-from-native through the daemon', async () => {
    const file = guestXml(t.dir, 'conv');
    const argv = await virsh(t.rwUri, 'domxml-to-native', 'qemu-argv', file);
    expect(argv.stderr).toBe('');
    expect(argv.stdout).toContain('/usr/bin/qemu-system-x86_64');
    expect(argv.stdout).toContain('-name guest=conv');
    const argvFile = path.join(t.dir, 'conv.argv');
    writeFileSync(argvFile, argv.stdout);
    const back = await virsh(t.rwUri, 'domxml-from-native', 'qemu-argv', argvFile);
    expect(back.stderr).toBe('');
    expect(back.stdout).toMatch(/^<domain type='qemu'[\s\S]*<name>conv<\/name>/);
    const bad = await virsh(t.rwUri, 'domxml-to-native', 'xen-xm', file);
    expect(bad.stderr).toContain('error: invalid argument: unsupported config type xen-xm');
  });

  it('the read-only socket lists but refuses define and start', async () => {
    expect((await virsh(t.roUri, 'list', '--all')).code).toBe(0);
    const file = guestXml(t.dir, 'ro1');
    const def = await virsh(t.roUri, 'define', file);
    expect(def.code).toBe(1);
    expect(def.stderr).toBe(
      `error: Failed to define domain from ${file}\nerror: operation forbidden: read only access prevents virDomainDefineXML\n`,
    );
    expect((await virsh(t.rwUri, 'list', '--all', '--name')).stdout).toBe('\n');
  });

  it('delivers lifecycle events to virsh event', async () => {
    const file = guestXml(t.dir, 'ev1');
    // Long enough for four operations on a loaded machine; virsh prints what it saw when it ends.
    const events = virsh(t.rwUri, 'event', '--all', '--loop', '--timeout', '20');
    await new Promise((r) => setTimeout(r, 1000));
    await virsh(t.rwUri, 'define', file);
    await virsh(t.rwUri, 'start', 'ev1');
    await virsh(t.rwUri, 'destroy', 'ev1');
    await virsh(t.rwUri, 'undefine', 'ev1');
    const out = (await events).stdout;
    expect(out).toContain("event 'lifecycle' for domain 'ev1': Defined Added");
    expect(out).toContain("event 'lifecycle' for domain 'ev1': Started Booted");
    expect(out).toContain("event 'lifecycle' for domain 'ev1': Stopped Destroyed");
    expect(out).toContain("event 'lifecycle' for domain 'ev1': Undefined Removed");
  });
});
