/**
 * domcapabilities, cpu-models, cpu-compare, hypervisor-cpu-compare, cpu-baseline and
 * hypervisor-cpu-baseline, printing what virsh prints (virsh-host.c).
 */
import { VirError } from '@qvirt/core/errors';
import { VIR_CONNECT_BASELINE_CPU, VIR_CONNECT_COMPARE_CPU, VIR_CPU_COMPARE } from '@qvirt/core/hypervisor';
import { formatXml, parseXml, type XmlElement } from '@qvirt/core/xml';
import { type CommandDef, CommandFailed, type OptDef, type ParsedOpts, readFileArg } from '../command.js';
import { reporting, withDriver } from '../driver-connection.js';

const str = (opts: ParsedOpts, name: string): string | null => (opts[name] as string | undefined) ?? null;

const HV_OPTS: OptDef[] = [
  { name: 'virttype', type: 'string', help: 'virtualization type (/domain/@type)' },
  { name: 'emulator', type: 'string', help: 'path to emulator binary (/domain/devices/emulator)' },
  { name: 'arch', type: 'string', help: 'CPU architecture (/domain/os/type/@arch)' },
  { name: 'machine', type: 'string', help: 'machine type (/domain/os/type/@machine)' },
];

/**
 * vshExtractCPUDefXMLs: the `<cpu>` elements of a file holding a CPU, a domain, host
 * capabilities or domain capabilities (whose host-model `<mode>` becomes a `<cpu>`).
 */
export async function extractCpuDefXmls(file: string): Promise<string[]> {
  const buffer = await readFileArg(file);
  const decl = buffer.startsWith('<?xml') ? buffer.indexOf('?>') : -1;
  const doc = decl >= 0 ? buffer.slice(decl + 2) : buffer;
  const container = parseXml(`<container>${doc}</container>`, file);
  const kids = (el: XmlElement | undefined, name: string): XmlElement[] =>
    (el?.children ?? []).filter((c): c is XmlElement => typeof c !== 'string' && c.name === name);
  const found: XmlElement[] = [];
  // libxml2's node-set order is document order; the four paths cannot nest in one another
  for (const top of container.children) {
    if (typeof top === 'string') continue;
    if (top.name === 'cpu') found.push(top);
    else if (top.name === 'domain') found.push(...kids(top, 'cpu'));
    else if (top.name === 'capabilities') for (const h of kids(top, 'host')) found.push(...kids(h, 'cpu'));
    else if (top.name === 'domainCapabilities') {
      for (const c of kids(top, 'cpu')) {
        for (const m of kids(c, 'mode')) {
          if (m.attributes.name === 'host-model' && m.attributes.supported === 'yes') {
            found.push({ ...m, name: 'cpu', attributes: {} });
          }
        }
      }
    }
  }
  if (found.length === 0) {
    throw new VirError(
      'INVALID_ARG',
      'none',
      `File '${file}' does not contain any <cpu> element or valid domain XML, host capabilities XML, or domain capabilities XML`,
    );
  }
  return found.map((el) => formatXml(el));
}

export const domcapabilitiesCommand: CommandDef = {
  name: 'domcapabilities',
  help: 'domain capabilities',
  desc: 'Returns capabilities of emulator with respect to host and libvirt.',
  options: [
    { name: 'virttype', type: 'string', help: 'virtualization type (/domain/@type)' },
    { name: 'emulatorbin', type: 'string', help: 'path to emulator binary (/domain/devices/emulator)' },
    { name: 'arch', type: 'string', help: 'domain architecture (/domain/os/type/@arch)' },
    { name: 'machine', type: 'string', help: 'machine type (/domain/os/type/@machine)' },
  ],
  async run(session, opts) {
    const xml = await withDriver(session, (conn) =>
      reporting(session.io, 'failed to get emulator capabilities', () =>
        conn.connectGetDomainCapabilities(
          str(opts, 'emulatorbin'),
          str(opts, 'arch'),
          str(opts, 'machine'),
          str(opts, 'virttype'),
          0,
        ),
      ),
    );
    // vshPrint("%s\n"), then virsh's newline after the command
    session.io.out(`${xml}\n\n`);
  },
};

export const cpuModelsCommand: CommandDef = {
  name: 'cpu-models',
  help: 'CPU models',
  desc: 'Get the CPU models for an arch.',
  options: [{ name: 'arch', type: 'data', required: true, help: 'architecture' }],
  async run(session, opts) {
    const { models, ret } = await withDriver(session, (conn) =>
      reporting(session.io, 'failed to get CPU model names', () =>
        conn.connectGetCPUModelNames(opts.arch as string, 1, 0),
      ),
    );
    if (ret === 0) session.io.out('all CPU models are accepted\n\n');
    else session.io.out(`${models.map((m) => `${m}\n`).join('')}\n`);
  },
};

function compareFlags(opts: ParsedOpts): number {
  const C = VIR_CONNECT_COMPARE_CPU;
  return (opts.error ? C.FAIL_INCOMPATIBLE : 0) | (opts.validate ? C.VALIDATE_XML : 0);
}

const COMPARE_FLAG_OPTS: OptDef[] = [
  { name: 'error', type: 'bool', help: 'report error if CPUs are incompatible' },
  { name: 'validate', type: 'bool', help: 'validate the XML document against schema' },
];

export const cpuCompareCommand: CommandDef = {
  name: 'cpu-compare',
  help: 'compare host CPU with a CPU described by an XML file',
  desc: 'compare CPU with host CPU',
  options: [
    { name: 'file', type: 'data', required: true, help: 'file containing an XML CPU description' },
    ...COMPARE_FLAG_OPTS,
  ],
  async run(session, opts) {
    const file = opts.file as string;
    // virsh reads the file once connected
    const result = await withDriver(session, async (conn) => {
      const cpus = await extractCpuDefXmls(file);
      return reporting(session.io, `Failed to compare host CPU with ${file}`, () =>
        conn.connectCompareCPU(cpus[0]!, compareFlags(opts)),
      );
    });
    if (result === VIR_CPU_COMPARE.INCOMPATIBLE) {
      session.io.out(`CPU described in ${file} is incompatible with host CPU\n\n`);
      throw new CommandFailed();
    }
    if (result === VIR_CPU_COMPARE.IDENTICAL)
      session.io.out(`CPU described in ${file} is identical to host CPU\n\n`);
    else if (result === VIR_CPU_COMPARE.SUPERSET)
      session.io.out(`Host CPU is a superset of CPU described in ${file}\n\n`);
    else throw new VirError('INTERNAL_ERROR', 'none', `Failed to compare host CPU with ${file}`);
  },
};

export const hypervisorCpuCompareCommand: CommandDef = {
  name: 'hypervisor-cpu-compare',
  help: 'compare a CPU with the CPU created by a hypervisor on the host',
  desc: 'compare CPU with hypervisor CPU',
  options: [
    { name: 'file', type: 'data', required: true, help: 'file containing an XML CPU description' },
    ...HV_OPTS,
    ...COMPARE_FLAG_OPTS,
  ],
  async run(session, opts) {
    const file = opts.file as string;
    const result = await withDriver(session, async (conn) => {
      const cpus = await extractCpuDefXmls(file);
      return reporting(session.io, `Failed to compare hypervisor CPU with ${file}`, () =>
        conn.connectCompareHypervisorCPU(
          str(opts, 'emulator'),
          str(opts, 'arch'),
          str(opts, 'machine'),
          str(opts, 'virttype'),
          cpus[0]!,
          compareFlags(opts),
        ),
      );
    });
    if (result === VIR_CPU_COMPARE.INCOMPATIBLE) {
      session.io.out(
        `CPU described in ${file} is incompatible with the CPU provided by hypervisor on the host\n\n`,
      );
      throw new CommandFailed();
    }
    if (result === VIR_CPU_COMPARE.IDENTICAL) {
      session.io.out(
        `CPU described in ${file} is identical to the CPU provided by hypervisor on the host\n\n`,
      );
    } else if (result === VIR_CPU_COMPARE.SUPERSET) {
      session.io.out(
        `The CPU provided by hypervisor on the host is a superset of CPU described in ${file}\n\n`,
      );
    } else throw new VirError('INTERNAL_ERROR', 'none', `Failed to compare hypervisor CPU with ${file}`);
  },
};

function baselineFlags(opts: ParsedOpts): number {
  const B = VIR_CONNECT_BASELINE_CPU;
  return (opts.features ? B.EXPAND_FEATURES : 0) | (opts.migratable ? B.MIGRATABLE : 0);
}

const BASELINE_FLAG_OPTS: OptDef[] = [
  { name: 'features', type: 'bool', help: 'Show features that are part of the CPU model type' },
  { name: 'migratable', type: 'bool', help: 'Do not include features that block migration' },
];

export const cpuBaselineCommand: CommandDef = {
  name: 'cpu-baseline',
  help: 'compute baseline CPU',
  desc: 'Compute baseline CPU for a set of given CPUs.',
  options: [
    { name: 'file', type: 'data', required: true, help: 'file containing XML CPU descriptions' },
    ...BASELINE_FLAG_OPTS,
  ],
  async run(session, opts) {
    const xml = await withDriver(session, async (conn) =>
      conn.connectBaselineCPU(await extractCpuDefXmls(opts.file as string), baselineFlags(opts)),
    );
    session.io.out(`${xml}\n`);
  },
};

export const hypervisorCpuBaselineCommand: CommandDef = {
  name: 'hypervisor-cpu-baseline',
  help: 'compute baseline CPU usable by a specific hypervisor',
  desc: 'Compute baseline CPU for a set of given CPUs. The result will be tailored to the specified hypervisor.',
  options: [
    // a string option in virsh's help, yet virsh takes it positionally too
    { name: 'file', type: 'data', help: 'file containing XML CPU descriptions' },
    ...HV_OPTS,
    ...BASELINE_FLAG_OPTS,
    {
      name: 'model',
      type: 'string',
      help: 'Shortcut for calling the command with a single CPU model and no additional features',
    },
  ],
  async run(session, opts) {
    const file = opts.file as string | undefined;
    const model = opts.model as string | undefined;
    if (file !== undefined && model !== undefined) {
      throw new VirError('INVALID_ARG', 'none', 'Options --file and --model are mutually exclusive');
    }
    // virsh does not insist on either: without both, its model is printf's "(null)"
    const xml = await withDriver(session, async (conn) =>
      conn.connectBaselineHypervisorCPU(
        str(opts, 'emulator'),
        str(opts, 'arch'),
        str(opts, 'machine'),
        str(opts, 'virttype'),
        file !== undefined
          ? await extractCpuDefXmls(file)
          : [`<cpu><model>${model ?? '(null)'}</model></cpu>`],
        baselineFlags(opts),
      ),
    );
    session.io.out(`${xml}\n`);
  },
};

export const CPU_COMMANDS: CommandDef[] = [
  cpuBaselineCommand,
  cpuCompareCommand,
  cpuModelsCommand,
  domcapabilitiesCommand,
  hypervisorCpuBaselineCommand,
  hypervisorCpuCompareCommand,
];
