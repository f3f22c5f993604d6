/** qvirsh console through qvirtd, under a pty (`script`): virsh's banner, keys in, the guest's answer out, Ctrl+] out. */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ECHO_ONLY, echoOf, serialGuestBootSector } from '@qvirt/driver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../index.js';
import { type CliTestDaemon, startCliTestDaemon } from '../test-support/test-daemon.js';

const QVIRSH = fileURLToPath(new URL('../../bin/qvirsh.js', import.meta.url));
let t: CliTestDaemon;

beforeAll(async () => {
  t = await startCliTestDaemon('qvirt-cli-console-');
});
afterAll(async () => {
  await t?.stop();
});

async function qvirsh(...argv: string[]) {
  let out = '';
  let err = '';
  const code = await main(['-c', t.uri, ...argv], { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

describe('qvirsh console', () => {
  it("connects the terminal to the guest's serial console until Ctrl+]", async () => {
    const disk = path.join(t.dir, 'c.img');
    writeFileSync(disk, serialGuestBootSector(ECHO_ONLY));
    const file = path.join(t.dir, 'c.xml');
    writeFileSync(
      file,
      `<domain type='qemu'><name>con</name><memory unit='KiB'>65536</memory><vcpu>1</vcpu>
<os><type arch='i686' machine='pc'>hvm</type><boot dev='hd'/></os>
<devices><emulator>/usr/bin/qemu-system-x86_64</emulator>
<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${disk}'/><target dev='hda' bus='ide'/></disk>
<serial type='pty'/><console type='pty'/>
</devices></domain>`,
    );
    expect((await qvirsh('create', file)).code).toBe(0);
    // without a terminal, virsh's refusal
    expect(await qvirsh('console', 'con')).toMatchObject({
      code: 1,
      err: 'error: Cannot run interactive console without a controlling TTY\n',
    });
    const child = spawn(
      'script',
      ['-qfec', `${process.execPath} ${QVIRSH} -c '${t.uri}' console con`, '/dev/null'],
      {
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString('latin1')));
    child.stderr.on('data', (b: Buffer) => (out += b.toString('latin1')));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const waitFor = async (text: string) => {
      const deadline = Date.now() + 20_000;
      while (!out.includes(text)) {
        if (Date.now() > deadline) throw new Error(`no '${text}' in ${JSON.stringify(out)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    try {
      await waitFor("Connected to domain 'con'\r\nEscape character is ^] (Ctrl + ])\r\n");
      // the session is open once a key comes back
      for (let i = 0; !out.includes(echoOf('k')) && i < 100; i++) {
        child.stdin.write('k');
        await new Promise((r) => setTimeout(r, 200));
      }
      child.stdin.write('typed-keys');
      await waitFor(echoOf('typed-keys'));
      child.stdin.write('\x1d');
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
    expect((await qvirsh('destroy', 'con')).code).toBe(0);
  });
});
