import { parseDomainXML } from '@qvirt/core';
import { describe, expect, it } from 'vitest';
import { referenceContext } from './context.js';
import { formatDefinition } from './definition-xml.js';
import { canonicalizeDomain } from './post-parse/index.js';

const xml = `<domain type='qemu'><name>t</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid><memory>65536</memory>
<os><type arch='x86_64' machine='pc'>hvm</type></os><devices><emulator>/usr/bin/qemu-system-x86_64</emulator>
<disk type='network' device='disk'><source protocol='http' name='a.img'><host name='example.org'/>
<cookies><cookie name='k'>secret</cookie></cookies></source><target dev='vda' bus='virtio'/></disk>
<disk type='file' device='disk'><source file='/top.qcow2' index='2'/><backingStore type='file' index='1'><format type='raw'/><source file='/base.img'/></backingStore><target dev='vdb' bus='virtio'/></disk>
<graphics type='vnc' port='-1' passwd='hunter2'/></devices></domain>`;

describe('the stored definition and how dumpxml prints it', () => {
  const def = canonicalizeDomain(parseDomainXML(xml), referenceContext());

  it('hides secrets unless asked for them', () => {
    const plain = formatDefinition(def);
    expect(plain).not.toContain('secret');
    expect(plain).not.toContain('hunter2');
    const secure = formatDefinition(def, { secure: true });
    expect(secure).toContain("<cookie name='k'>secret</cookie>");
    expect(secure).toContain("passwd='hunter2'");
  });

  it('keeps no live-only backing-chain indexes', () => {
    const text = formatDefinition(def);
    expect(text).toContain("<source file='/top.qcow2'/>");
    expect(text).toContain("<backingStore type='file'>");
    expect(text).not.toMatch(/<(source|backingStore)[^>]*index=/);
  });
});
