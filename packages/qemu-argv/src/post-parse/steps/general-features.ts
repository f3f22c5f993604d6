import type { DomainDef } from '@qvirt/core';
import { type VirError, virReportError } from '@qvirt/core';
import { scaledToBytes } from '../../domain-util.js';
import { HYPERV_FEATURES } from '../../libvirt-names.js';
import { sizeKiB } from './memory.js';

type Features = NonNullable<DomainDef['features']>;
type Switch = { state?: 'on' | 'off' | undefined } | undefined;

const unsupported = (msg: string): VirError => virReportError('CONFIG_UNSUPPORTED', 'domain', msg);
const xmlError = (msg: string): VirError => virReportError('XML_ERROR', 'domain', msg);

function requireState(sw: Switch, element: string): 'on' | 'off' {
  if (sw?.state === undefined) throw xmlError(`Missing required attribute 'state' in element '${element}'`);
  return sw.state;
}

/** virFormatIntPretty: the largest binary unit that divides a byte count exactly. */
export function prettySize(bytes: bigint): { value: number; unit: string } {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let i = 0;
  while (i < units.length - 1 && value !== 0n && value % 1024n === 0n) {
    value /= 1024n;
    i++;
  }
  return { value: Number(value), unit: units[i]! };
}

const HYPERV_KNOWN = new Set<string>(HYPERV_FEATURES);

function hypervCanonical(hv: NonNullable<Features['hyperv']>): NonNullable<Features['hyperv']> {
  const out: Record<string, unknown> = { mode: hv.mode ?? 'custom' };
  for (const [name, value] of Object.entries(hv)) {
    if (name === 'mode' || name.startsWith('$') || value === undefined) continue;
    if (!HYPERV_KNOWN.has(name)) throw unsupported(`unsupported HyperV Enlightenment feature: ${name}`);
    const v = value as Record<string, unknown> & { state?: 'on' | 'off' };
    const state = requireState(v, name);
    switch (name) {
      case 'spinlocks': {
        if (state !== 'on') {
          out[name] = { state };
          break;
        }
        const retries = v.retries as number | undefined;
        if (retries === undefined)
          throw xmlError("Missing required attribute 'retries' in element 'spinlocks'");
        if (retries < 0xfff) throw xmlError('HyperV spinlock retry count must be at least 4095');
        out[name] = { state, retries };
        break;
      }
      case 'stimer': {
        const direct = v.direct as Switch;
        if (state === 'on' && direct) requireState(direct, 'direct');
        out[name] = state === 'on' && direct?.state === 'on' ? { state, direct: { state: 'on' } } : { state };
        break;
      }
      case 'vendor_id': {
        if (state !== 'on') {
          out[name] = { state };
          break;
        }
        const val = v.value as string | undefined;
        if (val === undefined) throw xmlError("missing 'value' attribute for HyperV feature 'vendor_id'");
        if (val.length > 12) throw xmlError('HyperV vendor_id value must not be more than 12 characters.');
        if (val.includes(',')) throw xmlError('HyperV vendor_id value is invalid');
        out[name] = { state, value: val };
        break;
      }
      case 'tlbflush':
        // libvirt 9.0 knows no tlbflush sub-features: only the state is kept.
        out[name] = { state };
        break;
      default:
        out[name] = { state };
    }
  }
  return out as NonNullable<Features['hyperv']>;
}

/**
 * `<features>` as virDomainFeaturesDefParse stores them and virDomainDefFormatFeatures writes
 * them: toggles without a state are on, `<hyperv>` has a mode (custom by default) and only the
 * sub-elements libvirt keeps, the SMM TSEG size is written in its largest exact unit, sizes are
 * in KiB, features libvirt 9.0 does not know are refused.
 */
export function featuresCanonical(def: DomainDef): void {
  const f = def.features;
  if (!f) return;
  for (const name of ['vmcoreinfo', 'hap', 'pmu', 'pvspinlock', 'vmport'] as const) {
    const sw = f[name];
    if (sw) f[name] = { state: sw.state ?? 'on' };
  }
  for (const name of ['htm', 'nested-hv', 'ccf-assist'] as const) {
    const sw = f[name];
    if (sw) f[name] = { state: requireState(sw, name) };
  }
  if (f.smm) {
    const state = f.smm.state ?? 'on';
    const tseg = f.smm.tseg;
    if (state === 'on' && tseg?.value !== undefined) {
      const bytes = scaledToBytes(tseg.value, tseg.unit || undefined, 'MiB');
      if (bytes === undefined) throw virReportError('INVALID_ARG', 'domain', `unknown suffix '${tseg.unit}'`);
      f.smm = { state, tseg: prettySize(bytes) };
    } else {
      f.smm = { state };
    }
  }
  if (f.hyperv) f.hyperv = hypervCanonical(f.hyperv);
  if (f.kvm) {
    const kvm: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(f.kvm)) {
      if (name.startsWith('$') || value === undefined) continue;
      const v = value as { state?: 'on' | 'off'; size?: number };
      const state = requireState(v, name);
      if (name === 'dirty-ring' && state === 'on') {
        const size = v.size;
        if (size === undefined) throw xmlError("Missing required attribute 'size' in element 'dirty-ring'");
        if (size & (size - 1) || size < 1024 || size > 65536)
          throw xmlError('dirty ring must be power of 2 and ranges [1024, 65536]');
        kvm[name] = { state, size };
      } else {
        kvm[name] = { state };
      }
    }
    f.kvm = kvm as Features['kvm'];
  }
  if (f.hpt) {
    const max = f.hpt.maxpagesize;
    const kib = max?.value !== undefined ? sizeKiB(max.value, max.unit, './features/hpt/maxpagesize') : 0;
    if (f.hpt.resizing === undefined && !kib) delete f.hpt;
    else
      f.hpt = {
        ...(f.hpt.resizing ? { resizing: f.hpt.resizing } : {}),
        ...(kib ? { maxpagesize: { unit: 'KiB', value: kib } } : {}),
      };
  }
  if (f.tcg) {
    const tb = f.tcg['tb-cache'];
    const kib = tb?.value !== undefined ? sizeKiB(tb.value, tb.unit, './tb-cache') : 0;
    if (kib) f.tcg = { 'tb-cache': { unit: 'KiB', value: kib } };
    else delete f.tcg;
  }
  if (f['async-teardown']) throw unsupported("unexpected feature 'async-teardown'");
  if (f.capabilities) {
    const { policy, ...caps } = f.capabilities;
    const any = Object.entries(caps).some(([k, v]) => !k.startsWith('$') && v !== undefined);
    if (!any && (policy ?? 'default') === 'default') delete f.capabilities;
    else f.capabilities = { ...f.capabilities, policy: policy ?? 'default' };
  }
  // virDomainDefFormatFeatures writes nothing when no feature is set
  if (!Object.keys(f).some((k) => !k.startsWith('$') && f[k as keyof Features] !== undefined))
    delete def.features;
}

/**
 * virDomainFeaturesDefParse reads every child of `<features>` and refuses a name libvirt 9.0 does
 * not know. It runs before unknown XML is dropped: the parse keeps such children in `$extra`.
 */
export function checkUnknownFeatures(def: DomainDef): void {
  // a second <hyperv> or <kvm> lands in `$extra` too: libvirt knows the name (and uses the first)
  const unknown = def.features?.$extra?.elements?.find((el) => !LIBVIRT_FEATURES.has(el.name));
  if (unknown) throw unsupported(`unexpected feature '${unknown.name}'`);
}

/** virDomainFeature in libvirt 9.0 (domain_conf.c). */
const LIBVIRT_FEATURES = new Set([
  'acpi',
  'apic',
  'pae',
  'hap',
  'viridian',
  'privnet',
  'hyperv',
  'kvm',
  'pvspinlock',
  'capabilities',
  'pmu',
  'vmport',
  'gic',
  'smm',
  'ioapic',
  'hpt',
  'vmcoreinfo',
  'htm',
  'nested-hv',
  'msrs',
  'ccf-assist',
  'xen',
  'cfpc',
  'sbbc',
  'ibs',
  'tcg',
]);
