/**
 * domxml-from-native qemu-argv: a QEMU command line back to domain XML (libvirt removed this in
 * 5.5; qvirt brings it back). Two syntaxes: the legacy one of QEMU 0.x–2.x (`-hda`, `-drive`,
 * `-net nic`, …; ./legacy.ts) and the modern one libvirt 9.0 emits (`-blockdev`, JSON `-device`,
 * `-machine …,memory-backend=`, …; ./modern.ts), told apart by the options the line uses. Anything
 * neither understands is carried in `<qemu:commandline>` with a warning, so nothing is lost.
 */

import type { DomainDef } from '@qvirt/core';
import { formatDomainXML, parseDomainXML, VirError } from '@qvirt/core';
import { importLegacyArgv } from './legacy.js';
import { importModernArgv, isModernArgv } from './modern.js';
import { type SplitArgv, splitCommandLine } from './split.js';

export { isModernArgv } from './modern.js';
export { nativeRoundtripView } from './modern-view.js';
export { parseKeywords, shellWords, splitCommandLine } from './split.js';

export interface NativeImport {
  def: DomainDef;
  /** The domain XML, formatted by @qvirt/core. */
  xml: string;
  /** One line per option or variable kept in the QEMU namespace. */
  warnings: string[];
  /** Which importer read the line. */
  syntax: 'legacy' | 'modern';
}

/**
 * Error messages quote the words at fault, and a word may hold a line break: written as `\n`
 * (and other control characters as `\xNN`), so every message stays one line.
 */
function importSplit(argv: SplitArgv): NativeImport {
  try {
    return importSplitUnchecked(argv);
  } catch (err) {
    if (err instanceof VirError && /[\x00-\x1f\x7f]/.test(err.message)) {
      throw new VirError(err.code, err.domain, oneLine(err.message), { where: err.where, cause: err });
    }
    throw err;
  }
}

function oneLine(text: string): string {
  return text.replace(/[\x00-\x1f\x7f]/g, (c) =>
    c === '\n'
      ? '\\n'
      : c === '\r'
        ? '\\r'
        : c === '\t'
          ? '\\t'
          : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}

function importSplitUnchecked(argv: SplitArgv): NativeImport {
  const modern = isModernArgv(argv.args);
  const { def, warnings } = modern ? importModernArgv(argv) : importLegacyArgv(argv);
  // Through the formatter and parser once, so the result is exactly what the schema accepts.
  const xml = formatDomainXML(def);
  return {
    def: parseDomainXML(xml, { requireName: false }),
    xml,
    warnings,
    syntax: modern ? 'modern' : 'legacy',
  };
}

export function domxmlFromNative(text: string): NativeImport {
  return importSplit(splitCommandLine(text));
}

/** The same from words already split (environment assignments, the binary, its arguments). */
export function domxmlFromNativeWords(words: string[]): NativeImport {
  const quoted = words.map((w) => `'${w.replace(/'/g, "'\\''")}'`).join(' ');
  return importSplit(splitCommandLine(quoted));
}
