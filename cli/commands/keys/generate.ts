import { Flags } from '@oclif/core';
import { createKey } from '../../../src/crypto/keystore.js';
import {
  insecureFlag,
  KeystoreCommand,
  keystoreDir,
  keystoreFlag,
  keyView,
  passwordFileFlag,
  readPassphrase,
} from '../../keystore-command.js';

export default class KeysGenerate extends KeystoreCommand {
  static override summary = 'Create a new secp256k1 key pair in the keystore, encrypted with a passphrase.';
  static override description =
    'The secret key is sealed with AES-256-GCM under a scrypt-derived key and never leaves this machine; ' +
    'the command prints the key name and its address. Format: docs/keys.md.';
  static override examples = [
    '<%= config.bin %> keys generate --name alice',
    '<%= config.bin %> keys generate --name bot --password-file ./bot.pass --keystore ./keys',
  ];
  static override flags = {
    name: Flags.string({ description: 'name of the new key (letters, digits, _ and -)', default: 'default' }),
    keystore: keystoreFlag,
    'password-file': passwordFileFlag,
    'insecure-no-password': insecureFlag,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(KeysGenerate);
    const dir = keystoreDir(flags.keystore);
    const insecure = flags['insecure-no-password'];
    const passphrase = insecure
      ? ''
      : await readPassphrase({ passwordFile: flags['password-file'], keyName: flags.name, isNew: true });
    if (insecure) this.note(`warning: key ${flags.name} is stored without a passphrase`);
    const view = keyView(await createKey(dir, flags.name, passphrase, { insecure }));
    this.emit(flags.json, view, () => [
      ['name', view.name],
      ['address', view.address],
    ]);
  }
}
