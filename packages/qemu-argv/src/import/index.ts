/**
 * domxml-from-native qemu-argv: a QEMU command line back to domain XML (libvirt removed this in
 * 5.5; qvirt brings it back). Today the legacy syntax is understood; anything else is carried in
 * `<qemu:commandline>` with a warning, so nothing is lost.
 */

import type { DomainDef } from '@qvirt/core';
import { formatDomainXML, parseDomainXML } from '@qvirt/core';
import { importLegacyArgv } from './legacy.js';
import { splitCommandLine } from './split.js';

export { parseKeywords, shellWords, splitCommandLine } from './split.js';

export interface NativeImport {
  def: DomainDef;
  /** The domain XML, formatted by @qvirt/core. */
  xml: string;
  /** One line per option or variable kept in the QEMU namespace. */
  warnings: string[];
}

export function domxmlFromNative(text: string): NativeImport {
  const { def, warnings } = importLegacyArgv(splitCommandLine(text));
  // Through the formatter and parser once, so the result is exactly what the schema accepts.
  const xml = formatDomainXML(def);
  return { def: parseDomainXML(xml, { requireName: false }), xml, warnings };
}
