import type { PostParseStep } from './index.js';
import { cpuCanonical, cpuPostParse, defaultCpuModel } from './steps/cpu.js';
import { defaultArchAndEmulator } from './steps/general-arch.js';
import { dropEmptyText } from './steps/general-empty.js';
import { checkUnknownFeatures, featuresCanonical } from './steps/general-features.js';
import { domainIds } from './steps/general-ids.js';
import { seclabelCanonical } from './steps/general-seclabel.js';
import { memoryDeviceUnits, memoryTuning, memoryUnits } from './steps/memory.js';
import {
  clockDefault,
  defaultBootDevice,
  lifecycleDefaults,
  machineType,
  nvramDefault,
  osCanonical,
} from './steps/os.js';
import { dropUnknown, metadataSanitize } from './steps/unknown.js';
import { cputuneCanonical, iothreadIds, numatuneCanonical, numaVcpus, vcpuPlacement } from './steps/vcpu.js';

/**
 * Everything outside `<devices>`, in libvirt's order: what its parser normalises (units, bitmaps,
 * defaults of attributes), then qemuDomainDefPostParse (machine type, default CPU, CPU checks)
 * and the generic virDomainDefPostParseCommon (memory totals, boot order).
 */
export const GENERAL_STEPS: PostParseStep[] = [
  domainIds,
  checkUnknownFeatures,
  dropUnknown,
  dropEmptyText,
  metadataSanitize,
  defaultArchAndEmulator,
  seclabelCanonical,
  memoryUnits,
  memoryDeviceUnits,
  memoryTuning,
  vcpuPlacement,
  iothreadIds,
  cputuneCanonical,
  cpuCanonical,
  numaVcpus,
  numatuneCanonical,
  featuresCanonical,
  lifecycleDefaults,
  clockDefault,
  osCanonical,
  machineType,
  nvramDefault,
  defaultCpuModel,
  cpuPostParse,
  defaultBootDevice,
];
