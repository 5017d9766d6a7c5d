import { PheromonesError } from '../errors.js';

/**
 * NAT-PMP (RFC 6886) messages: version 0, big-endian, over UDP to the
 * gateway's port 5351. Only what a node needs: the external address, and a
 * TCP mapping (lifetime 0 deletes it).
 */

export const PMP_PORT = 5351;
const VERSION = 0;
const OP_EXTERNAL_ADDRESS = 0;
const OP_MAP_TCP = 2;
/** Responses carry the request's opcode plus 128. */
const RESPONSE_BIT = 128;

/** Result codes of RFC 6886 section 3.5. */
export const PMP_RESULTS: Record<number, string> = {
  0: 'success',
  1: 'unsupported version',
  2: 'not authorized or refused (NAT-PMP may be turned off on the gateway)',
  3: 'network failure (the gateway has no external address yet)',
  4: 'out of resources (the gateway has no free ports or mappings)',
  5: 'unsupported opcode',
};

export interface PmpExternalAddress {
  /** Seconds since the gateway's port-mapping table was (re)initialised. */
  epoch: number;
  /** Dotted IPv4 address; "0.0.0.0" when the gateway has none yet. */
  address: string;
}

export interface PmpMapping {
  epoch: number;
  internalPort: number;
  externalPort: number;
  /** Seconds the gateway grants; 0 in the answer to a delete. */
  lifetimeS: number;
}

export function encodeExternalAddressRequest(): Buffer {
  return Buffer.from([VERSION, OP_EXTERNAL_ADDRESS]);
}

/** A TCP mapping request; `lifetimeS` 0 with `externalPort` 0 deletes the mapping of `internalPort`. */
export function encodeMapRequest(internalPort: number, externalPort: number, lifetimeS: number): Buffer {
  checkPort(internalPort, 'internal port', false);
  checkPort(externalPort, 'suggested external port', true);
  if (!Number.isInteger(lifetimeS) || lifetimeS < 0 || lifetimeS > 0xffff_ffff) {
    throw new PheromonesError('invalid-argument', `NAT-PMP lifetime ${lifetimeS} is not 0-${0xffff_ffff} seconds`);
  }
  const b = Buffer.alloc(12);
  b[0] = VERSION;
  b[1] = OP_MAP_TCP;
  // bytes 2-3 reserved, zero
  b.writeUInt16BE(internalPort, 4);
  b.writeUInt16BE(externalPort, 6);
  b.writeUInt32BE(lifetimeS, 8);
  return b;
}

/** Decode an external-address response; throws a PheromonesError on anything else or a failure result. */
export function decodeExternalAddressResponse(msg: Buffer): PmpExternalAddress {
  checkHeader(msg, OP_EXTERNAL_ADDRESS, 12);
  return { epoch: msg.readUInt32BE(4), address: `${msg[8]}.${msg[9]}.${msg[10]}.${msg[11]}` };
}

export function decodeMapResponse(msg: Buffer): PmpMapping {
  checkHeader(msg, OP_MAP_TCP, 16);
  return { epoch: msg.readUInt32BE(4), internalPort: msg.readUInt16BE(8), externalPort: msg.readUInt16BE(10), lifetimeS: msg.readUInt32BE(12) };
}

/** Which request a datagram answers (its opcode without the response bit), or undefined if it is no response. */
export function responseOpcode(msg: Buffer): number | undefined {
  if (msg.length < 2 || msg[0] !== VERSION || (msg[1] & RESPONSE_BIT) === 0) return undefined;
  return msg[1] & ~RESPONSE_BIT;
}

export const PMP_OPCODES = { externalAddress: OP_EXTERNAL_ADDRESS, mapTcp: OP_MAP_TCP } as const;

function checkHeader(msg: Buffer, op: number, length: number): void {
  if (msg.length < 4) throw new PheromonesError('protocol-violation', `NAT-PMP answer of ${msg.length} bytes`);
  if (msg[0] !== VERSION) throw new PheromonesError('protocol-violation', `NAT-PMP answer of version ${msg[0]}`);
  if (msg[1] !== op + RESPONSE_BIT) throw new PheromonesError('protocol-violation', `NAT-PMP answer with opcode ${msg[1]}, expected ${op + RESPONSE_BIT}`);
  const result = msg.readUInt16BE(2);
  if (result !== 0) {
    throw new PheromonesError('refused', `the gateway refused: NAT-PMP result ${result} (${PMP_RESULTS[result] ?? 'unknown'})`);
  }
  // RFC 6886: a failure answer may be short, a success one may not.
  if (msg.length < length) throw new PheromonesError('protocol-violation', `NAT-PMP answer of ${msg.length} bytes, expected ${length}`);
}

function checkPort(port: number, what: string, zeroAllowed: boolean): void {
  if (!Number.isInteger(port) || port < (zeroAllowed ? 0 : 1) || port > 65535) {
    throw new PheromonesError('invalid-argument', `NAT-PMP ${what} ${port} is out of range`);
  }
}
