// Placeholder declarations: kept lossless through $extra until the family is modelled.
import { element } from '../schema/schema.js';
import { str } from '../schema/value-types.js';

export const controller = element({ attrs: { type: str() } });
export const input = element({ attrs: { type: str() } });
export const tpm = element({ attrs: { type: str() } });
export const graphics = element({ attrs: { type: str() } });
export const sound = element({ attrs: { type: str() } });
export const audio = element({ attrs: { type: str() } });
export const video = element({ attrs: { type: str() } });
export const watchdog = element({ attrs: { type: str() } });
export const memballoon = element({ attrs: { type: str() } });
export const rng = element({ attrs: { type: str() } });
export const nvram = element({ attrs: { type: str() } });
export const panic = element({ attrs: { type: str() } });
export const shmem = element({ attrs: { type: str() } });
export const memory = element({ attrs: { type: str() } });
export const iommu = element({ attrs: { type: str() } });
export const vsock = element({ attrs: { type: str() } });
