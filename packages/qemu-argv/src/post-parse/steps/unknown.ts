import type { DomainDef } from '@qvirt/core';

/**
 * libvirt ignores XML it does not know, so its stored definition has none: drop what the parse
 * kept in `$extra`. (Parsing and formatting alone keep it; see @qvirt/core.)
 */
export function dropUnknown(def: DomainDef): void {
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v !== null && typeof v === 'object' && !('children' in v)) {
      const o = v as Record<string, unknown>;
      delete o.$extra;
      Object.values(o).forEach(walk);
    }
  };
  walk(def);
}
