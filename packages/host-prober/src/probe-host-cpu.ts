/**
 * The probe steps behind domain capabilities' CPU and features: the host CPU as QEMU expands it
 * (virQEMUCapsProbeQMPHostCPU: `host` with KVM, `max` with TCG; on x86 once migratable and once
 * not, to mark which features are migratable), the Hyper-V enlightenments KVM offers
 * (virQEMUCapsProbeHypervCapabilities, from a full expansion with `hv-passthrough`), and SEV/SGX
 * (query-sev-capabilities, query-sgx-capabilities).
 */

import { HYPERV_FEATURES } from '@qvirt/qemu-argv';
import type { CpuModelInfo, CpuModelProperty, SevCapability, SgxCapability } from './qemu-caps-detail.js';
import type { QmpSession } from './qmp.js';

const isX86 = (arch: string) => arch === 'x86_64' || arch === 'i686';
const isArm = (arch: string) => arch === 'aarch64' || arch === 'armv7l' || arch === 'armv6l';

/** libvirt's Hyper-V enlightenments (virDomainHyperv), in its enum order: qemu-argv's one list. */
export { HYPERV_FEATURES };

type ExpansionType = 'static' | 'full' | 'static-full';

/** qemuMonitorJSONParseCPUModelProperty: booleans, strings and numbers; anything else is skipped. */
function parseProps(props: unknown): CpuModelProperty[] {
  const out: CpuModelProperty[] = [];
  if (props === null || typeof props !== 'object') return out;
  for (const [name, value] of Object.entries(props as Record<string, unknown>)) {
    if (typeof value === 'boolean') out.push({ name, type: 'boolean', value });
    else if (typeof value === 'string') out.push({ name, type: 'string', value });
    else if (typeof value === 'number') out.push({ name, type: 'number', value });
  }
  return out;
}

/** qemuMonitorJSONGetCPUModelExpansion; undefined when QEMU answers with an error. */
async function expand(
  s: QmpSession,
  type: ExpansionType,
  model: string,
  migratable: boolean,
  hvPassthrough: boolean,
): Promise<CpuModelInfo | undefined> {
  const props: Record<string, boolean> = {};
  if (!migratable) props.migratable = false;
  if (hvPassthrough) props['hv-passthrough'] = true;
  const modelArg = Object.keys(props).length > 0 ? { name: model, props } : { name: model };
  let reply = await s.tryExecute<any>('query-cpu-model-expansion', {
    type: type === 'full' ? 'full' : 'static',
    model: modelArg,
  });
  if (!reply?.model || typeof reply.model.name !== 'string') return undefined;
  if (type === 'static-full') {
    reply = await s.tryExecute<any>('query-cpu-model-expansion', { type: 'full', model: reply.model });
    if (!reply?.model || typeof reply.model.name !== 'string') return undefined;
  }
  return { name: reply.model.name, migratability: false, props: parseProps(reply.model.props) };
}

export interface HostCpuProbe {
  info?: CpuModelInfo;
  /** From the KVM (accelerated) probe only. */
  hypervCapabilities?: string[];
}

/** virQEMUCapsProbeQMPHostCPU for one accelerator's QMP session. */
export async function probeHostCpu(
  s: QmpSession,
  flags: ReadonlySet<string>,
  arch: string,
  accelerated: boolean,
): Promise<HostCpuProbe> {
  if (!flags.has('query-cpu-model-expansion')) return {};
  const model = accelerated ? 'host' : 'max';
  const type: ExpansionType =
    isX86(arch) && !flags.has('canonical-cpu-features') ? 'static-full' : isArm(arch) ? 'full' : 'static';
  const info = await expand(s, type, model, true, false);
  if (info && isX86(arch)) {
    const nonMigratable = await expand(s, type, model, false, false);
    if (nonMigratable) {
      const byName = new Map(info.props.map((p) => [p.name, p]));
      for (const nm of nonMigratable.props) {
        const p = byName.get(nm.name);
        if (p?.type !== 'boolean' || nm.type !== 'boolean') continue;
        if (p.value) p.migratable = true;
        else if (nm.value) {
          p.value = true;
          p.migratable = false;
        }
      }
      info.migratability = true;
    }
  }
  const out: HostCpuProbe = info ? { info } : {};
  if (accelerated && (isX86(arch) || isArm(arch))) {
    const full = await expand(s, 'full', model, false, true);
    const hv = full ? hypervFromExpansion(full) : undefined;
    if (hv) out.hypervCapabilities = hv;
  }
  return out;
}

/** virQEMUCapsProbeHypervCapabilities: the `hv-*` properties that are on, in libvirt's names. */
export function hypervFromExpansion(full: CpuModelInfo): string[] | undefined {
  const on = new Set<string>();
  for (const p of full.props) {
    if (!p.name.startsWith('hv-')) continue;
    const name = p.name.slice(3);
    const known = (HYPERV_FEATURES as readonly string[]).includes(name)
      ? name
      : (HYPERV_FEATURES as readonly string[]).includes(name.replaceAll('-', '_'))
        ? name.replaceAll('-', '_')
        : undefined;
    if (!known) continue;
    if (
      (p.type === 'boolean' && p.value) ||
      (p.type === 'number' && Number(p.value) > 0) ||
      p.type === 'string'
    ) {
      on.add(known);
    }
  }
  if (on.size === 0) return undefined;
  return HYPERV_FEATURES.filter((f) => on.has(f));
}

/** virQEMUCapsProbeQMPSEVCapabilities. */
export async function probeSev(s: QmpSession): Promise<SevCapability | undefined> {
  const r = await s.tryExecute<any>('query-sev-capabilities');
  if (!r || typeof r.pdh !== 'string' || typeof r['cert-chain'] !== 'string') return undefined;
  return {
    cbitpos: Number(r.cbitpos ?? 0),
    reducedPhysBits: Number(r['reduced-phys-bits'] ?? 0),
    pdh: r.pdh,
    certChain: r['cert-chain'],
    ...(typeof r['cpu0-id'] === 'string' ? { cpu0Id: r['cpu0-id'] } : {}),
  };
}

/** virQEMUCapsProbeQMPSGXCapabilities. */
export async function probeSgx(s: QmpSession): Promise<SgxCapability | undefined> {
  const r = await s.tryExecute<any>('query-sgx-capabilities');
  if (!r) return undefined;
  const sections = Array.isArray(r.sections)
    ? r.sections.map((x: any) => ({
        node: Number(x?.node ?? 0),
        size: Math.floor(Number(x?.size ?? 0) / 1024),
      }))
    : [];
  return {
    flc: r.flc === true,
    sgx1: r.sgx1 === true,
    sgx2: r.sgx2 === true,
    sectionSize: Math.floor(Number(r['section-size'] ?? 0) / 1024),
    sections,
  };
}
