// Placeholder declarations: kept lossless through $extra until the family is modelled.
import { element } from '../schema/schema.js';
import { str } from '../schema/value-types.js';

export const interfaceDevice = element({ attrs: { type: str() } });
export const hostdev = element({ attrs: { type: str() } });
export const redirdev = element({ attrs: { type: str() } });
export const redirfilter = element({ attrs: { type: str() } });
export const smartcard = element({ attrs: { type: str() } });
export const hub = element({ attrs: { type: str() } });
