/**
 * The host's SMBIOS as libvirt 9.0 reports it on x86 (src/util/virsysinfo.c): virSysinfoReadDMI
 * runs `dmidecode -q -t 0,1,2,3,4,11,17` and picks fields out of its text, virSysinfoFormat
 * writes the `<sysinfo type='smbios'>` document virConnectGetSysinfo answers. The parse keeps
 * libvirt's ways: each field is the first "Name: " found after its section's heading, anywhere in
 * the rest of the text; trailing blanks are dropped and a blank value is no value.
 */
import { execFile } from 'node:child_process';

export interface SysinfoDef {
  bios?: Record<string, string>;
  system?: Record<string, string>;
  baseBoard: Record<string, string>[];
  chassis?: Record<string, string>;
  processor: Record<string, string>[];
  memory: Record<string, string>[];
  oemStrings?: string[];
}

/** g_ascii_isspace */
const isSpace = (c: string | undefined) => c !== undefined && ' \t\n\v\f\r'.includes(c);

/**
 * `strstr(base, label)`, then the value up to the line's end (virSkipSpacesBackwards): undefined
 * when the label is nowhere after `from` or its value is blank.
 */
function field(text: string, from: number, label: string): string | undefined {
  const at = text.indexOf(label, from);
  if (at < 0) return undefined;
  const cur = at + label.length;
  const nl = text.indexOf('\n', cur);
  let end = nl < 0 ? text.length : nl;
  while (end > cur && isSpace(text[end - 1])) end--;
  return end === cur ? undefined : text.slice(cur, end);
}

/** The fields of one section: libvirt's entry names against dmidecode's labels, in order. */
function section(text: string, from: number, fields: [string, string][]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, label] of fields) {
    const v = field(text, from, label);
    if (v !== undefined) out[name] = v;
  }
  return out;
}

const BIOS: [string, string][] = [
  ['vendor', 'Vendor: '],
  ['version', 'Version: '],
  ['date', 'Release Date: '],
  ['release', 'BIOS Revision: '],
];
const SYSTEM: [string, string][] = [
  ['manufacturer', 'Manufacturer: '],
  ['product', 'Product Name: '],
  ['version', 'Version: '],
  ['serial', 'Serial Number: '],
  ['uuid', 'UUID: '],
  ['sku', 'SKU Number: '],
  ['family', 'Family: '],
];
const BASE_BOARD: [string, string][] = [
  ['manufacturer', 'Manufacturer: '],
  ['product', 'Product Name: '],
  ['version', 'Version: '],
  ['serial', 'Serial Number: '],
  ['asset', 'Asset Tag: '],
  ['location', 'Location In Chassis: '],
];
const CHASSIS: [string, string][] = [
  ['manufacturer', 'Manufacturer: '],
  ['version', 'Version: '],
  ['serial', 'Serial Number: '],
  ['asset', 'Asset Tag: '],
  ['sku', 'SKU Number: '],
];
const PROCESSOR: [string, string][] = [
  ['socket_destination', 'Socket Designation: '],
  ['type', 'Type: '],
  ['family', 'Family: '],
  ['manufacturer', 'Manufacturer: '],
  ['signature', 'Signature: '],
  ['version', 'Version: '],
  ['external_clock', 'External Clock: '],
  ['max_speed', 'Max Speed: '],
  ['status', 'Status: '],
  ['serial_number', 'Serial Number: '],
  ['part_number', 'Part Number: '],
];
const MEMORY: [string, string][] = [
  ['size', 'Size: '],
  ['form_factor', 'Form Factor: '],
  ['locator', 'Locator: '],
  ['bank_locator', 'Bank Locator: '],
  ['type', 'Type: '],
  ['type_detail', 'Type Detail: '],
  ['speed', 'Speed: '],
  ['manufacturer', 'Manufacturer: '],
  ['serial_number', 'Serial Number: '],
  ['part_number', 'Part Number: '],
];

const nonEmpty = (r: Record<string, string>) => (Object.keys(r).length ? r : undefined);

/** Every occurrence of `heading` from the start, as libvirt's while (strstr(...)) loops walk them. */
function headings(text: string, heading: string, step: number): number[] {
  const out: number[] = [];
  for (let at = text.indexOf(heading); at >= 0; at = text.indexOf(heading, at + step)) out.push(at);
  return out;
}

const malformed = () => new Error('internal error: Malformed output of dmidecode');

/**
 * virSysinfoParseOEMStrings: each "String N: value" after "OEM Strings"; a value with a dot may be
 * a newline dmidecode escaped, so it is read again raw (`dmidecode --dump --oem-string N`).
 */
async function oemStrings(text: string, raw: (i: number) => Promise<string>): Promise<string[] | undefined> {
  let cur = text.indexOf('OEM Strings');
  if (cur < 0) return undefined;
  const values: string[] = [];
  let i = 1;
  for (;;) {
    const at = text.indexOf('String ', cur);
    if (at < 0) break;
    cur = at + 7;
    const eol = text.indexOf('\n', cur);
    if (eol < 0) throw malformed();
    while (/[0-9]/.test(text[cur] ?? '')) cur++;
    if (text[cur] !== ':') throw malformed();
    cur += 2;
    let end = eol;
    while (end > cur && isSpace(text[end - 1])) end--;
    if (end <= cur) continue;
    const value = text.slice(cur, end);
    values.push(value.includes('.') ? await raw(i) : value);
    i++;
    cur = eol;
  }
  return values;
}

/** virSysinfoReadDMI's parse of dmidecode's text. */
export async function parseDmidecode(text: string, raw: (i: number) => Promise<string>): Promise<SysinfoDef> {
  const def: SysinfoDef = { baseBoard: [], processor: [], memory: [] };
  const bios = text.indexOf('BIOS Information');
  if (bios >= 0) def.bios = nonEmpty(section(text, bios, BIOS));
  const system = text.indexOf('System Information');
  if (system >= 0) def.system = nonEmpty(section(text, system, SYSTEM));
  // virSysinfoParseX86BaseBoard looks for the fields after the heading's 22 characters
  for (const at of headings(text, 'Base Board Information', 22)) {
    const board = nonEmpty(section(text, at + 22, BASE_BOARD));
    if (board) def.baseBoard.push(board);
  }
  const chassis = text.indexOf('Chassis Information');
  if (chassis >= 0) def.chassis = nonEmpty(section(text, chassis, CHASSIS));
  const oem = await oemStrings(text, raw);
  if (oem) def.oemStrings = oem;
  for (const at of headings(text, 'Processor Information', 'Processor Information'.length))
    def.processor.push(section(text, at, PROCESSOR));
  for (const at of headings(text, 'Memory Device', 'Memory Device'.length)) {
    // an empty slot has nothing to say (the entry stays, and is not printed)
    const size = text.indexOf('Size: ', at);
    if (size >= 0) {
      const nl = text.indexOf('\n', size + 6);
      const line = text.slice(size + 6, nl < 0 ? undefined : nl);
      if ('No Module Installed'.startsWith(line)) {
        def.memory.push({});
        continue;
      }
    }
    def.memory.push(section(text, at, MEMORY));
  }
  return def;
}

/** virBufferEscapeString: XML's escapes, and the control characters it drops silently. */
const esc = (s: string) =>
  s
    .replace(/[\x01-\x08\x0b\x0c\x0e-\x19]/g, '')
    .replace(
      /[&<>'"]/g,
      (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', "'": '&apos;', '"': '&quot;' })[c]!,
    );

/** virSysinfoFormat for SMBIOS: the sections in libvirt's order, entries where there are values. */
export function formatSysinfo(def: SysinfoDef): string {
  const children: string[] = [];
  const block = (tag: string, entries: Record<string, string> | undefined, names: [string, string][]) => {
    if (!entries) return;
    children.push(`<${tag}>`);
    for (const [name] of names)
      if (entries[name] !== undefined)
        children.push(`  <entry name='${name}'>${esc(entries[name]!)}</entry>`);
    children.push(`</${tag}>`);
  };
  block('bios', def.bios, BIOS);
  block('system', def.system, SYSTEM);
  for (const board of def.baseBoard) block('baseBoard', board, BASE_BOARD);
  block('chassis', def.chassis, CHASSIS);
  for (const p of def.processor) block('processor', nonEmpty(p), PROCESSOR);
  for (const m of def.memory) block('memory_device', nonEmpty(m), MEMORY);
  if (def.oemStrings) {
    children.push('<oemStrings>');
    for (const v of def.oemStrings) children.push(`  <entry>${esc(v)}</entry>`);
    children.push('</oemStrings>');
  }
  if (!children.length) return "<sysinfo type='smbios'/>\n";
  return `<sysinfo type='smbios'>\n${children.map((l) => `  ${l}\n`).join('')}</sysinfo>\n`;
}

function run(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) =>
    execFile('dmidecode', args, { maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      err ? reject(err) : resolve({ stdout, stderr }),
    ),
  );
}

/**
 * virSysinfoRead on x86: the parsed SMBIOS, or undefined when dmidecode cannot give it (no
 * dmidecode, no DMI tables): libvirt's driver then has no host sysinfo.
 */
export async function readHostSysinfo(): Promise<SysinfoDef | undefined> {
  let text: string;
  try {
    text = (await run(['-q', '-t', '0,1,2,3,4,11,17'])).stdout;
  } catch {
    return undefined;
  }
  try {
    return await parseDmidecode(text, async (i) => {
      // virSysinfoDMIDecodeOEMString: an index out of range is reported on stderr only
      const r = await run(['--dump', '--oem-string', String(i)]);
      if (r.stderr) throw new Error(r.stderr);
      return r.stdout;
    });
  } catch {
    return undefined;
  }
}
