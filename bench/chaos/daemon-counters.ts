// The daemons' own counters at the end of a phase (the `stats` op, asked directly): how often
// they refused to hold a wait (busy), withheld a reply from an unvalidated address, or dropped a
// datagram, and why. Summed over the daemons still running; only non-zero counts are kept.
import { ConfdClient } from '../../client/confd-client.js';
import type { Keyring } from '../../shared/keyring.js';
import type { ChaosDaemon } from './chaos-daemon.js';

export async function daemonCounters(daemons: readonly ChaosDaemon[], keyring: Keyring): Promise<Record<string, number>> {
  const client = new ConfdClient({ keyring, peers: daemons.map((d) => d.td.peer) });
  const out: Record<string, number> = {};
  const add = (k: string, n: unknown) => {
    if (typeof n === 'number' && n > 0) out[k] = (out[k] ?? 0) + n;
  };
  try {
    await Promise.all(
      daemons.map(async (d, i) => {
        if (d.state !== 'up') return;
        const r = await client.requestOne(client.peerList[i], { op: 'stats' }, { timeoutMs: 2000 }).reply;
        const s = r?.status === 0 ? (r.answer as Record<string, unknown>) : undefined;
        if (!s) return;
        add('busy waits', s.waitsBusy);
        add('withheld', s.withheld);
        add('internal errors', s.internalErrors);
        for (const [k, n] of Object.entries((s.drops ?? {}) as Record<string, number>)) add(`drop ${k}`, n);
      }),
    );
  } finally {
    client.close();
  }
  return out;
}
