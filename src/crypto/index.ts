export * from './identity.js';
export * from './hash.js';
export * from './network.js';
export * from './secp256k1.js';
export * from './handshake-crypto.js';
export * from './record-cipher.js';
