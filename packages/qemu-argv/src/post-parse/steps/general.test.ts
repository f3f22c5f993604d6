import { formatDomainXML, parseDomainXML } from '@qvirt/core';
import { describe, expect, it } from 'vitest';
import { referenceContext } from '../../context.js';
import { canonicalizeDomain } from '../index.js';
import { canonicalBitmap, formatBitmap, parseBitmap } from './general-bitmap.js';

/** The canonical XML outside `<devices>` for a domain with the given top-level elements. */
function general(body: string, { type = 'qemu', arch = 'x86_64', emulator = '' } = {}): string {
  const xml =
    `<domain type='${type}'><name>g</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>` +
    `${/<memory( unit='[^']*')?>/.test(body) ? '' : '<memory>219136</memory>'}${body}` +
    `${body.includes('<os') ? '' : `<os><type arch='${arch}' machine='pc'>hvm</type></os>`}` +
    `<devices>${emulator ? `<emulator>${emulator}</emulator>` : ''}</devices></domain>`;
  const out = formatDomainXML(canonicalizeDomain(parseDomainXML(xml), referenceContext()));
  return out.replace(/\n {2}<devices>[\s\S]*<\/devices>\n/, '\n');
}

const line = (out: string, re: RegExp): string =>
  out
    .split('\n')
    .find((l) => re.test(l))
    ?.trim() ?? '';

describe('bitmaps', () => {
  it('parses ranges and exclusions and formats sorted ranges', () => {
    expect(canonicalBitmap('0-5,^4')).toBe('0-3,5');
    expect(canonicalBitmap(' 7, 1-2 ,5')).toBe('1-2,5,7');
    expect(formatBitmap([3, 1, 2, 9])).toBe('1-3,9');
    expect([...parseBitmap('0,16383')]).toEqual([0, 16383]);
  });
  it('refuses malformed bitmaps with libvirt message', () => {
    expect(() => parseBitmap('1-')).toThrow("Failed to parse bitmap '1-'");
    expect(() => parseBitmap('^1-3')).toThrow('Failed to parse bitmap');
    expect(() => parseBitmap('16384')).toThrow('Failed to parse bitmap');
  });
});

describe('memory', () => {
  it('converts units to KiB, rounding up, and defaults the balloon to the total', () => {
    const out = general("<memory unit='MiB'>214</memory><currentMemory unit='b'>1025</currentMemory>");
    expect(line(out, /<memory /)).toBe("<memory unit='KiB'>219136</memory>");
    expect(line(out, /<currentMemory/)).toBe("<currentMemory unit='KiB'>2</currentMemory>");
  });
  it('takes the total from guest NUMA cells', () => {
    const out = general(
      "<vcpu>4</vcpu><cpu><numa><cell cpus='0-1' memory='1' unit='GiB'/><cell cpus='2-3' memory='512' unit='MiB'/></numa></cpu>",
    );
    expect(line(out, /<memory /)).toBe("<memory unit='KiB'>1572864</memory>");
    expect(line(out, /cell id='1'/)).toBe("<cell id='1' cpus='2-3' memory='524288' unit='KiB'/>");
  });
  it('writes memtune limits in KiB and hugepage sizes in KiB', () => {
    const out = general(
      "<memtune><soft_limit unit='bytes'>0</soft_limit><hard_limit unit='G'>1</hard_limit></memtune>" +
        "<memoryBacking><hugepages><page size='2' unit='M' nodeset='0'/></hugepages></memoryBacking>",
    );
    expect(line(out, /hard_limit/)).toBe("<hard_limit unit='KiB'>1048576</hard_limit>");
    expect(line(out, /soft_limit/)).toBe("<soft_limit unit='KiB'>0</soft_limit>");
    expect(line(out, /<page/)).toBe("<page size='2048' unit='KiB'/>");
  });
});

describe('cpu', () => {
  it('defaults to the machine CPU of the binary: qemu64, or qemu32 for qemu-system-i386', () => {
    expect(line(general(''), /<model/)).toBe("<model fallback='forbid'>qemu64</model>");
    const i386 = general('', { arch: 'i686', emulator: '/usr/bin/qemu-system-i386' });
    expect(line(i386, /<model/)).toBe("<model fallback='forbid'>qemu32</model>");
  });
  it('fills mode, match, check and migratable defaults', () => {
    const custom = general("<cpu match='exact'><model>Haswell</model><feature name='vmx'/></cpu>", {
      type: 'kvm',
    });
    expect(line(custom, /<cpu/)).toBe("<cpu mode='custom' match='exact' check='partial'>");
    expect(line(custom, /<model/)).toBe("<model fallback='allow'>Haswell</model>");
    expect(line(custom, /<feature/)).toBe("<feature policy='require' name='vmx'/>");
    const pass = general("<cpu mode='host-passthrough'/>", { type: 'kvm' });
    expect(line(pass, /<cpu/)).toBe("<cpu mode='host-passthrough' check='none' migratable='on'/>");
    const model = general("<cpu mode='host-model'><model fallback='allow'/></cpu>", { type: 'kvm' });
    expect(line(model, /<cpu/)).toBe("<cpu mode='host-model' check='partial'/>");
  });
  it('gives topology a die count and cells ids, filling cell 0 with the remaining vCPUs', () => {
    const out = general(
      "<vcpu>12</vcpu><cpu><topology sockets='2' cores='3' threads='2'/><numa><cell cpus='2' memory='1024'/><cell cpus='3-4' memory='1024'/></numa></cpu>",
    );
    expect(line(out, /<topology/)).toBe("<topology sockets='2' dies='1' cores='3' threads='2'/>");
    expect(line(out, /cell id='0'/)).toBe("<cell id='0' cpus='0-2,5-11' memory='1024' unit='KiB'/>");
  });
});

describe('vcpu, cputune, numatune', () => {
  it('canonicalises CPU sets and expands schedulers per vCPU', () => {
    const out = general(
      "<vcpu cpuset='0-5,^4' current='1'>2</vcpu><cputune><vcpupin vcpu='1' cpuset='3,1-2'/><vcpupin vcpu='0' cpuset='0'/>" +
        "<vcpusched vcpus='0-1' scheduler='fifo' priority='1'/></cputune>",
    );
    expect(line(out, /<vcpu /)).toBe("<vcpu placement='static' cpuset='0-3,5' current='1'>2</vcpu>");
    expect(out).toContain("<vcpupin vcpu='0' cpuset='0'/>\n    <vcpupin vcpu='1' cpuset='1-3'/>");
    expect(out).toContain(
      "<vcpusched vcpus='0' scheduler='fifo' priority='1'/>\n    <vcpusched vcpus='1' scheduler='fifo' priority='1'/>",
    );
  });
  it('makes automatic vCPU placement imply automatic memory placement and back', () => {
    const auto = general("<vcpu placement='auto'>2</vcpu>");
    expect(line(auto, /<memory mode/)).toBe("<memory mode='strict' placement='auto'/>");
    const mem = general("<vcpu>2</vcpu><numatune><memory mode='preferred' placement='auto'/></numatune>");
    expect(line(mem, /<vcpu /)).toBe("<vcpu placement='auto'>2</vcpu>");
  });
  it('fills in I/O thread ids', () => {
    const out = general(
      "<iothreads>4</iothreads><iothreadids><iothread id='5'/><iothread id='6'/></iothreadids>",
    );
    expect(out).toContain("<iothread id='6'/>\n    <iothread id='1'/>\n    <iothread id='2'/>");
  });
});

describe('os, features, clock, seclabel', () => {
  it('drops a boot menu timeout of a disabled menu and names the NVRAM store', () => {
    const out = general(
      "<os><type arch='x86_64' machine='q35'>hvm</type><loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE.fd</loader>" +
        "<nvram template='/usr/share/OVMF/OVMF_VARS.fd'/><bootmenu enable='no' timeout='3000'/></os>" +
        '<features><acpi/></features>',
    );
    expect(line(out, /<nvram/)).toBe(
      "<nvram template='/usr/share/OVMF/OVMF_VARS.fd'>/var/lib/libvirt/qemu/nvram/g_VARS.fd</nvram>",
    );
    expect(line(out, /<bootmenu/)).toBe("<bootmenu enable='no'/>");
    expect(line(out, /<type/)).toBe("<type arch='x86_64' machine='pc-q35-7.2'>hvm</type>");
  });
  it('turns feature toggles on and writes TSEG sizes in their largest unit', () => {
    const out = general(
      "<os><type arch='x86_64' machine='q35'>hvm</type></os>" +
        "<features><pmu/><vmcoreinfo/><smm><tseg unit='KiB'>49152</tseg></smm><hyperv><relaxed state='on'/></hyperv></features>",
    );
    expect(line(out, /<pmu/)).toBe("<pmu state='on'/>");
    expect(line(out, /<tseg/)).toBe("<tseg unit='MiB'>48</tseg>");
    expect(line(out, /<hyperv/)).toBe("<hyperv mode='custom'>");
  });
  it('makes a numeric adjustment a variable clock', () => {
    expect(line(general("<clock offset='localtime' adjustment='+30'/>"), /<clock/)).toBe(
      "<clock offset='variable' adjustment='30' basis='localtime'/>",
    );
  });
  it('gives a lone dynamic label the host model none', () => {
    expect(line(general("<seclabel type='dynamic' relabel='yes'/>"), /<seclabel/)).toBe(
      "<seclabel type='none' model='none'/>",
    );
    const stat = general(
      "<seclabel type='static' model='selinux' relabel='yes'><label>a</label><imagelabel>b</imagelabel></seclabel>",
    );
    expect(stat).not.toContain('imagelabel');
  });
});
