// `qconf ganeti`: Ganeti's confd request types (plj0) against qconfd or a real ganeti-confd,
// with the same quorum logic, output and exit codes as the other commands.
import { QconfError } from '../../shared/errors.js';
import { Keyring, readRawKeyFile } from '../../shared/keyring.js';
import { DEFAULT_PORT } from '../../shared/peers.js';
import { REQUEST_TYPE_NAMES } from '../../shared/plj0/protocol.js';
import { CliExit, EXIT, commonOptions, finish, formatValue, intArg, parse, str, type Io, type Command } from './common.js';
import { ConfdClient } from '../confd-client.js';
import { Plj0ClientProtocol, plj0Request } from '../ganeti-protocol.js';

const USAGE = 'qconf ganeti TYPE [QUERY] [--link L] [--ip IP] [--ips A,B] [--fields name,ip,mnode_pip] [options]';
const FIELD_CODES: Record<string, number> = { name: 0, ip: 1, mnode_pip: 2 };

function requestType(text: string): number {
  if (/^[0-9]+$/.test(text) && Number(text) <= 11) return Number(text);
  const i = (REQUEST_TYPE_NAMES as readonly string[]).indexOf(text);
  if (i < 0) throw new CliExit(EXIT.USAGE, `unknown request type ${JSON.stringify(text)}; use 0-11 or one of ${REQUEST_TYPE_NAMES.join(', ')}`);
  return i;
}

function dictQuery(values: Record<string, unknown>): Record<string, unknown> | undefined {
  const q: Record<string, unknown> = {};
  if (typeof values.link === 'string') q['0'] = values.link;
  if (typeof values.ip === 'string') q['1'] = values.ip;
  if (typeof values.ips === 'string') q['2'] = values.ips === '' ? [] : values.ips.split(',').map((s) => s.trim());
  if (typeof values.fields === 'string') {
    q['3'] = values.fields
      .split(',')
      .filter((f) => f.trim() !== '')
      .map((f) => {
        const code = FIELD_CODES[f.trim()];
        if (code === undefined) throw new CliExit(EXIT.USAGE, `--fields: unknown field ${JSON.stringify(f)} (name, ip, mnode_pip)`);
        return code;
      });
  }
  return Object.keys(q).length > 0 ? q : undefined;
}

export const ganetiCommand: Command = {
  summary: "ask Ganeti's confd questions (plj0 request types 0-11) with Ganeti's hmac.key",
  usage: USAGE,
  examples: [
    'qconf ganeti cluster-master --key-file /var/lib/ganeti/hmac.key',
    'qconf ganeti node-role node1.example.com --coverage all',
    'qconf ganeti node-pip-by-instance-ip --ip 192.0.2.10 --link br0',
    'qconf ganeti cluster-master --fields name,ip,mnode_pip',
    'qconf ganeti config-query /cluster/cluster_name',
  ],
  run: async (args: string[], io: Io) => {
    const p = parse(args, { link: { type: 'string' }, ip: { type: 'string' }, ips: { type: 'string' }, fields: { type: 'string' } });
    if (p.positionals.length < 1 || p.positionals.length > 2) throw new CliExit(EXIT.USAGE, `usage: ${USAGE}`);
    const type = requestType(p.positionals[0]);
    const dict = dictQuery(p.values);
    if (dict && p.positionals.length > 1) throw new CliExit(EXIT.USAGE, 'give either QUERY or --link/--ip/--ips/--fields, not both');
    const query = dict ?? (p.positionals.length > 1 ? p.positionals[1] : undefined);
    const c = commonOptions(p, io);

    const peers = str(p, 'peers', io, 'QCONF_PEERS');
    if (!peers) throw new CliExit(EXIT.USAGE, 'no peers: give --peers or set QCONF_PEERS');
    const keyFile = str(p, 'key-file', io, 'QCONF_GANETI_KEY_FILE');
    if (!keyFile) throw new CliExit(EXIT.USAGE, "no key file: give --key-file (Ganeti's hmac.key) or set QCONF_GANETI_KEY_FILE");
    const port = intArg(str(p, 'port', io, 'QCONF_PORT') ?? String(DEFAULT_PORT), 'port', 1);
    let key: Buffer;
    try {
      const k = readRawKeyFile(keyFile);
      for (const w of k.warnings) io.err(`qconf: warning: ${w}\n`);
      key = k.key;
    } catch (e) {
      throw new CliExit(EXIT.FAILURE, (e as Error).message);
    }
    let client: ConfdClient;
    try {
      // The keyring is unused: the plj0 protocol signs with Ganeti's key.
      client = new ConfdClient({ keyring: Keyring.fromStrings(['0'.repeat(16)]), peers, port, protocol: new Plj0ClientProtocol(key) });
    } catch (e) {
      if (e instanceof QconfError) throw new CliExit(EXIT.USAGE, e.message);
      throw e;
    }
    try {
      const r = await client.query(plj0Request(type, query), { coverage: c.coverage, strict: c.strict, timeoutMs: c.timeoutMs });
      return finish(r, c, io, (a) => io.out(formatValue(a, io) + '\n'));
    } finally {
      client.close();
    }
  },
};
