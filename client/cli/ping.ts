// qconf ping: the daemons' node, serial and source. With --json, a health report for
// monitoring scripts: every daemon is asked (unless --coverage says otherwise), the command
// waits for all of them (up to --timeout), and the quorum result gains `healthy` and a
// `daemons` list with each daemon's answer or its silence.
//
// Ping answers describe the daemon that sent them (node, load time), so they always differ;
// the quorum rule's `consistent` (no two different replies of one serial) says nothing here.
// For ping it means instead: every daemon that answered serves the same serial.
import { EXIT, finish, formatValue, reportNoQuorum, type Command } from './common.js';
import { queryFlags, withClient } from './connect.js';
import { askEach, type EachReply } from './each-daemon.js';
import { HELP_OPTION, QUERY_TIMEOUT_MS, peerOptions, queryExits } from './spec.js';

export interface DaemonHealth {
  peer: string;
  answered: boolean;
  node?: string;
  serial?: number;
  ready?: boolean;
  stale?: boolean;
  source?: string;
  version?: string;
  /** Unix ms the daemon loaded its snapshot. */
  loadedAt?: number;
  lastContactAgeMs?: number;
  /** From sending the ping to this daemon's reply (retransmissions included). */
  rttMs?: number;
  error?: { code: string; message: string };
}

function health(d: EachReply): DaemonHealth {
  const reply = d.reply;
  if (reply === undefined) return { peer: d.peer, answered: false };
  const h: DaemonHealth = { peer: d.peer, answered: true, node: reply.node, serial: reply.serial, rttMs: d.rttMs };
  const a = (reply.answer ?? {}) as Record<string, unknown>;
  if (reply.status === 0) {
    if (typeof a.ready === 'boolean') h.ready = a.ready;
    if (typeof a.stale === 'boolean') h.stale = a.stale;
    if (typeof a.source === 'string') h.source = a.source;
    if (typeof a.version === 'string') h.version = a.version;
    if (typeof a.loadedAt === 'number') h.loadedAt = a.loadedAt;
    if (typeof a.lastContactAgeMs === 'number') h.lastContactAgeMs = a.lastContactAgeMs;
  } else if (reply.error) {
    h.error = { code: String(reply.error.code), message: reply.error.message };
  }
  return h;
}

export const pingCommand: Command = {
  spec: {
    name: 'ping',
    summary: "ask the daemons for their node, serial and source; --json: every daemon's health (healthy: all answered, ready, not stale, one serial)",
    usage: ['[--json] [options]'],
    operands: [],
    positionals: [0, 0],
    options: [
      ...peerOptions({ timeoutMs: QUERY_TIMEOUT_MS, json: 'ask every daemon (unless --coverage is given), wait for each up to --timeout, and print the result with healthy and daemons', trust: true }),
      HELP_OPTION,
    ],
    exits: queryExits('a quorum answered (with --json: whether or not healthy)'),
    examples: [
      'qconf ping',
      'qconf ping --json --timeout 2000          # every daemon: answered, serial, ready, stale, rttMs',
      "qconf ping --json | jq -e '.healthy' >/dev/null || echo 'qconf degraded'",
      "qconf ping --json | jq -r '.daemons[] | select(.answered | not) | .peer'   # silent daemons",
    ],
  },
  run: async (p, io) => {
    const f = queryFlags(p);
    return withClient(p, io, async (client) => {
      if (!f.json) {
        const r = await client.ping(f);
        return finish({ ...r, consistent: true }, false, io, (a) => io.out(formatValue(a, io) + '\n'));
      }
      const { result: r, daemons: each } = await askEach(client, { op: 'ping' }, f);
      const daemons = each.map(health);
      const answered = daemons.filter((d) => d.answered);
      const consistent = answered.every((d) => d.serial === r.serial);
      const healthy = r.kind !== 'no_quorum' && answered.length === r.sent && consistent && answered.every((d) => d.ready === true && d.stale === false);
      io.out(JSON.stringify({ ...r, consistent, healthy, daemons }) + '\n');
      if (r.kind === 'no_quorum') return reportNoQuorum(r, io);
      return r.status === 0 ? EXIT.OK : EXIT.FAILURE;
    });
  },
};
