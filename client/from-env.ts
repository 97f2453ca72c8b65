// ConfdClient.fromEnv's configuration: the variables qconf reads (QCONF_PEERS, QCONF_KEY_FILE,
// QCONF_PORT, QCONF_TRUST_KEY, QCONF_SEAL), each overridden by the caller's options.
import { QconfError } from '../shared/errors.js';
import { loadKeyring } from '../shared/keyring.js';
import { loadTrustKeys } from '../shared/signing.js';
import { YES_NO_WORDS, yesNo } from '../shared/yes-no.js';
import type { ConfdClientOptions } from './client-options.js';

/** The options `fromEnv` makes a client with (see ConfdClient.fromEnv). */
export function optionsFromEnv(opts: Partial<ConfdClientOptions> & { env?: NodeJS.ProcessEnv }): ConfdClientOptions {
    const env = opts.env ?? process.env;
    const peers = opts.peers ?? env.QCONF_PEERS;
    if (peers === undefined || peers === '' || (Array.isArray(peers) && peers.length === 0)) throw new QconfError('usage', 'no peers: set QCONF_PEERS (or give peers)');
    let keyring = opts.keyring;
    if (keyring === undefined) {
      const keyFile = env.QCONF_KEY_FILE;
      if (!keyFile) throw new QconfError('usage', 'no key file: set QCONF_KEY_FILE (or give a keyring)');
      const loaded = loadKeyring(keyFile);
      // Through the caller's logger, else as a process warning (printed by Node unless silenced).
      for (const w of loaded.warnings) {
        if (opts.logger?.warn) opts.logger.warn({ event: 'key_file_warning', keyFile }, w);
        else process.emitWarning(w, { code: 'QCONF_KEY_FILE' });
      }
      keyring = loaded.keyring;
    }
    const trustFile = env.QCONF_TRUST_KEY;
    const trustKeys = opts.trustKeys ?? (trustFile ? loadTrustKeys(trustFile) : undefined);
    let port = opts.port;
    if (port === undefined && env.QCONF_PORT) {
      port = Number(env.QCONF_PORT);
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new QconfError('usage', `QCONF_PORT: ${JSON.stringify(env.QCONF_PORT)} is not a port number`);
    }
    const seal = opts.seal ?? (env.QCONF_SEAL === undefined ? undefined : yesNo(env.QCONF_SEAL));
    if (seal === undefined && env.QCONF_SEAL !== undefined) throw new QconfError('usage', `QCONF_SEAL: ${JSON.stringify(env.QCONF_SEAL)} is neither ${YES_NO_WORDS}`);
    return { ...opts, peers, keyring, port, trustKeys, seal };
}
