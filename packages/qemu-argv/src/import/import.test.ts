import { describe, expect, it } from 'vitest';
import { domxmlFromNative } from './index.js';
import { shellWords, splitCommandLine } from './split.js';

const BASE = 'LC_ALL=C PATH=/bin HOME=/home/test /usr/bin/qemu-system-x86_64 -S -M pc -m 128 -nographic';

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected an error');
}

describe('reading the command line', () => {
  it('accepts one line, backslash-newline continuations and one word per line', () => {
    const one = splitCommandLine("A=1 /usr/bin/qemu -name 'my guest' -m 64");
    const continued = splitCommandLine("A=1 \\\n/usr/bin/qemu \\\n-name \\\n'my guest' \\\n-m \\\n64\n");
    const lines = splitCommandLine("A=1\n/usr/bin/qemu\n-name\n'my guest'\n-m\n64\n");
    for (const r of [one, continued, lines]) {
      expect(r).toEqual({
        env: [['A', '1']],
        binary: '/usr/bin/qemu',
        args: ['-name', 'my guest', '-m', '64'],
      });
    }
  });

  it('joins a word broken mid-way by a continuation, as libvirt did', () => {
    expect(shellWords("-drive 'file=/a,\\\nif=ide'")).toEqual(['-drive', 'file=/a,if=ide']);
  });

  it('reads quotes as virsh writes them', () => {
    expect(shellWords(`'it'\\''s' "a \\"b\\"" c\\ d`)).toEqual(["it's", 'a "b"', 'c d']);
  });
});

describe('malformed input gets one line naming the problem', () => {
  it.each([
    ["/usr/bin/qemu -name 'unbalanced", 'unbalanced single quote at character 21'],
    ['/usr/bin/qemu -name "unbalanced', 'unbalanced double quote at character 21'],
    ['A=1 B=2', 'no emulator binary found in the command line'],
    ['-m 64', "no emulator binary found: the command line starts with the option '-m'"],
    ['/usr/bin/qemu -m lots', "internal error: cannot parse memory level 'lots'"],
    ['/usr/bin/qemu -m', 'internal error: missing value for -m argument'],
    ['/usr/bin/qemu -smp x', "internal error: cannot parse CPU topology 'x'"],
    [
      '/usr/bin/qemu -drive if=ide,index=0',
      "internal error: missing file parameter in drive 'if=ide,index=0'",
    ],
    [
      '/usr/bin/qemu -drive file=/a.img',
      "internal error: missing index/unit/bus parameter in drive 'file=/a.img'",
    ],
    ['/usr/bin/qemu -serial bogus', 'internal error: unknown character device syntax bogus'],
    ['/usr/bin/qemu -net nic,macaddr=zz -net user', "internal error: unable to parse mac address 'zz'"],
  ])('%s', (argv, message) => {
    const m = errorOf(() => domxmlFromNative(argv));
    expect(m).toBe(message);
    expect(m).not.toContain('\n');
  });
});

describe('legacy syntax', () => {
  it('imports disks, NICs, serial ports and graphics', () => {
    const { def } = domxmlFromNative(
      `${BASE} -name g1 -uuid c7a5fdbd-edaf-9455-926a-d65c16db1809 -smp 2 -boot dc ` +
        '-drive file=/var/lib/a.qcow2,format=qcow2,if=virtio,cache=none -cdrom /tmp/cd.iso ' +
        '-net nic,macaddr=52:54:00:AA:BB:CC,vlan=0,model=e1000 -net user,vlan=0 -serial telnet:127.0.0.1:9999,server,nowait',
    );
    expect(def.name).toBe('g1');
    expect(def.vcpu?.value).toBe(2);
    expect(def.memory?.value).toBe(128 * 1024);
    expect(def.os?.boot?.map((b) => b.dev)).toEqual(['cdrom', 'hd']);
    expect(
      def.devices?.disk?.map((d) => [d.target?.dev, d.target?.bus, d.driver?.type, d.driver?.cache]),
    ).toEqual([
      ['vda', 'virtio', 'qcow2', 'none'],
      ['hdc', 'ide', undefined, undefined],
    ]);
    expect(def.devices?.interface?.[0]).toMatchObject({
      type: 'user',
      mac: { address: '52:54:00:aa:bb:cc' },
      model: { type: 'e1000' },
    });
    expect(def.devices?.serial?.[0]).toMatchObject({
      type: 'tcp',
      source: [{ mode: 'bind', host: '127.0.0.1', service: '9999' }],
      protocol: { type: 'telnet' },
    });
    expect(def.devices?.memballoon).toEqual({ model: 'none' });
  });

  it('keeps what it does not understand in <qemu:commandline>, with a warning for each', () => {
    const r = domxmlFromNative(`FOO=bar ${BASE} -frobnicate on -rtc base=utc`);
    expect(r.def.qemuCommandline).toEqual({
      arg: [{ value: '-frobnicate' }, { value: 'on' }, { value: '-rtc' }, { value: 'base=utc' }],
      env: [{ name: 'FOO', value: 'bar' }],
    });
    expect(r.warnings).toEqual([
      "unknown QEMU argument '-frobnicate', adding to the qemu namespace",
      "unknown QEMU argument 'on', adding to the qemu namespace",
      "unknown QEMU argument '-rtc', adding to the qemu namespace",
      "unknown QEMU argument 'base=utc', adding to the qemu namespace",
      "unknown environment variable 'FOO', adding to the qemu namespace",
    ]);
    expect(r.xml).toContain("<qemu:arg value='-frobnicate'/>");
    expect(r.xml).toContain("<qemu:env name='FOO' value='bar'/>");
  });

  it("prints the seed's example in the seed's layout", () => {
    const { xml } = domxmlFromNative(
      'LC_ALL=C PATH=/bin HOME=/home/test USER=test LOGNAME=test /usr/bin/qemu -S -M pc -m 214 -smp 1 -nographic -monitor pty -no-acpi -boot c -hda /dev/HostVG/QEMUGuest1 -net none -serial none -parallel none -usb',
    );
    expect(xml).toContain(
      '  <memory>219136</memory>\n  <currentMemory>219136</currentMemory>\n  <vcpu>1</vcpu>\n',
    );
    expect(xml).toContain(
      "<disk type='block' device='disk'>\n      <source dev='/dev/HostVG/QEMUGuest1'/>\n      <target dev='hda' bus='ide'/>\n    </disk>",
    );
  });
});
