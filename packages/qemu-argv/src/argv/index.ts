/**
 * The QEMU command line libvirt 9.0 builds for a canonical definition (qemuBuildCommandLine),
 * one section per function, in libvirt's order.
 */
import type { DomainDef } from '@qvirt/core';
import type { QemuContext } from '../context.js';
import { domainLibDir } from '../layout.js';
import { pciAddresses } from '../post-parse/steps/pci-addresses.js';
import { assignAliases } from './aliases.js';
import type { Build, Section } from './build.js';
import type { CommandLine } from './command-line.js';
import { audio, graphics, inputs, sounds, video, watchdogs } from './sections/av.js';
import { controllers, controllersByType, hubs } from './sections/controllers.js';
import { disks } from './sections/disks.js';
import { filesystems } from './sections/filesystems.js';
import {
  compat,
  environment,
  helperObjects,
  masterKey,
  name,
  pflash,
  startPaused,
} from './sections/identity.js';
import {
  channels,
  consoles,
  hostdevs,
  nets,
  parallels,
  redirdevs,
  rngs,
  serials,
  smartcards,
  tpms,
} from './sections/io.js';
import { rewriteInterfacesForNative } from './sections/io-net.js';
import { cpu, loader, machine, tseg } from './sections/machine.js';
import { iothreads, memory, numa, smp } from './sections/memory.js';
import { memballoon, memoryDevices, nvram, panics, shmems, vmcoreinfo, vsock } from './sections/misc.js';
import {
  boot,
  clock,
  display,
  globalControllers,
  iommu,
  monitor,
  pm,
  smbios,
  sysinfo,
  uuid,
  vmgenid,
} from './sections/platform.js';
import { launchSecurity, msg, qemuCommandline, sandbox } from './sections/tail.js';
import { validateForCommandLine } from './validate-argv.js';

export const SECTIONS: Section[] = [
  environment,
  name,
  compat,
  startPaused,
  masterKey,
  helperObjects,
  pflash,
  machine,
  tseg,
  cpu,
  loader,
  memory,
  smp,
  iothreads,
  numa,
  uuid,
  smbios,
  sysinfo,
  vmgenid,
  display,
  monitor,
  clock,
  pm,
  boot,
  iommu,
  globalControllers,
  controllers,
  memoryDevices,
  hubs,
  controllersByType,
  disks,
  filesystems,
  nets,
  smartcards,
  serials,
  parallels,
  channels,
  consoles,
  tpms,
  inputs,
  audio,
  graphics,
  video,
  sounds,
  watchdogs,
  redirdevs,
  hostdevs,
  memballoon,
  rngs,
  nvram,
  vmcoreinfo,
  launchSecurity,
  qemuCommandline,
  sandbox,
  panics,
  shmems,
  vsock,
  msg,
];

/** Builds the command line of a definition that has been through `canonicalizeDomain`. */
export function buildCommandLine(canonical: DomainDef, ctx: QemuContext): CommandLine {
  validateForCommandLine(canonical, ctx);
  const def = structuredClone(canonical);
  if (ctx.purpose === 'native') {
    // domxml-to-native turns every <interface> into a fresh ethernet one, which is placed again.
    rewriteInterfacesForNative(def);
    pciAddresses(def, ctx);
  }
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
