import { Flags } from '@oclif/core';
import { importKey, parseSecretKeyHex } from '../../../src/crypto/keystore.js';
import { PheromonesError } from '../../../src/errors.js';
import {
  insecureFlag,
  KeystoreCommand,
  keystoreDir,
  keystoreFlag,
  keyView,
  passwordFileFlag,
  readFirstLine,
  readPassphrase,
} from '../../keystore-command.js';
import { canPrompt, promptHidden } from '../../terminal-prompt.js';

export default class KeysImport extends KeystoreCommand {
  static override summary = 'Store an existing secret key in the keystore, encrypted with a passphrase.';
  static override description =
    'The secret (64 hex characters) is read from --secret-file or typed at a hidden prompt; ' +
    'never from a command-line argument, which would end up in shell history.';
  static override examples = [
    '<%= config.bin %> keys import --name alice',
    '<%= config.bin %> keys import --name alice --secret-file ./alice.hex --password-file ./alice.pass',
  ];
  static override flags = {
    name: Flags.string({ description: 'name for the imported key (letters, digits, _ and -)', required: true }),
    'secret-file': Flags.string({ description: 'read the secret key (hex) from the first line of this file', helpValue: '<file>' }),
    keystore: keystoreFlag,
    'password-file': passwordFileFlag,
    'insecure-no-password': insecureFlag,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(KeysImport);
    const dir = keystoreDir(flags.keystore);
    let secretText: string;
    if (flags['secret-file'] !== undefined) {
      secretText = await readFirstLine(flags['secret-file'], 'secret file');
    } else if (canPrompt()) {
      secretText = await promptHidden('Secret key (64 hex characters): ');
    } else {
      throw new PheromonesError('failed-precondition', 'no secret key: use --secret-file <file> (no terminal to prompt on)');
    }
    const secret = parseSecretKeyHex(secretText);
    try {
      const insecure = flags['insecure-no-password'];
      const passphrase = insecure
        ? ''
        : await readPassphrase({ passwordFile: flags['password-file'], keyName: flags.name, isNew: true });
      if (insecure) this.note(`warning: key ${flags.name} is stored without a passphrase`);
      const view = keyView(await importKey(dir, flags.name, secret, passphrase, { insecure }));
      this.emit(flags.json, view, () => [
        ['name', view.name],
        ['address', view.address],
      ]);
    } finally {
      secret.fill(0);
    }
  }
}
