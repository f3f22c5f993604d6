/**
 * Consoles and channels, one suite two ways (in process and through a real qvirtd), plus the real
 * `virsh console` against qvirtd under a pty: the guest (a boot sector answering on COM1) sees the
 * keys and its output shows; a second session is refused unless forced.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  type Domain,
  type HypervisorDriver,
  VIR_CONNECT_LIST_DOMAINS as L,
  VIR_DOMAIN_CONSOLE,
  type VirStream,
} from '@qvirt/core/hypervisor';
import { ECHO_ONLY, echoOf, QemuDriver, serialGuestBootSector } from '@qvirt/driver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RemoteClient } from '../client/client.js';
import { defaultDaemonConfig } from '../daemon/config.js';
import { startDaemon } from '../daemon/daemon.js';
import { hasVirsh, killMentioning, makeTestDir, VIRSH } from '../test-support/harness.js';

interface Way {
  conn: HypervisorDriver;
  dir: string;
  uri?: string;
  close(): Promise<void>;
}

async function inProcess(): Promise<Way> {
  const { dir, root } = makeTestDir('qvirt-console-local-');
  const conn = await QemuDriver.open(`qemu:///embed?root=${root}`);
  return { conn, dir, close: () => conn.connectClose() };
}

async function throughQvirtd(): Promise<Way> {
  const { dir, root } = makeTestDir('qvirt-console-remote-');
  const daemon = await startDaemon({
    uri: `qemu:///embed?root=${root}`,
    socketDir: path.join(dir, 'sock'),
    config: defaultDaemonConfig(),
  });
  const uri = `qemu+unix:///system?socket=${daemon.sockets.rw}`;
  const conn = await RemoteClient.open(uri);
  return {
    conn,
    dir,
    uri,
    async close() {
      await conn.connectClose();
      await daemon.close();
    },
  };
}

/** A guest with its serial port on a pty (and its console the same port), plus a unix channel. */
function echoGuestXml(dir: string, name: string): string {
  const disk = path.join(dir, `${name}.img`);
  writeFileSync(disk, serialGuestBootSector(ECHO_ONLY));
  // QEMU (an unprivileged user here) binds the channel's socket in a folder it may write
  const chanDir = path.join(dir, 'chan');
  mkdirSync(chanDir, { mode: 0o777 });
  chmodSync(chanDir, 0o777);
  return `<domain type='qemu'>
  <name>${name}</name>
  <memory unit='KiB'>65536</memory>
  <vcpu>1</vcpu>
  <os><type arch='i686' machine='pc'>hvm</type><boot dev='hd'/></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${disk}'/><target dev='hda' bus='ide'/></disk>
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <channel type='unix'><source mode='bind' path='${path.join(chanDir, `${name}.sock`)}'/><target type='virtio' name='org.example.test'/></channel>
  </devices>
</domain>
`;
}

/** Reads the stream until `text` has come (the guest's output), or fails after `ms`. */
async function readUntil(st: VirStream, text: string, ms = 20_000): Promise<string> {
  let got = '';
  const deadline = Date.now() + ms;
  while (!got.includes(text)) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`no '${text}' in ${JSON.stringify(got)}`);
    const c = await Promise.race([st.recv(), new Promise<'late'>((r) => setTimeout(() => r('late'), left))]);
    if (c === 'late') continue;
    if (c === null) throw new Error(`stream ended before '${text}': ${JSON.stringify(got)}`);
    if ('data' in c) got += Buffer.from(c.data).toString('latin1');
  }
  return got;
}

describe.each([
  ['in process', inProcess],
  ['through qvirtd', throughQvirtd],
])('consoles and channels %s', (label, open) => {
  let way: Way;
  let c: HypervisorDriver;
  let dom: Domain;
  beforeAll(async () => {
    way = await open();
    c = way.conn;
    dom = await c.domainCreateXML(echoGuestXml(way.dir, 'echo'), 0);
  });
  afterAll(async () => {
    for (const d of await c.connectListAllDomains(L.ACTIVE).catch(() => []))
      await c.domainDestroy(d).catch(() => {});
    await way?.close();
    killMentioning(way.dir);
    rmSync(way.dir, { recursive: true, force: true });
  });

  it("puts the pty's path in the live XML as libvirt does", async () => {
    const xml = await c.domainGetXMLDesc(dom, 0);
    const pty = /<serial type='pty'>\n\s*<source path='(\/dev\/pts\/\d+)'\/>/.exec(xml)?.[1];
    expect(pty).toBeDefined();
    expect(xml).toContain(`<console type='pty' tty='${pty}'>\n      <source path='${pty}'/>`);
    // the inactive definition has none
    expect(await c.domainGetXMLDesc(dom, 2)).not.toContain('/dev/pts/');
  });

  it('joins a console stream to the guest: keys reach it, its output comes back', async () => {
    const st = await c.domainOpenConsole(dom, null, 0);
    await st.send(Buffer.from('qvirt-key-1'));
    expect(await readUntil(st, echoOf('qvirt-key-1'))).toContain(echoOf('qvirt-key-1'));
    // one session at a time, unless forced
    await expect(c.domainOpenConsole(dom, 'serial0', 0)).rejects.toThrow(
      /^operation failed: Active console session exists for this domain$/,
    );
    const forced = await c.domainOpenConsole(dom, 'serial0', VIR_DOMAIN_CONSOLE.FORCE);
    await forced.send(Buffer.from('qvirt-key-2'));
    expect(await readUntil(forced, echoOf('qvirt-key-2'))).toContain(echoOf('qvirt-key-2'));
    await forced.finish();
    // a finished session frees the console
    const again = await c.domainOpenConsole(dom, null, 0);
    await again.abort();
    await st.abort().catch(() => {});
  });

  it('refuses consoles and channels it cannot join, with libvirt words', async () => {
    await expect(c.domainOpenConsole(dom, 'nope', 0)).rejects.toThrow(
      /^internal error: cannot find character device nope$/,
    );
    await expect(c.domainOpenChannel(dom, 'nope', 0)).rejects.toThrow(
      /^internal error: cannot find channel nope$/,
    );
    const ch = await c.domainOpenChannel(dom, 'org.example.test', 0);
    await expect(c.domainOpenChannel(dom, null, 0)).rejects.toThrow(
      /^operation failed: Active channel stream exists for this domain$/,
    );
    await ch.abort();
    const ch2 = await c.domainOpenChannel(dom, 'channel0', 0);
    await ch2.finish();
  });

  it.runIf(label === 'through qvirtd' && hasVirsh)(
    "works with libvirt's own virsh console under a pty",
    async () => {
      // `script` gives virsh a terminal; its stdin is our pipe
      const child = spawn('script', ['-qfec', `${VIRSH} -c '${way.uri}' console echo`, '/dev/null'], {
        env: { ...process.env, LC_ALL: 'C', LIBVIRT_AUTOSTART: '0' },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString('latin1');
      });
      child.stderr.on('data', (b: Buffer) => {
        out += b.toString('latin1');
      });
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
      const waitFor = async (text: string) => {
        const deadline = Date.now() + 20_000;
        while (!out.includes(text)) {
          if (Date.now() > deadline) throw new Error(`no '${text}' in ${JSON.stringify(out)}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      try {
        await waitFor("Connected to domain 'echo'");
        await waitFor('Escape character is ^] (Ctrl + ])');
        // the console is taken: another session is refused
        await expect(c.domainOpenConsole(dom, null, 0)).rejects.toThrow(
          'operation failed: Active console session exists for this domain',
        );
        child.stdin.write('hello-from-virsh');
        // what comes back is the guest's answer, not the terminal's echo
        await waitFor(echoOf('hello-from-virsh'));
        child.stdin.write('\x1d');
        expect(await exited).toBe(0);
      } finally {
        child.kill('SIGKILL');
      }
      // and once virsh left, the console is free again
      const st = await c.domainOpenConsole(dom, null, 0);
      await st.finish();
    },
  );
});
