/**
 * Injection: a name, path or value holding QEMU's separators (`,` `=`), quotes, a line break,
 * AppArmor globs (`**`), `..` or NUL either is refused with a one-line VirError, or reaches the
 * QEMU command line as exactly that value, inside the option it belongs to: the options and the
 * keys of every option are those of the same domain with a harmless value, and no path the
 * driver derives from the name leaves its directory. virsh's one-line form, split by a real
 * shell, gives back the same words.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { VirError } from '@qvirt/core';
import {
  type CommandLine,
  commandLineWords,
  domxmlToCommandLine,
  formatCommandLine,
  parseKeywords,
  referenceContext,
} from '@qvirt/qemu-argv';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './corpus.js';

const HOSTILE = [
  'a,b',
  'a,,b',
  ',id=evil',
  'x,file=/etc/shadow',
  'a=b',
  "a'b",
  'a"b',
  '"},{"driver":"evil',
  'a\nb',
  'a\r\n-device evil',
  'a b -device evil',
  '**',
  'x/**',
  '..',
  '../../../../etc/shadow',
  'a\u0000b',
  '$(touch /tmp/qvirt-pwned)',
  '`id`',
  ';reboot',
];

const xmlEscape = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/'/g, '&apos;').replace(/"/g, '&quot;');

/** Where a value goes, and what it is there (a path is made absolute, as XML asks). */
interface Field {
  name: string;
  value(v: string): string;
  xml(v: string): string;
  /**
   * The value is on the command line as it is (false: libvirt escapes it, as a disk serial's
   * blanks, or passes it another way, as a VNC password over the monitor).
   */
  verbatim?: false;
}

const path0 = (v: string) => `/srv/qvirt-inj/${v}`;

function domain(parts: { name?: string; devices?: string; os?: string; extra?: string }): string {
  return `<domain type='qemu'>
  <name>${parts.name ?? 'inj'}</name>
  <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>
  <memory unit='KiB'>65536</memory>
  <vcpu>1</vcpu>
  ${parts.extra ?? ''}
  <os><type arch='x86_64' machine='pc'>hvm</type>${parts.os ?? ''}</os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    ${parts.devices ?? ''}
  </devices>
</domain>`;
}

const FIELDS: Field[] = [
  { name: 'domain name', value: (v) => v, xml: (v) => domain({ name: xmlEscape(v) }) },
  {
    name: 'disk source path',
    value: path0,
    xml: (v) =>
      domain({
        devices: `<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${xmlEscape(path0(v))}'/><target dev='vda' bus='virtio'/></disk>`,
      }),
  },
  {
    name: 'disk serial',
    verbatim: false,
    value: (v) => v,
    xml: (v) =>
      domain({
        devices: `<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='/srv/a.img'/><target dev='vda' bus='virtio'/><serial>${xmlEscape(v)}</serial></disk>`,
      }),
  },
  {
    name: 'serial log file',
    value: path0,
    xml: (v) =>
      domain({
        devices: `<serial type='file'><source path='${xmlEscape(path0(v))}'/><target port='0'/></serial>`,
      }),
  },
  {
    name: 'unix channel socket',
    value: path0,
    xml: (v) =>
      domain({
        devices: `<channel type='unix'><source mode='bind' path='${xmlEscape(path0(v))}'/><target type='virtio' name='org.qemu.guest_agent.0'/></channel>`,
      }),
  },
  {
    name: 'smbios manufacturer',
    value: (v) => v,
    xml: (v) =>
      domain({
        os: "<smbios mode='sysinfo'/>",
        extra: `<sysinfo type='smbios'><system><entry name='manufacturer'>${xmlEscape(v)}</entry></system></sysinfo>`,
      }),
  },
  {
    name: 'kernel command line',
    value: (v) => v,
    xml: (v) => domain({ os: `<kernel>/srv/vmlinuz</kernel><cmdline>${xmlEscape(v)}</cmdline>` }),
  },
  {
    name: 'virtfs source directory',
    value: path0,
    xml: (v) =>
      domain({
        devices: `<filesystem type='mount' accessmode='mapped'><source dir='${xmlEscape(path0(v))}'/><target dir='tag0'/></filesystem>`,
      }),
  },
  {
    name: 'VNC password',
    verbatim: false,
    value: (v) => v,
    xml: (v) => domain({ devices: `<graphics type='vnc' port='5900' passwd='${xmlEscape(v)}'/>` }),
  },
];

/**
 * What QEMU reads from the command line: each option with the keys of its value (JSON key paths,
 * or QEMU's `key=value,…` keys, where `,,` is a literal comma). Values are left out.
 */
function shape(cl: CommandLine): string[] {
  const out: string[] = [];
  const jsonKeys = (v: unknown, prefix: string): string[] =>
    v !== null && typeof v === 'object'
      ? Object.entries(v as Record<string, unknown>).flatMap(([k, x]) => [
          `${prefix}${k}`,
          ...jsonKeys(x, `${prefix}${k}.`),
        ])
      : [];
  for (let i = 0; i < cl.args.length; i++) {
    const opt = cl.args[i]!;
    const value = cl.args[i + 1];
    if (value === undefined || value.startsWith('-')) {
      out.push(opt);
      continue;
    }
    i++;
    if (opt === '-append') {
      out.push(`${opt} <text>`);
      continue;
    }
    if (value.startsWith('{')) out.push(`${opt} ${jsonKeys(JSON.parse(value), '').join(' ')}`);
    else {
      const keys = parseKeywords(value).map(([k, v], n) => (v === undefined && n === 0 ? '<implied>' : k));
      out.push(`${opt} ${keys.join(' ')}`);
    }
  }
  return out;
}

/** Every value the command line carries, decoded as QEMU decodes it. */
function values(cl: CommandLine): string[] {
  const out: string[] = [...cl.args];
  const fromJson = (v: unknown): string[] =>
    typeof v === 'string'
      ? [v]
      : v !== null && typeof v === 'object'
        ? Object.values(v as Record<string, unknown>).flatMap(fromJson)
        : [];
  for (const a of cl.args) {
    if (a.startsWith('{')) out.push(...fromJson(JSON.parse(a)));
    else out.push(...parseKeywords(a).flatMap(([k, v]) => (v === undefined ? [k] : [v])));
  }
  return out;
}

function convert(xml: string): CommandLine | VirError {
  try {
    return domxmlToCommandLine(xml, referenceContext());
  } catch (err) {
    if (err instanceof VirError) return err;
    throw err;
  }
}

/** Splits virsh's one-line form with /bin/sh: what a user pasting it runs. */
function shellSplit(line: string): string[] {
  const out = execFileSync('/bin/sh', ['-c', `printf '%s\\0' ${line}`], { encoding: 'utf8' });
  return out.split('\0').slice(0, -1);
}

describe('hostile values reach the QEMU command line only as themselves', () => {
  for (const field of FIELDS) {
    const baseline = convert(field.xml('benign'));
    it(`${field.name}: the benign value converts`, () => {
      expect(baseline).not.toBeInstanceOf(VirError);
    });
    for (const v of HOSTILE) {
      it(`${field.name}: ${JSON.stringify(v)}`, () => {
        const got = convert(field.xml(v));
        if (got instanceof VirError) {
          expect(got.message).not.toMatch(/[\r\n]/);
          return;
        }
        const base = baseline as CommandLine;
        // same options, same keys in each
        expect(shape(got)).toEqual(shape(base));
        // the value is there whole (XML turns a line break in an attribute into a space)
        const wanted = field.value(v);
        const decoded = values(got);
        if (field.verbatim !== false) {
          expect(
            decoded.some((d) => d.includes(wanted) || d.includes(wanted.replace(/[\r\n]/g, ' '))),
            `${JSON.stringify(wanted)} in ${JSON.stringify(decoded)}`,
          ).toBe(true);
        }
        // the paths made from the domain name stay in their directories
        for (const d of decoded.filter(
          (x) => x.startsWith('/var/lib/libvirt/qemu/') || x.startsWith('/run/libvirt/'),
        )) {
          const top = d.startsWith('/run/') ? '/run/libvirt/qemu/' : '/var/lib/libvirt/qemu/';
          expect(path.posix.normalize(d).startsWith(top), d).toBe(true);
          expect(d.split('/')).not.toContain('..');
        }
        // the printed line is the same words for a shell
        expect(shellSplit(formatCommandLine(got))).toEqual(commandLineWords(got));
      });
    }
  }
});

describe('names the driver makes paths of', () => {
  it('a name with a slash, or that is . or .., never becomes a path outside the instance', () => {
    for (const name of ['a/b', '../x', '/etc/x', 'x/..', '.', '..']) {
      const got = convert(domain({ name: xmlEscape(name) }));
      if (got instanceof VirError) continue;
      for (const d of values(got).filter((x) => x.includes('/var/lib/libvirt/qemu/'))) {
        const rel = d.slice('/var/lib/libvirt/qemu/'.length);
        const first = rel.split('/')[0]!;
        expect(first === '..' || first === '.' || first === '', `${name}: ${d}`).toBe(false);
        expect(rel.split('/'), `${name}: ${d}`).not.toContain('..');
      }
    }
  });
});

// AppArmor rules: virt-aa-helper's rule generator, once @qvirt/apparmor-svirt is built.
const aaDist = path.join(REPO_ROOT, 'packages/apparmor-svirt/dist/rules.js');
const PROFILE = 'libvirt-c7a5fdbd-edaf-9455-926a-d65c16db1809';
describe.skipIf(!existsSync(aaDist))('hostile paths in AppArmor rules', () => {
  for (const field of [FIELDS[1]!, FIELDS[3]!, FIELDS[4]!]) {
    it(`${field.name}: a path adds no rule, glob or permission of its own`, async () => {
      const { generateRules } = (await import(pathToFileURL(aaDist).href)) as {
        generateRules: (
          def: unknown,
          options: { profileName: string },
          fs: unknown,
        ) => Promise<{ ok: boolean; rules: string }>;
      };
      const { parseDomainXML } = await import('@qvirt/core');
      // every path exists and is what it says (no symlinks)
      const fs = {
        exists: async () => true,
        realpath: async (p: string) => p,
        readdir: async () => [],
        readText: async () => '',
        readHead: async () => undefined,
      };
      const rulesFor = async (v: string): Promise<string[] | undefined> => {
        let def: unknown;
        try {
          def = parseDomainXML(field.xml(v));
        } catch (err) {
          expect(err).toBeInstanceOf(VirError);
          return undefined;
        }
        const r = await generateRules(def, { profileName: PROFILE }, fs);
        return r.ok ? r.rules.split('\n').filter((l) => l.includes('/srv/qvirt-inj/')) : undefined;
      };
      const base = await rulesFor('benign');
      expect(base?.length).toBeGreaterThan(0);
      const problems: string[] = [];
      for (const v of HOSTILE) {
        const lines = await rulesFor(v);
        if (lines === undefined) continue; // refused
        if (lines.length !== base!.length) problems.push(`${JSON.stringify(v)}: ${lines.length} rule lines`);
        for (const l of lines) {
          // one `"PATH" PERMS,` rule, the path without an unescaped glob or quote of its own
          const m = /^\s*"((?:[^"\\]|\\.)*)" [a-z]+,$/.exec(l);
          const unescaped = (m?.[1] ?? '').replace(/\\./g, '').replace(/\/\*\*$/, '');
          if (!m || /[*?[\]{}^\0]/.test(unescaped))
            problems.push(`${JSON.stringify(v)}: ${JSON.stringify(l)}`);
        }
      }
      expect(problems).toEqual([]);
    });
  }
});
