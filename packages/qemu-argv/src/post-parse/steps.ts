import { ADDRESS_STEPS } from './address-steps.js';
import { DEVICE_STEPS } from './device-steps.js';
import { GENERAL_STEPS } from './general-steps.js';
import type { PostParseStep } from './index.js';
import { VALIDATE_STEPS } from './validate-steps.js';

/** In libvirt's order: generic and QEMU post-parse, address assignment, then validation. */
export const POST_PARSE_STEPS: PostParseStep[] = [
  ...GENERAL_STEPS,
  ...DEVICE_STEPS,
  ...ADDRESS_STEPS,
  ...VALIDATE_STEPS,
];
