// The report parser and the view it builds, on console text as the guest writes it (CRLF line
// ends, kernel messages interleaved, lines split across chunks).
import { describe, expect, it } from 'vitest';
import { GuestConsole, parseGuestReport } from './report.js';

describe('guest reports', () => {
  it('parses a line, wherever the mark is in it', () => {
    expect(parseGuestReport('[   3.1] x QVIRT-GUEST disk name=vda bytes=512 serial=AB\r')).toEqual({
      kind: 'disk',
      fields: { name: 'vda', bytes: '512', serial: 'AB' },
      line: 'disk name=vda bytes=512 serial=AB',
    });
    expect(parseGuestReport('Run /init as init process')).toBeUndefined();
  });

  it('builds the view from chunks and removes what is gone', async () => {
    const con = new GuestConsole();
    con.feed(
      'SeaBIOS\r\nQVIRT-GUEST cpus count=1 online=0 present=0\r\nQVIRT-GUEST disk name=vda bytes=1024 ser',
    );
    expect(con.view.disks.size).toBe(0);
    con.feed(
      'ial=- ro=1 removable=0\r\nQVIRT-GUEST nic name=eth0 mac=52:54:00:00:00:01 state=up ipv4=10.0.2.15/24\r\n',
    );
    const waiting = con.waitUntil('ready', (v) => v.ready && v);
    con.feed('QVIRT-GUEST ready uptime=3.2\r\n');
    const view = await waiting;
    expect(view.cpus).toEqual({ count: 1, online: '0', present: '0' });
    expect(view.disks.get('vda')).toEqual({
      name: 'vda',
      bytes: 1024,
      serial: undefined,
      readonly: true,
      removable: false,
    });
    expect(view.nics.get('eth0')?.ipv4).toEqual(['10.0.2.15/24']);

    const after = con.reports.length;
    con.feed('QVIRT-GUEST disk-gone name=vda\r\n');
    expect(con.view.disks.has('vda')).toBe(false);
    expect((await con.waitForReport('disk-gone', { name: 'vda' }, { after })).fields.name).toBe('vda');
  });

  it('fails a wait when the console closes before it is met', async () => {
    const con = new GuestConsole();
    con.feed('QVIRT-GUEST kernel release=6.1\n');
    const waiting = con.waitUntil('a disk', (v) => v.disks.get('vdb'), 60000);
    con.close('QEMU exited (1)');
    await expect(waiting).rejects.toThrow(/a disk: QEMU exited \(1\).*\n.*kernel release=6\.1/s);
  });
});
