import type { PostParseStep } from './index.js';
import { defaultCpuModel } from './steps/cpu.js';
import {
  diskDefaults,
  diskOrder,
  implicitAudio,
  implicitControllers,
  implicitInputs,
  implicitMemballoon,
} from './steps/devices.js';
import { driveAddresses } from './steps/drive-addresses.js';
import { memoryUnits } from './steps/memory.js';
import { clockDefault, defaultBootDevice, lifecycleDefaults, machineType } from './steps/os.js';
import { pciAddresses } from './steps/pci-addresses.js';
import { dropUnknown } from './steps/unknown.js';
import { vcpuPlacement } from './steps/vcpu.js';

/** In libvirt's order: generic post-parse, QEMU post-parse, then address assignment. */
export const POST_PARSE_STEPS: PostParseStep[] = [
  dropUnknown,
  memoryUnits,
  vcpuPlacement,
  machineType,
  defaultBootDevice,
  lifecycleDefaults,
  clockDefault,
  defaultCpuModel,
  diskDefaults,
  diskOrder,
  implicitControllers,
  implicitInputs,
  implicitAudio,
  implicitMemballoon,
  driveAddresses,
  pciAddresses,
];
