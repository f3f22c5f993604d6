import type { PostParseStep } from './index.js';
import { checkDeviceParseRules } from './steps/validate-device-rules.js';
import {
  checkChrSources,
  checkDevicePostParse,
  checkDevices,
  checkDiskTargets,
  checkDriveAddresses,
  checkDuplicateHostdevs,
  checkScsiHostdevAddresses,
  checkUsbNone,
} from './steps/validate-devices.js';
import {
  checkBootMenu,
  checkCpu,
  checkEmulatorSupport,
  checkFeatures,
  checkFirmwareBasics,
  checkHugepages,
  checkLaunchSecurity,
  checkMemoryHotplug,
  checkOsFirmware,
  checkSecureBoot,
  checkTseg,
  checkVcpuTopology,
} from './steps/validate-domain.js';
import {
  checkBootOrder,
  checkDeviceParse,
  checkDuplicateControllers,
  checkFirmwareFeatures,
  checkMemorySize,
  checkName,
  checkNumaCells,
  checkNumatune,
  checkSeclabels,
  checkThreadSched,
} from './steps/validate-parse.js';
import {
  checkClockTimers,
  checkLifecycleAllowed,
  checkPanics,
  checkQemuLifecycle,
  checkSysinfoFwcfg,
  checkTpmCount,
} from './steps/validate-qemu-def.js';

/**
 * The checks libvirt's parser makes (domain_conf.c, numa_conf.c). They belong right after
 * GENERAL_STEPS, before the device post-parse rewrites what they look at, so that an input with
 * two problems reports the one libvirt reports.
 */
export const PARSE_VALIDATE_STEPS: PostParseStep[] = [
  checkName,
  checkSeclabels,
  checkNumaCells,
  checkNumatune,
  checkThreadSched,
  checkDeviceParse,
  checkDeviceParseRules,
  checkUsbNone,
  checkChrSources,
];

/**
 * The checks of libvirt's device and generic post-parse (device callbacks, then
 * virDomainDefPostParseCommon), which run before addresses are assigned.
 */
export const POSTPARSE_VALIDATE_STEPS: PostParseStep[] = [
  // Device post-parse (qemuDomainControllerDefPostParse).
  checkDevicePostParse,
  // Generic post-parse (domain_postparse.c).
  checkMemorySize,
  checkFirmwareFeatures,
  checkBootOrder,
  checkDuplicateControllers,
  // QEMU post-parse (qemu_domain.c).
  checkTseg,
];

/** virDomainDefValidate: the QEMU driver's checks, every device's, then the generic ones. */
export const LATE_VALIDATE_STEPS: PostParseStep[] = [
  // qemuValidateDomainDef.
  checkEmulatorSupport,
  checkFirmwareBasics,
  checkQemuLifecycle,
  checkCpu,
  checkMemoryHotplug,
  checkClockTimers,
  checkVcpuTopology,
  checkFeatures,
  checkSysinfoFwcfg,
  checkPanics,
  checkTpmCount,
  checkSecureBoot,
  checkLaunchSecurity,
  // Every device (virDomainDeviceDefValidate, qemuValidateDomainDeviceDef).
  checkDevices,
  // virDomainDefValidateInternal.
  checkDiskTargets,
  checkDuplicateHostdevs,
  checkDriveAddresses,
  checkScsiHostdevAddresses,
  checkLifecycleAllowed,
  checkHugepages,
  checkOsFirmware,
  checkBootMenu,
];

/**
 * libvirt's define-time validation, in its order: what its parser and generic post-parse check
 * (domain_conf.c, domain_postparse.c), the QEMU post-parse checks, qemuValidateDomainDef, the
 * per-device validation, then virDomainDefValidateInternal.
 */
export const VALIDATE_STEPS: PostParseStep[] = [
  ...PARSE_VALIDATE_STEPS,
  ...POSTPARSE_VALIDATE_STEPS,
  ...LATE_VALIDATE_STEPS,
];
