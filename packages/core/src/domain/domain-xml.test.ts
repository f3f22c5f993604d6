import { describe, expect, it } from 'vitest';
import { VirError, XmlError } from '../errors.js';
import { formatDomainXML, parseDomainXML, unknownParts } from './domain-xml.js';

const wrap = (inner: string, attrs = "type='qemu'") =>
  `<domain ${attrs}>\n  <name>t</name>\n  <os><type>hvm</type></os>\n${inner}</domain>\n`;

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}

describe('parseDomainXML bad input', () => {
  it('malformed XML names the line', () => {
    const err = errorOf(() =>
      parseDomainXML("<domain type='qemu'>\n  <name>t</name>\n</devices>\n</domain>", { source: 'bad.xml' }),
    );
    expect(err).toBeInstanceOf(XmlError);
    expect(err.message).toBe('XML error: bad.xml: line 3, column 10: Unmatched closing tag: devices');
  });

  it('refuses a DOCTYPE (XXE)', () => {
    const xxe = `<?xml version="1.0"?>\n<!DOCTYPE domain [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n<domain type='qemu'><name>&xxe;</name></domain>`;
    expect(errorOf(() => parseDomainXML(xxe, { source: 'xxe.xml' })).message).toBe(
      'XML error: xxe.xml:2: DOCTYPE declarations are not allowed',
    );
  });

  it('refuses entity declarations (billion laughs)', () => {
    const lol = `<!ENTITY lol "lol"><domain type='qemu'><name>&lol;</name></domain>`;
    expect(errorOf(() => parseDomainXML(lol)).message).toBe(
      'XML error: domain:1: ENTITY declarations are not allowed',
    );
  });

  it('refuses an undefined entity reference', () => {
    expect(errorOf(() => parseDomainXML(wrap('<title>&lol;</title>'))).message).toMatch(
      /^XML error: domain: line 4, column \d+: Invalid character entity$/,
    );
  });

  it('refuses control characters XML does not allow, as libxml2 (a NUL would reach QEMU)', () => {
    const err = errorOf(() => parseDomainXML("<domain type='qemu'>\n  <name>a\u0000b</name>\n</domain>"));
    expect(err).toBeInstanceOf(XmlError);
    expect(err.message).toBe('XML error: domain:2: Char 0x0 out of allowed range');
    expect(() => parseDomainXML("<domain type='qemu'><name>a\u001bb</name></domain>")).toThrow('Char 0x1b');
  });

  it('requires <name>', () => {
    const err = errorOf(() => parseDomainXML("<domain type='qemu'><os><type>hvm</type></os></domain>"));
    expect(err).toBeInstanceOf(VirError);
    expect(err.message).toBe('missing name information');
  });

  it('refuses a malformed UUID', () => {
    expect(
      errorOf(() => parseDomainXML(wrap('<uuid>c7a5fdbd-edaf-9455-926a-d65c16db18</uuid>'))).message,
    ).toBe('internal error: malformed uuid element');
    expect(
      errorOf(() => parseDomainXML(wrap('<uuid>c7a5fdbd--edaf-9455-926a-d65c16db1809</uuid>'))).message,
    ).toBe('internal error: malformed uuid element');
  });

  it('accepts UUIDs in the forms libvirt accepts and prints them canonically', () => {
    const def = parseDomainXML(wrap('<uuid> C7A5FDBDEDAF9455926AD65C16DB1809 </uuid>'));
    expect(def.uuid).toBe('c7a5fdbd-edaf-9455-926a-d65c16db1809');
  });

  it('refuses an unknown or missing domain type', () => {
    expect(errorOf(() => parseDomainXML(wrap('', "type='xyz'"))).message).toBe(
      'unsupported configuration: invalid domain type xyz',
    );
    expect(errorOf(() => parseDomainXML(wrap('', ''))).message).toBe(
      'internal error: missing domain type attribute',
    );
  });

  it('refuses a number out of range, naming the element path and attribute', () => {
    const xml = wrap(
      `<devices><disk type='file' device='disk'><address type='pci' domain='0x10000'/></disk></devices>\n`,
    );
    expect(errorOf(() => parseDomainXML(xml)).message).toBe(
      "XML error: invalid value '0x10000' for attribute 'domain' of <domain/devices/disk[1]/address>: must be at most 65535",
    );
  });

  it("uses libvirt's wording where libvirt has its own check", () => {
    const slot = wrap(
      `<devices><disk type='file' device='disk'><address type='pci' slot='0x20'/></disk></devices>\n`,
    );
    expect(errorOf(() => parseDomainXML(slot)).message).toBe(
      "XML error: Invalid PCI address slot='0x20', must be <= 0x1F",
    );
    const unit = wrap(`<devices><disk type='file'><address type='drive' unit='-1'/></disk></devices>\n`);
    expect(errorOf(() => parseDomainXML(unit)).message).toBe(
      "XML error: Invalid value for attribute 'unit' in element 'address': '-1'. Expected non-negative integer value",
    );
    const index = wrap(`<devices><controller type='pci' index='-1'/></devices>\n`);
    expect(errorOf(() => parseDomainXML(index)).message).toBe(
      "XML error: Invalid value for attribute 'index' in element 'controller': '-1'. Expected non-negative value",
    );
  });

  it('refuses a non-number where one is required, in one line', () => {
    const xml = wrap(`<devices><disk type='file'><address type='drive' unit='1\n2'/></disk></devices>\n`);
    const msg = errorOf(() => parseDomainXML(xml)).message;
    expect(msg).toBe(
      "XML error: invalid value '1\\x0a2' for attribute 'unit' of <domain/devices/disk[1]/address>: expected an integer",
    );
    expect(msg).not.toContain('\n');
  });

  it('requires an OS type', () => {
    expect(errorOf(() => parseDomainXML("<domain type='qemu'><name>t</name></domain>")).message).toBe(
      'XML error: an os <type> must be specified',
    );
  });

  it('refuses another root element', () => {
    expect(errorOf(() => parseDomainXML('<network/>')).message).toBe(
      'XML error: unexpected root element <network>, expecting <domain>',
    );
  });
});

describe('unknown content', () => {
  const xml = wrap(
    "  <frobnicate level='3'><x/></frobnicate>\n  <devices><disk type='file' sparkle='yes'/></devices>\n",
  );

  it('is kept and written back by default', () => {
    const def = parseDomainXML(xml);
    expect(unknownParts(def)).toEqual(['domain/devices/disk[1]/@sparkle', 'domain/frobnicate']);
    const text = formatDomainXML(def);
    expect(text).toContain("<frobnicate level='3'>");
    expect(text).toContain("sparkle='yes'");
    expect(parseDomainXML(text)).toEqual(def);
  });

  it('is refused with strict, naming its path', () => {
    expect(errorOf(() => parseDomainXML(xml, { strict: true })).message).toBe(
      'XML error: unknown element <frobnicate> in <domain>',
    );
  });
});

describe('formatDomainXML', () => {
  it('prints libvirt layout: element order, two-space indent, single quotes, escaping', () => {
    const def = parseDomainXML(
      `<domain type='kvm'><on_crash>destroy</on_crash><name>a&amp;b "c"</name><os><type arch='x86_64'>hvm</type></os>` +
        `<uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid></domain>`,
    );
    expect(formatDomainXML(def)).toBe(
      "<domain type='kvm'>\n" +
        '  <name>a&amp;b &quot;c&quot;</name>\n' +
        '  <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>\n' +
        '  <os>\n' +
        "    <type arch='x86_64'>hvm</type>\n" +
        '  </os>\n' +
        '  <on_crash>destroy</on_crash>\n' +
        '</domain>\n',
    );
  });

  it('normalises the QEMU namespace prefix', () => {
    const def = parseDomainXML(
      wrap(
        "  <q:commandline><q:arg value='-x'/></q:commandline>\n",
        "type='qemu' xmlns:q='http://libvirt.org/schemas/domain/qemu/1.0'",
      ),
    );
    const text = formatDomainXML(def);
    expect(text.split('\n')[0]).toBe(
      "<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>",
    );
    expect(text).toContain("<qemu:arg value='-x'/>");
  });
});

describe('namespaces', () => {
  const QEMU = 'http://libvirt.org/schemas/domain/qemu/1.0';

  it('resolves a default namespace and declarations below the root', () => {
    const def = parseDomainXML(
      wrap(
        `  <commandline xmlns='${QEMU}'><arg value='-a'/></commandline>\n  <qemu:capabilities xmlns:qemu='${QEMU}'><qemu:add capability='x'/></qemu:capabilities>\n`,
      ),
    );
    expect(unknownParts(def)).toEqual([]);
    const text = formatDomainXML(def);
    expect(text).toContain("<qemu:commandline>\n    <qemu:arg value='-a'/>\n  </qemu:commandline>");
    expect(text.match(/xmlns/g)).toHaveLength(1);
  });

  it('does not take the prefix qemu bound elsewhere for QEMU’s namespace', () => {
    const def = parseDomainXML(
      wrap(
        "  <qemu:commandline><qemu:arg value='-a'/></qemu:commandline>\n",
        "type='qemu' xmlns:qemu='urn:dummy'",
      ),
    );
    expect(def.qemuCommandline).toBeUndefined();
    expect(unknownParts(def)).toEqual(['domain/ns0:commandline']);
    expect(formatDomainXML(def)).toContain("<ns0:commandline xmlns:ns0='urn:dummy'>");
  });

  it('prints <metadata> as libxml2 does, declaring there what it uses of the root (xmlCopyNode)', () => {
    const def = parseDomainXML(
      wrap(
        "  <metadata><a:x>1</a:x><b:y k='v' a:z='w'/><c:q xmlns:c='urn:c'><d:n/></c:q></metadata>\n",
        "type='qemu' xmlns:a='urn:a' xmlns:b='urn:b' xmlns:d='urn:d' xmlns:unused='urn:u'",
      ),
    );
    // libvirt 9.0 (virsh define + dumpxml) prints exactly this for the same input
    expect(formatDomainXML(def)).toContain(
      '  <metadata xmlns:a="urn:a" xmlns:b="urn:b" xmlns:d="urn:d">\n    <a:x>1</a:x>\n    <b:y k="v" a:z="w"/>\n' +
        '    <c:q xmlns:c="urn:c">\n      <d:n/>\n    </c:q>\n  </metadata>\n',
    );
  });
});

describe('repeated <devices> and <features> (read through XPath from the domain, as libvirt)', () => {
  it('reads every <devices> as one, in document order', () => {
    const def = parseDomainXML(
      wrap(
        "  <devices><memballoon model='virtio'/></devices>\n" +
          "  <devices><emulator>/usr/bin/qemu-system-x86_64</emulator><disk type='file' device='disk'>" +
          "<source file='/a'/><target dev='vda' bus='virtio'/></disk></devices>\n" +
          "  <devices><disk type='file' device='cdrom'><target dev='hdc' bus='ide'/></disk></devices>\n",
      ),
    );
    expect(def.devices?.emulator).toBe('/usr/bin/qemu-system-x86_64');
    expect(def.devices?.disk?.map((d) => d.target?.dev)).toEqual(['vda', 'hdc']);
    expect(def.devices?.memballoon?.model).toBe('virtio');
    expect(formatDomainXML(def).match(/<devices>/g)).toHaveLength(1);
  });

  it('lets a later feature replace an earlier one, Hyper-V enlightenments adding up', () => {
    const def = parseDomainXML(
      wrap(
        "  <features><kvm><hint-dedicated state='on'/></kvm><msrs unknown='ignore'/>" +
          "<hyperv><relaxed state='on'/></hyperv></features>\n" +
          "  <features><kvm><poll-control state='on'/></kvm><msrs unknown='fault'/>" +
          "<hyperv><vendor_id state='on' value='KVM Hv'/></hyperv></features>\n",
      ),
    );
    // libvirt 9.0 prints kvm with poll-control only, msrs fault, and both Hyper-V children
    expect(def.features?.kvm).toEqual({ 'poll-control': { state: 'on' } });
    expect(def.features?.msrs?.unknown).toBe('fault');
    expect(def.features?.hyperv?.relaxed?.state).toBe('on');
    expect(def.features?.hyperv?.vendor_id?.value).toBe('KVM Hv');
  });
});

describe('a disk with two <iotune> (read as string(./iotune/NAME))', () => {
  it('takes each limit from the first <iotune> that has it', () => {
    const def = parseDomainXML(
      wrap(
        "  <devices><disk type='file' device='disk'><source file='/a'/><target dev='vda' bus='virtio'/>" +
          '<iotune><total_bytes_sec>1000</total_bytes_sec></iotune>' +
          '<iotune><total_bytes_sec>2000</total_bytes_sec><group_name>g</group_name></iotune></disk></devices>\n',
      ),
    );
    const iotune = def.devices?.disk?.[0]?.iotune as Record<string, unknown>;
    expect(String(iotune.total_bytes_sec)).toBe('1000');
    expect(iotune.group_name).toBe('g');
  });
});

describe('CDATA in <metadata> (OpenNebula writes its values so)', () => {
  it('keeps a CDATA section as written, and reads one elsewhere as text', () => {
    const def = parseDomainXML(
      wrap(
        "  <metadata><one:vm xmlns:one='urn:one'><one:name><![CDATA[a & <b>]]></one:name><one:uid>0</one:uid></one:vm></metadata>\n" +
          '  <devices><emulator><![CDATA[/usr/bin/qemu-system-x86_64]]></emulator></devices>\n',
      ),
    );
    expect(def.devices?.emulator).toBe('/usr/bin/qemu-system-x86_64');
    // libvirt 9.0's dumpxml of the same input
    expect(formatDomainXML(def)).toContain(
      '  <metadata>\n    <one:vm xmlns:one="urn:one">\n      <one:name><![CDATA[a & <b>]]></one:name>\n' +
        '      <one:uid>0</one:uid>\n    </one:vm>\n  </metadata>\n',
    );
  });
});
