/**
 * Seed inputs for the structured mutators: the conformance corpus (`../shared/conformance`, or
 * `QVIRT_CONFORMANCE_DIR`) when it is there, and a few built-in documents so the fuzzer still
 * mutates something real without it. Files are read in sorted order: the same seed always gives
 * the same inputs.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export function conformanceDir(): string {
  return process.env.QVIRT_CONFORMANCE_DIR ?? path.resolve(REPO_ROOT, '../shared/conformance');
}

function readSet(set: string, ext: string, limit = Number.POSITIVE_INFINITY): string[] {
  const dir = path.join(conformanceDir(), set);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(ext))
    .sort()
    .slice(0, limit)
    .map((f) => readFileSync(path.join(dir, f), 'utf8'));
}

const BUILTIN_XML = `<domain type='qemu'>
  <name>fuzz</name>
  <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>
  <memory unit='KiB'>219136</memory>
  <vcpu placement='static'>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/var/lib/libvirt/images/fuzz.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='network'><source network='default'/><model type='virtio'/></interface>
    <serial type='pty'><target port='0'/></serial>
    <graphics type='vnc' port='-1' autoport='yes'/>
  </devices>
</domain>
`;

let xmlCache: string[] | undefined;
/** Domain XML documents (xml2argv inputs). */
export function domainXmls(): string[] {
  xmlCache ??= [...readSet('xml2argv', '.xml'), BUILTIN_XML];
  return xmlCache;
}

let argvCache: string[] | undefined;
/** QEMU command lines: libvirt's old argv2xml inputs and the modern ones libvirt 9.0 prints. */
export function commandLines(): string[] {
  argvCache ??= [
    ...readSet('argv2xml', '.args'),
    ...readSet('xml2argv', '.args'),
    'LC_ALL=C /usr/bin/qemu-system-x86_64 -name guest=fuzz -machine pc,usb=off -m 128 -smp 1 -drive file=/tmp/a.img,format=raw,if=none,id=drive-ide0-0-0 -device ide-hd,bus=ide.0,unit=0,drive=drive-ide0-0-0',
  ];
  return argvCache;
}

let confCache: string[] | undefined;
/** virConf documents: the qemu-conf cases and libvirt's full qemu.conf. */
export function confTexts(): string[] {
  confCache ??= [
    ...readSet('qemu-conf', '.conf'),
    ...readSet('qemu-conf/reference', '.all-uncommented'),
    'user = "qemu"\ngroup = "qemu"\nsecurity_driver = [ "dac", "capng" ]\nmax_files = 4096\n',
  ];
  return confCache;
}

/** virt-aa-helper inputs (domain XML given on stdin). */
export function aaHelperXmls(): string[] {
  return [...readSet('aa-helper', '.xml'), BUILTIN_XML];
}
