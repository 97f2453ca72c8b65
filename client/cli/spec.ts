// The table every qconf command is described by: its operands, options (with their variables and
// defaults) and exit codes. The parser (args.ts), the help (help.ts) and the README's exit-code
// table are all made from it, so none of them can say something the others do not.
import { DEFAULT_PORT } from '../../shared/peers.js';

export interface OptionDef {
  name: string;
  /** The value's placeholder (MS, LIST); none for a flag that takes no value. */
  arg?: string;
  doc: string;
  /** Read from this variable when the flag is not given. */
  env?: string;
  /** The value used when neither the flag nor the variable gives one; the help shows it. */
  default?: string;
  /** The default in words, when it is not one fixed value ("min(peers, 6)"). */
  defaultText?: string;
  short?: string;
  /** May be given more than once (the values are kept in order). */
  multiple?: boolean;
}

export interface ExitDef {
  code: number;
  when: string;
}

export interface CommandSpec {
  name: string;
  summary: string;
  /** What follows `qconf NAME` in the usage line(s). */
  usage: string[];
  /** Each operand of the usage line and what it means. */
  operands: Array<[string, string]>;
  /** How many operands it takes, at least and at most. */
  positionals: [number, number];
  /** Words after `--` taken as a command to run (its placeholder and meaning); without it they are operands. */
  trailing?: [string, string];
  options: OptionDef[];
  exits: ExitDef[];
  examples: string[];
}

export const EXIT = { OK: 0, NOT_FOUND: 1, USAGE: 2, NO_QUORUM: 3, FAILURE: 4 } as const;

/** How long a query waits for a quorum unless told otherwise. */
export const QUERY_TIMEOUT_MS = 5000;
/** How long `wait` waits (and `watch` goes on without a quorum) unless told otherwise. */
export const WAIT_TIMEOUT_MS = 60_000;

/** How the daemons are reached: every command that asks them takes these. */
/** Verified answers (docs/protocol.md): the publishers' keys, and where the newest signed serial is kept. */
export const TRUST_OPTIONS: OptionDef[] = [
  {
    name: 'trust-key',
    arg: 'FILE',
    env: 'QCONF_TRUST_KEY',
    doc: "accept only answers proven against a document signed by a key in FILE (publishers' public keys, one a line); a forged answer is discarded and its daemon named",
  },
  {
    name: 'state-file',
    arg: 'FILE',
    env: 'QCONF_STATE_FILE',
    doc: 'with --trust-key: keep the newest signed serial accepted in FILE, and accept no older one as newest after it',
  },
];

/** Sealed traffic (docs/protocol.md): QCF1 bodies encrypted on the wire. */
export const SEAL_OPTION: OptionDef = {
  name: 'seal',
  env: 'QCONF_SEAL',
  doc: 'encrypt request and reply bodies (XSalsa20-Poly1305, key derived from the HMAC key): paths and values do not appear on the wire; a daemon may require it (error seal_required); the variable takes 1 or 0 (true, yes; false, no)',
};

export function peerOptions(o: { timeoutMs: number; timeoutDoc?: string; strict?: boolean; json?: string; trust?: boolean; seal?: boolean }): OptionDef[] {
  const defs: OptionDef[] = [
    { name: 'peers', arg: 'LIST', env: 'QCONF_PEERS', doc: 'daemons to ask: host, host:port or [v6]:port, comma- or space-separated; names resolving to one address are one peer' },
    { name: 'key-file', arg: 'FILE', env: 'QCONF_KEY_FILE', doc: 'keyring file; the first key signs' },
    { name: 'port', arg: 'N', env: 'QCONF_PORT', default: String(DEFAULT_PORT), doc: 'the port of peers given without one' },
    { name: 'coverage', arg: 'N|all', defaultText: 'min(peers, 6)', doc: 'how many daemons to ask: 1 to the number of peers, or all' },
    { name: 'timeout', arg: 'MS', env: 'QCONF_TIMEOUT', default: String(o.timeoutMs), doc: o.timeoutDoc ?? 'give up after MS milliseconds' },
  ];
  if (o.strict !== false) defs.push({ name: 'strict', doc: 'require a quorum of agreeing replies, not just a quorum of replies' });
  if (o.json !== undefined) defs.push({ name: 'json', doc: o.json });
  if (o.trust === true) defs.push(...TRUST_OPTIONS);
  if (o.seal !== false) defs.push(SEAL_OPTION);
  return defs;
}

export const HELP_OPTION: OptionDef = { name: 'help', short: 'h', doc: 'print this help' };

export const PATH_OPERAND: [string, string] = ['PATH', 'a JSON pointer (RFC 6901), e.g. /cluster/master; "/" or "" is the whole document'];

/** The exit codes most commands share, in words. */
export const EXITS = {
  usage: { code: EXIT.USAGE, when: 'usage: a bad command, option, operand or value (nothing was sent)' },
  noQuorum: { code: EXIT.NO_QUORUM, when: 'no quorum before --timeout: some daemons answered, fewer than needed (the silent ones, and those whose answers failed verification, are named)' },
  failure: {
    code: EXIT.FAILURE,
    when: 'no daemon answered, every answer failed verification (--trust-key), a key file, trust file or --state-file was refused, or the daemons answered with an error (too_large: get a part; bad_argument: e.g. list of a string; forbidden: the key may not read PATH or use the command; seal_required: the key must seal, give --seal; not_ready, …)',
  },
} satisfies Record<string, ExitDef>;

/** The exit codes of a quorum query: `ok` and (when it has one) `notFound` in its own words. */
export function queryExits(ok: string, notFound?: string, failure: ExitDef = EXITS.failure): ExitDef[] {
  const exits: ExitDef[] = [{ code: EXIT.OK, when: ok }];
  if (notFound !== undefined) exits.push({ code: EXIT.NOT_FOUND, when: notFound });
  return [...exits, EXITS.usage, EXITS.noQuorum, failure];
}
