export * from './types.js';
export { dialSecure } from './dial.js';
export { listenSecure, acceptSecure, type SecureListener, type SecureListenerHandlers } from './listen.js';
export {
  HandshakeError,
  PROTOCOL_VERSION,
  SUPPORTED_PROTOCOL_VERSIONS,
  disconnectEnvelope,
} from './handshake.js';
export { DRAIN_LOW_WATER } from './secure-connection.js';
