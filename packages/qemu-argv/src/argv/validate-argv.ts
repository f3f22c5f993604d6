/**
 * The checks libvirt makes only when it prepares to start a domain (qemuProcessStartValidate and
 * qemuProcessUpdateGuestCPU in qemu_process.c), which `domxml-to-native` runs as well. A
 * definition that passed define can still be refused here; call before building the command line.
 */
import type { DomainDef } from '@qvirt/core';
import { type VirError, virReportError } from '@qvirt/core';
import { hasFlag } from '../caps/qemu-caps.js';
import type { QemuContext } from '../context.js';

const unsupported = (message: string): VirError => virReportError('CONFIG_UNSUPPORTED', 'qemu', message);

/** VNC and SPICE take a single listen (qemuProcessStartValidateGraphics). */
function validateGraphics(def: DomainDef): void {
  for (const g of def.devices?.graphics ?? []) {
    if (g.type !== 'vnc' && g.type !== 'spice') continue;
    const listens = (g as { listens?: unknown[] }).listens ?? [];
    if (listens.length > 1)
      throw unsupported('QEMU does not support multiple listens for one graphics device.');
  }
}

/** Disk protocols this QEMU lacks, floppies on pSeries (qemuProcessStartValidateDisks). */
function validateDisks(def: DomainDef, ctx: QemuContext): void {
  const pseries = (def.os?.type?.machine ?? '').startsWith('pseries');
  for (const disk of def.devices?.disk ?? []) {
    if (disk.type === 'network' && disk.source?.protocol === 'vxhs' && !hasFlag(ctx.caps, 'vxhs'))
      throw unsupported('VxHS protocol is not supported with this QEMU binary');
    if (disk.device === 'floppy' && pseries)
      throw unsupported('PowerPC pseries machines do not support floppy device');
  }
}

/** The guest CPU mode must be one this QEMU offers for the accelerator (virQEMUCapsIsCPUModeSupported). */
function validateCpuMode(def: DomainDef, ctx: QemuContext): void {
  const cpu = def.cpu;
  if (!cpu) return;
  const mode = cpu.mode ?? 'custom';
  if (mode === 'custom' && !cpu.model?.value) return;
  const accelerated = def.type === 'kvm';
  const accel = accelerated ? 'kvm' : 'tcg';
  let supported: boolean;
  switch (mode) {
    case 'host-passthrough':
      supported = accelerated && ctx.caps.arch === 'x86_64';
      break;
    case 'custom':
      supported = ctx.caps.cpuModels[accel].length > 0;
      break;
    case 'maximum':
      supported = hasFlag(ctx.caps, 'cpu-max');
      break;
    default:
      // host-model depends on the host CPU the capabilities were probed on.
      supported = true;
  }
  if (!supported) {
    const arch = def.os?.type?.arch ?? ctx.caps.arch;
    throw unsupported(
      `CPU mode '${mode}' for ${arch} ${def.type} domain on ${ctx.caps.arch} host is not supported by hypervisor`,
    );
  }
}

/** QEMU takes one display of each kind (qemuBuildCommandLineValidate). */
function validateGraphicsCount(def: DomainDef): void {
  const counts = new Map<string, number>();
  for (const g of def.devices?.graphics ?? []) counts.set(g.type ?? '', (counts.get(g.type ?? '') ?? 0) + 1);
  if (['sdl', 'vnc', 'spice', 'egl-headless', 'dbus'].some((t) => (counts.get(t) ?? 0) > 1))
    throw unsupported('only 1 graphics device of each type (sdl, vnc, spice, headless, dbus) is supported');
}

/** Refuses what libvirt refuses between define and building the command line. */
export function validateForCommandLine(def: DomainDef, ctx: QemuContext): void {
  validateGraphicsCount(def);
  validateGraphics(def);
  validateDisks(def, ctx);
  validateCpuMode(def, ctx);
}
