// qconf watch: one JSON line per change of a value, for as long as it runs; the loss and return
// of the quorum on stderr, and an end (exit 3, or 4 if no daemon ever answered) after --timeout
// without a quorum. A signal, or a closed stdout (main.ts), ends it quietly.
import { numberOption, pathOperand } from './args.js';
import { EXIT, type Command } from './common.js';
import { queryFlags, withClient } from './connect.js';
import { EXITS, HELP_OPTION, PATH_OPERAND, WAIT_TIMEOUT_MS, peerOptions } from './spec.js';

/** How often a quiet watch checks that a quorum still answers, at most. */
const CHECK_EVERY_MS = 10_000;

export const watchCommand: Command = {
  spec: {
    name: 'watch',
    summary: 'print one JSON line {serial, exists, value} per change of a value (the current one first), until interrupted',
    usage: ['PATH [--timeout MS] [options]'],
    operands: [PATH_OPERAND],
    positionals: [1, 1],
    options: [
      ...peerOptions({ timeoutMs: WAIT_TIMEOUT_MS, timeoutDoc: 'how long to go on without a quorum before giving up (the loss is reported on stderr meanwhile)', strict: false, trust: true }),
      HELP_OPTION,
    ],
    exits: [
      { code: EXIT.OK, when: 'stopped by SIGINT or SIGTERM, or its output was closed (`| head -1`)' },
      EXITS.usage,
      { code: EXIT.NO_QUORUM, when: 'no quorum for --timeout ms (loss and return of the quorum are reported on stderr as they happen)' },
      { code: EXIT.FAILURE, when: 'no daemon answered for --timeout ms, the key file was refused, or the daemons refuse unsealed requests (seal_required: give --seal)' },
    ],
    examples: ['qconf watch /cluster/master', 'qconf watch /nodes/node3 | while read -r line; do ...; done', 'qconf watch /cluster/master | head -1    # the current value, then exit 0'],
  },
  run: async (p, io) => {
    const path = pathOperand(p.positionals[0]);
    const f = queryFlags(p);
    const timeoutMs = numberOption(p, 'timeout', 1);
    return withClient(p, io, async (client) => {
      const ac = new AbortController();
      const stop = () => ac.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      let heard = false;
      try {
        // Checked a few times within --timeout: a lost quorum is reported before giving up.
        const checkEveryMs = Math.max(1000, Math.min(timeoutMs / 3, CHECK_EVERY_MS));
        for await (const ev of client.watch(path, { coverage: f.coverage, signal: ac.signal, checkEveryMs })) {
          if (ev.type === 'change') {
            heard = true;
            io.out(JSON.stringify(ev.exists ? { serial: ev.serial, exists: true, value: ev.value } : { serial: ev.serial, exists: false }) + '\n');
            continue;
          }
          heard ||= ev.replies > 0;
          if (ev.quorum) {
            io.err(`qconf: quorum back (${ev.replies} daemons replied, ${ev.needed} needed)\n`);
            continue;
          }
          const gone = `${Math.round(ev.sinceQuorumMs / 1000)} s`;
          io.err(`qconf: no quorum for ${gone} (${ev.needed} daemons needed); giving up after ${timeoutMs} ms without one\n`);
          if (ev.sinceQuorumMs >= timeoutMs) {
            io.err(`qconf: ${heard ? 'no quorum' : 'no daemon answered'} for ${gone}; giving up\n`);
            return heard ? EXIT.NO_QUORUM : EXIT.FAILURE;
          }
        }
        return EXIT.OK;
      } catch (e) {
        // Interrupted: a watch ends when told to.
        if (ac.signal.aborted) return EXIT.OK;
        throw e;
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    });
  },
};
