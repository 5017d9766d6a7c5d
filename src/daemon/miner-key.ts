import { isValidPublicKey } from '../crypto/secp256k1.js';
import { defaultKeystoreDir, findKey } from '../crypto/keystore.js';
import { PheromonesError } from '../errors.js';

/**
 * --miner-key: a 66-hex compressed public key, or the name or address of a
 * key in the keystore, whose public key is read without unlocking it (the
 * daemon never needs the secret: mined blocks only name the key).
 */
export async function resolveMinerKey(text: string, keystoreDir = process.env.PHEROMONES_KEYSTORE || defaultKeystoreDir()): Promise<Uint8Array> {
  if (/^[0-9a-fA-F]{66}$/.test(text)) {
    const key = Buffer.from(text, 'hex');
    if (!isValidPublicKey(key)) throw new PheromonesError('invalid-argument', `--miner-key: ${text} is not a secp256k1 public key`);
    return new Uint8Array(key);
  }
  try {
    return (await findKey(keystoreDir, text)).publicKey;
  } catch (err) {
    throw new PheromonesError('invalid-argument', `--miner-key: ${(err as Error).message} (give a 66-hex public key, or a key name or address in ${keystoreDir})`);
  }
}
