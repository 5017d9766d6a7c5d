/**
 * A node's long-term identity. The node id is sha256 of the 33-byte
 * compressed public key (docs/protocol.md), shown as lowercase hex.
 */
export interface NodeIdentity {
  /** 32-byte secp256k1 secret scalar. */
  readonly privateKey: Uint8Array;
  /** 33-byte compressed SEC1 public key. */
  readonly publicKey: Uint8Array;
  /** 32-byte node id. */
  readonly nodeId: Uint8Array;
  /** The node id as 64 lowercase hex characters. */
  readonly nodeIdHex: string;
}
