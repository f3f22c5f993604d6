/**
 * libvirt's save-image header, checked against a layout written by hand from the C struct
 * (qemu_saveimage.h: char magic[16]; uint32_t version, data_len, was_running, compressed,
 * cookieOffset, unused[14]), and an image saved by libvirtd on this machine restored by qvirt.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { QemuDriver } from './driver.js';
import {
  decodeSaveHeader,
  encodeSaveData,
  encodeSaveHeader,
  QEMU_SAVE_VERSION,
  readSaveImage,
  SAVE_HEADER_SIZE,
  saveableDefinition,
} from './save-image.js';
import { countsIn, serialGuestBootSector } from './serial-guest.js';

/** The struct as C lays it out on x86 (no padding: 16 chars then 4-byte words). */
function cHeader(magic: string, words: number[], be = false): Buffer {
  const b = Buffer.alloc(16 + 19 * 4);
  b.write(magic, 0, 'latin1');
  words.forEach((w, i) => {
    if (be) b.writeUInt32BE(w, 16 + i * 4);
    else b.writeUInt32LE(w, 16 + i * 4);
  });
  return b;
}

describe("libvirt's save-image header", () => {
  it('is the C struct, byte for byte', () => {
    expect(SAVE_HEADER_SIZE).toBe(92);
    const mine = encodeSaveHeader({
      magic: 'LibvirtQemudSave',
      version: 2,
      dataLen: 70000,
      wasRunning: 1,
      compressed: 3,
      cookieOffset: 1234,
    });
    expect(mine.equals(cHeader('LibvirtQemudSave', [2, 70000, 1, 3, 1234]))).toBe(true);
    expect(decodeSaveHeader(cHeader('LibvirtQemudSave', [2, 70000, 0, 1, 0]))).toEqual({
      magic: 'LibvirtQemudSave',
      version: 2,
      dataLen: 70000,
      wasRunning: 0,
      compressed: 1,
      cookieOffset: 0,
    });
    // an image of the other byte order is swapped (qemuSaveImageBswapHeader)
    expect(decodeSaveHeader(cHeader('LibvirtQemudSave', [2, 70000, 1, 0, 0], true)).dataLen).toBe(70000);
  });

  it("refuses what qemuSaveImageOpen refuses, in libvirt's words", () => {
    expect(() => decodeSaveHeader(cHeader('LibvirtQemudPart', [2, 10, 0, 0, 0]))).toThrow(
      'operation failed: save image is incomplete',
    );
    expect(() => decodeSaveHeader(cHeader('SomethingElse!!!', [2, 10, 0, 0, 0]))).toThrow(
      'operation failed: image magic is incorrect',
    );
    expect(() => decodeSaveHeader(cHeader('LibvirtQemudSave', [3, 10, 0, 0, 0], false))).toThrow(
      /image version is not supported/,
    );
    expect(() => decodeSaveHeader(cHeader('LibvirtQemudSave', [2, 0, 0, 0, 0]))).toThrow(
      'operation failed: invalid header data length: 0',
    );
    expect(() => decodeSaveHeader(Buffer.alloc(10))).toThrow('operation failed: failed to read qemu header');
  });

  it('lays out the XML, the cookie and 64 KiB of padding as virQEMUSaveDataWrite does', () => {
    const xml = '<domain/>';
    const data = encodeSaveData(
      { version: QEMU_SAVE_VERSION, wasRunning: 1, compressed: 0 },
      xml,
      '<cookie/>',
    );
    const h = data.subarray(0, 92);
    expect(h.toString('latin1', 0, 16)).toBe('LibvirtQemudPart');
    const len = xml.length + 1 + '<cookie/>'.length + 1;
    expect(h.readUInt32LE(20)).toBe(len + 65536);
    expect(h.readUInt32LE(32)).toBe(xml.length + 1);
    expect(data.length).toBe(92 + len + 65536);
    expect(data.toString('latin1', 92, 92 + xml.length + 1)).toBe(`${xml}\0`);
  });

  it('keeps no run-time state in the definition of an image', () => {
    const live = {
      id: 3,
      name: 'g',
      devices: {
        serial: [{ type: 'pty', source: [{ path: '/dev/pts/4' }], alias: { name: 'serial0' } }],
        console: [
          { type: 'pty', tty: '/dev/pts/4', source: [{ path: '/dev/pts/4' }], alias: { name: 'serial0' } },
        ],
        memballoon: { model: 'virtio', alias: { name: 'balloon0' } },
      },
    };
    expect(saveableDefinition(live)).toEqual({
      name: 'g',
      devices: { serial: [{ type: 'pty' }], console: [{ type: 'pty' }], memballoon: { model: 'virtio' } },
    });
  });
});

const V = 'virsh';
const libvirtHere =
  process.geteuid?.() === 0 && existsSync('/usr/bin/virsh') && existsSync('/run/libvirt/libvirt-sock');

describe.runIf(libvirtHere)('an image saved by libvirtd 9.0 on this machine', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'qvirt-libvirt-save-'));
  const name = `qvirt-lv-${process.pid}`;
  afterAll(() => {
    try {
      execFileSync(V, ['-c', 'qemu:///system', 'destroy', name], { stdio: 'ignore' });
    } catch {
      // not running
    }
    rmSync(dir, { recursive: true, force: true });
  });

  // slow: libvirtd re-probes QEMU at each call on a host whose /dev/kvm its QEMU user cannot open
  it('restores under qvirt, counting on, and the image qvirt saves restores under libvirt', async (ctx) => {
    chmodSync(dir, 0o755);
    const disk = path.join(dir, 'count.img');
    writeFileSync(disk, serialGuestBootSector(2));
    const log = path.join(dir, 'count.log');
    const xml = path.join(dir, 'dom.xml');
    writeFileSync(
      xml,
      `<domain type='qemu'><name>${name}</name><memory unit='KiB'>65536</memory><vcpu>1</vcpu>
<os><type arch='i686' machine='pc'>hvm</type><boot dev='hd'/></os>
<devices><emulator>/usr/bin/qemu-system-x86_64</emulator>
<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${disk}'/><target dev='hda' bus='ide'/></disk>
<serial type='file'><source path='${log}'/><target port='0'/></serial></devices></domain>`,
    );
    const virsh = (...a: string[]) =>
      execFileSync(V, ['-c', 'qemu:///system', ...a], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    try {
      virsh('create', xml);
    } catch (err) {
      // libvirtd is installed but cannot start guests here (no virtlogd): nothing to compare with
      ctx.skip(`libvirtd cannot start a guest: ${String((err as { stderr?: string }).stderr ?? err).trim()}`);
    }
    const wait = async (pred: (n: number[]) => boolean) => {
      for (let i = 0; i < 300; i++) {
        const n = countsIn(existsSync(log) ? readFileSync(log, 'latin1') : '');
        if (pred(n)) return n;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error('the guest did not count');
    };
    await wait((n) => n.length >= 3);
    const lvImage = path.join(dir, 'libvirt.save');
    virsh('save', name, lvImage);
    const last = Math.max(...countsIn(readFileSync(log, 'latin1')));
    expect((await readSaveImage(lvImage)).header).toMatchObject({ magic: 'LibvirtQemudSave', version: 2 });

    const root = path.join(dir, 'root');
    mkdirSync(path.join(root, 'etc'), { recursive: true });
    writeFileSync(path.join(root, 'etc/qemu.conf'), 'user = "+65534"\ngroup = "+65534"\n');
    const q = await QemuDriver.open(`qemu:///embed?root=${root}`);
    try {
      await q.domainRestore(lvImage);
      const dom = await q.domainLookupByName(name);
      await wait((n) => n.some((x) => x > last));
      const qvImage = path.join(dir, 'qvirt.save');
      await q.domainSave(dom, qvImage);
      const last2 = Math.max(...countsIn(readFileSync(log, 'latin1')));
      expect(last2).toBeGreaterThan(last);
      virsh('restore', qvImage);
      expect(virsh('domstate', '--reason', name)).toBe('running (restored)\n\n');
      await wait((n) => n.some((x) => x > last2));
      virsh('destroy', name);
    } finally {
      await q.connectClose();
    }
  }, 240_000);
});

describe('save_image_format', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it.each(['gzip', 'xz'])('%s: the stream goes through the compressor and back', async (format) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'qvirt-save-format-'));
    dirs.push(dir);
    chmodSync(dir, 0o711);
    const root = path.join(dir, 'root');
    mkdirSync(path.join(root, 'etc'), { recursive: true });
    const ids = process.geteuid?.() === 0 ? 'user = "+65534"\ngroup = "+65534"\n' : '';
    writeFileSync(path.join(root, 'etc/qemu.conf'), `${ids}save_image_format = "${format}"\n`);
    const disk = path.join(dir, 'c.img');
    writeFileSync(disk, serialGuestBootSector(2));
    const log = path.join(dir, 'c.log');
    const d = await QemuDriver.open(`qemu:///embed?root=${root}`);
    try {
      const dom = await d.domainCreateXML(
        `<domain type='qemu'><name>c</name><memory unit='KiB'>65536</memory><vcpu>1</vcpu>
<os><type arch='i686' machine='pc'>hvm</type><boot dev='hd'/></os>
<devices><emulator>/usr/bin/qemu-system-x86_64</emulator>
<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${disk}'/><target dev='hda' bus='ide'/></disk>
<serial type='file'><source path='${log}'/><target port='0'/></serial></devices></domain>`,
        0,
      );
      const wait = async (pred: (n: number[]) => boolean) => {
        for (let i = 0; i < 300; i++) {
          if (pred(countsIn(existsSync(log) ? readFileSync(log, 'latin1') : ''))) return;
          await new Promise((r) => setTimeout(r, 100));
        }
        throw new Error('the guest did not count');
      };
      await wait((n) => n.length >= 3);
      const image = path.join(dir, 'c.save');
      await d.domainSave(dom, image);
      const last = Math.max(...countsIn(readFileSync(log, 'latin1')));
      const { header, dataOffset } = await readSaveImage(image);
      expect(header.compressed).toBe(['raw', 'gzip', 'bzip2', 'xz', 'lzop'].indexOf(format));
      // the stream after the header is the compressor's (gzip: 1f 8b; xz: fd '7zXZ')
      const magic = readFileSync(image).subarray(dataOffset, dataOffset + 2);
      expect(magic.toString('hex')).toBe(format === 'gzip' ? '1f8b' : 'fd37');
      await d.domainRestore(image);
      await wait((n) => n.some((x) => x > last));
      await d.domainDestroy(await d.domainLookupByName('c'));
    } finally {
      await d.connectClose();
    }
  });
});
