/**
 * The hotplug commands through a real qvirtd, driven by libvirt's own virsh and by qvirsh:
 * change-media, update-device, attach-device/detach-device of devices that leave without a
 * guest's help (USB, SCSI, virtio-serial), attach-interface/detach-interface, and libvirt's
 * refusals. State-changing sequences run once with each tool; both must print the same.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CliTestDaemon,
  hasVirsh,
  qvirshOn,
  type Run,
  startCliTestDaemon,
  virshOn,
} from '../test-support/test-daemon.js';

let t: CliTestDaemon;
let dir: string;
let uri: string;

const virsh = virshOn(() => uri);
const qvirsh = qvirshOn(() => uri);
const root = process.geteuid?.() === 0;

/** Both print the same for `argv`. */
async function same(argv: string[]): Promise<Run> {
  const real = await virsh(...argv);
  const ours = await qvirsh(...argv);
  expect(ours, argv.join(' ')).toEqual(real);
  return real;
}

/** `steps` run with virsh, then with qvirsh, from the same state: the same outputs. */
async function sameSequence(steps: string[][]): Promise<void> {
  const real: Run[] = [];
  for (const argv of steps) real.push(await virsh(...argv));
  const ours: Run[] = [];
  for (const argv of steps) ours.push(await qvirsh(...argv));
  steps.forEach((argv, i) => {
    expect(ours[i], argv.join(' ')).toEqual(real[i]);
  });
}

describe.skipIf(!hasVirsh)('hotplug commands: virsh and qvirsh through qvirtd', () => {
  const bridge = `qvhp${process.pid % 10000}`;
  beforeAll(async () => {
    t = await startCliTestDaemon('qvirt-cli-hotplug-');
    ({ dir, uri } = t);
    if (root) execFileSync('ip', ['link', 'add', bridge, 'type', 'bridge']);
  });

  afterAll(async () => {
    await t?.stop();
    if (root) execFileSync('ip', ['link', 'del', bridge], { stdio: 'ignore' });
  });

  it('prints what virsh prints for media, devices, interfaces and refusals', async () => {
    const file = (name: string, text: string) => {
      const p = path.join(dir, name);
      writeFileSync(p, text);
      return p;
    };
    const cd1 = file('cd1.iso', '');
    const cd2 = file('cd2.iso', '');
    const data = file('data.img', '');
    writeFileSync(cd1, Buffer.alloc(1 << 20));
    writeFileSync(cd2, Buffer.alloc(2 << 20));
    writeFileSync(data, Buffer.alloc(1 << 20));
    const xml = file(
      'hp.xml',
      `<domain type='qemu'><name>hp</name><memory unit='MiB'>64</memory>
<os><type arch='x86_64' machine='q35'>hvm</type></os><features><acpi/></features>
<devices><emulator>/usr/bin/qemu-system-x86_64</emulator>
<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='${cd1}'/><target dev='sda' bus='scsi'/><readonly/></disk>
<controller type='scsi' index='0' model='virtio-scsi'/>
<controller type='virtio-serial' index='0'/>
<controller type='pci' index='0' model='pcie-root'/>
<controller type='pci' model='pcie-root-port'/><controller type='pci' model='pcie-root-port'/>
<controller type='pci' model='pcie-root-port'/><controller type='pci' model='pcie-root-port'/>
<controller type='pci' model='pcie-root-port'/><controller type='pci' model='pcie-root-port'/>
<controller type='pci' model='pcie-root-port'/><controller type='pci' model='pcie-root-port'/>
<controller type='pci' model='pcie-root-port'/><controller type='pci' model='pcie-root-port'/>
</devices></domain>`,
    );
    expect((await qvirsh('define', xml)).code).toBe(0);
    expect((await qvirsh('start', 'hp')).code).toBe(0);
    try {
      // change-media: each action, and each refusal virsh makes itself
      await sameSequence([
        ['change-media', 'hp', 'sda', cd2, '--update'],
        ['change-media', 'hp', 'sda', '--eject'],
        ['change-media', 'hp', 'sda', cd1, '--insert'],
        ['change-media', 'hp', 'sda', cd1, '--insert'],
        ['change-media', 'hp', 'sdz', '--eject'],
        ['change-media', 'hp', 'sda', '--eject', '--insert'],
        ['change-media', 'hp', cd1, cd2],
        ['change-media', 'hp', 'sda', cd1],
      ]);
      // update-device with a file
      const cdXml = (src: string) =>
        file(
          `cd-${path.basename(src)}.xml`,
          `<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='${src}'/><target dev='sda' bus='scsi'/><readonly/></disk>`,
        );
      await sameSequence([
        ['update-device', 'hp', cdXml(cd2)],
        ['update-device', 'hp', cdXml(cd1), '--live'],
      ]);
      // devices that leave at once (no guest needed): USB and SCSI disks, USB input, a channel
      const devices = [
        file(
          'usbdisk.xml',
          `<disk type='file' device='disk'><source file='${data}'/><target dev='sdc' bus='usb'/></disk>`,
        ),
        file(
          'scsidisk.xml',
          `<disk type='file' device='disk'><source file='${data}'/><target dev='sdb' bus='scsi'/></disk>`,
        ),
        file('tablet.xml', "<input type='tablet' bus='usb'/>"),
        file(
          'chan.xml',
          `<channel type='unix'><source mode='bind' path='${dir}/hp.chan'/><target type='virtio' name='org.example.hp'/></channel>`,
        ),
      ];
      await sameSequence([
        ...devices.map((d) => ['attach-device', 'hp', d, '--live']),
        ...devices.map((d) => ['detach-device', 'hp', d, '--live']),
      ]);
      // what virsh's users get as refusals
      for (const [name, text] of [
        [
          'sata.xml',
          `<disk type='file' device='disk'><source file='${data}'/><target dev='sdd' bus='sata'/></disk>`,
        ],
        ['usbctl.xml', "<controller type='usb' index='1' model='qemu-xhci'/>"],
        ['ps2.xml', "<input type='mouse' bus='ps2'/>"],
        ['scsi0.xml', "<controller type='scsi' index='0' model='virtio-scsi'/>"],
        ['sercon.xml', "<console type='pty'><target type='serial'/></console>"],
        ['nonic.xml', "<interface type='ethernet'><mac address='52:54:00:7a:00:99'/></interface>"],
        ['norng.xml', "<rng model='virtio'><backend model='random'>/dev/random</backend></rng>"],
      ] as const) {
        const f = file(name, text);
        await same(['attach-device', 'hp', f, '--live']);
        await same(['detach-device', 'hp', f, '--live']);
        await same(['detach-device', 'hp', f, '--config']);
      }
      // a pty is matched with its path: an attach XML, which names none, matches no device
      const pty = (n: number) =>
        file(
          `pty${n}.xml`,
          `<channel type='pty'><target type='virtio' name='org.example.pty${n}'/></channel>`,
        );
      const ptyRuns = [
        [
          await virsh('attach-device', 'hp', pty(1), '--live'),
          await virsh('detach-device', 'hp', pty(1), '--live'),
        ],
        [
          await qvirsh('attach-device', 'hp', pty(2), '--live'),
          await qvirsh('detach-device', 'hp', pty(2), '--live'),
        ],
      ].map((runs) => runs.map((r) => ({ ...r, err: r.err.replace(/pty\d/g, 'ptyN') })));
      expect(ptyRuns[1]).toEqual(ptyRuns[0]);
      await same(['attach-interface', 'hp', 'ethernet', 'x']);
      await same(['detach-interface', 'hp', 'bridge']);
      await same(['attach-interface', 'hp', 'bridge', bridge, '--print-xml', '--mac', '52:54:00:7a:00:01']);
      await same(['attach-interface', 'hp', 'bridge', bridge, '--config', '--mac', '52:54:00:7a:00:01']);
      await same(['detach-interface', 'hp', 'bridge', '--config', '--mac', '52:54:00:7a:00:02']);
      await sameSequence([['detach-interface', 'hp', 'bridge', '--config', '--mac', '52:54:00:7a:00:01']]);
      await same(['detach-interface', 'hp', 'bridge', '--config']);
      if (root) {
        // a live bridge port: the PCI unplug needs a guest, so each tool attaches its own
        const v = await virsh('attach-interface', 'hp', 'bridge', bridge, '--mac', '52:54:00:7a:00:11');
        const q = await qvirsh('attach-interface', 'hp', 'bridge', bridge, '--mac', '52:54:00:7a:00:12');
        expect(q).toEqual(v);
        expect(v.out).toBe('Interface attached successfully\n\n');
        await same(['detach-interface', 'hp', 'bridge']);
      }
    } finally {
      await qvirsh('destroy', 'hp');
      await qvirsh('undefine', 'hp');
    }
  }, 180_000);
});
