// qconf publish: load a whole JSON document into an etcd prefix or file replicas and print the
// serial the daemons will report, for `qconf wait --serial N`. For files, that serial is above
// what the targets hold and what the daemons serve, which are asked first (or --offline).
import { ETCD_CONNECTION_FLAGS, parseEndpoints, validatePrefix, type EtcdConnection } from '../../shared/etcd-connection.js';
import { QconfError } from '../../shared/errors.js';
import { ConfdClient } from '../confd-client.js';
import { CliExit, numberOption, stringOf, usageError, type Parsed } from './args.js';
import { EXIT, type Command, type Io } from './common.js';
import { keyringFrom, portOf, resolvePeers, sealFrom } from './connect.js';
import { readDocument } from './document-file.js';
import { askEach } from './each-daemon.js';
import { PublishError, publishToEtcd, publishToFiles } from './publish-to.js';
import { SIGN_OPTIONS, signerFrom } from './sign.js';
import { EXITS, HELP_OPTION, QUERY_TIMEOUT_MS, peerOptions } from './spec.js';

const ETCD_FLAGS = ETCD_CONNECTION_FLAGS.map((f) => f.name);
const FILE_FLAGS = ['offline', 'peers', 'key-file'];

function etcdConnection(p: Parsed): EtcdConnection {
  const v = (name: string) => stringOf(p, name);
  try {
    return {
      endpoints: parseEndpoints(v('etcd') as string),
      prefix: validatePrefix(v('etcd-prefix')),
      caFile: v('etcd-ca'),
      certFile: v('etcd-cert'),
      keyFile: v('etcd-key'),
      user: v('etcd-user'),
      passwordFile: v('etcd-password-file'),
    };
  } catch (e) {
    throw usageError((e as Error).message);
  }
}

/**
 * The newest serial the daemons serve (--peers, else the local daemon on 127.0.0.1): the file
 * replicas' new serial must be above it. -1 with --offline. None answering is a failure.
 */
async function servedSerial(p: Parsed, io: Io, seal: boolean): Promise<number> {
  if (p.values.offline === true) return -1;
  const list = stringOf(p, 'peers') ?? '127.0.0.1';
  if (stringOf(p, 'key-file') === undefined) {
    throw usageError('publish --to asks the daemons which serial they serve, to publish above it: give --key-file (or set QCONF_KEY_FILE), or --offline when no daemon serves these files yet');
  }
  const peers = await resolvePeers(list, portOf(p), io);
  const client = new ConfdClient({ keyring: keyringFrom(p, io), peers, port: portOf(p), seal });
  try {
    const { daemons } = await askEach(client, { op: 'ping' }, { coverage: -1, timeoutMs: numberOption(p, 'timeout', 1) });
    const answered = daemons.filter((d) => d.reply !== undefined);
    if (answered.length === 0) {
      throw new CliExit(
        EXIT.FAILURE,
        `no daemon answered (${daemons.map((d) => d.peer).join(', ')}) to say which serial it serves, so no serial above it can be chosen: start it, check --peers and --key-file, or give --offline when no daemon serves these files yet`,
      );
    }
    for (const d of daemons) if (d.reply === undefined) io.err(`qconf: warning: no answer from ${d.peer}; its serial is not known\n`);
    return Math.max(...answered.map((d) => d.reply?.serial ?? 0));
  } finally {
    client.close();
  }
}

export const publishCommand: Command = {
  spec: {
    name: 'publish',
    summary: 'publish a whole JSON document to an etcd prefix (one transaction) or file replicas (atomic, one serial above what they hold and the daemons serve); prints the serial',
    usage: ['FILE --to PATH [--to PATH…] [--peers LIST | --offline] [options]', 'FILE --etcd ENDPOINTS --etcd-prefix PREFIX [--etcd-ca PATH --etcd-cert PATH --etcd-key PATH --etcd-user NAME --etcd-password-file PATH]'],
    operands: [['FILE', 'the JSON document (an object; "-" reads standard input); serial_no, if any, a whole number']],
    positionals: [1, 1],
    options: [
      { name: 'to', arg: 'PATH', multiple: true, doc: 'replace this file replica atomically; several get one serial' },
      { name: 'offline', doc: 'with --to: do not ask any daemon what it serves (only when none serves these files yet)' },
      ...peerOptions({ timeoutMs: QUERY_TIMEOUT_MS, timeoutDoc: 'how long to wait for the daemons asked', strict: false }).filter((o) => o.name !== 'coverage').map((o) =>
        o.name === 'peers' ? { ...o, doc: 'with --to: the daemons whose serial the new one must be above', defaultText: 'the local daemon, 127.0.0.1' } : o,
      ),
      { name: 'etcd', arg: 'ENDPOINTS', doc: 'publish to etcd instead: comma-separated http(s):// client URLs' },
      ...ETCD_CONNECTION_FLAGS,
      ...SIGN_OPTIONS,
      HELP_OPTION,
    ],
    exits: [
      { code: EXIT.OK, when: 'published; the serial is printed (the daemons report it once they load it)' },
      EXITS.usage,
      {
        code: EXIT.FAILURE,
        when: 'nothing was published: the document (unreadable, not JSON, serial_no not a whole number), a target (a directory, in a missing directory, not writable), no daemon answered to say its serial, or etcd failed',
      },
    ],
    examples: [
      'serial=$(qconf publish cluster.json --to /var/lib/qconf/cluster.json --peers 127.0.0.1) && qconf wait --serial "$serial" --peers 127.0.0.1',
      'generate-config | qconf publish - --to /srv/node1/cluster.json --to /srv/node2/cluster.json --peers node1,node2',
      'serial=$(qconf publish cluster.json --etcd http://10.0.0.1:2379 --etcd-prefix /qconf/prod) && qconf wait --serial "$serial"',
    ],
  },
  run: async (p, io) => {
    const to = (p.values.to as string[] | undefined) ?? [];
    const etcd = stringOf(p, 'etcd') !== undefined;
    if (etcd === (to.length > 0)) throw usageError('give either --to PATH (file replicas) or --etcd ENDPOINTS --etcd-prefix PREFIX');
    const wrong = (etcd ? FILE_FLAGS : ETCD_FLAGS).find((f) => p.from[f] === 'flag');
    if (wrong) throw usageError(`--${wrong} goes with ${etcd ? '--to' : '--etcd'}, not ${etcd ? '--etcd' : '--to'}`);
    // Flags first: a usage error is reported before any file is read or daemon asked.
    const conn = etcd ? etcdConnection(p) : undefined;
    const signer = signerFrom(p);
    const seal = sealFrom(p);
    const doc = readDocument(p.positionals[0]);
    try {
      const r = conn ? await publishToEtcd(conn, doc, signer?.sign) : await publishToFiles(to, doc, () => servedSerial(p, io, seal), signer?.sign);
      if (r.changed === 0) io.err('qconf: nothing changed\n');
      io.out(`${r.serial}\n`);
      return EXIT.OK;
    } catch (e) {
      if (e instanceof QconfError && e.code === 'usage') throw usageError(e.message);
      if (e instanceof PublishError) throw new CliExit(EXIT.FAILURE, e.message);
      throw e;
    }
  },
};
