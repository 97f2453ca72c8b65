// qconf ping: the daemons' node, serial and source. With --json, a health report for
// monitoring scripts: every daemon is asked (unless --coverage says otherwise), the command
// waits for all of them (up to --timeout), and the quorum result gains `healthy` and a
// `daemons` list with each daemon's answer or its silence.
//
// Ping answers describe the daemon that sent them (node, load time), so they always differ;
// the quorum rule's `consistent` (no two different replies of one serial) says nothing here.
// For ping it means instead: every daemon that answered serves the same serial.
import { CliExit, EXIT, commonOptions, finish, formatValue, makeClient, parse, str, type Command } from './common.js';

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

export const pingCommand: Command = {
  summary: "ask the daemons for their node, serial and source; --json: every daemon's health (healthy: all answered, ready, not stale, one serial)",
  usage: 'qconf ping [--json] [options]',
  examples: [
    'qconf ping',
    'qconf ping --json --timeout 2000          # every daemon: answered, serial, ready, stale, rttMs',
    "qconf ping --json | jq -e '.healthy' >/dev/null || echo 'qconf degraded'",
    "qconf ping --json | jq -r '.daemons[] | select(.answered | not) | .peer'   # silent daemons",
  ],
  run: async (args, io) => {
    const p = parse(args);
    if (p.positionals.length !== 0) throw new CliExit(EXIT.USAGE, `usage: ${pingCommand.usage}`);
    const c = commonOptions(p, io);
    const client = makeClient(p, io);
    try {
      if (!c.json) {
        const r = await client.ping(c);
        return finish({ ...r, consistent: true }, c, io, (a) => io.out(formatValue(a, io) + '\n'));
      }
      // Monitoring: ask every daemon unless told otherwise, and wait for all of them.
      const coverage = str(p, 'coverage', io) === undefined ? -1 : c.coverage;
      const seen = new Map<string, DaemonHealth>();
      const started = performance.now();
      client.setCallback((u) => {
        if (u.type !== 'reply' || u.request.op !== 'ping') return;
        const a = (u.reply.answer ?? {}) as Record<string, unknown>;
        const h: DaemonHealth = { peer: u.peer.label, answered: true, node: u.reply.node, serial: u.reply.serial, rttMs: Math.round((performance.now() - started) * 100) / 100 };
        if (u.reply.status === 0) {
          if (typeof a.ready === 'boolean') h.ready = a.ready;
          if (typeof a.stale === 'boolean') h.stale = a.stale;
          if (typeof a.source === 'string') h.source = a.source;
          if (typeof a.version === 'string') h.version = a.version;
          if (typeof a.loadedAt === 'number') h.loadedAt = a.loadedAt;
          if (typeof a.lastContactAgeMs === 'number') h.lastContactAgeMs = a.lastContactAgeMs;
        } else if (u.reply.error) {
          h.error = { code: String(u.reply.error.code), message: u.reply.error.message };
        }
        seen.set(u.peer.label, h);
      });
      const r = await client.ping({ ...c, coverage, all: true });
      const everyPeer = coverage === -1 || coverage === undefined || coverage >= client.peerList.length;
      const daemons: DaemonHealth[] = everyPeer
        ? client.peerList.map((peer) => seen.get(peer.label) ?? { peer: peer.label, answered: false })
        : [...seen.values()];
      const answered = daemons.filter((d) => d.answered);
      const consistent = answered.every((d) => d.serial === r.serial);
      const healthy = !r.timedOut && answered.length === r.sent && consistent && answered.every((d) => d.ready === true && d.stale === false);
      io.out(JSON.stringify({ ...r, consistent, healthy, daemons }) + '\n');
      if (r.timedOut) {
        const why = r.replies === 0 ? 'no daemon answered (unreachable, not running, or a different key)' : (r.error?.message ?? 'no quorum');
        io.err(`qconf: ${why}; ${r.replies} of ${r.sent} replied, ${r.needed} needed\n`);
        return r.replies === 0 ? EXIT.FAILURE : EXIT.NO_QUORUM;
      }
      return r.status === 0 ? EXIT.OK : EXIT.FAILURE;
    } finally {
      client.close();
    }
  },
};
