import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runHelper, USAGE } from './cli.js';
import { FILES_HEADER } from './profile.js';
import { recordedIo } from './test-support/fake-io.js';

const UUID = '00000000-0000-0000-0000-0123456789ab';
const NAME = `libvirt-${UUID}`;
const domain = (devices = '', name = 'vm1', extra = '') => `<domain type='kvm'>
  <name>${name}</name><uuid>${UUID}</uuid><memory>1024</memory>
  <os><type arch='x86_64'>hvm</type>${extra}</os>
  <devices>${devices}</devices>
</domain>`;
const TEMPLATE =
  '#include <tunables/global>\n\nprofile LIBVIRT_TEMPLATE flags=(attach_disconnected) {\n  #include <abstractions/libvirt-qemu>\n}\n';

let dirs: string[] = [];
const scratch = () => {
  const d = mkdtempSync(path.join(tmpdir(), 'aa-cli-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
});

describe('virt-aa-helper arguments', () => {
  it('prints usage on -h and exits 0, whatever precedes it', async () => {
    const io = recordedIo(['--dryrun', '-h']);
    expect(await runHelper(io)).toBe(0);
    expect(io.out).toBe(USAGE);
  });

  it.each([
    [
      ['-z'],
      "/usr/lib/libvirt/virt-aa-helper: invalid option -- 'z'\nvirt-aa-helper: error: unsupported option\n",
    ],
    [
      ['-p'],
      "/usr/lib/libvirt/virt-aa-helper: option requires an argument -- 'p'\nvirt-aa-helper: error: unsupported option\n",
    ],
    [['-p', '0', '-r', '-u', NAME], 'virt-aa-helper: error: unsupported option\n'],
    [
      ['-c', '-u'],
      "/usr/lib/libvirt/virt-aa-helper: option requires an argument -- 'u'\nvirt-aa-helper: error: unsupported option\n",
    ],
    [['-c'], 'virt-aa-helper: error: invalid UUID\n'],
    [[], 'virt-aa-helper: error: invalid UUID\n'],
    [['-c', '-u', `${NAME}abcdef`], 'virt-aa-helper: error: invalid UUID\n'],
    [['-c', '-u', 'libvirt-00000000-0000-0000-0000-00000000000g'], 'virt-aa-helper: error: invalid UUID\n'],
    [
      ['--re', '-u', NAME],
      "/usr/lib/libvirt/virt-aa-helper: option '--re' is ambiguous; possibilities: '--replace' '--remove'\nvirt-aa-helper: error: unsupported option\n",
    ],
  ])('%j fails with exit 1', async (args, stderr) => {
    const io = recordedIo(args, domain());
    expect(await runHelper(io)).toBe(1);
    expect(io.err).toBe(stderr);
  });

  it('accepts long options, clustered flags and an attached uuid', async () => {
    const io = recordedIo(['-dr', `--uuid=${NAME}`], domain());
    expect(await runHelper(io)).toBe(0);
    expect(io.err).toContain('"/var/log/libvirt/**/vm1.log" w,');
  });

  it('prints usage and exits 1 without a mode', async () => {
    const io = recordedIo(['-u', NAME]);
    expect(await runHelper(io)).toBe(1);
    expect(io.out).toBe(USAGE);
  });
});

describe('virt-aa-helper definitions', () => {
  it.each([
    [
      'name with a comma',
      domain('', 'a,b'),
      'virt-aa-helper: error: bad name\nvirt-aa-helper: error: could not get VM definition\n',
    ],
    [
      'name with a slash',
      domain('', 'a/b'),
      'virt-aa-helper: error: could not parse XML\nvirt-aa-helper: error: could not get VM definition\n',
    ],
    [
      'no os type',
      domain().replace("<type arch='x86_64'>hvm</type>", ''),
      'virt-aa-helper: error: os.type is not defined\nvirt-aa-helper: error: could not get VM definition\n',
    ],
    [
      'bad os type',
      domain().replace('hvm<', 'hvm_invalid<'),
      'virt-aa-helper: error: unknown OS type\nvirt-aa-helper: error: could not get VM definition\n',
    ],
    [
      'no uuid',
      domain().replace(/<uuid>.*<\/uuid>/, ''),
      'virt-aa-helper: warning: Could not find <uuid>\nvirt-aa-helper: error: could not get VM definition\n',
    ],
    [
      '< in an attribute',
      domain("<disk type='file'><source file='/x.img</disk>'/><target dev='vda'/></disk>"),
      'virt-aa-helper: error: could not get VM definition\n',
    ],
    [
      'restricted disk',
      domain("<disk type='file'><source file='/etc/shadow'/><target dev='vda'/></disk>"),
      'virt-aa-helper: error: /etc/shadow\nvirt-aa-helper: error: skipped restricted file\nvirt-aa-helper: error: invalid VM definition\n',
    ],
    [
      'writable kernel dir',
      domain("<disk type='file'><source file='/boot/x.img'/><target dev='vda'/></disk>"),
      'virt-aa-helper: warning: path does not exist, skipping file type checks\nvirt-aa-helper: error: /boot/x.img\nvirt-aa-helper: error: skipped restricted file\nvirt-aa-helper: error: invalid VM definition\n',
    ],
    [
      'quote in a path',
      domain(`<disk type='file'><source file='/tmp/a"b'/><target dev='vda'/></disk>`),
      'virt-aa-helper: error: /tmp/a"b\nvirt-aa-helper: error: skipped restricted file\nvirt-aa-helper: error: invalid VM definition\n',
    ],
  ])('%s is refused', async (_what, xml, stderr) => {
    const io = recordedIo(['-d', '-c', '-u', NAME], xml);
    expect(await runHelper(io)).toBe(1);
    expect(io.err).toBe(stderr);
  });

  it('lets /sys/devices/pci through and /usr/share/OVMF read-only', async () => {
    const io = recordedIo(
      ['-d', '-r', '-u', NAME],
      domain(
        "<filesystem type='mount'><source dir='/sys/devices/pci0000:00'/><target dir='t'/><readonly/></filesystem>",
        'vm1',
        "<loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE.fd</loader>",
      ),
    );
    expect(await runHelper(io)).toBe(0);
    expect(io.err).toContain(
      '  "/usr/share/OVMF/OVMF_CODE.fd" rk,\n  # don\'t audit writes to readonly files\n  deny "/usr/share/OVMF/OVMF_CODE.fd" w,\n',
    );
    expect(io.err).toContain('  "/sys/devices/pci0000:00/**" r,\n  "/sys/devices/pci0000:00/" r,\n');
  });

  it('covers every device family', async () => {
    const d = scratch();
    const f = (n: string) => {
      writeFileSync(path.join(d, n), '');
      return path.join(d, n);
    };
    const xml = domain(
      `<disk type='file'><source file='${f('a.img')}'/><target dev='vda'/><readonly/></disk>
       <disk type='file'><source file='${f('top.img')}'/><backingStore type='file'><format type='raw'/><source file='${f('base.img')}'/></backingStore><target dev='vdb'/></disk>
       <filesystem type='mount'><source dir='${d}'/><target dir='t'/></filesystem>
       <input type='evdev'><source dev='${f('event')}'/></input>
       <interface type='vhostuser'><source type='unix' path='${d}/vhu' mode='server'/><model type='virtio'/></interface>
       <interface type='network'><source network='default'/><model type='e1000'/></interface>
       <memory model='nvdimm'><source><path>${f('nv')}</path></source><target><size>1</size></target></memory>
       <shmem name='p'/><shmem name='d'><model type='ivshmem-doorbell'/></shmem>
       <tpm model='tpm-crb'><backend type='emulator' version='2.0'/></tpm>
       <smartcard mode='host'/>
       <hostdev mode='subsystem' type='mdev' model='vfio-pci'><source><address uuid='c2177883-f1bb-47f0-914d-32a22e3a8804'/></source></hostdev>
       <channel type='unix'><source mode='bind' path='${d}/ch'/><target type='virtio'/></channel>
       <console type='file'><source path='${d}/c.log'/><target type='virtio'/></console>`,
      'vm1',
      `<kernel>${f('k')}</kernel><initrd>${f('i')}</initrd><dtb>${f('dtb')}</dtb><acpi><table type='slic'>${f('slic')}</table></acpi><nvram>${d}/nv.fd</nvram>`,
    ).replace(
      '<devices>',
      `<sysinfo type='fwcfg'><entry name='opt/x' file='${f('fw')}'/></sysinfo><devices>`,
    );
    const io = recordedIo(['-d', '-r', '-u', NAME], xml);
    expect(await runHelper(io)).toBe(0);
    const rules = io.err.split('virt-aa-helper:\n')[2]!;
    expect(rules).toBe(
      [
        '  "/var/log/libvirt/**/vm1.log" w,',
        '  "/var/lib/libvirt/qemu/domain-vm1/monitor.sock" rw,',
        '  "/var/lib/libvirt/qemu/domain--1-vm1/*" rw,',
        '  "/run/libvirt/**/vm1.pid" rwk,',
        '  "/run/libvirt/**/*.tunnelmigrate.dest.vm1" rw,',
        `  "${d}/a.img" rk,`,
        "  # don't audit writes to readonly files",
        `  deny "${d}/a.img" w,`,
        `  "${d}/top.img" rwk,`,
        `  "${d}/base.img" rk,`,
        "  # don't audit writes to readonly files",
        `  deny "${d}/base.img" w,`,
        `  "${d}/c.log" rw,`,
        `  "${d}/ch" rw,`,
        `  "${d}/k" r,`,
        "  # don't audit writes to readonly files",
        `  deny "${d}/k" w,`,
        `  "${d}/i" r,`,
        "  # don't audit writes to readonly files",
        `  deny "${d}/i" w,`,
        `  "${d}/dtb" r,`,
        "  # don't audit writes to readonly files",
        `  deny "${d}/dtb" w,`,
        `  "${d}/slic" r,`,
        "  # don't audit writes to readonly files",
        `  deny "${d}/slic" w,`,
        `  "${d}/nv.fd" rwk,`,
        `  "${d}/**" rwl,`,
        `  "${d}/" r,`,
        `  "${d}/event" rw,`,
        `  "${d}/vhu" rw,`,
        `  "${d}/nv" rw,`,
        `  "${d}/fw" r,`,
        "  # don't audit writes to readonly files",
        `  deny "${d}/fw" w,`,
        '  "/dev/shm/p" rw,',
        '  "/var/lib/libvirt/shmem-d-sock" rw,',
        '  "/run/libvirt/qemu/swtpm/-1-vm1-swtpm.sock" rw,',
        `  "/var/lib/libvirt/swtpm/${UUID}/tpm2/" r,`,
        `  "/var/lib/libvirt/swtpm/${UUID}/tpm2/**" rwk,`,
        '  "/var/log/swtpm/libvirt/qemu/vm1-swtpm.log" w,',
        '  "/run/libvirt/qemu/swtpm/-1-vm1-swtpm.pid" rw,',
        '  "/etc/pki/nssdb/{,*}" rk,',
        '  "/dev/vhost-net" rw,',
        '  "/dev/vfio/vfio" rw,',
        '  "/dev/vfio/[0-9]*" rw,',
        '',
        '',
      ].join('\n'),
    );
  });
});

describe('virt-aa-helper files and apparmor_parser', () => {
  const setup = () => {
    const dir = scratch();
    writeFileSync(path.join(dir, 'TEMPLATE.qemu'), TEMPLATE);
    return dir;
  };

  it('-c writes the profile from the template and the rules, then loads it; -r regenerates', async () => {
    const dir = setup();
    const io = recordedIo(['-c', '-u', NAME], domain(), { apparmorDir: dir });
    expect(await runHelper(io)).toBe(0);
    expect(io.parserRuns).toEqual([['-a', `${dir}/${NAME}`]]);
    const profile = readFileSync(path.join(dir, NAME), 'utf8');
    expect(profile).toBe(
      `#include <tunables/global>\n\nprofile ${NAME} flags=(attach_disconnected) {\n  #include <abstractions/libvirt-qemu>\n  #include "${dir}/${NAME}.files"\n\n}\n`,
    );
    expect(statSync(path.join(dir, NAME)).mode & 0o777).toBe(0o644);
    const files = readFileSync(path.join(dir, `${NAME}.files`), 'utf8');
    expect(files.startsWith(FILES_HEADER)).toBe(true);

    // -c again: the profile exists.
    const again = recordedIo(['-c', '-u', NAME], domain(), { apparmorDir: dir });
    expect(await runHelper(again)).toBe(1);
    expect(again.err).toBe('virt-aa-helper: error: profile exists\n');

    // -r -F appends; -r without a file regenerates.
    const append = recordedIo(['-r', '-u', NAME, '-F', `${dir}/extra`], domain(), { apparmorDir: dir });
    expect(await runHelper(append)).toBe(0);
    expect(readFileSync(path.join(dir, `${NAME}.files`), 'utf8')).toBe(`${files}  "${dir}/extra" rwk,\n`);
    expect(append.parserRuns).toEqual([['-r', `${dir}/${NAME}`]]);
    await runHelper(recordedIo(['-r', '-u', NAME], domain(), { apparmorDir: dir }));
    expect(readFileSync(path.join(dir, `${NAME}.files`), 'utf8')).toBe(files);
  });

  it('-c removes what it wrote when loading fails', async () => {
    const dir = setup();
    const io = recordedIo(['-c', '-u', NAME], domain(), { apparmorDir: dir, parserStatus: 1 });
    expect(await runHelper(io)).toBe(1);
    expect(io.err).toBe('virt-aa-helper: error: apparmor_parser exited with error\n');
    expect(() => statSync(path.join(dir, NAME))).toThrow();
    expect(() => statSync(path.join(dir, `${NAME}.files`))).toThrow();
  });

  it('-D unloads and deletes the rules, -R tolerates 234, a missing profile fails', async () => {
    const dir = setup();
    await runHelper(recordedIo(['-c', '-u', NAME], domain(), { apparmorDir: dir }));
    const r = recordedIo(['-R', '-u', NAME], '', { apparmorDir: dir, parserStatus: 234 });
    expect(await runHelper(r)).toBe(0);
    expect(r.err).toBe('virt-aa-helper: warning: unable to unload already unloaded profile\n');
    const d = recordedIo(['-D', '-u', NAME], '', { apparmorDir: dir });
    expect(await runHelper(d)).toBe(0);
    expect(d.parserRuns).toEqual([['-R', `${dir}/${NAME}`]]);
    expect(() => statSync(path.join(dir, `${NAME}.files`))).toThrow();
    const missing = recordedIo(['-R', '-u', 'libvirt-00000000-0000-0000-0000-000000000001'], '', {
      apparmorDir: dir,
    });
    expect(await runHelper(missing)).toBe(1);
    expect(missing.err).toBe('virt-aa-helper: error: profile does not exist\n');
  });

  it('purges and recreates an empty profile on -r', async () => {
    const dir = setup();
    writeFileSync(path.join(dir, NAME), '');
    const io = recordedIo(['-r', '-u', NAME], domain(), { apparmorDir: dir });
    expect(await runHelper(io)).toBe(0);
    expect(io.err).toBe('virt-aa-helper: warning: Profile of 0 size detected, will attempt to remove it\n');
    expect(io.parserRuns).toEqual([
      ['-R', `${dir}/${NAME}`],
      ['-r', `${dir}/${NAME}`],
    ]);
    expect(readFileSync(path.join(dir, NAME), 'utf8')).toContain(`profile ${NAME} `);
  });
});
