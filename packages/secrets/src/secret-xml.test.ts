import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formatSecretXML, parseSecretXML } from './secret-xml.js';

const corpus = path.join(path.dirname(fileURLToPath(import.meta.url)), '../test-fixtures/secretxml2xml');

describe('secret XML (libvirt tests/secretxml2xmltest)', () => {
  for (const name of readdirSync(corpus).filter((n) => n.endsWith('.xml'))) {
    it(`${name} formats as libvirt prints it`, () => {
      const xml = readFileSync(path.join(corpus, name), 'utf8');
      expect(formatSecretXML(parseSecretXML(xml))).toBe(xml);
    });
  }

  it('generates a UUID, defaults to not ephemeral and not private, and reindents', () => {
    const def = parseSecretXML("<secret><usage type='volume'><volume>/a &amp; b</volume></usage></secret>");
    expect(def.uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(formatSecretXML(def)).toBe(
      `<secret ephemeral='no' private='no'>\n  <uuid>${def.uuid}</uuid>\n  <usage type='volume'>\n    <volume>/a &amp; b</volume>\n  </usage>\n</secret>\n`,
    );
  });

  it('canonicalises the UUID as virUUIDParse', () => {
    expect(parseSecretXML('<secret><uuid> 0123456789ABCDEF0123456789abcdef </uuid></secret>').uuid).toBe(
      '01234567-89ab-cdef-0123-456789abcdef',
    );
  });

  it.each([
    ['<domain/>', "XML error: expecting root element of 'secret', not 'domain'"],
    ["<secret ephemeral='maybe'/>", "XML error: invalid value of 'ephemeral'"],
    ["<secret private='1'/>", "XML error: invalid value of 'private'"],
    ['<secret><uuid>xyz</uuid></secret>', 'internal error: malformed uuid element'],
    ['<secret><usage/></secret>', 'XML error: unknown secret usage type'],
    ["<secret><usage type='nfs'/></secret>", 'unsupported configuration: unknown secret usage type nfs'],
    [
      "<secret><usage type='volume'/></secret>",
      'internal error: volume usage specified, but volume path is missing',
    ],
    ["<secret><usage type='ceph'/></secret>", 'internal error: Ceph usage specified, but name is missing'],
    [
      "<secret><usage type='iscsi'/></secret>",
      'internal error: iSCSI usage specified, but target is missing',
    ],
    ["<secret><usage type='tls'/></secret>", 'internal error: TLS usage specified, but name is missing'],
    ["<secret><usage type='vtpm'/></secret>", 'internal error: vTPM usage specified, but name is missing'],
  ])('refuses %s with libvirt text', (xml, message) => {
    expect(() => parseSecretXML(xml)).toThrow(message);
  });
});
