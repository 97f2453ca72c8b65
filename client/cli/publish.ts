// qconf publish: load a whole JSON document into an etcd prefix or a file replica and print
// the serial the daemons will report, for `qconf wait --serial N`.
import { readFileSync } from 'node:fs';
import { parseEndpoints, validatePrefix, type EtcdConnection } from '../../shared/etcd-connection.js';
import { QconfError } from '../../shared/errors.js';
import { CliExit, EXIT, parse, type Command } from './common.js';
import { publishToEtcd, publishToFile } from './publish-to.js';

export const publishCommand: Command = {
  summary: 'publish a whole JSON document to an etcd prefix (one transaction) or a file replica (atomic, serial bumped); prints the serial',
  usage: 'qconf publish FILE (--etcd ENDPOINTS --etcd-prefix PREFIX [--etcd-ca F --etcd-cert F --etcd-key F --etcd-user U --etcd-password-file F] | --to PATH)',
  examples: [
    'serial=$(qconf publish cluster.json --etcd http://10.0.0.1:2379 --etcd-prefix /qconf/prod) && qconf wait --serial "$serial"',
    'qconf publish cluster.json --to /etc/qconf/cluster.json',
  ],
  run: async (args, io) => {
    const p = parse(args, {
      etcd: { type: 'string' },
      'etcd-prefix': { type: 'string' },
      'etcd-ca': { type: 'string' },
      'etcd-cert': { type: 'string' },
      'etcd-key': { type: 'string' },
      'etcd-user': { type: 'string' },
      'etcd-password-file': { type: 'string' },
      to: { type: 'string' },
    });
    if (p.positionals.length !== 1) throw new CliExit(EXIT.USAGE, `usage: ${publishCommand.usage}`);
    const v = p.values as Record<string, string | undefined>;
    if (!!v.etcd === !!v.to) throw new CliExit(EXIT.USAGE, 'give either --etcd ENDPOINTS --etcd-prefix PREFIX or --to PATH');
    const file = p.positionals[0];
    // Flags first: a usage error is reported before any file is read.
    let conn: EtcdConnection | undefined;
    try {
      if (v.etcd) {
        conn = {
          endpoints: parseEndpoints(v.etcd),
          prefix: validatePrefix(v['etcd-prefix']),
          caFile: v['etcd-ca'],
          certFile: v['etcd-cert'],
          keyFile: v['etcd-key'],
          user: v['etcd-user'],
          passwordFile: v['etcd-password-file'],
        };
      }
    } catch (e) {
      throw new CliExit(EXIT.USAGE, (e as Error).message);
    }
    let doc: unknown;
    try {
      doc = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new CliExit(EXIT.FAILURE, `${file}: ${(e as NodeJS.ErrnoException).code ? `cannot be read (${(e as NodeJS.ErrnoException).code})` : `not valid JSON (${(e as Error).message})`}`);
    }
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new CliExit(EXIT.FAILURE, `${file}: the document must be a JSON object`);
    try {
      const r = conn ? await publishToEtcd(conn, doc as Record<string, unknown>) : publishToFile(v.to as string, doc as Record<string, unknown>);
      if (r.changed === 0) io.err('qconf: nothing changed\n');
      io.out(`${r.serial}\n`);
      return EXIT.OK;
    } catch (e) {
      if (e instanceof QconfError && e.code === 'usage') throw new CliExit(EXIT.USAGE, e.message);
      throw new CliExit(EXIT.FAILURE, (e as Error).message);
    }
  },
};
