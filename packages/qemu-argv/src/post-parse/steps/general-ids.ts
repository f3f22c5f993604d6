/**
 * What libvirt's parser does with a domain's identifiers and its `<sysinfo>`
 * (virDomainDefParseIDs, virSysinfoParseXML in domain_conf.c): a missing or empty `<uuid>` is
 * generated, a `<genid/>` without a value is generated, and SMBIOS data is read entry by entry in
 * libvirt's fixed order, so that unknown or empty entries and empty blocks vanish, the first of
 * two entries with one name wins, the BIOS date must look like mm/dd/yyyy, and the system UUID
 * must be the domain's (or becomes it when the domain had none).
 */
import { randomUUID } from 'node:crypto';
import { canonicalUuid, type DomainDef, type SysinfoDef } from '@qvirt/core';
import { plainError, xmlError } from './validate-util.js';

type Group = NonNullable<SysinfoDef['bios']>;
type Entry = NonNullable<Group['entry']>[number];

/** The entries libvirt reads from each SMBIOS block, in the order it writes them back. */
export const SMBIOS_ENTRIES = {
  bios: ['vendor', 'version', 'date', 'release'],
  system: ['manufacturer', 'product', 'version', 'serial', 'uuid', 'sku', 'family'],
  baseBoard: ['manufacturer', 'product', 'version', 'serial', 'asset', 'location'],
  chassis: ['manufacturer', 'version', 'serial', 'asset', 'sku'],
} as const;

/** virXPathString("string(entry[@name='K'])") for each K: the first such entry, empty as none. */
function readGroup(group: Group | undefined, names: readonly string[]): Entry[] {
  const out: Entry[] = [];
  for (const name of names) {
    const first = group?.entry?.find((e) => e.name === name);
    const value = first?.value;
    if (value !== undefined && value !== '') out.push({ name, value });
  }
  return out;
}

/**
 * virSysinfoBIOSParseXML's date check: mm/dd/yy or mm/dd/yyyy, a four-digit year from 1900. Each
 * number is read by virStrToLong_i, which allows blanks and a sign in front.
 */
export function validSmbiosDate(date: string): boolean {
  const m = /^\s*([+-]?\d+)\/\s*([+-]?\d+)\/\s*([+-]?\d+)$/.exec(date);
  if (!m) return false;
  const [month, day, year] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return month >= 1 && month <= 12 && day >= 1 && day <= 31 && !(year < 0 || (year >= 100 && year < 1900));
}

function smbiosPostParse(s: SysinfoDef, def: DomainDef, uuidGenerated: boolean): void {
  const bios = readGroup(s.bios, SMBIOS_ENTRIES.bios);
  const date = bios.find((e) => e.name === 'date')?.value;
  if (date !== undefined && !validSmbiosDate(date)) throw plainError("Invalid BIOS 'date' format");
  const system = readGroup(s.system, SMBIOS_ENTRIES.system);
  const uuid = system.find((e) => e.name === 'uuid');
  if (uuid) {
    let parsed: string;
    try {
      parsed = canonicalUuid(uuid.value!, 'uuid');
    } catch {
      throw plainError('malformed <sysinfo> uuid element');
    }
    if (uuidGenerated) def.uuid = parsed;
    else if (parsed !== def.uuid) throw plainError('UUID mismatch between <uuid> and <sysinfo>');
    uuid.value = parsed;
  }
  const boards = (s.baseBoard ?? [])
    .map((b) => readGroup(b, SMBIOS_ENTRIES.baseBoard))
    .filter((entries) => entries.length > 0);
  const chassis = readGroup(s.chassis, SMBIOS_ENTRIES.chassis);
  // <oemStrings> keeps every entry, empty ones included, and vanishes only without any
  const oem = s.oemStrings?.entry?.length
    ? { entry: s.oemStrings.entry.map((e) => ({ value: e.value ?? '' })) }
    : undefined;
  const extra = s.$extra;
  for (const k of Object.keys(s) as (keyof SysinfoDef)[]) if (k !== 'type') delete s[k];
  if (bios.length) s.bios = { entry: bios };
  if (system.length) s.system = { entry: system };
  if (boards.length) s.baseBoard = boards.map((entry) => ({ entry }));
  if (chassis.length) s.chassis = { entry: chassis };
  if (oem) s.oemStrings = oem;
  if (extra) s.$extra = extra;
}

/** virSysinfoParseFWCfgDef: every entry needs a name and either a value or a file. */
function fwcfgPostParse(s: SysinfoDef): void {
  for (const e of s.entry ?? []) {
    if (e.name === undefined) throw xmlError("Firmware entry is missing 'name' attribute");
    if (e.value === '') delete e.value;
    if (e.value === undefined && e.file === undefined)
      throw xmlError("Firmware entry must have either value or 'file' attribute");
  }
}

/** virDomainDefParseIDs and the `<sysinfo>` parse that depends on its UUID. */
export function domainIds(def: DomainDef): void {
  const uuidGenerated = !def.uuid;
  if (uuidGenerated) def.uuid = randomUUID();
  // `<genid/>` asks for one; libvirt makes it at parse time and keeps it
  if (def.genid === '') def.genid = randomUUID();
  for (const s of def.sysinfo ?? []) {
    if (s.type === 'smbios') smbiosPostParse(s, def, uuidGenerated);
    else if (s.type === 'fwcfg') fwcfgPostParse(s);
  }
}
