// What the qconf commands share once their arguments are read: where output goes, how a value
// prints, and how a quorum result becomes a message and an exit code.
import type { QueryResult } from '../types.js';
import type { Parsed } from './args.js';
import { EXIT, type CommandSpec } from './spec.js';

export { EXIT };

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  env: NodeJS.ProcessEnv;
  isTty: boolean;
  /** The id of the key requests are signed with, once a client is made (for `forbidden` messages). */
  keyId?: string;
}

/** A qconf command: its table (operands, options, exit codes) and what it runs. */
export interface Command {
  spec: CommandSpec;
  run: (p: Parsed, io: Io) => Promise<number>;
}

export function formatValue(v: unknown, io: Io): string {
  if (typeof v === 'string') return v;
  return io.isTty ? JSON.stringify(v, null, 2) : JSON.stringify(v);
}

/**
 * Why a quorum was not had, once: "no quorum" with the library's count (which names the silent
 * daemons and those whose answers failed verification), or, when none answered, what to check.
 * `heard`: a daemon answered something before (a wait whose daemons stopped before their first
 * reply has none to count). Returns the exit code: 3, or 4 when no daemon answered at all or
 * every answer failed verification.
 */
export function reportNoQuorum(r: { replies: number; forged?: number; error?: { message: string } }, io: Io, heard = false): number {
  const counts = r.error?.message ?? 'too few replies';
  if (r.replies === 0 && (r.forged ?? 0) > 0) {
    io.err(`qconf: no verified answer: ${counts}\n`);
    return EXIT.FAILURE;
  }
  if (r.replies === 0 && !heard) {
    io.err(`qconf: no daemon answered: ${counts}; are they running, reachable, and using this key?\n`);
    return EXIT.FAILURE;
  }
  io.err(`qconf: no quorum: ${counts}${r.replies === 0 ? ' (they answered at first, then stopped)' : ''}\n`);
  return EXIT.NO_QUORUM;
}

/** An error answer as printed: a `forbidden` one names the key that was refused. */
export function errorText(e: { code: string; message: string }, io: Io): string {
  return e.code === 'forbidden' && io.keyId !== undefined ? `forbidden: key ${io.keyId}: ${e.message}` : `${e.code}: ${e.message}`;
}

/**
 * Turn a quorum result into an exit code, printing the answer (or the whole result with
 * --json). `print` renders a successful answer.
 */
export function finish(result: QueryResult, json: boolean, io: Io, print: (answer: unknown) => void): number {
  if (!result.consistent) io.err(`qconf: warning: replicas disagree at serial ${result.serial} (consistent: false): two documents were published with one serial_no\n`);
  if (json) io.out(JSON.stringify(result) + '\n');
  if (result.kind === 'no_quorum') return reportNoQuorum(result, io);
  if (result.kind !== 'ok') {
    io.err(`qconf: ${errorText(result.error, io)}\n`);
    return result.kind === 'not_found' ? EXIT.NOT_FOUND : EXIT.FAILURE;
  }
  if (!json) print(result.answer);
  return EXIT.OK;
}
