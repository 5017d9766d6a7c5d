export * from './limits.js';
export * from './errors.js';
export * from './envelope.js';
export * from './plain-frame.js';
export * from './sealed-record.js';
export { ByteQueue } from './byte-queue.js';
