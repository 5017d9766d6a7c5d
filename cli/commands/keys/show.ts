import { Args } from '@oclif/core';
import { findKey } from '../../../src/crypto/keystore.js';
import { KeystoreCommand, keystoreDir, keystoreFlag, keyView } from '../../keystore-command.js';

export default class KeysShow extends KeystoreCommand {
  static override summary = 'Show the public key and address of a key (no passphrase needed).';
  static override examples = ['<%= config.bin %> keys show alice', '<%= config.bin %> keys show phm1... --json'];
  static override args = {
    key: Args.string({ description: 'key name or address', required: true }),
  };
  static override flags = {
    keystore: keystoreFlag,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(KeysShow);
    const view = keyView(await findKey(keystoreDir(flags.keystore), args.key));
    this.emit(flags.json, view, () => [
      ['name', view.name],
      ['address', view.address],
      ['public key', view.publicKey],
      ['created', view.createdAt],
      ['protected', view.insecure ? 'no (stored without a passphrase)' : 'yes (scrypt + AES-256-GCM)'],
      ['file', view.path],
    ]);
  }
}
