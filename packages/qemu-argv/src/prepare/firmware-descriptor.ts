/**
 * QEMU firmware descriptors (QEMU's docs/interop/firmware.json), as libvirt 9.0 keeps them after
 * reading (qemu_firmware.c's qemuFirmware): what the selection needs, nothing more. The files are
 * read by `@qvirt/host-prober` (`readFirmwareDescriptors`); this type lives here because the
 * selection (`fillFirmware`) is QEMU knowledge that the command line depends on, as `QemuCaps` is.
 */

/** qemuFirmwareOSInterface (without the empty "none"). */
export type FirmwareInterface = 'bios' | 'openfirmware' | 'uboot' | 'uefi';

/** qemuFirmwareFeature: the features libvirt knows; unknown ones are dropped when reading. */
export const FIRMWARE_FEATURES = [
  'acpi-s3',
  'acpi-s4',
  'amd-sev',
  'amd-sev-es',
  'enrolled-keys',
  'requires-smm',
  'secure-boot',
  'verbose-dynamic',
  'verbose-static',
] as const;
export type FirmwareFeature = (typeof FIRMWARE_FEATURES)[number];

export interface FirmwareFlashFile {
  filename: string;
  format: string;
}

/** qemuFirmwareMapping: a flash image (split, combined or stateless), a kernel, or a ROM in memory. */
export type FirmwareMapping =
  | {
      device: 'flash';
      mode: 'split' | 'combined' | 'stateless';
      executable: FirmwareFlashFile;
      /** Present for split flash only. */
      nvramTemplate?: FirmwareFlashFile;
    }
  | { device: 'kernel'; filename: string }
  | { device: 'memory'; filename: string };

export interface FirmwareTarget {
  /** libvirt's arch name (`i386` in the file is `i686` here, `arm` is `armv7l`). */
  architecture: string;
  /** Machine type globs (`pc-q35-*`). */
  machines: string[];
}

export interface FirmwareDescriptor {
  /** The file it was read from (for messages). */
  path: string;
  interfaces: FirmwareInterface[];
  mapping: FirmwareMapping;
  targets: FirmwareTarget[];
  features: FirmwareFeature[];
}

/** GLib's g_pattern_match_simple: `*` any run of characters, `?` exactly one, nothing else special. */
export function globMatch(pattern: string, text: string): boolean {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`, 's').test(text);
}

/** qemuFirmwareMatchesMachineArch. */
export function firmwareMatchesMachineArch(fw: FirmwareDescriptor, machine: string, arch: string): boolean {
  return fw.targets.some((t) => t.architecture === arch && t.machines.some((m) => globMatch(m, machine)));
}
