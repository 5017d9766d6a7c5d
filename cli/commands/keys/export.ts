import { Args, Flags } from '@oclif/core';
import { exportKey, findKey } from '../../../src/crypto/keystore.js';
import { PheromonesError } from '../../../src/errors.js';
import { KeystoreCommand, keystoreDir, keystoreFlag, passwordFileFlag, readPassphrase } from '../../keystore-command.js';
import { canPrompt, confirm } from '../../terminal-prompt.js';

interface ExportedKey {
  name: string;
  address: string;
  publicKey: string;
  secretKey: string;
}

export default class KeysExport extends KeystoreCommand {
  static override summary = 'Print the secret key of a key in the clear (asks first).';
  static override description =
    'Anyone who sees the printed secret controls the key. The command asks for confirmation, ' +
    'and refuses to write to a pipe or file unless --yes is given.';
  static override examples = ['<%= config.bin %> keys export alice', '<%= config.bin %> keys export alice --yes --password-file ./alice.pass > alice.hex'];
  static override args = {
    key: Args.string({ description: 'key name or address', required: true }),
  };
  static override flags = {
    yes: Flags.boolean({ char: 'y', description: 'do not ask; print the secret even when stdout is not a terminal', default: false }),
    keystore: keystoreFlag,
    'password-file': passwordFileFlag,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(KeysExport);
    const dir = keystoreDir(flags.keystore);
    const info = await findKey(dir, args.key);
    if (!flags.yes) {
      if (!process.stdout.isTTY) {
        throw new PheromonesError('refused', 'refusing to write a secret key to a pipe or file without --yes');
      }
      if (!canPrompt()) throw new PheromonesError('refused', 'refusing to print a secret key without confirmation: pass --yes');
      if (!(await confirm(`Print the secret key of '${info.name}' (${info.address}) in the clear?`))) {
        throw new PheromonesError('refused', 'not confirmed; nothing was printed');
      }
    }
    const passphrase = info.insecure
      ? ''
      : await readPassphrase({ passwordFile: flags['password-file'], keyName: info.name, isNew: false });
    const key = await exportKey(dir, info.address, passphrase);
    const secretKey = Buffer.from(key.secretKey).toString('hex');
    key.secretKey.fill(0);
    const exported: ExportedKey = {
      name: key.name,
      address: key.address,
      publicKey: Buffer.from(key.publicKey).toString('hex'),
      secretKey,
    };
    this.emit(flags.json, exported, () => [['', secretKey]]);
  }
}
