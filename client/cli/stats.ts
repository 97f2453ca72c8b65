// qconf stats: each daemon's counters, one block per daemon labelled by its address and node
// (--json: an array). Counters differ from daemon to daemon by nature: nothing is compared.
import { EXIT, reportNoQuorum, type Command } from './common.js';
import { queryFlags, withClient } from './connect.js';
import { askEach, type EachReply } from './each-daemon.js';
import { HELP_OPTION, QUERY_TIMEOUT_MS, peerOptions, queryExits } from './spec.js';

interface DaemonStats {
  peer: string;
  answered: boolean;
  node?: string;
  serial?: number;
  stats?: unknown;
  error?: { code: string; message: string };
}

function entry(d: EachReply): DaemonStats {
  const r = d.reply;
  if (r === undefined) return { peer: d.peer, answered: false };
  const e: DaemonStats = { peer: d.peer, answered: true, node: r.node, serial: r.serial };
  if (r.status === 0) e.stats = r.answer;
  else e.error = { code: String(r.error?.code ?? 'internal'), message: r.error?.message ?? '' };
  return e;
}

export const statsCommand: Command = {
  spec: {
    name: 'stats',
    summary: "print each daemon's counters, one block per daemon (labelled by address and node)",
    usage: ['[options]'],
    operands: [],
    positionals: [0, 0],
    options: [
      ...peerOptions({ timeoutMs: QUERY_TIMEOUT_MS, strict: false, json: 'print a JSON array: {peer, answered, node, serial, stats} per daemon' }).map((o) =>
        o.name === 'coverage' ? { ...o, defaultText: 'all' } : o,
      ),
      HELP_OPTION,
    ],
    exits: queryExits("a quorum of the daemons asked answered; each one's block is printed (a silent one is named on stderr)"),
    examples: ['qconf stats', 'qconf stats --peers 127.0.0.1 --coverage 1', "qconf stats --json | jq '.[] | {peer, drops: .stats.drops}'"],
  },
  run: async (p, io) => {
    const f = queryFlags(p);
    return withClient(p, io, async (client) => {
      const { result, daemons } = await askEach(client, { op: 'stats' }, f);
      const entries = daemons.map(entry);
      if (f.json) io.out(JSON.stringify(entries) + '\n');
      for (const e of entries) {
        if (!f.json && e.answered) io.out(`== ${e.peer} (node ${e.node ?? '?'}, serial ${e.serial})\n${JSON.stringify(e.stats ?? { error: e.error }, null, 2)}\n`);
        if (!e.answered && result.kind !== 'no_quorum') io.err(`qconf: warning: no answer from ${e.peer}\n`);
      }
      if (result.kind === 'no_quorum') return reportNoQuorum(result, io);
      return entries.some((e) => e.error !== undefined) ? EXIT.FAILURE : EXIT.OK;
    });
  },
};
