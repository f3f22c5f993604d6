import { parseDomainXML } from '@qvirt/core';
import { describe, expect, it } from 'vitest';
import { referenceContext } from '../../context.js';
import { buildCommandLine } from '../index.js';

const pci = (slot: number) =>
  `<address type='pci' domain='0x0000' bus='0x00' slot='${slot}' function='0x0'/>`;

const domain = (devices: string, extra = '', balloon = `<memballoon model='none'/>`) =>
  `<domain type='qemu'><name>misc</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>` +
  `<maxMemory slots='16' unit='KiB'>1099511627776</maxMemory><memory unit='KiB'>1267710</memory>` +
  `<os><type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type></os>${extra}` +
  `<cpu><numa><cell id='0' cpus='0' memory='219136' unit='KiB'/></numa></cpu><devices>` +
  `<emulator>/usr/bin/qemu-system-x86_64</emulator><controller type='pci' index='0' model='pci-root'/>` +
  `${devices}${balloon}</devices></domain>`;

function args(devices: string, extra = '', balloon?: string): string[] {
  return buildCommandLine(parseDomainXML(domain(devices, extra, balloon)), referenceContext()).args;
}

function values(words: string[], option: string): string[] {
  return words.flatMap((w, i) => (w === option ? [words[i + 1]!] : []));
}

const json = (words: string[], option: string) => values(words, option).map((v) => JSON.parse(v));

describe('memballoon', () => {
  it('builds virtio options, deflate-on-oom and free page reporting', () => {
    const words = args(
      '',
      '',
      `<memballoon model='virtio' autodeflate='on' freePageReporting='off'><stats period='10'/>${pci(2)}<driver packed='on'/></memballoon>`,
    );
    expect(values(words, '-device')).toEqual([
      '{"driver":"virtio-balloon-pci","packed":true,"id":"balloon0","deflate-on-oom":true,"free-page-reporting":false,"bus":"pci.0","addr":"0x2"}',
    ]);
  });

  it('uses the transitional driver names', () => {
    expect(
      json(args('', '', `<memballoon model='virtio-non-transitional'>${pci(2)}</memballoon>`), '-device'),
    ).toEqual([{ driver: 'virtio-balloon-pci-non-transitional', id: 'balloon0', bus: 'pci.0', addr: '0x2' }]);
  });
});

describe('memory devices', () => {
  it('backs an NVDIMM with its file, aligned to 2 MiB', () => {
    const words = args(
      `<memory model='nvdimm' access='private'><source><path>/tmp/nvdimm</path></source>` +
        `<target><size unit='KiB'>523264</size><node>0</node><label><size unit='KiB'>128</size></label><readonly/></target>` +
        `<address type='dimm' slot='0'/></memory>`,
    );
    expect(json(words, '-object')).toContainEqual({
      'qom-type': 'memory-backend-file',
      id: 'memnvdimm0',
      'mem-path': '/tmp/nvdimm',
      share: false,
      prealloc: true,
      size: 536870912,
    });
    expect(json(words, '-device')).toContainEqual({
      driver: 'nvdimm',
      node: 0,
      'label-size': 131072,
      unarmed: true,
      memdev: 'memnvdimm0',
      id: 'nvdimm0',
      slot: 0,
    });
  });

  it('builds virtio-pmem on PCI', () => {
    const words = args(
      `<memory model='virtio-pmem' access='shared'><source><path>/tmp/pmem</path></source>` +
        `<target><size unit='KiB'>524288</size></target>${pci(5)}</memory>`,
    );
    expect(json(words, '-device')).toContainEqual({
      driver: 'virtio-pmem-pci',
      memdev: 'memvirtiopmem0',
      id: 'virtiopmem0',
      bus: 'pci.0',
      addr: '0x5',
    });
  });

  it('needs hugetlbfs for a module with huge pages', () => {
    expect(() =>
      args(
        `<memory model='dimm'><source><pagesize unit='KiB'>2048</pagesize></source>` +
          `<target><size unit='KiB'>524288</size><node>0</node></target><address type='dimm' slot='0'/></memory>`,
      ),
    ).toThrow('hugetlbfs filesystem is not mounted or disabled by administrator config');
  });
});

describe('vmcoreinfo, panic, shmem, vsock', () => {
  it('adds vmcoreinfo when the feature is on (also without a state)', () => {
    expect(values(args('', `<features><vmcoreinfo state='on'/></features>`), '-device')).toEqual([
      '{"driver":"vmcoreinfo"}',
    ]);
    expect(values(args('', `<features><vmcoreinfo/></features>`), '-device')).toEqual([
      '{"driver":"vmcoreinfo"}',
    ]);
    expect(values(args('', `<features><vmcoreinfo state='off'/></features>`), '-device')).toEqual([]);
  });

  it('builds the ISA pvpanic with its I/O port only', () => {
    const words = args(
      `<panic model='isa'><address type='isa' iobase='0x505'/></panic><panic model='hyperv'/><panic model='isa'/>`,
    );
    expect(values(words, '-device')).toEqual(['{"driver":"pvpanic","ioport":1285}', '{"driver":"pvpanic"}']);
  });

  it('backs ivshmem-plain with /dev/shm and connects ivshmem-doorbell to its server', () => {
    const words = args(
      `<shmem name='s0'><model type='ivshmem-plain'/><size unit='M'>4</size>${pci(3)}</shmem>` +
        `<shmem name='s1' role='master'><model type='ivshmem-plain'/><size unit='M'>4</size>${pci(4)}</shmem>` +
        `<shmem name='s2'><model type='ivshmem-doorbell'/><server path='/tmp/s,2'/><msi vectors='16' ioeventfd='on'/>${pci(5)}</shmem>`,
    );
    expect(json(words, '-object')).toContainEqual({
      'qom-type': 'memory-backend-file',
      id: 'shmmem-shmem0',
      'mem-path': '/dev/shm/s0',
      size: 4194304,
      share: true,
    });
    expect(json(words, '-device')).toEqual([
      { driver: 'ivshmem-plain', id: 'shmem0', memdev: 'shmmem-shmem0', bus: 'pci.0', addr: '0x3' },
      {
        driver: 'ivshmem-plain',
        id: 'shmem1',
        memdev: 'shmmem-shmem1',
        master: 'on',
        bus: 'pci.0',
        addr: '0x4',
      },
      {
        driver: 'ivshmem-doorbell',
        id: 'shmem2',
        chardev: 'charshmem2',
        vectors: 16,
        ioeventfd: true,
        bus: 'pci.0',
        addr: '0x5',
      },
    ]);
    expect(values(words, '-chardev')).toContain('socket,id=charshmem2,path=/tmp/s,,2');
  });

  it('refuses shmem sizes that are not a power of two', () => {
    expect(() =>
      args(`<shmem name='s0'><model type='ivshmem-plain'/><size unit='K'>3072</size>${pci(3)}</shmem>`),
    ).toThrow('shmem size must be a power of two');
  });

  it('builds vhost-vsock with its guest CID', () => {
    expect(
      json(args(`<vsock model='virtio'><cid auto='no' address='4'/>${pci(7)}</vsock>`), '-device'),
    ).toEqual([
      { driver: 'vhost-vsock-pci', id: 'vsock0', 'guest-cid': 4, vhostfd: '-1', bus: 'pci.0', addr: '0x7' },
    ]);
  });
});
