import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  firmwareDescriptorPaths,
  firmwareSearchDirs,
  parseFirmwareDescriptor,
  readFirmwareDescriptors,
} from './firmware-descriptors.js';

const descriptor = (over: Record<string, unknown> = {}) => ({
  description: 'test',
  'interface-types': ['uefi'],
  mapping: {
    device: 'flash',
    executable: { filename: '/fw/CODE.fd', format: 'raw' },
    'nvram-template': { filename: '/fw/VARS.fd', format: 'raw' },
  },
  targets: [{ architecture: 'x86_64', machines: ['pc-q35-*'] }],
  features: ['acpi-s3', 'requires-smm', 'secure-boot', 'no-such-feature'],
  tags: [],
  ...over,
});

describe('firmware descriptor search (qemuInteropFetchConfigs)', () => {
  let root: string;
  let data: string;
  let conf: string;
  let xdg: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'qvirt-fw-'));
    data = join(root, 'share');
    conf = join(root, 'etc');
    xdg = join(root, 'xdg');
    for (const d of [data, conf, xdg])
      mkdirSync(join(d, d === xdg ? 'qemu/firmware' : 'firmware'), { recursive: true });
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const put = (dir: string, name: string, body: unknown) =>
    writeFileSync(join(dir, name), typeof body === 'string' ? body : JSON.stringify(body));

  it('searches data, then conf, then the user dir for a session only', () => {
    expect(firmwareSearchDirs({ privileged: true, dirs: [data, conf] })).toEqual([
      `${data}/firmware`,
      `${conf}/firmware`,
    ]);
    expect(
      firmwareSearchDirs({ privileged: false, dirs: [data, conf], env: { XDG_CONFIG_HOME: xdg } }),
    ).toEqual([`${data}/firmware`, `${conf}/firmware`, `${xdg}/qemu/firmware`]);
    expect(firmwareSearchDirs({ privileged: false, dirs: [data, conf], env: {}, home: '/home/u' })[2]).toBe(
      '/home/u/.config/qemu/firmware',
    );
  });

  it('lets a later folder override a file name, hides names with an empty file, sorts by name', () => {
    put(join(data, 'firmware'), '60-b.json', descriptor());
    put(join(data, 'firmware'), '50-a.json', descriptor());
    put(join(data, 'firmware'), '70-c.json', descriptor());
    put(join(data, 'firmware'), '.hidden.json', '{');
    put(join(conf, 'firmware'), '60-b.json', descriptor());
    put(join(conf, 'firmware'), '70-c.json', '');
    put(join(xdg, 'qemu/firmware'), '10-user.json', descriptor());
    mkdirSync(join(conf, 'firmware', '80-dir.json'));
    const privileged = firmwareDescriptorPaths({ privileged: true, dirs: [data, conf] });
    expect(privileged).toEqual([`${data}/firmware/50-a.json`, `${conf}/firmware/60-b.json`]);
    const session = firmwareDescriptorPaths({
      privileged: false,
      dirs: [data, conf],
      env: { XDG_CONFIG_HOME: xdg },
    });
    expect(session[0]).toBe(`${xdg}/qemu/firmware/10-user.json`);
    expect(session).toHaveLength(3);
  });

  it('reads nothing when no folder exists', () => {
    expect(
      readFirmwareDescriptors({ privileged: true, dirs: [join(root, 'none'), join(root, 'none2')] }),
    ).toEqual([]);
  });

  it('fails the whole read on a malformed descriptor, naming the file', () => {
    put(join(data, 'firmware'), '50-good.json', descriptor());
    put(join(conf, 'firmware'), '60-bad.json', '{ "interface-types": [');
    expect(() => readFirmwareDescriptors({ privileged: true, dirs: [data, conf] })).toThrow(
      `internal error: unable to parse json file '${conf}/firmware/60-bad.json'`,
    );
  });
});

describe('parseFirmwareDescriptor (qemuFirmwareParse)', () => {
  it('keeps what selection needs and drops unknown features', () => {
    const fw = parseFirmwareDescriptor(JSON.stringify(descriptor()), '/x/50.json');
    expect(fw).toEqual({
      path: '/x/50.json',
      interfaces: ['uefi'],
      mapping: {
        device: 'flash',
        mode: 'split',
        executable: { filename: '/fw/CODE.fd', format: 'raw' },
        nvramTemplate: { filename: '/fw/VARS.fd', format: 'raw' },
      },
      targets: [{ architecture: 'x86_64', machines: ['pc-q35-*'] }],
      features: ['acpi-s3', 'requires-smm', 'secure-boot'],
    });
  });

  it('maps QEMU arch names to libvirt ones and reads stateless flash without a template', () => {
    const fw = parseFirmwareDescriptor(
      JSON.stringify(
        descriptor({
          mapping: {
            device: 'flash',
            mode: 'stateless',
            executable: { filename: '/fw/A.fd', format: 'raw' },
          },
          targets: [{ architecture: 'i386', machines: ['pc-*'] }],
        }),
      ),
      '/x/a.json',
    );
    expect(fw.targets[0]?.architecture).toBe('i686');
    expect(fw.mapping).toEqual({
      device: 'flash',
      mode: 'stateless',
      executable: { filename: '/fw/A.fd', format: 'raw' },
    });
  });

  it.each([
    [{ 'interface-types': undefined }, "internal error: failed to get interface-types from '/x/f.json'"],
    [{ 'interface-types': ['efi'] }, "internal error: unknown interface type: 'efi' in '/x/f.json'"],
    [{ mapping: undefined }, "internal error: missing mapping in '/x/f.json'"],
    [{ mapping: { device: 'disk' } }, "internal error: unknown device type in '/x/f.json'"],
    [{ mapping: { device: 'flash' } }, "internal error: missing 'executable' in '/x/f.json'"],
    [
      { mapping: { device: 'flash', executable: { filename: '/a', format: 'raw' } } },
      "internal error: missing 'nvram-template' in '/x/f.json'",
    ],
    [
      { mapping: { device: 'flash', mode: 'odd', executable: { filename: '/a', format: 'raw' } } },
      "internal error: Firmware flash mode value 'odd' unexpected in '/x/f.json'",
    ],
    [
      { mapping: { device: 'flash', mode: 'combined', executable: { filename: '/a' } } },
      "internal error: missing 'format' in '/x/f.json'",
    ],
    [
      { targets: [{ architecture: 'vax', machines: [] }] },
      "internal error: unknown architecture 'vax' in '/x/f.json'",
    ],
    [{ targets: [{ architecture: 'x86_64' }] }, "internal error: missing 'machines' in '/x/f.json'"],
    [{ features: undefined }, "internal error: failed to get features from '/x/f.json'"],
  ])('refuses %j', (over, message) => {
    expect(() => parseFirmwareDescriptor(JSON.stringify(descriptor(over)), '/x/f.json')).toThrow(message);
  });
});

describe.runIf(existsSync('/usr/share/qemu/firmware/60-edk2-x86_64.json'))("this host's descriptors", () => {
  it('reads Debian ovmf descriptors in file name order', () => {
    const fws = readFirmwareDescriptors({ privileged: true });
    expect(fws.length).toBeGreaterThan(0);
    const names = fws.map((f) => f.path.split('/').pop()!);
    expect(names).toEqual([...names].sort());
    expect(fws.every((f) => f.interfaces.length > 0)).toBe(true);
  });
});
