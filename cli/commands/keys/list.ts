import { listKeys } from '../../../src/crypto/keystore.js';
import { KeystoreCommand, keystoreDir, keystoreFlag, keyView, type KeyView } from '../../keystore-command.js';

export default class KeysList extends KeystoreCommand {
  static override summary = 'List the keys in the keystore (names and addresses; no passphrase needed).';
  static override examples = ['<%= config.bin %> keys list', '<%= config.bin %> keys list --json'];
  static override flags = {
    keystore: keystoreFlag,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(KeysList);
    const dir = keystoreDir(flags.keystore);
    const keys = (await listKeys(dir)).map(keyView);
    if (keys.length === 0 && !flags.json) {
      this.note(`no keys in ${dir} (create one with 'pheromones keys generate --name <name>')`);
    }
    this.emit(flags.json, { keystore: dir, keys } satisfies { keystore: string; keys: KeyView[] }, () =>
      keys.map((k) => [k.name, `${k.address}${k.insecure ? '  (no passphrase)' : ''}`]),
    );
  }
}
