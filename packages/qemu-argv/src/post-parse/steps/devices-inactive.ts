/**
 * What libvirt leaves out when it prints an inactive definition without secure information
 * (`dumpxml --inactive`, and so what define stores): live-only state such as backing-chain
 * indexes, block-job mirrors, network port ids and skipped labels. Also the two sizes libvirt
 * stores in a fixed unit. (Secrets are kept: see `formatDefinition` for what printing hides.)
 */
import type { DomainDef } from '@qvirt/core';
import { virReportError } from '@qvirt/core';
import { scaledToBytes } from '../../domain-util.js';

type Source = {
  index?: unknown;
  seclabel?: Array<{ labelskip?: unknown; label?: unknown; relabel?: unknown }>;
};
type Chain = { index?: unknown; source?: Source; backingStore?: Chain };

function stripSource(source: Source | undefined): void {
  if (!source) return;
  delete source.index;
  if (source.seclabel) {
    // A label the parser only records as skipped carries nothing an inactive definition keeps.
    source.seclabel = source.seclabel.filter(
      (l) => !(l.labelskip !== undefined && l.label === undefined && l.relabel === undefined),
    );
    if (source.seclabel.length === 0) delete source.seclabel;
  }
}

function stripChain(chain: Chain | undefined): void {
  for (let c = chain; c; c = c.backingStore) {
    delete c.index;
    stripSource(c.source);
  }
}

export function inactiveForm(def: DomainDef): void {
  for (const disk of def.devices?.disk ?? []) {
    const d = disk as Chain & { mirror?: unknown };
    delete d.mirror;
    stripSource(d.source);
    stripChain(d.backingStore);
  }
  // a network port's UUID is live state (read only without PARSE_INACTIVE); a vds port id is config
  for (const net of def.devices?.interface ?? []) {
    const source = (net as { type?: string; source?: { portid?: unknown } }).source;
    if (source && net.type === 'network') delete source.portid;
  }
}

function toUnit(
  value: unknown,
  unit: string | undefined,
  defaultUnit: string,
  target: bigint,
  element: string,
): number {
  const bytes = scaledToBytes(value as number, unit, defaultUnit);
  if (bytes === undefined)
    throw virReportError('XML_ERROR', 'domain', `unknown unit '${unit}' for <${element}>`);
  return Number((bytes + target - 1n) / target);
}

/** `<metadata_cache><max_size>` is stored in bytes, `<pcihole64>` in KiB. */
export function fixedUnitSizes(def: DomainDef): void {
  type Cache = { metadata_cache?: { max_size?: { unit?: string; value?: unknown } } };
  type Layer = { driver?: Cache; format?: Cache; backingStore?: Layer };
  const toBytes = (holder: Cache | undefined): void => {
    const size = holder?.metadata_cache?.max_size;
    if (size?.value === undefined) return;
    holder!.metadata_cache!.max_size = {
      unit: 'bytes',
      value: String(toUnit(size.value, size.unit, 'bytes', 1n, 'max_size')),
    };
  };
  for (const disk of (def.devices?.disk ?? []) as unknown as Layer[]) {
    toBytes(disk.driver);
    for (let layer = disk.backingStore; layer; layer = layer.backingStore) toBytes(layer.format);
  }
  for (const c of def.devices?.controller ?? []) {
    const hole = (c as { pcihole64?: { unit?: string; value?: unknown } }).pcihole64;
    if (hole?.value !== undefined) {
      (c as { pcihole64?: unknown }).pcihole64 = {
        unit: 'KiB',
        value: toUnit(hole.value, hole.unit, 'KiB', 1024n, 'pcihole64'),
      };
    }
  }
}
