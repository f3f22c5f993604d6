import { describe, expect, it } from 'vitest';
import { formatDomainXML, parseDomainXML, unknownParts } from './domain-xml.js';

const wrap = (devices: string) =>
  `<domain type='qemu'><name>t</name><os><type>hvm</type></os><devices>${devices}</devices></domain>`;

/** The formatted `<name>` elements of the devices section, each as libvirt indents it. */
function formatted(devices: string, name: string): string[] {
  const out = formatDomainXML(parseDomainXML(wrap(devices)));
  const re = new RegExp(`^ {4}<${name}\\b[^>]*/>$|^ {4}<${name}\\b[^]*?^ {4}</${name}>$`, 'gm');
  return [...out.matchAll(re)].map((m) => m[0]);
}

/** A fragment written in the test as libvirt indents it inside `<devices>`, without the blank first line. */
const dedent = (s: string) => s.replace(/^\n/, '').replace(/\n\s*$/, '');

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}

describe('<disk>', () => {
  it('parses an NVMe disk and formats it as libvirt does (xml2xml disk-nvme)', () => {
    const xml = `
    <disk type='nvme' device='disk'>
      <driver name='qemu' type='qcow2' cache='none'/>
      <source type='pci' managed='no' namespace='2'>
        <address domain='0x0001' bus='0x02' slot='0x00' function='0x0'/>
        <encryption format='luks' engine='qemu'>
          <secret type='passphrase' uuid='0a81f5b2-8403-7b23-c8d6-21ccc2f80d6f'/>
        </encryption>
      </source>
      <target dev='vdd' bus='virtio'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x07' function='0x0'/>
    </disk>`;
    const def = parseDomainXML(wrap(xml));
    const disk = def.devices?.disk?.[0];
    expect(disk).toEqual({
      type: 'nvme',
      device: 'disk',
      driver: { name: 'qemu', type: 'qcow2', cache: 'none' },
      source: {
        type: 'pci',
        managed: 'no',
        namespace: '2',
        address: { domain: 1, bus: 2, slot: 0, function: 0 },
        encryption: {
          format: 'luks',
          engine: 'qemu',
          secret: [{ type: 'passphrase', uuid: '0a81f5b2-8403-7b23-c8d6-21ccc2f80d6f' }],
        },
      },
      target: { dev: 'vdd', bus: 'virtio' },
      address: { type: 'pci', domain: 0, bus: 0, slot: 7, function: 0 },
    });
    expect(unknownParts(def)).toEqual([]);
    expect(formatted(xml, 'disk')).toEqual([dedent(xml)]);
  });

  it('formats a network source in libvirt order (xml2xml disk-network-http)', () => {
    const input = `
      <disk device='disk' type='network'>
        <target bus='virtio' dev='vdd'/>
        <source query='par=val&amp;other=ble' name='test4.img' protocol='https'>
          <ssl verify='no'/>
          <readahead size='1024'/>
          <host port='1234' name='example.org'/>
        </source>
        <driver type='raw' name='qemu'/>
      </disk>`;
    expect(formatted(input, 'disk')).toEqual([
      dedent(`
    <disk type='network' device='disk'>
      <driver name='qemu' type='raw'/>
      <source protocol='https' name='test4.img' query='par=val&amp;other=ble'>
        <host name='example.org' port='1234'/>
        <ssl verify='no'/>
        <readahead size='1024'/>
      </source>
      <target dev='vdd' bus='virtio'/>
    </disk>`),
    ]);
    const src = parseDomainXML(wrap(input)).devices?.disk?.[0]?.source;
    expect(src?.host).toEqual([{ name: 'example.org', port: 1234 }]);
    expect(src?.ssl).toEqual({ verify: 'no' });
    expect(src?.readahead).toEqual({ size: '1024' });
  });

  it('orders every disk child and driver attribute as virDomainDiskDefFormat does', () => {
    const input = `
      <disk snapshot='no' sgio='unfiltered' rawio='yes' model='virtio' device='lun' type='block'>
        <address type='drive' controller='0' bus='0' target='0' unit='1'/>
        <alias name='ua-disk'/>
        <boot order='2'/>
        <product>P</product>
        <vendor>V</vendor>
        <wwn>5000c50015ea71ad</wwn>
        <serial>S1</serial>
        <transient shareBacking='yes'/>
        <shareable/>
        <readonly/>
        <iotune>
          <write_iops_sec_max_length>3</write_iops_sec_max_length>
          <group_name>grp</group_name>
          <size_iops_sec>4096</size_iops_sec>
          <total_bytes_sec>18446744073709551615</total_bytes_sec>
        </iotune>
        <target rotation_rate='7200' bus='scsi' dev='sda'/>
        <blockio physical_block_size='4096' logical_block_size='512'/>
        <geometry trans='lba' secs='63' heads='16' cyls='1023'/>
        <backenddomain name='dom0'/>
        <source startupPolicy='optional' dev='/dev/sdb'>
          <reservations managed='no'>
            <source type='unix' path='/run/pr.sock' mode='client'/>
          </reservations>
          <seclabel model='dac' relabel='no'/>
          <seclabel model='selinux' relabel='yes'><label>system_u:object_r:svirt_image_t:s0</label></seclabel>
          <slices><slice type='storage' size='1048576' offset='512'/></slices>
        </source>
        <driver page_per_vq='on' iommu='on' queue_size='256' queues='4' detect_zeroes='unmap' iothread='1'
                discard='unmap' copy_on_read='on' event_idx='off' ioeventfd='on' io='native'
                rerror_policy='stop' error_policy='enospace' cache='directsync' type='raw' name='qemu'>
          <metadata_cache><max_size unit='KiB'>1</max_size></metadata_cache>
        </driver>
      </disk>`;
    const def = parseDomainXML(wrap(input));
    expect(unknownParts(def)).toEqual([]);
    const disk = def.devices?.disk?.[0];
    expect(disk?.iotune?.total_bytes_sec).toBe('18446744073709551615');
    expect(disk?.source?.slices).toEqual({ slice: { type: 'storage', offset: '512', size: '1048576' } });
    expect(disk?.readonly).toBe(true);
    expect(formatted(input, 'disk')).toEqual([
      dedent(`
    <disk type='block' device='lun' model='virtio' rawio='yes' sgio='unfiltered' snapshot='no'>
      <driver name='qemu' type='raw' cache='directsync' error_policy='enospace' rerror_policy='stop' io='native' ioeventfd='on' event_idx='off' copy_on_read='on' discard='unmap' iothread='1' detect_zeroes='unmap' queues='4' queue_size='256' iommu='on' page_per_vq='on'>
        <metadata_cache>
          <max_size unit='KiB'>1</max_size>
        </metadata_cache>
      </driver>
      <source dev='/dev/sdb' startupPolicy='optional'>
        <slices>
          <slice type='storage' offset='512' size='1048576'/>
        </slices>
        <seclabel model='dac' relabel='no'/>
        <seclabel model='selinux' relabel='yes'>
          <label>system_u:object_r:svirt_image_t:s0</label>
        </seclabel>
        <reservations managed='no'>
          <source type='unix' path='/run/pr.sock' mode='client'/>
        </reservations>
      </source>
      <backenddomain name='dom0'/>
      <geometry cyls='1023' heads='16' secs='63' trans='lba'/>
      <blockio logical_block_size='512' physical_block_size='4096'/>
      <target dev='sda' bus='scsi' rotation_rate='7200'/>
      <iotune>
        <total_bytes_sec>18446744073709551615</total_bytes_sec>
        <size_iops_sec>4096</size_iops_sec>
        <group_name>grp</group_name>
        <write_iops_sec_max_length>3</write_iops_sec_max_length>
      </iotune>
      <readonly/>
      <shareable/>
      <transient shareBacking='yes'/>
      <serial>S1</serial>
      <wwn>5000c50015ea71ad</wwn>
      <vendor>V</vendor>
      <product>P</product>
      <boot order='2'/>
      <alias name='ua-disk'/>
      <address type='drive' controller='0' bus='0' target='0' unit='1'/>
    </disk>`),
    ]);
  });

  it('models a recursive backing chain, disk-level auth and a block-job mirror', () => {
    const input = `
      <disk type='network' device='disk'>
        <driver name='qemu' type='qcow2'/>
        <auth username='myname'><secret type='ceph' usage='mycluster_myname'/></auth>
        <source protocol='rbd' name='pool/image' index='3'>
          <host name='mon1.example.org' port='6321'/>
          <snapshot name='snap1'/>
          <config file='/etc/ceph/ceph.conf'/>
        </source>
        <backingStore type='file' index='2'>
          <format type='qcow2'><metadata_cache><max_size unit='bytes'>1024</max_size></metadata_cache></format>
          <source file='/var/lib/base.qcow2'/>
          <backingStore type='block' index='1'>
            <format type='raw'/>
            <source dev='/dev/vg/base'/>
            <backingStore/>
          </backingStore>
        </backingStore>
        <mirror type='file' file='/tmp/copy.img' format='qcow2' job='copy' ready='yes'>
          <format type='qcow2'/>
          <source file='/tmp/copy.img' index='4'/>
        </mirror>
        <target dev='vda' bus='virtio'/>
      </disk>`;
    const def = parseDomainXML(wrap(input));
    expect(unknownParts(def)).toEqual([]);
    const disk = def.devices?.disk?.[0];
    expect(disk?.auth).toEqual({ username: 'myname', secret: { type: 'ceph', usage: 'mycluster_myname' } });
    expect(disk?.backingStore?.format?.metadata_cache?.max_size).toEqual({ unit: 'bytes', value: '1024' });
    expect(disk?.backingStore?.backingStore?.source).toEqual({ dev: '/dev/vg/base' });
    expect(disk?.backingStore?.backingStore?.backingStore).toEqual({});
    expect(disk?.mirror).toMatchObject({
      type: 'file',
      file: '/tmp/copy.img',
      formatAttr: 'qcow2',
      job: 'copy',
    });
    expect(formatted(input, 'disk')).toEqual([
      dedent(`
    <disk type='network' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <auth username='myname'>
        <secret type='ceph' usage='mycluster_myname'/>
      </auth>
      <source protocol='rbd' name='pool/image' index='3'>
        <host name='mon1.example.org' port='6321'/>
        <snapshot name='snap1'/>
        <config file='/etc/ceph/ceph.conf'/>
      </source>
      <backingStore type='file' index='2'>
        <format type='qcow2'>
          <metadata_cache>
            <max_size unit='bytes'>1024</max_size>
          </metadata_cache>
        </format>
        <source file='/var/lib/base.qcow2'/>
        <backingStore type='block' index='1'>
          <format type='raw'/>
          <source dev='/dev/vg/base'/>
          <backingStore/>
        </backingStore>
      </backingStore>
      <mirror type='file' file='/tmp/copy.img' format='qcow2' job='copy' ready='yes'>
        <format type='qcow2'/>
        <source file='/tmp/copy.img' index='4'/>
      </mirror>
      <target dev='vda' bus='virtio'/>
    </disk>`),
    ]);
  });

  it('refuses values libvirt refuses', () => {
    expect(
      errorOf(() => parseDomainXML(wrap("<disk type='file'><driver cache='bogus'/></disk>"))).message,
    ).toMatch(/invalid value 'bogus' for attribute 'cache'.*devices\/disk\[1\]\/driver/);
    expect(errorOf(() => parseDomainXML(wrap("<disk type='none'/>"))).message).toMatch(/attribute 'type'/);
    expect(errorOf(() => parseDomainXML(wrap("<disk><driver iothread='0'/></disk>"))).message).toMatch(
      /iothread/,
    );
    expect(
      errorOf(() => parseDomainXML(wrap("<disk><driver rerror_policy='enospace'/></disk>"))).message,
    ).toMatch(/rerror_policy/);
  });
});

describe('<filesystem>', () => {
  it('formats a virtiofs filesystem in virDomainFSDefFormat order', () => {
    const input = `
      <filesystem dmode='755' fmode='0644' multidevs='remap' model='virtio' accessmode='passthrough' type='mount'>
        <space_soft_limit unit='KiB'>1</space_soft_limit>
        <space_hard_limit unit='bytes'>2048</space_hard_limit>
        <address type='pci' domain='0x0000' bus='0x00' slot='0x03' function='0x0'/>
        <alias name='fs0'/>
        <boot order='1'/>
        <readonly/>
        <target dir='mount_tag'/>
        <source socket='/tmp/sock'/>
        <binary xattr='on' path='/usr/libexec/virtiofsd'>
          <thread_pool size='16'/>
          <lock flock='off' posix='on'/>
          <sandbox mode='chroot'/>
          <cache mode='always'/>
        </binary>
        <driver iommu='on' queue='1024' type='virtiofs'/>
      </filesystem>`;
    const def = parseDomainXML(wrap(input));
    expect(unknownParts(def)).toEqual([]);
    const fs = def.devices?.filesystem?.[0];
    expect(fs?.fmode).toBe(0o644);
    expect(fs?.dmode).toBe(0o755);
    expect(fs?.binary?.thread_pool).toEqual({ size: 16 });
    expect(formatted(input, 'filesystem')).toEqual([
      dedent(`
    <filesystem type='mount' accessmode='passthrough' model='virtio' multidevs='remap' fmode='0644' dmode='0755'>
      <driver type='virtiofs' queue='1024' iommu='on'/>
      <binary path='/usr/libexec/virtiofsd' xattr='on'>
        <cache mode='always'/>
        <sandbox mode='chroot'/>
        <lock posix='on' flock='off'/>
        <thread_pool size='16'/>
      </binary>
      <source socket='/tmp/sock'/>
      <target dir='mount_tag'/>
      <readonly/>
      <boot order='1'/>
      <alias name='fs0'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x03' function='0x0'/>
      <space_hard_limit unit='bytes'>2048</space_hard_limit>
      <space_soft_limit unit='KiB'>1</space_soft_limit>
    </filesystem>`),
    ]);
  });

  it('keeps a RAM filesystem source and refuses a non-octal mode', () => {
    const def = parseDomainXML(
      wrap("<filesystem type='ram'><source units='MiB' usage='100'/><target dir='/m'/></filesystem>"),
    );
    expect(def.devices?.filesystem?.[0]?.source).toEqual({ usage: '100', units: 'MiB' });
    expect(errorOf(() => parseDomainXML(wrap("<filesystem fmode='0800'/>"))).message).toMatch(/fmode/);
    expect(errorOf(() => parseDomainXML(wrap("<filesystem dmode='1777'/>"))).message).toMatch(/dmode/);
  });
});

describe('<lease>', () => {
  it('parses and formats a lease', () => {
    const input = `<lease><target offset='1048576' path='/var/lib/lockd/leases'/><key>k1</key><lockspace>ls</lockspace></lease>`;
    const def = parseDomainXML(wrap(input));
    expect(def.devices?.lease).toEqual([
      { lockspace: 'ls', key: 'k1', target: { path: '/var/lib/lockd/leases', offset: '1048576' } },
    ]);
    expect(formatted(input, 'lease')).toEqual([
      dedent(`
    <lease>
      <lockspace>ls</lockspace>
      <key>k1</key>
      <target path='/var/lib/lockd/leases' offset='1048576'/>
    </lease>`),
    ]);
  });
});
