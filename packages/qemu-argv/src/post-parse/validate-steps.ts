import type { PostParseStep } from './index.js';

/** libvirt's define-time validation (virDomainDefValidate and qemuValidateDomainDef). */
export const VALIDATE_STEPS: PostParseStep[] = [];
