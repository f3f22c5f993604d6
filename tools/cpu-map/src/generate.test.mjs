// Tests of the generator on a miniature CPU map written here, and (when LIBVIRT_SRC points at a
// libvirt source tree) a comparison of a fresh run with the checked-in data file's libvirt part.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildCpuMap, stringifyCpuMap } from './generate.mjs';
import { loadX86Map } from './libvirt-map.mjs';
import { parseXml } from './xml.mjs';

const dirs = /** @type {string[]} */ ([]);
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** @param {Record<string, string>} files */
function tree(files) {
  const root = mkdtempSync(join(tmpdir(), 'cpu-map-'));
  dirs.push(root);
  const map = join(root, 'src', 'cpu_map');
  mkdirSync(map, { recursive: true });
  writeFileSync(join(root, 'meson.build'), "project('libvirt', 'c', version: '1.2.3')\n");
  for (const [name, text] of Object.entries(files)) writeFileSync(join(map, name), text);
  return { root, map };
}

const MINI = {
  'index.xml': `<cpus>
  <arch name='x86'>
    <include filename='v.xml'/>
    <include filename='f.xml'/>
    <include filename='m.xml'/>
  </arch>
  <arch name='ppc64'><include filename='nothere.xml'/></arch>
</cpus>`,
  'v.xml': `<cpus><vendor name='Intel' string='GenuineIntel'/></cpus>`,
  'f.xml': `<cpus>
  <!-- a comment -->
  <feature name='b'><cpuid eax_in='0x01' edx='0x00000002'/></feature>
  <feature name='a'>
    <alias name='a-alias' source='qemu'/>
    <cpuid eax_in='0x07' ecx_in='0x00' ebx='0x80000000'/>
  </feature>
  <feature name='m' migratable='no'><msr index='0x10a' edx='0x00000000' eax='0x00000004'/></feature>
</cpus>`,
  'm.xml': `<cpus>
  <model name='base'>
    <decode host='on' guest='off'/>
    <signature family='6' model='60' stepping='0-2,5'/>
    <vendor name='Intel'/>
    <feature name='a'/>
  </model>
  <model name='child'>
    <decode host='on' guest='on'/>
    <model name='base'/>
    <feature name='m'/>
    <feature name='b' removed='yes'/>
  </model>
</cpus>`,
};

describe('loadX86Map', () => {
  it('reads vendors, feature bits and models with inheritance', () => {
    const map = loadX86Map(tree(MINI).map);
    expect(map.vendors).toEqual([{ name: 'Intel', string: 'GenuineIntel' }]);
    expect(map.features).toEqual([
      { name: 'b', cpuid: { leaf: 1, subleaf: 0, register: 'edx', bit: 1 } },
      {
        name: 'a',
        cpuid: { leaf: 7, subleaf: 0, register: 'ebx', bit: 31 },
        aliases: [{ name: 'a-alias', source: 'qemu' }],
      },
      { name: 'm', msr: { index: 0x10a, register: 'eax', bit: 2 }, migratable: false },
    ]);
    expect(map.models).toEqual([
      {
        name: 'base',
        vendor: 'Intel',
        decode: { host: true, guest: false },
        signatures: [{ family: 6, model: 60, stepping: '0-2,5' }],
        features: ['a'],
      },
      {
        name: 'child',
        vendor: 'Intel',
        decode: { host: true, guest: true },
        signatures: [{ family: 6, model: 60, stepping: '0-2,5' }],
        // the map's order, not the file's
        features: ['a', 'm'],
        removedFeatures: ['b'],
      },
    ]);
  });

  it("refuses what libvirt's loader refuses", () => {
    const bad = (/** @type {Record<string, string>} */ over) => () =>
      loadX86Map(tree({ ...MINI, ...over }).map);
    expect(
      bad({
        'm.xml': `<cpus><model name='x'><decode host='on' guest='on'/><feature name='zz'/></model></cpus>`,
      }),
    ).toThrow('feature zz not found');
    expect(bad({ 'm.xml': `<cpus><model name='x'><feature name='a'/></model></cpus>` })).toThrow(
      'missing decode element',
    );
    expect(
      bad({ 'f.xml': `<cpus><feature name='b'><cpuid eax_in='0x01' edx='0x3'/></feature></cpus>` }),
    ).toThrow('expected exactly one bit');
    expect(bad({ 'v.xml': `<cpus><vendor name='X' string='short'/></cpus>` })).toThrow(
      "invalid CPU vendor string 'short'",
    );
  });
});

describe('buildCpuMap', () => {
  it('writes a stable document with the libvirt version', () => {
    const { root } = tree(MINI);
    const text = stringifyCpuMap(buildCpuMap({ src: root }));
    expect(JSON.parse(text).libvirt).toBe('1.2.3');
    expect(stringifyCpuMap(buildCpuMap({ src: root }))).toBe(text);
  });

  it('parses XML attributes in either quote style', () => {
    expect(parseXml(`<a x="1" y='2'><b/></a>`, 't').attrs).toEqual({ x: '1', y: '2' });
    expect(() => parseXml('<a><b></a>', 't')).toThrow('unexpected </a>');
  });

  const src = process.env.LIBVIRT_SRC;
  it.skipIf(!src)("matches the checked-in data file's libvirt part", () => {
    const fresh = buildCpuMap({ src: /** @type {string} */ (src) });
    const file = new URL('../../../packages/cpu/src/x86-cpu-map.json', import.meta.url);
    const checked = JSON.parse(readFileSync(file, 'utf8'));
    for (const k of /** @type {const} */ (['libvirt', 'vendors', 'features', 'models'])) {
      expect(fresh[k]).toEqual(checked[k]);
    }
  });
});
