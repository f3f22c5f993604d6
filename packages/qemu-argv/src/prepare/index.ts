/**
 * What libvirt does to a stored definition when it prepares to run it (qemuProcessPrepareDomain),
 * for a real start and for domxml-to-native alike, and never at define: firmware
 * autoselection and the guest CPU's update from the host-model CPU. Runs on the canonical definition, after `canonicalizeDomain` and before
 * `buildCommandLine`, and edits it in place (callers pass their own copy).
 */
import type { DomainDef } from '@qvirt/core';
import type { QemuContext } from '../context.js';
import { type FillFirmwareOptions, fillFirmware } from './firmware.js';
import { updateGuestCpu, validateTsc } from './guest-cpu.js';

export type PrepareOptions = FillFirmwareOptions;

export function prepareDomain(def: DomainDef, ctx: QemuContext, options: PrepareOptions = {}): DomainDef {
  // qemuProcessStartValidate (run before the preparation): the TSC frequency tolerance
  validateTsc(def, ctx);
  // qemuProcessPrepareDomain: "Prepare bios/uefi paths"
  fillFirmware(def, ctx, options);
  // "Updating guest CPU definition"
  updateGuestCpu(def, ctx);
  return def;
}

export * from './firmware.js';
export * from './firmware-descriptor.js';
