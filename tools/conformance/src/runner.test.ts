import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from './index.js';

const GOOD = "<domain type='qemu'><name>a</name><os><type>hvm</type></os></domain>\n";
const BAD =
  "<domain type='qemu'><name>a</name><os><type>hvm</type></os><devices><disk><address type='pci' slot='0x40'/></disk></devices></domain>\n";

let dir: string;
let out: string[];

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'qvirt-conformance-'));
  out = [];
  vi.spyOn(console, 'log').mockImplementation((line: string) => void out.push(line));
  vi.spyOn(console, 'error').mockImplementation((line: string) => void out.push(`ERR ${line}`));
});
afterEach(() => {
  vi.restoreAllMocks();
  rmSync(dir, { recursive: true, force: true });
});

function corpus(files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), text);
  }
}

describe('pnpm conformance', () => {
  it('prints one line per set with pass and fail counts', async () => {
    corpus({
      'xml2argv/one.xml': GOOD,
      'xml2argv/two.xml': BAD,
      'xml2argv/three.xml': BAD,
      // libvirt refused "three" at define, so refusing it too is a pass; "two" is a failure.
      'xml2xml/three.error.txt':
        'error: Failed to define domain from three.xml\nerror: XML error: Invalid PCI address\n',
    });
    expect(await main(['--dir', dir, '--set', 'xml-roundtrip'])).toBe(0);
    expect(out).toEqual(['xml-roundtrip: 2 passed, 1 failed']);
  });

  it('judges by content, not by file name', async () => {
    corpus({ 'xml2argv/seed-demo.xml': BAD, 'xml2argv/minimal.xml': GOOD });
    await main(['--dir', dir, '--set', 'xml-roundtrip']);
    expect(out).toEqual(['xml-roundtrip: 1 passed, 1 failed']);
  });

  it('writes each case with its reason to --json', async () => {
    corpus({ 'xml2argv/two.xml': BAD });
    const json = path.join(dir, 'report.json');
    await main(['--dir', dir, '--json', json, '--set', 'xml-roundtrip']);
    const { readFileSync } = await import('node:fs');
    const report = JSON.parse(readFileSync(json, 'utf8'));
    expect(report['xml-roundtrip'][0]).toMatchObject({
      name: 'xml2argv/two',
      pass: false,
      family: 'refused',
    });
    expect(report['xml-roundtrip'][0].reason).toContain("Invalid PCI address slot='0x40', must be <= 0x1F");
  });

  it('argv2xml reads an expected file with no <memballoon> as one written before libvirt had balloons', async () => {
    const args =
      '/usr/bin/qemu -M pc -m 64 -nographic -no-acpi -boot c -hda /dev/sda -net none -serial none -parallel none';
    const body = (balloon: string) =>
      "<domain type='qemu'><memory>65536</memory><os><type arch='i686' machine='pc'>hvm</type></os><devices>" +
      "<emulator>/usr/bin/qemu</emulator><disk type='block' device='disk'><source dev='/dev/sda'/>" +
      `<target dev='hda' bus='ide'/></disk>${balloon}</devices></domain>\n`;
    corpus({
      'argv2xml/old.args': args,
      'argv2xml/old.xml': body(''),
      'argv2xml/none.args': args,
      'argv2xml/none.xml': body("<memballoon model='none'/>"),
      // A file that states a virtio balloon is held to it: the line has none.
      'argv2xml/virtio.args': args,
      'argv2xml/virtio.xml': body("<memballoon model='virtio'/>"),
    });
    await main(['--dir', dir, '--set', 'argv2xml']);
    expect(out).toEqual(['argv2xml: 2 passed, 1 failed']);
  });

  it('says so when no set applies to the folder', async () => {
    expect(await main(['--dir', dir])).toBe(1);
    expect(out).toEqual([`ERR error: no conformance set applies to ${dir}`]);
  });

  it('refuses unknown options in one line', async () => {
    expect(await main(['--frob'])).toBe(2);
    expect(out).toEqual(["ERR error: unknown option '--frob'"]);
  });
});
