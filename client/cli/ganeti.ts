// `qconf ganeti`: Ganeti's confd request types (plj0) against qconfd or a real ganeti-confd,
// with the same quorum logic, output and exit codes as the other commands. On a Ganeti node it
// needs no flags: Ganeti's key and master candidates are found where Ganeti keeps them.
import { Keyring, readRawKeyFile } from '../../shared/keyring.js';
import { REQUEST_TYPE_NAMES } from '../../shared/plj0/protocol.js';
import { ConfdClient } from '../confd-client.js';
import { Plj0ClientProtocol, plj0Request } from '../ganeti-protocol.js';
import { CliExit, stringOf, usageError } from './args.js';
import { EXIT, finish, formatValue, type Command } from './common.js';
import { peersFrom, portOf, queryFlags } from './connect.js';
import { ganetiDir, ganetiKeyFile, masterCandidates } from './ganeti-node.js';
import { HELP_OPTION, QUERY_TIMEOUT_MS, peerOptions, queryExits } from './spec.js';

const FIELD_CODES: Record<string, number> = { name: 0, ip: 1, mnode_pip: 2 };

function requestType(text: string): number {
  if (/^[0-9]+$/.test(text) && Number(text) <= 11) return Number(text);
  const i = (REQUEST_TYPE_NAMES as readonly string[]).indexOf(text);
  if (i < 0) throw usageError(`unknown request type ${JSON.stringify(text)}; use 0-11 or one of ${REQUEST_TYPE_NAMES.join(', ')}`);
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
        if (code === undefined) throw usageError(`--fields: unknown field ${JSON.stringify(f)} (name, ip, mnode_pip)`);
        return code;
      });
  }
  return Object.keys(q).length > 0 ? q : undefined;
}

export const ganetiCommand: Command = {
  spec: {
    name: 'ganeti',
    summary: "ask Ganeti's confd questions (plj0 request types 0-11) with Ganeti's hmac.key; on a Ganeti node no flags are needed",
    usage: ['TYPE [QUERY] [--link L] [--ip IP] [--ips A,B] [--fields name,ip,mnode_pip] [options]'],
    operands: [
      ['TYPE', `a request type, 0-11 or its name: ${REQUEST_TYPE_NAMES.join(', ')}`],
      ['QUERY', 'the query: a node or instance name, an IP, or a config path (config-query)'],
    ],
    positionals: [1, 2],
    options: [
      { name: 'link', arg: 'L', doc: 'query field: the link (node-pip-by-instance-ip, instances-ips-list)' },
      { name: 'ip', arg: 'IP', doc: 'query field: an instance IP' },
      { name: 'ips', arg: 'A,B', doc: 'query field: several instance IPs' },
      { name: 'fields', arg: 'F,…', doc: 'query field: cluster-master fields (name, ip, mnode_pip)' },
      ...peerOptions({ timeoutMs: QUERY_TIMEOUT_MS, json: 'print the whole quorum result as JSON', seal: false }).map((o) =>
        o.name === 'peers'
          ? { ...o, defaultText: "the master candidates in Ganeti's ssconf_master_candidates_ips" }
          : o.name === 'key-file'
            ? { ...o, env: 'QCONF_GANETI_KEY_FILE', doc: "Ganeti's hmac.key (read raw)", defaultText: '/var/lib/ganeti/hmac.key when it exists' }
            : o,
      ),
      HELP_OPTION,
    ],
    exits: queryExits('a quorum answered; the answer is printed', "a quorum answered that there is no such entry (Ganeti's unknown entry, or not found)", {
      code: EXIT.FAILURE,
      when: 'no daemon answered, the key file was refused, or another error answer (an argument error, …)',
    }),
    examples: [
      'qconf ganeti cluster-master                     # on a Ganeti node: its hmac.key and master candidates',
      'qconf ganeti node-role node1.example.com --coverage all',
      'qconf ganeti node-pip-by-instance-ip --ip 192.0.2.10 --link br0',
      'qconf ganeti cluster-master --fields name,ip,mnode_pip',
      'qconf ganeti config-query /cluster/cluster_name',
    ],
  },
  run: async (p, io) => {
    const type = requestType(p.positionals[0]);
    const dict = dictQuery(p.values);
    if (dict && p.positionals.length > 1) throw usageError('give either QUERY or --link/--ip/--ips/--fields, not both');
    const query = dict ?? (p.positionals.length > 1 ? p.positionals[1] : undefined);
    const f = queryFlags(p);
    const peers = await peersFrom(p, io, { list: () => masterCandidates(io.env), missing: `and ${ganetiDir(io.env)}/ssconf_master_candidates_ips does not exist` });
    const keyFile = stringOf(p, 'key-file') ?? ganetiKeyFile(io.env);
    if (!keyFile) throw usageError(`no key file: give --key-file (Ganeti's hmac.key) or set QCONF_GANETI_KEY_FILE; ${ganetiDir(io.env)}/hmac.key does not exist`);
    let key: Buffer;
    try {
      const k = readRawKeyFile(keyFile);
      for (const w of k.warnings) io.err(`qconf: warning: ${w}\n`);
      key = k.key;
    } catch (e) {
      throw new CliExit(EXIT.FAILURE, (e as Error).message);
    }
    // The keyring is unused: the plj0 protocol signs with Ganeti's key.
    const client = new ConfdClient({ keyring: Keyring.fromStrings(['0'.repeat(16)]), peers, port: portOf(p), protocol: new Plj0ClientProtocol(key) });
    try {
      const r = await client.query(plj0Request(type, query), f);
      return finish(r, f.json, io, (a) => io.out(formatValue(a, io) + '\n'));
    } finally {
      client.close();
    }
  },
};
