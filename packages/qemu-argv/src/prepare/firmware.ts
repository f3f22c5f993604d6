/**
 * Firmware autoselection (libvirt 9.0's qemuFirmwareFillDomain and helpers): `<os firmware='efi'>`
 * (or `'bios'`) becomes the `<loader>`/`<nvram>` of the first host firmware descriptor, in file
 * name order, that satisfies the domain; an old-style read-only pflash loader whose variable store
 * does not exist yet gets its NVRAM template from a descriptor with the same executable.
 *
 * libvirt does this when a domain is prepared to run (qemuProcessPrepareDomain, for a start and for
 * domxml-to-native), never at define: a stored definition keeps `firmware='efi'`, so a host whose
 * firmware changes picks the new one at the next start.
 */
import { existsSync } from 'node:fs';
import type { DomainDef } from '@qvirt/core';
import { type VirError, virReportError } from '@qvirt/core';
import type { QemuContext } from '../context.js';
import {
  type FirmwareDescriptor,
  type FirmwareFeature,
  type FirmwareInterface,
  firmwareMatchesMachineArch,
} from './firmware-descriptor.js';

export interface FillFirmwareOptions {
  /**
   * A start from scratch (VIR_QEMU_PROCESS_START_NEW): a start or domxml-to-native, not an incoming
   * migration or a restore. Autoselection happens only then. Default true.
   */
  startNew?: boolean;
  /** `--reset-nvram` (VIR_QEMU_PROCESS_START_RESET_NVRAM). */
  resetNvram?: boolean;
  /** Whether a host file exists (the old-style variable store check); default `existsSync`. */
  fileExists?: (path: string) => boolean;
}

const failed = (msg: string): VirError => virReportError('OPERATION_FAILED', 'qemu', msg);
const unsupportedOp = (msg: string): VirError => virReportError('OPERATION_UNSUPPORTED', 'qemu', msg);

/** SEV policy bit that asks for SEV-ES (VIR_QEMU_FIRMWARE_AMD_SEV_ES_POLICY). */
const SEV_ES_POLICY = 1 << 2;

/** qemuFirmwareOSInterfaceTypeFromOsDefFirmware / …FromOsDefLoaderType. */
function wantedInterface(def: DomainDef): FirmwareInterface | undefined {
  const fw = def.os?.firmware;
  if (fw === 'bios') return 'bios';
  if (fw === 'efi') return 'uefi';
  const type = def.os?.loader?.type;
  if (type === 'rom') return 'bios';
  if (type === 'pflash') return 'uefi';
  return undefined;
}

/** virStorageSourceIsLocalStorage for `<nvram>`: a plain path, or a file/block/dir source. */
function nvramIsLocal(nvram: NonNullable<NonNullable<DomainDef['os']>['nvram']>): boolean {
  const type = nvram.type ?? 'file';
  return type === 'file' || type === 'block' || type === 'dir';
}

function nvramPath(nvram: NonNullable<NonNullable<DomainDef['os']>['nvram']>): string | undefined {
  return nvram.value ?? nvram.source?.file ?? nvram.source?.dev ?? nvram.source?.dir;
}

/** qemuFirmwareMatchDomain: whether `fw` satisfies the domain's wishes. */
export function firmwareMatchesDomain(def: DomainDef, fw: FirmwareDescriptor): boolean {
  const os = def.os ?? {};
  const loader = os.loader;
  let want: FirmwareInterface | undefined;
  if (os.firmware === 'bios') want = 'bios';
  else if (os.firmware === 'efi') want = 'uefi';
  else if (loader) {
    want = wantedInterface(def);
    // an old-style loader only matches the descriptor of its own executable
    if (fw.mapping.device !== 'flash' || loader.value !== fw.mapping.executable.filename) return false;
  }
  if (want === undefined || !fw.interfaces.includes(want)) return false;
  if (!firmwareMatchesMachineArch(fw, os.type?.machine ?? '', os.type?.arch ?? '')) return false;

  const has = (f: FirmwareFeature): boolean => fw.features.includes(f);
  if (def.pm?.['suspend-to-mem']?.enabled === 'yes' && !has('acpi-s3')) return false;
  if (def.pm?.['suspend-to-disk']?.enabled === 'yes' && !has('acpi-s4')) return false;

  const requested = new Map((os.firmwareFeatures?.feature ?? []).map((f) => [f.name, f.enabled]));
  const secureBoot = requested.get('secure-boot');
  if (secureBoot === 'yes' && !has('secure-boot')) return false;
  if (secureBoot === 'no' && has('secure-boot')) return false;
  const enrolledKeys = requested.get('enrolled-keys');
  if (enrolledKeys === 'yes' && !has('enrolled-keys')) return false;
  if (enrolledKeys === 'no' && has('enrolled-keys')) return false;

  // a loader restricted to SMM needs a firmware built for it
  if (loader?.secure === 'yes' && !has('requires-smm')) return false;

  if (fw.mapping.device === 'flash') {
    const wanted = loader?.stateless === 'yes' ? 'stateless' : 'split';
    if (fw.mapping.mode !== wanted) return false;
  }

  if (def.launchSecurity?.type === 'sev') {
    if (!has('amd-sev')) return false;
    const policy = Number(def.launchSecurity.policy ?? 0);
    if (policy & SEV_ES_POLICY && !has('amd-sev-es')) return false;
  }
  return true;
}

/** qemuFirmwareEnableFeatures: the chosen firmware written into the definition. */
function enableFirmware(def: DomainDef, fw: FirmwareDescriptor, ctx: QemuContext): void {
  const os = (def.os ??= {});
  const m = fw.mapping;
  switch (m.device) {
    case 'flash': {
      if (m.executable.format !== 'raw')
        throw unsupportedOp(`unsupported flash format '${m.executable.format}'`);
      os.loader = { ...os.loader, readonly: 'yes', type: 'pflash', value: m.executable.filename };
      if (m.mode === 'split' && m.nvramTemplate) {
        if (m.nvramTemplate.format !== 'raw')
          throw unsupportedOp(`unsupported nvram template format '${m.nvramTemplate.format}'`);
        const nvram = os.nvram;
        const hasStore = nvram !== undefined && (nvram.value !== undefined || nvram.source !== undefined);
        // qemuDomainNVRAMPathFormat when the domain names no store of its own
        os.nvram = hasStore
          ? { ...nvram, template: m.nvramTemplate.filename }
          : { template: m.nvramTemplate.filename, value: `${ctx.layout.nvramDir}/${def.name}_VARS.fd` };
      }
      break;
    }
    case 'kernel':
      os.kernel = m.filename;
      break;
    case 'memory':
      os.loader = { ...os.loader, type: 'rom', value: m.filename };
      break;
  }
  if (fw.features.includes('requires-smm')) {
    const features = (def.features ??= {});
    const smm = features.smm?.state;
    if (smm === 'off') {
      throw virReportError(
        'OPERATION_INVALID',
        'qemu',
        'domain has SMM turned off but chosen firmware requires it',
      );
    }
    if (smm === undefined) features.smm = { ...features.smm, state: 'on' };
    os.loader = { ...os.loader, secure: 'yes' };
  }
}

/**
 * qemuFirmwareSanityCheck: a descriptor whose features contradict each other still works, but
 * libvirt warns; returned so a caller can log it.
 */
export function firmwareSanityWarning(fw: FirmwareDescriptor): string | undefined {
  const smm = fw.features.includes('requires-smm');
  const sb = fw.features.includes('secure-boot');
  const keys = fw.features.includes('enrolled-keys');
  if (sb !== smm || (keys && !sb)) {
    return `Firmware description '${fw.path}' has invalid set of features: requires-smm = ${+smm}, secure-boot = ${+sb}, enrolled-keys = ${+keys}`;
  }
  return undefined;
}

/**
 * qemuFirmwareFillDomain on a canonical definition (edited in place). Returns the descriptor
 * chosen, if any. Descriptors come from `ctx.firmwares` (none when unset: as a host without any).
 */
export function fillFirmware(
  def: DomainDef,
  ctx: QemuContext,
  options: FillFirmwareOptions = {},
): FirmwareDescriptor | undefined {
  const os = def.os;
  const fileExists = options.fileExists ?? existsSync;
  let needResult = true;
  if (os?.firmware === undefined) {
    // An old-style read-only UEFI loader without a template whose store does not exist yet: the
    // descriptors may know the template, but no match is no error.
    const loader = os?.loader;
    if (loader?.type !== 'pflash' || loader.readonly !== 'yes' || os?.nvram?.template !== undefined)
      return undefined;
    const nvram = os?.nvram;
    if (nvram && (nvram.value !== undefined || nvram.source !== undefined)) {
      if (!nvramIsLocal(nvram)) {
        if (options.resetNvram)
          throw unsupportedOp('resetting of nvram is not supported with network backed nvram');
        return undefined;
      }
      const p = nvramPath(nvram);
      if (!options.resetNvram && p !== undefined && fileExists(p)) return undefined;
    }
    needResult = false;
  } else if (options.startNew === false) {
    return undefined;
  }

  // qemuFirmwareFetchParsedConfigs: read only now, when a domain needs them
  const all = typeof ctx.firmwares === 'function' ? ctx.firmwares() : (ctx.firmwares ?? []);
  const chosen = all.find((fw) => firmwareMatchesDomain(def, fw));
  if (!chosen) {
    if (needResult) throw failed(`Unable to find any firmware to satisfy '${os!.firmware}'`);
    return undefined;
  }
  enableFirmware(def, chosen, ctx);
  delete def.os!.firmware;
  return chosen;
}
