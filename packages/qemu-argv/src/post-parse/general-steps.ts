import type { PostParseStep } from './index.js';
import { defaultCpuModel } from './steps/cpu.js';
import { memoryUnits } from './steps/memory.js';
import { clockDefault, defaultBootDevice, lifecycleDefaults, machineType } from './steps/os.js';
import { dropUnknown } from './steps/unknown.js';
import { vcpuPlacement } from './steps/vcpu.js';

/** Everything outside `<devices>`: units, machine type, CPU, OS, clock, lifecycle. */
export const GENERAL_STEPS: PostParseStep[] = [
  dropUnknown,
  memoryUnits,
  vcpuPlacement,
  machineType,
  defaultBootDevice,
  lifecycleDefaults,
  clockDefault,
  defaultCpuModel,
];
