// qconf watch: one JSON line per change of a value, for as long as it runs — or, given `-- CMD`,
// a run of CMD per change (watch-runner.ts); the loss and return of the quorum on stderr, and an
// end (exit 3, or 4 if no daemon ever answered) after --timeout without a quorum. A signal, or a
// closed stdout (main.ts), ends it quietly.
import { numberOption, pathOperand, usageError } from './args.js';
import { EXIT, errorText, type Command } from './common.js';
import { isQconfError } from '../../shared/errors.js';
import { queryFlags, withClient } from './connect.js';
import { EXITS, HELP_OPTION, PATH_OPERAND, WAIT_TIMEOUT_MS, peerOptions } from './spec.js';
import { CommandRunner } from './watch-runner.js';

/** How often a quiet watch checks that a quorum still answers, at most. */
const CHECK_EVERY_MS = 10_000;

export const watchCommand: Command = {
  spec: {
    name: 'watch',
    summary: 'print one JSON line {serial, exists, value} per change of a value (the current one first), or run a command for each, until interrupted',
    usage: ['PATH [--timeout MS] [options]', 'PATH [--debounce MS] [--exit-on-error] [options] -- CMD [ARGS]'],
    operands: [PATH_OPERAND],
    positionals: [1, 1],
    trailing: [
      '-- CMD [ARGS]',
      'instead of printing, run CMD for the current value and again after each change, one run at a time (changes during a run queue one more, for the newest value); its environment has QCONF_WATCH_PATH, QCONF_WATCH_SERIAL, QCONF_WATCH_EXISTS (1 or 0) and QCONF_WATCH_VALUE (JSON; empty when absent)',
    ],
    options: [
      ...peerOptions({ timeoutMs: WAIT_TIMEOUT_MS, timeoutDoc: 'how long to go on without a quorum before giving up (the loss is reported on stderr meanwhile)', strict: false, trust: true }),
      { name: 'debounce', arg: 'MS', default: '0', doc: 'with -- CMD: run it once the value has not changed for MS milliseconds (a burst of changes, one run)' },
      { name: 'exit-on-error', doc: 'with -- CMD: stop at its first failure (exit 4); without it a failure is reported on stderr and watching goes on' },
      HELP_OPTION,
    ],
    exits: [
      { code: EXIT.OK, when: 'stopped by SIGINT or SIGTERM, or its output was closed (`| head -1`)' },
      EXITS.usage,
      { code: EXIT.NO_QUORUM, when: 'no quorum for --timeout ms (loss and return of the quorum are reported on stderr as they happen)' },
      { code: EXIT.FAILURE, when: 'no daemon answered for --timeout ms, the key file was refused, the daemons refuse unsealed requests (seal_required: give --seal), or (-- CMD with --exit-on-error) CMD failed' },
    ],
    examples: [
      'qconf watch /cluster/master',
      'qconf watch /nodes/node3 | while read -r line; do ...; done',
      'qconf watch /cluster/master | head -1    # the current value, then exit 0',
      'qconf watch /services/web --debounce 500 -- systemctl reload nginx',
      `qconf watch /features -- sh -c 'echo "$QCONF_WATCH_VALUE" > /run/features.json'`,
    ],
  },
  run: async (p, io) => {
    const path = pathOperand(p.positionals[0]);
    const f = queryFlags(p);
    const timeoutMs = numberOption(p, 'timeout', 1);
    const debounceMs = numberOption(p, 'debounce', 0, 3_600_000);
    if (p.trailing === undefined && (p.from.debounce === 'flag' || p.values['exit-on-error'] === true)) {
      throw usageError(`--${p.from.debounce === 'flag' ? 'debounce' : 'exit-on-error'} is for a command to run: qconf watch PATH ... -- CMD [ARGS]`);
    }
    return withClient(p, io, async (client) => {
      const ac = new AbortController();
      const stop = () => ac.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      let heard = false;
      let commandFailed = false;
      const runner =
        p.trailing === undefined
          ? undefined
          : new CommandRunner({
              path: p.positionals[0],
              command: p.trailing[0],
              args: p.trailing.slice(1),
              debounceMs,
              env: io.env,
              onFailure: (why) => {
                io.err(`qconf: ${why}${p.values['exit-on-error'] === true ? '; stopping (--exit-on-error)' : ''}\n`);
                if (p.values['exit-on-error'] !== true) return;
                commandFailed = true;
                ac.abort();
              },
            });
      try {
        // Checked a few times within --timeout: a lost quorum is reported before giving up.
        const checkEveryMs = Math.max(1000, Math.min(timeoutMs / 3, CHECK_EVERY_MS));
        for await (const ev of client.watch(path, { coverage: f.coverage, signal: ac.signal, checkEveryMs })) {
          if (ev.type === 'change') {
            heard = true;
            if (runner !== undefined) {
              runner.change(ev);
              continue;
            }
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
        return commandFailed ? EXIT.FAILURE : EXIT.OK;
      } catch (e) {
        // Interrupted: a watch ends when told to.
        if (ac.signal.aborted) return commandFailed ? EXIT.FAILURE : EXIT.OK;
        if (isQconfError(e, 'forbidden') || isQconfError(e, 'seal_required')) {
          io.err(`qconf: ${errorText({ code: e.code, message: e.message }, io)}\n`);
          return EXIT.FAILURE;
        }
        throw e;
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        // A run in progress is stopped with the watch (SIGTERM, then SIGKILL).
        await runner?.stop();
      }
    });
  },
};
