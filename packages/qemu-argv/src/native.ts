/**
 * `domxml-to-native qemu-argv`: XML text in, libvirt's one-line command line out. The same
 * post-parse and builder a real start uses, with libvirt's conversion rules on top (every
 * `<interface>` becomes a tap `ethernet` one; monitor and logs given as paths), and the preparation
 * a start does first (`prepare/`: firmware autoselection).
 */
import { parseDomainXML } from '@qvirt/core';
import type { CommandLine } from './argv/command-line.js';
import { formatCommandLine } from './argv/command-line.js';
import { buildCommandLine } from './argv/index.js';
import type { QemuContext } from './context.js';
import { canonicalizeDomain } from './post-parse/index.js';
import { prepareDomain } from './prepare/index.js';

export function domxmlToCommandLine(xml: string, ctx: QemuContext, source = 'domain'): CommandLine {
  const def = canonicalizeDomain(parseDomainXML(xml, { source }), ctx);
  // qemuProcessCreatePretendCmdPrepare: prepared as a new start (firmware autoselection)
  prepareDomain(def, ctx, { startNew: true });
  return buildCommandLine(def, ctx);
}

export function domxmlToNative(xml: string, ctx: QemuContext, source = 'domain'): string {
  return formatCommandLine(domxmlToCommandLine(xml, ctx, source));
}
