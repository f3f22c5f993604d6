/**
 * `qvirt-differential`: generated and virt-install domain XMLs through libvirt 9.0 (embed, via
 * libvirt-python) and qvirt (in process), every difference counted by family.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { compare, type Difference } from './compare.js';
import { type Case, FAMILIES, generateCases } from './generate.js';
import { LibvirtSide } from './libvirt-side.js';
import { QvirtSide } from './qvirt-side.js';
import { virtInstallCases } from './virt-install.js';

export interface CaseOutcome {
  id: number;
  family: string;
  differences: Difference[];
}

export interface FamilyReport {
  cases: number;
  differing: number;
  /** `kind where` → count and the first case showing it */
  groups: Record<string, { count: number; example: number; libvirt: string; qvirt: string }>;
}

export function summarise(outcomes: readonly CaseOutcome[]): Record<string, FamilyReport> {
  const out: Record<string, FamilyReport> = {};
  for (const o of outcomes) {
    const f = (out[o.family] ??= { cases: 0, differing: 0, groups: {} });
    f.cases++;
    if (o.differences.length) f.differing++;
    for (const d of o.differences) {
      const key = `${d.kind} ${d.where}`;
      const g = (f.groups[key] ??= { count: 0, example: o.id, libvirt: d.libvirt, qvirt: d.qvirt });
      g.count++;
    }
  }
  return out;
}

export function formatReport(report: Record<string, FamilyReport>, top = 8): string {
  const lines: string[] = [];
  let cases = 0;
  let differing = 0;
  for (const [family, f] of Object.entries(report).sort()) {
    cases += f.cases;
    differing += f.differing;
    lines.push(`${family}: ${f.cases} cases, ${f.differing} differ`);
    const groups = Object.entries(f.groups).sort((a, b) => b[1].count - a[1].count);
    for (const [key, g] of groups.slice(0, top)) {
      lines.push(`  ${g.count}× ${key.slice(0, 150)} (case ${g.example})`);
      if (g.libvirt !== key.slice(key.indexOf(' ') + 1))
        lines.push(`      libvirt: ${g.libvirt.slice(0, 140)}\n      qvirt:   ${g.qvirt.slice(0, 140)}`);
    }
    if (groups.length > top) lines.push(`  … ${groups.length - top} more groups`);
  }
  lines.push(`total: ${cases} cases, ${differing} differ`);
  return lines.join('\n');
}

/** Every `*.xml` of a directory, one case each, in the family `files:<dir name>`. */
export function fileCases(dir: string, firstId: number): Case[] {
  const family = `files:${path.basename(path.resolve(dir))}`;
  return readdirSync(dir)
    .filter((f) => f.endsWith('.xml'))
    .sort()
    .map((f, i) => ({ id: firstId + i, family, xml: readFileSync(path.join(dir, f), 'utf8') }));
}

const USAGE = `usage: qvirt-differential [--count N] [--seed N] [--family F]... [--no-virt-install] [--virt-install-uri URI]
                          [--xml DIR]... [--json FILE] [--cases DIR] [--top N]
--xml DIR: also run every *.xml of DIR (domain XMLs collected from real tools and deployments);
           with --xml alone, no generated cases
families: ${Object.keys(FAMILIES).join(', ')}, virt-install`;

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      count: { type: 'string', default: '1000' },
      seed: { type: 'string', default: '20' },
      family: { type: 'string', multiple: true },
      'no-virt-install': { type: 'boolean', default: false },
      'virt-install-uri': { type: 'string' },
      json: { type: 'string' },
      cases: { type: 'string' },
      xml: { type: 'string', multiple: true },
      top: { type: 'string', default: '8' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const only = (values.family ?? []).filter((f) => f !== 'virt-install');
  const wantVirtInstall =
    !values['no-virt-install'] && (!values.family?.length || values.family.includes('virt-install'));
  const filesOnly = (values.xml?.length ?? 0) > 0 && !values.family?.length;
  const cases: Case[] =
    filesOnly || (values.family?.length && !only.length)
      ? []
      : generateCases(Number(values.count), Number(values.seed), only);
  for (const dir of values.xml ?? []) cases.push(...fileCases(dir, cases.length));
  if (wantVirtInstall && !filesOnly) {
    const vi = virtInstallCases(cases.length, values['virt-install-uri']);
    for (const s of vi.skipped) console.error(`note: ${s}`);
    cases.push(...vi.cases);
  }
  const libvirt = new LibvirtSide();
  const qvirt = new QvirtSide();
  await Promise.all([libvirt.ready(), qvirt.ready()]);
  const outcomes: CaseOutcome[] = [];
  const started = Date.now();
  try {
    for (const c of cases) {
      // libvirt answers in its process while qvirt works in this one
      const [lv, qv] = await Promise.all([libvirt.run(c.id, c.xml), qvirt.run(c.xml)]);
      const differences = compare(c.xml, lv, libvirt.root, qv, qvirt.root);
      outcomes.push({ id: c.id, family: c.family, differences });
      if (values.cases && differences.length) {
        mkdirSync(values.cases, { recursive: true });
        writeFileSync(path.join(values.cases, `${c.id}.xml`), `${c.xml}\n`);
        writeFileSync(
          path.join(values.cases, `${c.id}.json`),
          `${JSON.stringify({ family: c.family, differences, libvirt: lv, qvirt: qv }, null, 2)}\n`,
        );
      }
      if (outcomes.length % 500 === 0)
        console.error(`${outcomes.length}/${cases.length} (${Math.round((Date.now() - started) / 1000)} s)`);
    }
  } finally {
    await Promise.all([libvirt.close(), qvirt.close()]);
  }
  const report = summarise(outcomes);
  console.log(formatReport(report, Number(values.top)));
  if (values.json) writeFileSync(values.json, `${JSON.stringify({ report, outcomes }, null, 1)}\n`);
  return 0;
}
