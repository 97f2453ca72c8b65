// qconfd's command line: every flag also read from QCONFD_<FLAG> (dashes as underscores).
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { closest } from '../shared/closest-name.js';
import { QconfError } from '../shared/errors.js';
import { ETCD_CONNECTION_FLAGS, parseEndpoints, validatePrefix, type EtcdConnection } from '../shared/etcd-connection.js';
import { DEFAULT_PORT } from '../shared/peers.js';
import { YES_NO_WORDS, yesNo } from '../shared/yes-no.js';
import { canonicalTo } from './own-addresses.js';
import { DEFAULT_MAX_DOCUMENT_BYTES, MAX_DOCUMENT_BYTES_LIMIT } from './source/document-limits.js';

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
  maxWaitsPerKey: number;
  /** Per-key scopes, ops and rates (--access-file); without it every key has full access. */
  accessFile?: string;
  /** Public keys of the publishers documents must be signed by (--trust-key). */
  trustKeyFile?: string;
  /** ADDR:PORT pairs clients may also reach this daemon at (`to` of their requests). */
  advertise: string[];
  /** --max-document-bytes: larger documents (and etcd replicas) are refused. */
  maxDocumentBytes: number;
  ganetiKeyFile?: string;
  /** The etcd source (instead of --file). */
  etcd?: EtcdConnection;
  /** Where the etcd replica is cached for restarts while etcd is down. */
  cacheDir?: string;
  /** --metrics-listen: serve Prometheus metrics over HTTP here (off when undefined). */
  metricsListen?: { host: string; port: number };
  /** --require-seal: every key must seal its QCF1 requests (docs/protocol.md, "Sealed traffic"). */
  requireSeal: boolean;
  /** --check: validate everything and exit instead of serving. */
  check: boolean;
  help: boolean;
  version: boolean;
}

/** What qconfd says without a key file, started or checked. */
export const KEY_FILE_REQUIRED = '--key-file is required (or QCONFD_KEY_FILE); create one with: qconf keygen --out /etc/qconf/qconf.key';

/** Where each option's value came from (for --check's summary). */
export type OptionSource = 'flag' | 'env' | 'default';

interface FlagSpec {
  name: string;
  arg?: string;
  /** A flag without a value that is also read from its variable, as yes (1, true, yes) or no (0, false, no). */
  fromEnv?: boolean;
  doc: string;
  dflt?: string;
}

export const FLAGS: FlagSpec[] = [
  { name: 'file', arg: 'PATH', doc: 'the JSON document to serve (top-level serial_no required); reloaded on change and on SIGHUP' },
  { name: 'key-file', arg: 'PATH', doc: 'QCF1 keyring: one key per line, the first signs; must not be group/world-writable' },
  { name: 'trust-key', arg: 'PATH', doc: "publishers' Ed25519 public keys (qconf keygen --signing): only documents signed by one of them are served, with proofs for clients to check" },
  { name: 'access-file', arg: 'PATH', doc: 'per-key access (JSON): the paths and ops each key id may use, its rate, whether it must seal; reloaded on change and on SIGHUP', dflt: 'every key has full access' },
  { name: 'ganeti-key-file', arg: 'PATH', doc: "also answer Ganeti's confd protocol (plj0), with this raw hmac.key" },
  { name: 'etcd', arg: 'ENDPOINTS', doc: 'mirror an etcd prefix instead of a file: comma-separated http(s):// client URLs' },
  ...ETCD_CONNECTION_FLAGS,
  { name: 'cache-dir', arg: 'DIR', doc: 'keep a copy of the etcd replica here, served (stale) after a restart while etcd is down' },
  { name: 'port', arg: 'N', doc: 'UDP port', dflt: String(DEFAULT_PORT) },
  { name: 'bind', arg: 'ADDR', doc: 'address to bind', dflt: ':: (dual-stack), or 0.0.0.0 without IPv6' },
  { name: 'advertise', arg: 'ADDR:PORT,…', doc: "addresses clients reach this daemon at besides its own (a NAT's or relay's); requests name their destination, and one naming another is dropped", dflt: 'none' },
  { name: 'node-name', arg: 'NAME', doc: 'name reported in replies', dflt: 'the host name' },
  { name: 'max-skew', arg: 'SECONDS', doc: 'accepted clock difference of requests', dflt: '60' },
  { name: 'replay-capacity', arg: 'N', doc: 'salts remembered for replay protection', dflt: '1048576' },
  { name: 'max-wait', arg: 'MS', doc: 'longest hold of a wait request', dflt: '30000' },
  { name: 'max-waits', arg: 'N', doc: 'held waits in total', dflt: '10000' },
  { name: 'max-waits-per-source', arg: 'N', doc: 'held waits per client address', dflt: '256' },
  { name: 'max-waits-per-key', arg: 'N', doc: 'held waits per client key', dflt: '5000' },
  { name: 'max-document-bytes', arg: 'N', doc: 'refuse a larger document file (or etcd replica); the last good one keeps serving', dflt: String(DEFAULT_MAX_DOCUMENT_BYTES) },
  { name: 'require-seal', fromEnv: true, doc: 'answer unsealed QCF1 requests with the error seal_required: every client must seal (qconf --seal); QCONFD_REQUIRE_SEAL=1 too' },
  { name: 'metrics-listen', arg: 'ADDR:PORT', doc: 'serve Prometheus metrics at http://ADDR:PORT/metrics; a bare PORT means 127.0.0.1:PORT, [v6]:PORT for IPv6', dflt: 'off' },
  { name: 'log-level', arg: 'LEVEL', doc: 'fatal, error, warn, info, debug or trace', dflt: 'info' },
  { name: 'check', doc: 'validate the flags, key files and document (or source), print a summary, exit 0; or name each problem and exit 1' },
  { name: 'help', doc: 'print this help' },
  { name: 'version', doc: 'print the version' },
];

export function helpText(): string {
  const lines = [
    'Usage: qconfd --file PATH --key-file PATH [options]',
    '       qconfd --etcd ENDPOINTS --etcd-prefix PREFIX --key-file PATH [options]',
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
  lines.push(
    '',
    'Signals: SIGHUP reloads the document and key files; SIGTERM/SIGINT stop cleanly (exit 0).',
    'Under systemd (Type=notify) readiness, status, watchdog pings and STOPPING=1 are sent with systemd-notify.',
    'Exit codes: 0 stopped cleanly or --check passed, 1 failure or --check found problems, 2 usage.',
  );
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

/** Parse a --metrics-listen value: PORT, ADDR:PORT or [V6ADDR]:PORT (IP literals only). */
export function parseListen(text: string, flag = 'metrics-listen'): { host: string; port: number } {
  let host = '127.0.0.1';
  let portText = text;
  const v6 = /^\[([^\]]+)\]:([^:]*)$/.exec(text);
  const v4 = /^([^:[\]]+):([^:]*)$/.exec(text);
  if (v6) {
    host = v6[1];
    portText = v6[2];
    if (isIP(host) !== 6) throw new QconfError('usage', `--${flag}: ${JSON.stringify(host)} is not an IPv6 address`);
  } else if (v4) {
    host = v4[1];
    portText = v4[2];
    if (isIP(host) !== 4) throw new QconfError('usage', `--${flag}: ${JSON.stringify(host)} is not an IPv4 address (write IPv6 as [ADDR]:PORT)`);
  } else if (!/^[0-9]+$/.test(text)) {
    throw new QconfError('usage', `--${flag}: ${JSON.stringify(text)} is not PORT, ADDR:PORT or [ADDR]:PORT`);
  }
  return { host, port: intOption(flag, portText, 0, 65535) };
}

export interface ParsedOptions {
  opts: DaemonOptions;
  /** Every bad value, each naming its flag; the option falls back to its default. */
  problems: string[];
  /** The flags whose value was bad (their default stands in). */
  invalid: Set<string>;
  sources: Record<string, OptionSource>;
}

/** node:util's parse errors in qconf's words, with "did you mean" for a mistyped flag. */
function usageMessage(e: Error & { code?: string }): string {
  const flag = /'(-[^' ]+)/.exec(e.message)?.[1];
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
      const near = flag === undefined ? undefined : closest(flag.replace(/^-+/, '').split('=')[0], FLAGS.map((f) => f.name));
      return `unknown option ${flag ?? ''}${near ? `; did you mean --${near}?` : ''}`;
    }
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      const def = FLAGS.find((f) => `--${f.name}` === flag);
      return def?.arg ? `${flag} needs a value: ${flag} ${def.arg}` : `${flag ?? 'this option'} takes no value`;
    }
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected operand ${/'([^']*)'/.exec(e.message)?.[1] ?? ''}: qconfd takes options only (the document is --file PATH)`;
    default:
      return e.message;
  }
}

/**
 * Parse flags and QCONFD_* variables (a flag wins over its variable), collecting every bad
 * value instead of stopping at the first. Unknown flags still throw (usage).
 */
export function parseDaemonOptionsReport(argv: string[], env: NodeJS.ProcessEnv): ParsedOptions {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
  for (const f of FLAGS) options[f.name] = { type: f.arg ? 'string' : 'boolean' };
  options.help.short = 'h';
  let values: Record<string, string | boolean | undefined>;
  try {
    const parsed = parseArgs({ args: argv, options, allowPositionals: false, strict: true });
    values = parsed.values as Record<string, string | boolean | undefined>;
  } catch (e) {
    throw new QconfError('usage', usageMessage(e as Error & { code?: string }));
  }
  const sources: Record<string, OptionSource> = {};
  const get = (name: string): string | undefined => {
    const v = values[name];
    if (typeof v === 'string') {
      sources[name] = 'flag';
      return v;
    }
    const e = env[envName(name)];
    if (e === undefined || e === '') {
      sources[name] = 'default';
      return undefined;
    }
    sources[name] = 'env';
    return e;
  };
  const problems: string[] = [];
  const invalid = new Set<string>();
  // A bad value from the environment (e.g. /etc/default/qconfd) is named by its variable too.
  const problem = (name: string, message: string) => {
    invalid.add(name);
    problems.push(sources[name] === 'env' ? message.replace(`--${name}:`, `--${name} (from ${envName(name)}):`) : message);
  };
  const attempt = <T>(name: string, fallback: T, f: () => T): T => {
    try {
      return f();
    } catch (e) {
      problem(name, (e as Error).message);
      return fallback;
    }
  };
  const int = (name: string, dflt: string, min: number, max: number, fallback: number) =>
    attempt(name, fallback, () => intOption(name, get(name) ?? dflt, min, max));

  let logLevel = get('log-level') ?? 'info';
  if (!LEVELS.has(logLevel)) {
    problem('log-level', `--log-level: unknown level ${JSON.stringify(logLevel)} (fatal, error, warn, info, debug, trace or silent)`);
    logLevel = 'info';
  }
  let bind = get('bind');
  if (bind !== undefined && isIP(bind) === 0) {
    problem('bind', `--bind: ${JSON.stringify(bind)} is not an IP address`);
    bind = undefined;
  }
  const advertise: string[] = [];
  for (const a of (get('advertise') ?? '').split(/[\s,]+/).filter((x) => x !== '')) {
    const c = canonicalTo(a);
    if (c === undefined) problem('advertise', `--advertise: ${JSON.stringify(a)} is not ADDR:PORT or [ADDR]:PORT (an IP address and a port)`);
    else advertise.push(c);
  }
  const metricsText = get('metrics-listen');
  const etcdText = get('etcd');
  let etcd: EtcdConnection | undefined;
  if (etcdText !== undefined) {
    const endpoints = attempt('etcd', undefined, () => parseEndpoints(etcdText));
    const prefix = attempt('etcd-prefix', undefined, () => validatePrefix(get('etcd-prefix')));
    if (endpoints && prefix) {
      etcd = { endpoints, prefix, caFile: get('etcd-ca'), certFile: get('etcd-cert'), keyFile: get('etcd-key'), user: get('etcd-user'), passwordFile: get('etcd-password-file') };
    }
    if (get('file') !== undefined) problem('etcd', '--file and --etcd: give one document source, not both');
  } else {
    for (const f of ['etcd-prefix', 'etcd-ca', 'etcd-cert', 'etcd-key', 'etcd-user', 'etcd-password-file', 'cache-dir']) {
      if (get(f) !== undefined) problem(f, `--${f}: only meaningful with --etcd`);
    }
  }
  /** A flag without a value: given, or its variable saying yes. */
  const yes = (name: string): boolean => {
    if (values[name] === true) {
      sources[name] = 'flag';
      return true;
    }
    const e = env[envName(name)] ?? '';
    sources[name] = e.trim() === '' ? 'default' : 'env';
    const yes = yesNo(e);
    if (yes === undefined) problem(name, `--${name}: ${JSON.stringify(e)} is neither ${YES_NO_WORDS}`);
    return yes === true;
  };
  const requireSeal = yes('require-seal');
  const opts: DaemonOptions = {
    file: get('file'),
    keyFile: get('key-file'),
    ganetiKeyFile: get('ganeti-key-file'),
    trustKeyFile: get('trust-key'),
    accessFile: get('access-file'),
    etcd,
    cacheDir: get('cache-dir'),
    port: int('port', String(DEFAULT_PORT), 0, 65535, DEFAULT_PORT),
    bind,
    nodeName: get('node-name') ?? hostname(),
    maxSkewMs: int('max-skew', '60', 1, 86_400, 60) * 1000,
    replayCapacity: int('replay-capacity', '1048576', 1024, 100_000_000, 1_048_576),
    maxWaitMs: int('max-wait', '30000', 1, 3_600_000, 30_000),
    maxWaits: int('max-waits', '10000', 0, 1_000_000, 10_000),
    maxWaitsPerSource: int('max-waits-per-source', '256', 0, 1_000_000, 256),
    maxWaitsPerKey: int('max-waits-per-key', '5000', 0, 1_000_000, 5000),
    advertise,
    maxDocumentBytes: int('max-document-bytes', String(DEFAULT_MAX_DOCUMENT_BYTES), 1, MAX_DOCUMENT_BYTES_LIMIT, DEFAULT_MAX_DOCUMENT_BYTES),
    metricsListen: metricsText === undefined ? undefined : attempt('metrics-listen', undefined, () => parseListen(metricsText)),
    logLevel,
    requireSeal,
    check: values.check === true,
    help: values.help === true,
    version: values.version === true,
  };
  return { opts, problems, invalid, sources };
}
