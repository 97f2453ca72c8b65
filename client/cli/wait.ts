// qconf wait / qconf watch: block until the cluster's config says what a script waits for.
import { CliExit, EXIT, commonOptions, formatValue, intArg, makeClient, parse, str, type Command } from './common.js';
import type { WaitCondition } from '../wait-for.js';

const WAIT_USAGE = 'qconf wait PATH (--changed | --exists | --absent | --equals JSON) | qconf wait --serial N [PATH]';
const DEFAULT_WAIT_TIMEOUT_MS = 60_000;

export const waitCommand: Command = {
  summary: 'block until a value changes, appears, disappears or equals JSON, or a serial has spread; prints what satisfied it',
  usage: `${WAIT_USAGE} [--timeout MS] [options]`,
  examples: [
    'qconf wait --serial 42 --timeout 30000          # after publishing serial 42',
    'qconf wait /nodes/node3/drained --equals true',
    'qconf wait /cluster/master --changed',
    'qconf wait /locks/upgrade --absent',
  ],
  run: async (args, io) => {
    const p = parse(args, {
      changed: { type: 'boolean' },
      exists: { type: 'boolean' },
      absent: { type: 'boolean' },
      equals: { type: 'string' },
      serial: { type: 'string' },
    });
    const kinds = ['changed', 'exists', 'absent', 'equals', 'serial'].filter((k) => p.values[k] !== undefined);
    if (kinds.length !== 1) throw new CliExit(EXIT.USAGE, `give exactly one of --changed, --exists, --absent, --equals, --serial\nusage: ${WAIT_USAGE}`);
    const kind = kinds[0];
    if (kind === 'serial' ? p.positionals.length > 1 : p.positionals.length !== 1) throw new CliExit(EXIT.USAGE, `usage: ${WAIT_USAGE}`);
    const path = p.positionals[0];
    let equals: unknown;
    if (kind === 'equals') {
      try {
        equals = JSON.parse(p.values.equals as string);
      } catch {
        throw new CliExit(EXIT.USAGE, `--equals: not valid JSON: ${p.values.equals as string}`);
      }
    }
    const serial = kind === 'serial' ? intArg(p.values.serial as string, 'serial') : 0;
    const c = commonOptions(p, io);
    const timeoutMs = str(p, 'timeout', io, 'QCONF_TIMEOUT') === undefined ? DEFAULT_WAIT_TIMEOUT_MS : c.timeoutMs;
    const deadline = Date.now() + timeoutMs;
    const client = makeClient(p, io);
    try {
      let cond: WaitCondition;
      if (kind === 'serial') cond = path === undefined ? { minSerial: serial } : { minSerial: serial, path };
      else if (kind === 'exists') cond = { path, exists: true };
      else if (kind === 'absent') cond = { path, absent: true };
      else if (kind === 'equals') cond = { path, equals };
      else {
        // --changed: different from what a quorum holds now.
        const now = await client.get(path, { coverage: c.coverage, timeoutMs });
        if (now.timedOut) {
          io.err(`qconf: no quorum to read the current value of ${path}: ${now.replies} of ${now.sent} replied, ${now.needed} needed\n`);
          return now.replies === 0 ? EXIT.FAILURE : EXIT.NO_QUORUM;
        }
        if (now.status !== 0 && now.error?.code !== 'not_found') {
          io.err(`qconf: ${now.error?.code}: ${now.error?.message}\n`);
          return EXIT.FAILURE;
        }
        cond = { path, changedFrom: now.status === 0 ? (now.etag ?? '') : '', afterSerial: now.serial };
      }
      const r = await client.waitFor(cond, { timeoutMs: Math.max(1, deadline - Date.now()), coverage: c.coverage });
      if (!r.consistent) io.err(`qconf: warning: replicas disagree at serial ${r.serial} (consistent: false)\n`);
      if (c.json) io.out(JSON.stringify(r) + '\n');
      if (!r.met) {
        if (r.kind === 'no_quorum') {
          io.err(`qconf: no quorum: ${r.error.message}\n`);
          return r.replies === 0 ? EXIT.FAILURE : EXIT.NO_QUORUM;
        }
        io.err(`qconf: timed out after ${timeoutMs} ms; the condition was not met by ${r.needed} daemons\n`);
        return EXIT.NOT_FOUND;
      }
      if (!c.json) {
        if (kind === 'serial') io.out(`${r.serial}\n`);
        else if (r.status === 0) io.out(formatValue(r.answer, io) + '\n');
      }
      return EXIT.OK;
    } finally {
      client.close();
    }
  },
};

export const watchCommand: Command = {
  summary: 'print one JSON line {serial, exists, value} per change of a value (the current one first), until interrupted',
  usage: 'qconf watch PATH [--timeout MS] [options]',
  examples: ['qconf watch /cluster/master', "qconf watch /nodes/node3 | while read -r line; do ...; done"],
  run: async (args, io) => {
    const p = parse(args);
    if (p.positionals.length !== 1) throw new CliExit(EXIT.USAGE, 'usage: qconf watch PATH [options]');
    const c = commonOptions(p, io);
    // --timeout: how long the watch goes on without a quorum before it gives up (exit 3, or 4
    // when no daemon ever answered); a watch with a quorum runs until interrupted.
    const timeoutMs = str(p, 'timeout', io, 'QCONF_TIMEOUT') === undefined ? DEFAULT_WAIT_TIMEOUT_MS : c.timeoutMs;
    const client = makeClient(p, io);
    const ac = new AbortController();
    const stop = () => ac.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    let heard = false;
    try {
      const checkEveryMs = Math.max(1000, Math.min(timeoutMs, 10_000));
      for await (const ev of client.watch(p.positionals[0], { coverage: c.coverage, signal: ac.signal, checkEveryMs })) {
        if (ev.type === 'status') {
          heard ||= ev.replies > 0;
          if (ev.quorum) {
            io.err('qconf: quorum back\n');
            continue;
          }
          io.err(`qconf: no quorum for ${Math.round(ev.sinceQuorumMs / 1000)} s: ${ev.replies} daemons replied, ${ev.needed} needed\n`);
          if (ev.sinceQuorumMs >= timeoutMs) return heard ? EXIT.NO_QUORUM : EXIT.FAILURE;
          continue;
        }
        heard = true;
        const line: Record<string, unknown> = { serial: ev.serial, exists: ev.exists };
        if (ev.exists) line.value = ev.value;
        io.out(JSON.stringify(line) + '\n');
      }
      return EXIT.OK;
    } catch (e) {
      // Interrupted: a watch ends when told to.
      if (ac.signal.aborted) return EXIT.OK;
      throw e;
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      client.close();
    }
  },
};
