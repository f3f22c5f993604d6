import type { DomainDef } from '@qvirt/core';
import type { QemuContext } from '../context.js';

/** What every section of the command line reads and appends to. */
export interface Build {
  /** The canonical definition (after post-parse), with aliases assigned. */
  def: DomainDef;
  ctx: QemuContext;
  env: Array<[string, string]>;
  args: string[];
  /** The domain's private directory (`…/domain-ID-NAME`): HOME, monitor socket, master key. */
  libDir: string;
}

/** One part of the command line, in libvirt's qemuBuildCommandLine order. */
export type Section = (b: Build) => void;

export function add(b: Build, ...words: string[]): void {
  b.args.push(...words);
}
