// Placeholder declarations: kept lossless through $extra until the family is modelled.
import { element } from '../schema/schema.js';
import { str } from '../schema/value-types.js';

export const disk = element({ attrs: { type: str() } });
export const filesystem = element({ attrs: { type: str() } });
export const lease = element({ attrs: { type: str() } });
