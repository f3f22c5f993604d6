/**
 * virCPUx86Compare / x86Compute: whether a guest CPU can run on a host CPU. Features are
 * grouped by policy; forbidden features the host has, or required features (model + require −
 * force/optional/disable) it lacks make the CPUs incompatible, with libvirt's message listing
 * the features in the CPU map's order; `match='strict'` also refuses host features the guest
 * does not mention.
 */

import { virReportError } from '@qvirt/core';
import { type X86Data, x86DataToFeatures } from './data.js';
import { cpuType, type ModelData, x86ModelFromCPU } from './model-data.js';
import type { CpuCompareOutcome, GuestCpu, HostCpuDescription } from './types.js';

const X86_ARCHES = new Set(['i686', 'x86_64']);

type Relation = 'subset' | 'equal' | 'superset' | 'unrelated';

/** x86ModelCompare: how model1's bits relate to model2's, item by item. */
function x86ModelCompare(m1: X86Data, m2: X86Data): Relation {
  let result: Relation = 'equal';
  const step = (match: Relation): boolean => {
    if (result === 'equal') result = match;
    else if (result !== match) return false;
    return true;
  };
  for (const [key, item1] of m1.slotEntries()) {
    if (item1.regs.every((r) => r === 0)) continue;
    let match: Relation = 'superset';
    const item2 = m2.slot(key);
    if (item2) {
      if (item1.regs.every((r, i) => r === item2.regs[i])) continue;
      if (!masked(item1.regs, item2.regs)) match = 'subset';
    }
    if (!step(match)) return 'unrelated';
  }
  for (const [key, item2] of m2.slotEntries()) {
    if (item2.regs.every((r) => r === 0)) continue;
    let match: Relation = 'subset';
    const item1 = m1.slot(key);
    if (item1) {
      if (item2.regs.every((r, i) => r === item1.regs[i])) continue;
      if (!masked(item2.regs, item1.regs)) match = 'superset';
    }
    if (!step(match)) return 'unrelated';
  }
  return result;
}

function masked(item: readonly number[], mask: readonly number[]): boolean {
  return item.every((r, i) => (r & (mask[i] ?? 0)) >>> 0 === (mask[i] ?? 0));
}

function incompatible(
  what: string,
  data: X86Data,
  extra: Partial<CpuCompareOutcome> = {},
): CpuCompareOutcome {
  return { result: 'incompatible', message: `${what}: ${x86DataToFeatures(data).join(', ')}`, ...extra };
}

/** x86Compute without the message plumbing: the outcome and libvirt's explanation. */
export function x86Compute(host: HostCpuDescription, cpu: GuestCpu): CpuCompareOutcome {
  if (cpu.arch !== undefined && !X86_ARCHES.has(cpu.arch)) {
    return { result: 'incompatible', message: `CPU arch ${cpu.arch} does not match host arch` };
  }
  if (cpu.vendor && (!host.vendor || cpu.vendor !== host.vendor)) {
    return {
      result: 'incompatible',
      message: `host CPU vendor does not match required CPU vendor ${cpu.vendor}`,
    };
  }
  const hostModel: ModelData = x86ModelFromCPU(host, 'all');
  const force = x86ModelFromCPU(cpu, 'force').data;
  const require = x86ModelFromCPU(cpu, 'require').data;
  const optional = x86ModelFromCPU(cpu, 'optional').data;
  const disable = x86ModelFromCPU(cpu, 'disable').data;
  const forbid = x86ModelFromCPU(cpu, 'forbid').data;

  forbid.intersect(hostModel.data);
  if (!forbid.isEmpty()) return incompatible('Host CPU provides forbidden features', forbid);

  // Features inherited from the model but explicitly forced, disabled or made optional are
  // not required.
  require.subtract(force).subtract(optional).subtract(disable);
  const rel = x86ModelCompare(hostModel.data, require);
  if (rel === 'subset' || rel === 'unrelated') {
    require.subtract(hostModel.data);
    return incompatible('Host CPU does not provide required features', require, {
      missing: x86DataToFeatures(require),
    });
  }

  const diff = hostModel.data.clone().subtract(optional).subtract(require).subtract(disable).subtract(force);
  const result = diff.isEmpty() ? 'identical' : 'superset';
  if (result === 'superset' && cpuType(cpu) === 'guest' && cpu.match === 'strict') {
    return incompatible('Host CPU does not strictly match guest CPU: Extra features', diff);
  }
  return { result };
}

/**
 * virCPUx86Compare. With `failIncompatible` an incompatible CPU throws libvirt's
 * CPU_INCOMPATIBLE error ("the CPU is incompatible with host CPU: …") instead of returning.
 */
export function x86Compare(
  host: HostCpuDescription | undefined,
  guest: GuestCpu,
  failIncompatible: boolean,
): CpuCompareOutcome {
  if (!host?.model) {
    if (failIncompatible) throw virReportError('CPU_INCOMPATIBLE', 'cpu', 'unknown host CPU');
    return { result: 'incompatible', message: 'unknown host CPU' };
  }
  const out = x86Compute(host, guest);
  if (out.result === 'incompatible' && failIncompatible) {
    throw virReportError('CPU_INCOMPATIBLE', 'cpu', out.message ?? null);
  }
  return out;
}

/**
 * virCPUCheckForbiddenFeatures: a guest feature with policy forbid that the host CPU lists
 * (and does not disable) is refused.
 */
export function x86CheckForbiddenFeatures(guest: GuestCpu, host: HostCpuDescription): void {
  for (const f of guest.features) {
    if (f.policy !== 'forbid') continue;
    const h = host.features.find((x) => x.name === f.name);
    if (!h || h.policy === 'disable') continue;
    throw virReportError('CPU_INCOMPATIBLE', 'cpu', `Host CPU provides forbidden feature '${f.name}'`);
  }
}
