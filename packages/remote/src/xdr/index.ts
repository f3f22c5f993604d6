export { XDR_UNBOUNDED, XdrError, XdrReader, XdrWriter } from './xdr.js';
