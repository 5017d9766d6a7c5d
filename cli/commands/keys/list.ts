import { listKeys } from '../../../src/crypto/keystore.js';
import { keystoreFlag, KeystoreCommand, keyView, type KeyView } from '../../keystore-command.js';

export default class KeysList extends KeystoreCommand {
  static override summary = 'List the keys in the keystore (names and addresses; no passphrase needed).';
  static override examples = ['<%= config.bin %> keys list', '<%= config.bin %> keys list --json'];
  static override flags = {
    keystore: keystoreFlag,
  };

  async run(): Promise<{ keystore: string; keys: KeyView[] }> {
    const { flags } = await this.parse(KeysList);
    const dir = this.keystoreDir(flags.keystore);
    const keys = (await listKeys(dir)).map(keyView);
    if (keys.length === 0) {
      this.note(`no keys in ${dir} (create one with 'pheromones keys generate --name <name>')`);
    } else {
      const width = Math.max(...keys.map((k) => k.name.length));
      for (const k of keys) this.log(`${k.name.padEnd(width)}  ${k.address}${k.insecure ? '  (no passphrase)' : ''}`);
    }
    return { keystore: dir, keys };
  }
}
