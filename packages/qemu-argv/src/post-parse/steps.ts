import { ADDRESS_STEPS } from './address-steps.js';
import { DEVICE_STEPS } from './device-steps.js';
import { GENERAL_STEPS } from './general-steps.js';
import type { PostParseStep } from './index.js';
import { LATE_VALIDATE_STEPS, PARSE_VALIDATE_STEPS, POSTPARSE_VALIDATE_STEPS } from './validate-steps.js';

/**
 * In libvirt's order: the parser's own normalising and checks, device post-parse and its checks,
 * address assignment, then the define-time validation that needs addresses.
 */
export const POST_PARSE_STEPS: PostParseStep[] = [
  ...GENERAL_STEPS,
  ...PARSE_VALIDATE_STEPS,
  ...DEVICE_STEPS,
  ...POSTPARSE_VALIDATE_STEPS,
  ...ADDRESS_STEPS,
  ...LATE_VALIDATE_STEPS,
];
