#!/usr/bin/env node
/**
 * Writes docs/libvirt-rules.md: every validation function of libvirt 9.0's domain_validate.c and
 * qemu_validate.c, the parse and format functions of domain_conf.c and the post-parse callbacks
 * of qemu_domain.c, each with where qvirt has it (the modules that name it: qvirt's code cites
 * libvirt's function names in its comments) or why it is left out.
 *
 *   node tools/differential/scripts/rules-checklist.mjs [/tmp/libvirt-9.0.0]
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const libvirt = process.argv[2] ?? '/tmp/libvirt-9.0.0';

/** qvirt's sources that carry libvirt's rules. */
const OURS = ['packages/core/src/domain', 'packages/core/src/xml', 'packages/qemu-argv/src'];
const sources = [];
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts'))
      sources.push([path.relative(repo, p), readFileSync(p, 'utf8')]);
  }
};
for (const d of OURS) walk(path.join(repo, d));

/** Top-level function definitions (name at the start of a line, then '(') matching `keep`. */
function functions(file, keep) {
  const text = readFileSync(path.join(libvirt, file), 'utf8');
  const names = [];
  for (const m of text.matchAll(/^([A-Za-z_][A-Za-z0-9_]*)\(/gm))
    if (keep(m[1]) && !names.includes(m[1])) names.push(m[1]);
  return names;
}

/** Functions whose absence has a reason of its own (checked by reading them). */
const REASONS = {
  qemuValidateDomainDefPM:
    'QEMU 7.2 has the PIIX and ICH9 S3/S4 switches it asks for: it never refuses an x86 guest',
  qemuValidateDomainDefIOThreads: 'QEMU 7.2 has the IOThread pool properties it asks for: it never refuses',
  qemuValidateDomainDeviceDefTPMDevice:
    "host-dependent: swtpm's versions (TPM version '2.0' is not supported without swtpm)",
  qemuValidateDomainDefVhostUserRequireSharedMemory:
    'in post-parse/steps/validate-device-rules.ts (requireSharedMemory)',
  virDomainDefValidate: 'the dispatcher: post-parse/validate-steps.ts is its order',
  qemuValidateDomainDef: 'the dispatcher: post-parse/validate-steps.ts LATE_VALIDATE_STEPS is its order',
  qemuValidateDomainDeviceDef: 'the dispatcher: validate-devices.ts checkDevices',
  virDomainDeviceDefValidate: 'the dispatcher: validate-devices.ts checkDevices',
  virDomainDeviceDefValidateInternal: 'the dispatcher: validate-devices.ts checkDevices',
  virDomainDefValidateInternal: 'the dispatcher: validate-steps.ts (the end of LATE_VALIDATE_STEPS)',
};

/** Why a function has no counterpart, from what it is about. */
function leftOut(name, file) {
  if (REASONS[name]) return REASONS[name];
  if (/Iterator$|Callback$/.test(name)) return 'iteration helper (no rule of its own)';
  if (/Xen|Libxl|LXC|Lxc|Bhyve|VBox|Vmx|VMX|Vz|Parallels|Phyp|Esx|OpenVZ/.test(name))
    return 'other hypervisors';
  if (/Snapshot|Checkpoint|Backup/.test(name)) return 'other documents (snapshot, checkpoint, backup)';
  if (
    /Private|Status|Actual|Job|Mirror|Blockjob|BlockJob|Live|Hotplug|Update|Attach|Detach|Migrat|Abi|ABI|Stability|Transient|Obj[A-Z]/.test(
      name,
    )
  )
    return 'live, status or migration XML: not part of define / domxml-to-native';
  if (
    /Free$|Clear|New$|Copy|Ref$|Unref|Find|Get|Set|Has|Is[A-Z]|Count|Lookup|Remove|Insert|Add[A-Z]|Del/.test(
      name,
    ) &&
    !/Validate|PostParse|Parse|Format/.test(name)
  )
    return 'helper (no rule of its own)';
  if (file.endsWith('domain_conf.c'))
    return 'reading/writing only: the declarative schema (packages/core/src/domain) does it; no rule of its own named in qvirt';
  return 'not yet: no difference found by tools/differential or the corpus';
}

function table(title, file, names) {
  const rows = [`## ${title} (\`${file}\`)`, '', '| libvirt function | qvirt |', '| --- | --- |'];
  let covered = 0;
  for (const name of names) {
    const where = sources
      .filter(([, text]) => new RegExp(`\\b${name}\\b`).test(text))
      .map(([p]) => p.replace(/^packages\//, ''));
    if (where.length) covered++;
    rows.push(
      `| \`${name}\` | ${
        where.length
          ? where
              .slice(0, 3)
              .map((p) => `\`${p}\``)
              .join(', ')
          : `— ${leftOut(name, file)}`
      } |`,
    );
  }
  return { text: rows.join('\n'), covered, total: names.length };
}

const sections = [
  table(
    'Generic validation',
    'src/conf/domain_validate.c',
    functions('src/conf/domain_validate.c', (n) => n.startsWith('vir')),
  ),
  table(
    'QEMU validation',
    'src/qemu/qemu_validate.c',
    functions('src/qemu/qemu_validate.c', (n) => n.startsWith('qemu')),
  ),
  table(
    'QEMU post-parse callbacks',
    'src/qemu/qemu_domain.c',
    functions('src/qemu/qemu_domain.c', (n) => /PostParse|AssignAddresses/.test(n)),
  ),
  table(
    'Parse and format',
    'src/conf/domain_conf.c',
    functions('src/conf/domain_conf.c', (n) => /^vir.*(Parse|Format)/.test(n) && !/Free|Clear/.test(n)),
  ),
];

const preamble = `# libvirt 9.0's domain rules in qvirt: the checklist

Generated by \`node tools/differential/scripts/rules-checklist.mjs /tmp/libvirt-9.0.0\` (re-run it
after adding a rule). Every function of the files below is listed with the qvirt modules that name
it (qvirt's code cites libvirt's function names where it implements them), or why it has no
counterpart. "Not yet" means no difference has shown it to matter: the differential tool
(\`tools/differential\`, ${'`'}--count 10000${'`'}) and the conformance corpus are how that is judged.

Where each kind of rule lives in qvirt:

- parse-time reading and checks of domain_conf.c: the schema (\`packages/core/src/domain\`) and
  the early post-parse steps (\`packages/qemu-argv/src/post-parse/general-steps.ts\`,
  \`steps/general-*.ts\`, \`steps/validate-parse.ts\`, \`steps/validate-device-rules.ts\`
  \`checkDeviceParseRules\`);
- post-parse callbacks (domain_postparse.c, qemu_domain.c): \`post-parse/device-steps.ts\`,
  \`address-steps.ts\`;
- define-time validation (domain_validate.c, qemu_validate.c): \`post-parse/validate-steps.ts\`
  and \`steps/validate-*.ts\`, in virDomainDefValidate's order (QEMU domain checks, then per device
  the generic and the QEMU checks, then virDomainDefValidateInternal);
- what only the command line build checks (qemuBuildCommandLineValidate, qemuProcessStartValidate):
  \`argv/validate-argv.ts\`.

Left out on purpose, whatever the table says: the CPU rules (another piece of work owns
\`post-parse/steps/cpu.ts\` and TSC tolerance), host-dependent checks whose answer comes from the
host rather than the XML (swtpm's TPM versions, \`/dev/dri\` render nodes, hugetlbfs mounts) where
qvirt answers from its own host probe, and live/hotplug-only paths.

Coverage: @SUMMARY@
`;

const summary = sections
  .map((s) => `${s.covered}/${s.total} ${s.text.split('\n')[0].replace(/^## /, '')}`)
  .join('; ');
writeFileSync(
  path.join(repo, 'docs/libvirt-rules.md'),
  `${preamble.replace('@SUMMARY@', summary)}\n${sections.map((s) => s.text).join('\n\n')}\n`,
);
console.log(summary);
