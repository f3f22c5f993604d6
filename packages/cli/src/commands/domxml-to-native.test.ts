import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../index.js';

const dir = mkdtempSync(path.join(tmpdir(), 'qvirsh-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SEED = path.resolve(import.meta.dirname, '../../../../docs/examples/demo.xml');

/** virsh converts through its connection (virConnectDomainXMLToNative): an embedded instance here. */
const EMBED = ['-c', `qemu:///embed?root=${dir}`];

async function run(argv: string[], env: NodeJS.ProcessEnv = {}) {
  let out = '';
  let err = '';
  const code = await main(
    argv,
    { out: (t) => (out += t), err: (t) => (err += t) },
    { PATH: '/usr/bin:/bin', ...env },
  );
  return { code, out, err };
}

describe('qvirsh domxml-to-native', () => {
  it("prints libvirt's command line for the seed's example with libvirt's layout", async () => {
    const r = await run(['-c', `qemu:///embed?root=${dir}`, 'domxml-to-native', 'qemu-argv', SEED], {
      QVIRT_LAYOUT: 'libvirt',
    });
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(
      /^LC_ALL=C PATH=\/usr\/bin:\/bin HOME=\/var\/lib\/libvirt\/qemu\/domain--1-QEMUGuest1 /,
    );
    expect(r.out).toContain(
      ' -machine pc-i440fx-7.2,usb=off,dump-guest-core=off,memory-backend=pc.ram -accel tcg ',
    );
    expect(r.out.endsWith('-msg timestamp=on\n')).toBe(true);
  });

  it("places the domain's private directory under an embed root", async () => {
    const r = await run([
      '-c',
      `qemu:///embed?root=${dir}`,
      'domxml-to-native',
      '--format',
      'qemu-argv',
      '--xml',
      SEED,
    ]);
    expect(r.out).toContain(`HOME=${dir}/lib/qemu/domain--1-QEMUGuest1 `);
  });

  it('refuses another format as libvirt does', async () => {
    expect(await run([...EMBED, 'domxml-to-native', 'xen-xm', SEED])).toMatchObject({
      code: 1,
      err: 'error: invalid argument: unsupported config type xen-xm\n',
    });
  });

  it('names a missing file and bad XML in one line', async () => {
    expect((await run([...EMBED, 'domxml-to-native', 'qemu-argv', `${dir}/nope.xml`])).err).toBe(
      `error: Failed to open file '${dir}/nope.xml': No such file or directory\n`,
    );
    const bad = path.join(dir, 'bad.xml');
    writeFileSync(bad, readFileSync(SEED, 'utf8').replace('</devices>', '<devices>'));
    const r = await run([...EMBED, 'domxml-to-native', 'qemu-argv', bad]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^error: XML error: domain: line \d+, column \d+: .+\n$/);
  });

  it('prints per-command help', async () => {
    expect((await run(['help', 'domxml-to-native'])).out).toContain(
      'domxml-to-native <format> [--domain <string>] [<xml>]',
    );
  });
});

describe('qvirsh domxml-from-native', () => {
  it('prints domain XML, keeping what it cannot model verbatim (libvirt only logs that)', async () => {
    const argv = path.join(dir, 'argv.txt');
    writeFileSync(
      argv,
      'LC_ALL=C /usr/bin/qemu-system-x86_64 -name g -m 64 -nographic -hda /tmp/a.img -frob\n',
    );
    const r = await run([...EMBED, 'domxml-from-native', 'qemu-argv', argv]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('<name>g</name>');
    expect(r.out).toContain("<qemu:arg value='-frob'/>");
    expect(r.err).toBe('');
  });

  it('names the word it cannot read', async () => {
    const argv = path.join(dir, 'bad.txt');
    writeFileSync(argv, "/usr/bin/qemu -name 'oops\n");
    expect((await run([...EMBED, 'domxml-from-native', 'qemu-argv', argv])).err).toBe(
      'error: unbalanced single quote at character 21\n',
    );
  });
});
