/**
 * Constants of libvirt's RPC layer (src/rpc/virnetprotocol.x, virkeepaliveprotocol.x,
 * src/remote/remote_protocol.x).
 */

/** Message types (virNetMessageType). */
export const MessageType = {
  CALL: 0,
  REPLY: 1,
  MESSAGE: 2,
  STREAM: 3,
  CALL_WITH_FDS: 4,
  REPLY_WITH_FDS: 5,
  STREAM_HOLE: 6,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** Message status (virNetMessageStatus). */
export const MessageStatus = {
  OK: 0,
  ERROR: 1,
  CONTINUE: 2,
} as const;
export type MessageStatus = (typeof MessageStatus)[keyof typeof MessageStatus];

/** Bytes of the length word that starts every packet; the length counts itself. */
export const MESSAGE_LEN_MAX = 4;
/** The header: six 4-byte fields. */
export const MESSAGE_HEADER_MAX = 24;
/** Largest packet after the length word (VIR_NET_MESSAGE_MAX, 32 MiB in libvirt 9). */
export const MESSAGE_MAX = 33554432;
/** Largest payload (VIR_NET_MESSAGE_PAYLOAD_MAX). */
export const MESSAGE_PAYLOAD_MAX = MESSAGE_MAX - MESSAGE_HEADER_MAX;
/** Longest string in a message (VIR_NET_MESSAGE_STRING_MAX, 4 MiB). */
export const MESSAGE_STRING_MAX = 4194304;
/** A UUID on the wire: 16 raw bytes (VIR_UUID_BUFLEN). */
export const UUID_BUFLEN = 16;

/** The REMOTE program (remote_protocol.x). */
export const REMOTE_PROGRAM = 0x20008086;
export const REMOTE_PROTOCOL_VERSION = 1;

/** The keepalive program (virkeepaliveprotocol.x). */
export const KEEPALIVE_PROGRAM = 0x6b656570;
export const KEEPALIVE_PROTOCOL_VERSION = 1;
export const KeepaliveProc = {
  PING: 1,
  PONG: 2,
} as const;

/** Limits from remote_protocol.x used by the procedures. */
export const REMOTE_STRING_MAX = 4194304;
export const REMOTE_DOMAIN_LIST_MAX = 16384;
export const REMOTE_AUTH_TYPE_LIST_MAX = 20;
export const REMOTE_SECURITY_MODEL_MAX = 257;
export const REMOTE_SECURITY_DOI_MAX = 257;
export const REMOTE_SECURITY_LABEL_MAX = 4097;
export const REMOTE_SECURITY_LABEL_LIST_MAX = 64;
export const REMOTE_CONNECT_IDENTITY_PARAMS_MAX = 20;

/** remote_auth_type. */
export const AuthType = {
  NONE: 0,
  SASL: 1,
  POLKIT: 2,
} as const;
