/**
 * libvirt's own storage XML round trips (storagepoolxml2xmltest, storagevolxml2xmltest) for the
 * pool types this package serves: parse the input, print it, compare with libvirt's output.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formatPoolXml, parsePoolXml } from './pool-xml.js';
import { formatVolXml, parseVolXml } from './vol-xml.js';

const DATA = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../test-fixtures/libvirt');
const read = (dir: string, name: string) => readFileSync(path.join(DATA, dir, `${name}.xml`), 'utf8');
const cases = (dir: string) =>
  readdirSync(path.join(DATA, dir))
    .filter((f) => f.endsWith('.xml'))
    .map((f) => f.slice(0, -4));

/** storagevolxml2xmltest's pool for each volume case. */
const VOL_POOL: Record<string, string> = {
  'vol-logical': 'pool-logical',
  'vol-logical-backing': 'pool-logical',
};
/** Cases run without a capacity (the test's DO_TEST_FULL with VIR_VOL_XML_PARSE_NO_CAPACITY). */
const OPT_CAPACITY = new Set(['vol-qcow2-nocapacity']);

describe("libvirt's storagepoolxml2xml cases", () => {
  it.each(cases('storagepoolxml2xmlin'))('%s', (name) => {
    expect(formatPoolXml(parsePoolXml(read('storagepoolxml2xmlin', name)))).toBe(
      read('storagepoolxml2xmlout', name),
    );
  });
});

describe("libvirt's storagevolxml2xml cases", () => {
  it.each(cases('storagevolxml2xmlin'))('%s', (name) => {
    const pool = parsePoolXml(read('storagepoolxml2xmlin', VOL_POOL[name] ?? 'pool-dir'));
    const vol = parseVolXml(pool.type, read('storagevolxml2xmlin', name), {
      optionalCapacity: OPT_CAPACITY.has(name),
    });
    expect(formatVolXml(pool.type, vol)).toBe(read('storagevolxml2xmlout', name));
  });
});

describe('bad pool and volume XML', () => {
  it.each([
    ['<pool/>', "XML error: Missing required attribute 'type' in element 'pool'"],
    [
      "<pool type='nope'><name>x</name></pool>",
      "XML error: Invalid value for attribute 'type' in element 'pool': 'nope'.",
    ],
    [
      "<pool type='dir'><target><path>/x</path></target></pool>",
      'XML error: missing pool source name element',
    ],
    [
      "<pool type='dir'><name>a/b</name><target><path>/x</path></target></pool>",
      "XML error: name a/b cannot contain '/'",
    ],
    [
      "<pool type='netfs'><name>n</name><target><path>/x</path></target></pool>",
      'XML error: missing storage pool source host name',
    ],
    [
      "<pool type='fs'><name>n</name><target><path>/x</path></target></pool>",
      'XML error: missing storage pool source device name',
    ],
  ])('%s', (xml, message) => {
    expect(() => parsePoolXml(xml)).toThrow(message);
  });

  it.each([
    ['<volume><capacity>1</capacity></volume>', 'XML error: missing volume name element'],
    ['<volume><name>v</name></volume>', 'XML error: missing capacity element'],
    [
      "<volume><name>v</name><capacity unit='Q'>1</capacity></volume>",
      "invalid argument: unknown suffix 'Q'",
    ],
    [
      "<volume><name>v</name><capacity>1</capacity><target><format type='zip'/></target></volume>",
      'unsupported configuration: unknown volume format type zip',
    ],
  ])('%s', (xml, message) => {
    expect(() => parseVolXml('dir', xml)).toThrow(message);
  });
});
