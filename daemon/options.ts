// qconfd's command line: every flag also read from QCONFD_<FLAG> (dashes as underscores).
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { QconfError } from '../shared/errors.js';
import { DEFAULT_PORT } from '../shared/peers.js';

export interface DaemonOptions {
  file?: string;
  keyFile?: string;
  port: number;
  bind?: string;
  nodeName: string;
  maxSkewMs: number;
  logLevel: string;
  replayCapacity: number;
  maxWaitMs: number;
  maxWaits: number;
  maxWaitsPerSource: number;
  ganetiKeyFile?: string;
  help: boolean;
  version: boolean;
}

interface FlagSpec {
  name: string;
  arg?: string;
  doc: string;
  dflt?: string;
}

export const FLAGS: FlagSpec[] = [
  { name: 'file', arg: 'PATH', doc: 'the JSON document to serve (top-level serial_no required); reloaded on change and on SIGHUP' },
  { name: 'key-file', arg: 'PATH', doc: 'QCF1 keyring: one key per line, the first signs; must not be group/world-writable' },
  { name: 'ganeti-key-file', arg: 'PATH', doc: "also answer Ganeti's confd protocol (plj0), with this raw hmac.key" },
  { name: 'port', arg: 'N', doc: 'UDP port', dflt: String(DEFAULT_PORT) },
  { name: 'bind', arg: 'ADDR', doc: 'address to bind', dflt: ':: (dual-stack), or 0.0.0.0 without IPv6' },
  { name: 'node-name', arg: 'NAME', doc: 'name reported in replies', dflt: 'the host name' },
  { name: 'max-skew', arg: 'SECONDS', doc: 'accepted clock difference of requests', dflt: '60' },
  { name: 'replay-capacity', arg: 'N', doc: 'salts remembered for replay protection', dflt: '1048576' },
  { name: 'max-wait', arg: 'MS', doc: 'longest hold of a wait request', dflt: '30000' },
  { name: 'max-waits', arg: 'N', doc: 'held waits in total', dflt: '10000' },
  { name: 'max-waits-per-source', arg: 'N', doc: 'held waits per client address', dflt: '256' },
  { name: 'log-level', arg: 'LEVEL', doc: 'fatal, error, warn, info, debug or trace', dflt: 'info' },
  { name: 'help', doc: 'print this help' },
  { name: 'version', doc: 'print the version' },
];

export function helpText(): string {
  const lines = [
    'Usage: qconfd --file PATH --key-file PATH [options]',
    '',
    'qconfd answers HMAC-signed UDP queries (QCF1, and optionally Ganeti plj0) from a local',
    'replica of the cluster configuration.',
    '',
    'Options (each also read from the environment as QCONFD_<OPTION>, e.g. QCONFD_KEY_FILE):',
  ];
  for (const f of FLAGS) {
    const left = `  --${f.name}${f.arg ? ' ' + f.arg : ''}`;
    lines.push(`${left.padEnd(34)}${f.doc}${f.dflt ? ` (default: ${f.dflt})` : ''}`);
  }
  lines.push('', 'Signals: SIGHUP reloads the document and key files; SIGTERM/SIGINT stop cleanly (exit 0).');
  return lines.join('\n') + '\n';
}

const LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

function envName(flag: string): string {
  return 'QCONFD_' + flag.toUpperCase().replace(/-/g, '_');
}

function intOption(name: string, text: string, min: number, max: number): number {
  if (!/^[0-9]+$/.test(text)) throw new QconfError('usage', `--${name}: ${JSON.stringify(text)} is not a whole number`);
  const n = Number(text);
  if (n < min || n > max) throw new QconfError('usage', `--${name}: ${n} is out of range (${min} to ${max})`);
  return n;
}

export function parseDaemonOptions(argv: string[], env: NodeJS.ProcessEnv): DaemonOptions {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
  for (const f of FLAGS) options[f.name] = { type: f.arg ? 'string' : 'boolean' };
  options.help.short = 'h';
  let values: Record<string, string | boolean | undefined>;
  try {
    const parsed = parseArgs({ args: argv, options, allowPositionals: false, strict: true });
    values = parsed.values as Record<string, string | boolean | undefined>;
  } catch (e) {
    throw new QconfError('usage', (e as Error).message);
  }
  const get = (name: string): string | undefined => {
    const v = values[name];
    if (typeof v === 'string') return v;
    const e = env[envName(name)];
    return e === undefined || e === '' ? undefined : e;
  };
  const logLevel = get('log-level') ?? 'info';
  if (!LEVELS.has(logLevel)) throw new QconfError('usage', `--log-level: unknown level ${JSON.stringify(logLevel)}`);
  return {
    file: get('file'),
    keyFile: get('key-file'),
    ganetiKeyFile: get('ganeti-key-file'),
    port: intOption('port', get('port') ?? String(DEFAULT_PORT), 0, 65535),
    bind: get('bind'),
    nodeName: get('node-name') ?? hostname(),
    maxSkewMs: intOption('max-skew', get('max-skew') ?? '60', 1, 86_400) * 1000,
    replayCapacity: intOption('replay-capacity', get('replay-capacity') ?? '1048576', 1024, 100_000_000),
    maxWaitMs: intOption('max-wait', get('max-wait') ?? '30000', 1, 3_600_000),
    maxWaits: intOption('max-waits', get('max-waits') ?? '10000', 0, 1_000_000),
    maxWaitsPerSource: intOption('max-waits-per-source', get('max-waits-per-source') ?? '256', 0, 1_000_000),
    logLevel,
    help: values.help === true,
    version: values.version === true,
  };
}
