import type { PostParseStep } from './index.js';
import { driveAddresses } from './steps/drive-addresses.js';
import { pciAddresses } from './steps/pci-addresses.js';

/** Address assignment: drive, PCI and the other buses. */
export const ADDRESS_STEPS: PostParseStep[] = [driveAddresses, pciAddresses];
