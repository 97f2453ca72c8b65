// Shared plumbing of the qconf commands: common flags, exit codes, output.
import { parseArgs } from 'node:util';
import { QconfError } from '../../shared/errors.js';
import { loadKeyring } from '../../shared/keyring.js';
import { DEFAULT_PORT } from '../../shared/peers.js';
import { ConfdClient } from '../confd-client.js';
import type { QueryResult } from '../types.js';

export const EXIT = { OK: 0, NOT_FOUND: 1, USAGE: 2, NO_QUORUM: 3, FAILURE: 4 } as const;

export class CliExit extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  env: NodeJS.ProcessEnv;
  isTty: boolean;
}

type OptionSpec = { type: 'string' | 'boolean'; short?: string; multiple?: boolean };

export const COMMON_OPTIONS: Record<string, OptionSpec> = {
  peers: { type: 'string' },
  'key-file': { type: 'string' },
  port: { type: 'string' },
  coverage: { type: 'string' },
  timeout: { type: 'string' },
  strict: { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

export const COMMON_HELP = `Common options:
  --peers LIST       daemons to ask: host, host:port or [v6]:port, comma-separated (env QCONF_PEERS)
  --key-file FILE    keyring file; the first key signs (env QCONF_KEY_FILE)
  --port N           default daemon port (env QCONF_PORT; default ${DEFAULT_PORT})
  --coverage N|all   how many daemons to ask (default: min(peers, 6))
  --timeout MS       give up after MS milliseconds (env QCONF_TIMEOUT; default 5000)
  --strict           require a quorum of agreeing replies, not just a quorum of replies
  --json             print the whole quorum result as JSON
Exit codes: 0 answer, 1 not found, 2 usage, 3 no quorum before the timeout,
            4 other failure (key file, no daemon answered, error reply).`;

export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

export function parse(args: string[], extra: Record<string, OptionSpec> = {}): Parsed {
  try {
    const r = parseArgs({ args, options: { ...COMMON_OPTIONS, ...extra }, allowPositionals: true, strict: true });
    return { values: r.values as Parsed['values'], positionals: r.positionals };
  } catch (e) {
    throw new CliExit(EXIT.USAGE, (e as Error).message);
  }
}

export function str(p: Parsed, name: string, io: Io, env?: string): string | undefined {
  const v = p.values[name];
  if (typeof v === 'string') return v;
  const e = env ? io.env[env] : undefined;
  return e === undefined || e === '' ? undefined : e;
}

export function intArg(text: string, name: string, min = 0): number {
  if (!/^-?[0-9]+$/.test(text) || Number(text) < min) throw new CliExit(EXIT.USAGE, `--${name}: ${JSON.stringify(text)} is not a valid number`);
  return Number(text);
}

export interface Common {
  timeoutMs: number;
  coverage: number | undefined;
  strict: boolean;
  json: boolean;
}

export function commonOptions(p: Parsed, io: Io): Common {
  const cov = str(p, 'coverage', io);
  return {
    timeoutMs: intArg(str(p, 'timeout', io, 'QCONF_TIMEOUT') ?? '5000', 'timeout', 1),
    coverage: cov === undefined ? undefined : cov === 'all' ? -1 : intArg(cov, 'coverage', 1),
    strict: p.values.strict === true,
    json: p.values.json === true,
  };
}

/** Build a client from the common flags; key-file problems exit 4, peer problems exit 2. */
export function makeClient(p: Parsed, io: Io): ConfdClient {
  const peers = str(p, 'peers', io, 'QCONF_PEERS');
  if (!peers) throw new CliExit(EXIT.USAGE, 'no peers: give --peers or set QCONF_PEERS');
  const keyFile = str(p, 'key-file', io, 'QCONF_KEY_FILE');
  if (!keyFile) throw new CliExit(EXIT.USAGE, 'no key file: give --key-file or set QCONF_KEY_FILE');
  const port = intArg(str(p, 'port', io, 'QCONF_PORT') ?? String(DEFAULT_PORT), 'port', 1);
  let keyring;
  try {
    const k = loadKeyring(keyFile);
    for (const w of k.warnings) io.err(`qconf: warning: ${w}\n`);
    keyring = k.keyring;
  } catch (e) {
    throw new CliExit(EXIT.FAILURE, (e as Error).message);
  }
  try {
    return new ConfdClient({ keyring, peers, port });
  } catch (e) {
    if (e instanceof QconfError) throw new CliExit(EXIT.USAGE, e.message);
    throw e;
  }
}

export function formatValue(v: unknown, io: Io): string {
  if (typeof v === 'string') return v;
  return io.isTty ? JSON.stringify(v, null, 2) : JSON.stringify(v);
}

/**
 * Turn a quorum result into an exit code, printing the answer (or the whole result with
 * --json). `print` renders a successful answer.
 */
export function finish(result: QueryResult, c: Common, io: Io, print: (answer: unknown) => void): number {
  if (!result.consistent) io.err(`qconf: warning: replicas disagree at serial ${result.serial} (consistent: false)\n`);
  if (c.json) io.out(JSON.stringify(result) + '\n');
  if (result.timedOut) {
    const code = result.replies === 0 ? EXIT.FAILURE : EXIT.NO_QUORUM;
    const why = result.replies === 0 ? 'no daemon answered (unreachable, not running, or a different key)' : (result.error?.message ?? 'no quorum');
    io.err(`qconf: ${why}; ${result.replies} of ${result.sent} replied, ${result.needed} needed\n`);
    return code;
  }
  if (result.status !== 0) {
    const e = result.error ?? { code: 'internal', message: 'error reply' };
    io.err(`qconf: ${e.code}: ${e.message}\n`);
    return e.code === 'not_found' ? EXIT.NOT_FOUND : EXIT.FAILURE;
  }
  if (!c.json) print(result.answer);
  return EXIT.OK;
}

/** A qconf command: its help and what it runs (client/cli/commands.ts lists them). */
export interface Command {
  summary: string;
  usage: string;
  examples: string[];
  run: (args: string[], io: Io) => Promise<number>;
}
