/**
 * libvirt reads most text elements with virXPathString, which gives no string for empty text: an
 * empty `<title/>`, `<description/>`, `<kernel/>`, `<initrd/>`, `<cmdline/>`, `<dtb/>` or
 * `<root/>` is as good as absent and is not written back (virDomainDefParseXML,
 * virDomainDefParseBootKernelOptions).
 */
import type { DomainDef } from '@qvirt/core';

export function dropEmptyText(def: DomainDef): void {
  if (def.title === '') delete def.title;
  if (def.description === '') delete def.description;
  const os = def.os as Record<string, unknown> | undefined;
  if (!os) return;
  for (const name of ['kernel', 'initrd', 'cmdline', 'dtb', 'root', 'init', 'shim']) {
    if (os[name] === '') delete os[name];
  }
}
