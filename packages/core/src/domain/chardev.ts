// Placeholder declarations: kept lossless through $extra until the family is modelled.
import { element } from '../schema/schema.js';
import { str } from '../schema/value-types.js';

export const serial = element({ attrs: { type: str() } });
export const parallel = element({ attrs: { type: str() } });
export const console = element({ attrs: { type: str() } });
export const channel = element({ attrs: { type: str() } });
