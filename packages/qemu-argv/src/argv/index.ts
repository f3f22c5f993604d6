/**
 * The QEMU command line libvirt 9.0 builds for a canonical definition (qemuBuildCommandLine),
 * one section per module, in libvirt's order.
 */
import type { DomainDef } from '@qvirt/core';
import type { QemuContext } from '../context.js';
import { domainLibDir } from '../layout.js';
import { assignAliases } from './aliases.js';
import type { Build, Section } from './build.js';
import type { CommandLine } from './command-line.js';
import { audio, controllers, memballoon, tail } from './sections/devices.js';
import { disks } from './sections/disks.js';
import { environment, identity } from './sections/identity.js';
import { cpu, machine } from './sections/machine.js';
import { memory, smp } from './sections/memory.js';
import { boot, clock, display, monitor, pm, uuid } from './sections/platform.js';

export const SECTIONS: Section[] = [
  environment,
  identity,
  machine,
  cpu,
  memory,
  smp,
  uuid,
  display,
  monitor,
  clock,
  pm,
  boot,
  controllers,
  disks,
  audio,
  memballoon,
  tail,
];

/** Builds the command line of a definition that has been through `canonicalizeDomain`. */
export function buildCommandLine(canonical: DomainDef, ctx: QemuContext): CommandLine {
  const def = structuredClone(canonical);
  assignAliases(def);
  const b: Build = {
    def,
    ctx,
    env: [],
    args: [],
    libDir: domainLibDir(ctx.layout, ctx.domainId, def.name),
  };
  for (const section of SECTIONS) section(b);
  return { env: b.env, binary: def.devices?.emulator ?? ctx.caps.emulator, args: b.args };
}
