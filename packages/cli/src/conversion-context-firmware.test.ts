import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from './index.js';

const dir = mkdtempSync(path.join(tmpdir(), 'qvirsh-fw-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const env = {
  PATH: '/usr/bin:/bin',
  HOME: dir,
  XDG_CONFIG_HOME: path.join(dir, 'config'),
  XDG_CACHE_HOME: path.join(dir, 'cache'),
  XDG_RUNTIME_DIR: path.join(dir, 'run'),
};

async function toNative(os: string) {
  const file = path.join(dir, 'fw.xml');
  writeFileSync(
    file,
    `<domain type='qemu'><name>fw</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>
      <memory unit='KiB'>65536</memory><vcpu>1</vcpu>
      <os${os}><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os>
      <features><acpi/></features>
      <devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices></domain>`,
  );
  let out = '';
  let err = '';
  const code = await main(
    ['-c', 'qemu:///session', 'domxml-to-native', 'qemu-argv', file],
    { out: (t) => (out += t), err: (t) => (err += t) },
    env,
  );
  return { code, out, err };
}

describe('domxml-to-native with firmware autoselection', () => {
  it("selects from the session user's descriptors first (they sort before the system's)", async () => {
    const fwDir = path.join(env.XDG_CONFIG_HOME, 'qemu/firmware');
    mkdirSync(fwDir, { recursive: true });
    writeFileSync(
      path.join(fwDir, '00-user.json'),
      JSON.stringify({
        'interface-types': ['uefi'],
        mapping: {
          device: 'flash',
          executable: { filename: '/user/CODE.fd', format: 'raw' },
          'nvram-template': { filename: '/user/VARS.fd', format: 'raw' },
        },
        targets: [{ architecture: 'x86_64', machines: ['pc-q35-*'] }],
        features: ['acpi-s3'],
      }),
    );
    const r = await toNative(" firmware='efi'");
    expect(r.err).toBe('');
    expect(r.out).toContain(`"filename":"/user/CODE.fd","node-name":"libvirt-pflash0-storage"`);
    expect(r.out).toContain(
      `"filename":"${env.XDG_CONFIG_HOME}/qvirt/qemu/lib/nvram/fw_VARS.fd","node-name":"libvirt-pflash1-storage"`,
    );
  });

  it('names a malformed descriptor, but only when a domain needs descriptors', async () => {
    const fwDir = path.join(env.XDG_CONFIG_HOME, 'qemu/firmware');
    mkdirSync(fwDir, { recursive: true });
    writeFileSync(path.join(fwDir, '01-broken.json'), '{"interface-types": ["uefi"]');
    expect(await toNative('')).toMatchObject({ code: 0, err: '' });
    expect(await toNative(" firmware='efi'")).toMatchObject({
      code: 1,
      err: `error: internal error: unable to parse json file '${fwDir}/01-broken.json'\n`,
    });
  });
});
