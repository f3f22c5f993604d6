/**
 * libvirt 9.0's post-parse work for QEMU domains: the defaults, implicit devices, addresses and
 * checks that turn a parsed document into the definition libvirt stores (`dumpxml --inactive`)
 * and builds the command line from. One implementation serves `define` and `domxml-to-native`.
 *
 * Steps run in order on a private copy; each is one module and one idea.
 */
import type { DomainDef } from '@qvirt/core';
import type { QemuContext } from '../context.js';
import { POST_PARSE_STEPS } from './steps.js';

export type PostParseStep = (def: DomainDef, ctx: QemuContext) => void;

export function canonicalizeDomain(def: DomainDef, ctx: QemuContext): DomainDef {
  const out = structuredClone(def);
  for (const step of POST_PARSE_STEPS) step(out, ctx);
  return out;
}
