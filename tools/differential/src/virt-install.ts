/**
 * Domain XMLs as a real tool writes them: `virt-install --print-xml` with a spread of options.
 * virt-install reads the connection's capabilities and domain capabilities to choose defaults, as
 * it does for users. By default it talks to a throwaway `qemu:///embed` root through
 * `virt-install-embed.py` (the system libvirtd answers the same, but where QEMU's user cannot open
 * /dev/kvm it re-probes QEMU on every capabilities call, a minute per variant); `uri` picks another
 * connection, e.g. qemu:///system. Skipped when virt-install is missing.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Case } from './generate.js';

const EMBED_WRAPPER = path.join(path.dirname(fileURLToPath(import.meta.url)), '../src/virt-install-embed.py');

const BASE = ['--print-xml', '--noautoconsole', '--memory', '1024', '--vcpus', '2'];

/** One option set per line: each a configuration users ask virt-install for. */
export const VIRT_INSTALL_VARIANTS: readonly string[][] = [
  ['--osinfo', 'linux2022', '--import', '--disk', 'none'],
  [
    '--osinfo',
    'linux2022',
    '--import',
    '--disk',
    'type=file,source.file=@IMAGES@/a.qcow2,driver.type=qcow2,target.bus=virtio',
  ],
  [
    '--osinfo',
    'debian11',
    '--import',
    '--disk',
    'type=file,source.file=@IMAGES@/a.img,target.bus=sata',
    '--graphics',
    'vnc,password=secret',
  ],
  [
    '--osinfo',
    'win10',
    '--import',
    '--disk',
    'type=file,source.file=@IMAGES@/w.qcow2,target.bus=sata',
    '--features',
    'hyperv.relaxed.state=on',
  ],
  ['--osinfo', 'fedora37', '--import', '--disk', 'none', '--boot', 'uefi'],
  ['--osinfo', 'linux2022', '--import', '--disk', 'none', '--machine', 'pc'],
  [
    '--osinfo',
    'linux2022',
    '--import',
    '--disk',
    'none',
    '--graphics',
    'none',
    '--console',
    'pty,target_type=serial',
  ],
  ['--osinfo', 'linux2022', '--import', '--disk', 'none', '--network', 'bridge=br0,model=virtio'],
  [
    '--osinfo',
    'linux2022',
    '--import',
    '--disk',
    'none',
    '--network',
    'network=default,virtualport.type=openvswitch',
  ],
  ['--osinfo', 'linux2022', '--import', '--disk', 'none', '--network', 'none', '--sound', 'none'],
  ['--osinfo', 'linux2022', '--import', '--disk', 'none', '--cpu', 'host-passthrough'],
  ['--osinfo', 'linux2022', '--import', '--disk', 'none', '--cpu', 'host-model'],
  [
    '--osinfo',
    'linux2022',
    '--import',
    '--disk',
    'none',
    '--memorybacking',
    'source.type=memfd,access.mode=shared',
    '--filesystem',
    'type=mount,source=/srv,target=srv,driver.type=virtiofs',
  ],
  ['--osinfo', 'linux2022', '--import', '--disk', 'none', '--iothreads', '2'],
  [
    '--osinfo',
    'linux2022',
    '--import',
    '--disk',
    'type=file,source.file=@IMAGES@/b.qcow2,target.bus=scsi',
    '--controller',
    'scsi,model=virtio-scsi',
  ],
  [
    '--osinfo',
    'linux2022',
    '--import',
    '--disk',
    'type=file,source.file=@IMAGES@/c.iso,device=cdrom,target.bus=sata',
  ],
  ['--osinfo', 'linux2022', '--import', '--disk', 'none', '--watchdog', 'i6300esb,action=reset'],
  ['--osinfo', 'linux2022', '--import', '--disk', 'none', '--tpm', 'emulator,model=tpm-crb'],
  ['--osinfo', 'linux2022', '--import', '--disk', 'none', '--rng', '/dev/random'],
  [
    '--osinfo',
    'linux2022',
    '--import',
    '--disk',
    'none',
    '--channel',
    'unix,target.type=virtio,target.name=org.qemu.guest_agent.0',
  ],
  [
    '--osinfo',
    'linux2022',
    '--import',
    '--disk',
    'none',
    '--sysinfo',
    'bios.vendor=Acme,bios.date=01/01/2020,system.manufacturer=Acme,system.product=Box',
  ],
  [
    '--osinfo',
    'linux2022',
    '--import',
    '--disk',
    'none',
    '--metadata',
    'title=My VM,description=Made by virt-install',
  ],
  [
    '--osinfo',
    'linux2022',
    '--import',
    '--disk',
    'none',
    '--events',
    'on_poweroff=destroy,on_reboot=restart,on_crash=restart',
  ],
  [
    '--osinfo',
    'linux2022',
    '--import',
    '--disk',
    'none',
    '--clock',
    'offset=localtime,rtc_tickpolicy=catchup',
  ],
  ['--osinfo', 'linux2022', '--import', '--disk', 'none', '--memballoon', 'none', '--video', 'qxl'],
  [
    '--osinfo',
    'linux2022',
    '--import',
    '--disk',
    'none',
    '--graphics',
    'spice',
    '--video',
    'virtio',
    '--channel',
    'spicevmc',
  ],
  ['--osinfo', 'linux2022', '--import', '--disk', 'none', '--vsock', 'cid.auto=yes'],
  ['--osinfo', 'linux2022', '--import', '--disk', 'none', '--panic', 'default'],
  ['--osinfo', 'linux2022', '--import', '--disk', 'none', '--smartcard', 'passthrough,type=spicevmc'],
  [
    '--osinfo',
    'linux2022',
    '--import',
    '--disk',
    'none',
    '--boot',
    'kernel=/boot/vmlinuz,initrd=/boot/initrd.img,kernel_args=console=ttyS0',
  ],
  [
    '--osinfo',
    'centos7.0',
    '--import',
    '--disk',
    'type=file,source.file=@IMAGES@/e.img,target.bus=ide',
    '--machine',
    'pc',
  ],
  [
    '--osinfo',
    'linux2022',
    '--import',
    '--disk',
    'none',
    '--numatune',
    '0',
    '--vcpus',
    '4,sockets=1,cores=2,threads=2',
  ],
];

export function virtInstallCases(firstId: number, uri?: string): { cases: Case[]; skipped: string[] } {
  if (!existsSync('/usr/bin/virt-install')) return { cases: [], skipped: ['virt-install is not installed'] };
  const cases: Case[] = [];
  const skipped: string[] = [];
  let root: string | undefined;
  if (!uri) {
    root = mkdtempSync(path.join(tmpdir(), 'qvirt-diff-virtinst-'));
    chmodSync(root, 0o755);
    mkdirSync(path.join(root, 'etc'));
    writeFileSync(path.join(root, 'etc/qemu.conf'), 'user = "root"\ngroup = "root"\n');
  }
  const [cmd, pre] = uri ? ['virt-install', []] : ['/usr/bin/python3', [EMBED_WRAPPER]];
  // the disks are given as files (an embed connection has no storage pools to resolve a path
  // in); empty files stand in for the images, qcow2 ones real
  const images = mkdtempSync(path.join(tmpdir(), 'qvirt-diff-images-'));
  for (const opts of VIRT_INSTALL_VARIANTS) {
    for (const m of opts.join(' ').matchAll(/@IMAGES@\/([\w.]+)/g)) {
      const file = path.join(images, m[1]!);
      if (file.endsWith('.qcow2')) spawnSync('qemu-img', ['create', '-q', '-f', 'qcow2', file, '1G']);
      else writeFileSync(file, '');
    }
  }
  for (const [i, variant] of VIRT_INSTALL_VARIANTS.entries()) {
    const opts = variant.map((o) => o.replaceAll('@IMAGES@', images));
    const args = [
      ...pre,
      '--connect',
      uri ?? `qemu:///embed?root=${root}`,
      '--name',
      `vi${i}`,
      ...BASE,
      ...opts,
    ];
    const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 180_000, stdio: ['ignore', 'pipe', 'pipe'] });
    if (r.status !== 0 || !r.stdout.includes('<domain')) {
      skipped.push(
        `virt-install ${opts.join(' ')}: ${(r.stderr || r.error?.message || 'no output').trim().split('\n').at(-1)}`,
      );
      continue;
    }
    // --print-xml of an install prints the install-time and the final XML; the last is what is defined
    const docs = r.stdout.split(/(?=<domain[\s>])/).filter((d) => d.trim());
    cases.push({ id: firstId + cases.length, family: 'virt-install', xml: docs.at(-1)!.trim() });
  }
  if (root) rmSync(root, { recursive: true, force: true });
  // the images stay: the cases name them, and libvirt's side may look at them
  process.on('exit', () => rmSync(images, { recursive: true, force: true }));
  return { cases, skipped };
}
