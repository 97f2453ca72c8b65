// qconf wait: block until a quorum of daemons says what a script waits for (a value changed,
// present, absent or equal to some JSON; or a serial reached), or the timeout passes.
import type { ConfdClient } from '../confd-client.js';
import type { WaitCondition } from '../wait-for.js';
import { numberOption, pathOperand, usageError, wholeNumber, type Parsed } from './args.js';
import { EXIT, errorText, formatValue, reportNoQuorum, type Command, type Io } from './common.js';
import { queryFlags, withClient, type QueryFlags } from './connect.js';
import { EXITS, HELP_OPTION, PATH_OPERAND, QUERY_TIMEOUT_MS, WAIT_TIMEOUT_MS, peerOptions } from './spec.js';

const CONDITIONS = ['changed', 'exists', 'absent', 'equals', 'serial'] as const;
type Kind = (typeof CONDITIONS)[number];

function equalsValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw usageError(`--equals: ${text} is not JSON; for the string, quote it: --equals '${JSON.stringify(text)}'`);
  }
}

/** The condition the flags ask for, checked before anything is sent. */
function condition(p: Parsed): { kind: Kind; path: string | undefined; cond: WaitCondition | undefined } {
  const kinds = CONDITIONS.filter((k) => p.from[k] === 'flag');
  if (kinds.length !== 1) throw usageError(`give exactly one of ${CONDITIONS.map((k) => `--${k}`).join(', ')}`);
  const kind = kinds[0];
  if (kind !== 'serial' && p.positionals.length !== 1) throw usageError(`--${kind} needs a PATH: qconf wait PATH --${kind}${kind === 'equals' ? ' JSON' : ''}`);
  const path = p.positionals.length > 0 ? pathOperand(p.positionals[0]) : undefined;
  if (kind === 'serial') {
    const minSerial = wholeNumber(p.values.serial as string, '--serial', 0);
    return { kind, path, cond: path === undefined ? { minSerial } : { minSerial, path } };
  }
  const at = path as string;
  if (kind === 'exists') return { kind, path, cond: { path: at, exists: true } };
  if (kind === 'absent') return { kind, path, cond: { path: at, absent: true } };
  if (kind === 'equals') return { kind, path, cond: { path: at, equals: equalsValue(p.values.equals as string) } };
  return { kind, path, cond: undefined }; // --changed: from what a quorum holds when it starts
}

/** --changed: different from the value a quorum holds now (read first); or an exit code. */
async function changedFrom(client: ConfdClient, path: string, f: QueryFlags, io: Io): Promise<WaitCondition | number> {
  const now = await client.get(path, { coverage: f.coverage, timeoutMs: f.timeoutMs });
  if (now.kind === 'no_quorum') return reportNoQuorum(now, io);
  if (now.kind === 'error') {
    io.err(`qconf: ${errorText(now.error, io)}\n`);
    return EXIT.FAILURE;
  }
  return { path, changedFrom: now.kind === 'ok' ? (now.etag ?? '') : '', afterSerial: now.serial };
}

export const waitCommand: Command = {
  spec: {
    name: 'wait',
    summary: 'block until a value changes, appears, disappears or equals JSON, or a serial has spread; prints what satisfied it',
    usage: ['PATH (--changed | --exists | --absent | --equals JSON) [options]', '--serial N [PATH] [options]'],
    operands: [PATH_OPERAND, ['PATH with --serial', 'once a quorum serves serial N or newer, print the value at PATH there (nothing when absent) instead of the serial']],
    positionals: [0, 1],
    options: [
      { name: 'changed', doc: 'until the value differs from what a quorum holds when the command starts (appearing and disappearing count)' },
      { name: 'exists', doc: 'until the value is there' },
      { name: 'absent', doc: 'until the value is gone' },
      { name: 'equals', arg: 'JSON', doc: `until the value equals JSON (a string is quoted: --equals '"node2"')` },
      { name: 'serial', arg: 'N', doc: 'until a quorum serves serial N or newer (after `qconf publish` printed N)' },
      ...peerOptions({ timeoutMs: WAIT_TIMEOUT_MS, timeoutDoc: 'give up after MS milliseconds', strict: false, json: 'print the whole result (met, serial, replies, …) as JSON', trust: true }),
      HELP_OPTION,
    ],
    exits: [
      { code: EXIT.OK, when: 'a quorum meets the condition; the value (for --serial: the serial) is printed' },
      { code: EXIT.NOT_FOUND, when: '--timeout passed first, with a quorum of daemons reachable to the end' },
      EXITS.usage,
      { code: EXIT.NO_QUORUM, when: 'fewer daemons than a quorum were still reachable when it ended (stopped, cut off)' },
      EXITS.failure,
    ],
    examples: [
      'qconf wait --serial 42 --timeout 30000          # after publishing serial 42',
      'qconf wait /nodes/node3/drained --equals true',
      'qconf wait /cluster/master --changed',
      'qconf wait /locks/upgrade --absent',
    ],
  },
  run: async (p, io) => {
    const { kind, path, cond: given } = condition(p);
    const f = queryFlags(p);
    const timeoutMs = numberOption(p, 'timeout', 1);
    const deadline = Date.now() + timeoutMs;
    return withClient(p, io, async (client) => {
      // A daemon holding a wait from its start has sent no reply to count when it stops before
      // the end: a ping alongside tells "no quorum any more" (3) from "nobody answered" (4).
      const heard = client.ping({ coverage: -1, timeoutMs: Math.min(timeoutMs, QUERY_TIMEOUT_MS) }).then(
        (r) => r.replies > 0,
        () => false,
      );
      const cond = given ?? (await changedFrom(client, path as string, f, io));
      if (typeof cond === 'number') return cond;
      const r = await client.waitFor(cond, { timeoutMs: Math.max(1, deadline - Date.now()), coverage: f.coverage });
      if (!r.consistent) io.err(`qconf: warning: replicas disagree at serial ${r.serial} (consistent: false)\n`);
      if (f.json) io.out(JSON.stringify(r) + '\n');
      if (!r.met) {
        if (r.kind === 'no_quorum') return reportNoQuorum(r, io, await heard);
        // Refused (forbidden, seal_required): no wait of this client can be met.
        if (r.kind === 'error' && r.error.code !== 'timeout') {
          io.err(`qconf: ${errorText(r.error, io)}\n`);
          return EXIT.FAILURE;
        }
        io.err(`qconf: timed out after ${timeoutMs} ms: a quorum (${r.needed} daemons) was reachable but did not meet the condition\n`);
        return EXIT.NOT_FOUND;
      }
      if (r.kind === 'error') io.err(`qconf: met, but the value cannot be printed: ${r.error.code}: ${r.error.message}\n`);
      if (f.json) return EXIT.OK;
      if (kind === 'serial' && path === undefined) io.out(`${r.serial}\n`);
      else if (r.kind === 'ok') io.out(formatValue(r.answer, io) + '\n');
      return EXIT.OK;
    });
  },
};
