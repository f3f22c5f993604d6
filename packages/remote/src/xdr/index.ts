export {
  XDR_DECODE_PAYLOAD_ERROR,
  XDR_ENCODE_PAYLOAD_ERROR,
  XDR_UNBOUNDED,
  XdrError,
  type XdrOp,
  XdrReader,
  XdrWriter,
} from './xdr.js';
