export * from './constants.js';
export * from './error.js';
export { FramingError, PacketFramer } from './framer.js';
export {
  decodePacket,
  encodePacket,
  type MessageHeader,
  type Packet,
  readHeader,
  writeHeader,
} from './header.js';
