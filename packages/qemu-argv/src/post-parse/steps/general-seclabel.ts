import type { DomainDef } from '@qvirt/core';
import { VirError, virReportError } from '@qvirt/core';
import type { QemuContext } from '../../context.js';

/**
 * The models of the stacked security drivers: the configured `security_driver` list, or 'none'
 * when it is unset (the reference host has neither SELinux nor AppArmor active), then DAC.
 */
function securityModels(ctx: QemuContext): string[] {
  const drivers = (ctx.conf.securityDriver ?? []).filter((d) => d !== 'dac');
  return [drivers[0] ?? 'none', 'dac'];
}

/**
 * Domain `<seclabel>`s as virSecurityLabelDefsParseXML keeps them for an inactive definition:
 * type defaults to dynamic, relabel follows the type, a lone label without model gets the host's
 * first security model (and 'none' makes it a type='none' label), image labels are live-only,
 * base labels only for dynamic labels.
 */
export function seclabelCanonical(def: DomainDef, ctx: QemuContext): void {
  const labels = def.seclabel;
  if (!labels?.length) return;
  const out = labels.map((l) => {
    const type = l.type ?? 'dynamic';
    const relabel = l.relabel ?? (type === 'static' || type === 'none' ? 'no' : 'yes');
    if (type === 'dynamic' && relabel === 'no') {
      throw virReportError('CONFIG_UNSUPPORTED', 'domain', 'dynamic label type must use resource relabeling');
    }
    if (type === 'none' && relabel === 'yes') {
      throw virReportError(
        'CONFIG_UNSUPPORTED',
        'domain',
        "resource relabeling is not compatible with 'none' label type",
      );
    }
    const model = l.model;
    if (model === 'none') return { type: 'none' as const, model };
    const label: NonNullable<DomainDef['seclabel']>[number] = {
      type,
      ...(model !== undefined ? { model } : {}),
    };
    if (type === 'static') {
      if (!l.label) throw virReportError('XML_ERROR', 'domain', 'security label is missing');
      label.label = l.label;
    }
    if (type === 'dynamic' && l.baselabel !== undefined) label.baselabel = l.baselabel;
    if (type !== 'none') label.relabel = relabel;
    return label;
  });
  const seen = new Set<string | undefined>();
  for (const l of out) {
    if (seen.has(l.model)) {
      throw new VirError('XML_DETAIL', 'domain', `seclabel for model ${l.model} is already provided`);
    }
    seen.add(l.model);
  }
  if (out.length === 1 && out[0]!.model === undefined) {
    const only = out[0]!;
    if (only.type === 'none' || (only.type === 'dynamic' && only.baselabel === undefined)) {
      const model = securityModels(ctx)[0]!;
      out[0] = model === 'none' ? { type: 'none', model } : { ...only, model };
    } else {
      throw virReportError('XML_ERROR', 'domain', 'missing security model in domain seclabel');
    }
  }
  if (out.length > 1 && out.some((l) => l.model === undefined)) {
    throw virReportError('XML_ERROR', 'domain', 'missing security model when using multiple labels');
  }
  def.seclabel = out;
}
