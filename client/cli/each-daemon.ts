// Asking every daemon for something about itself (ping --json, stats): the quorum result, and
// each daemon's own reply or its silence, waited for up to the timeout.
import { performance } from 'node:perf_hooks';
import type { ConfdClient } from '../confd-client.js';
import type { QueryResult, Reply, Request } from '../types.js';

export interface EachReply {
  peer: string;
  /** Undefined: the daemon did not answer before the timeout. */
  reply?: Reply;
  /** From sending the request to this daemon's reply (retransmissions included). */
  rttMs?: number;
}

/**
 * Send `request` to every peer (or `coverage` of them: then only those that answered are
 * listed) and wait for all of them until `timeoutMs`.
 */
export async function askEach(client: ConfdClient, request: Request, opts: { coverage: number | undefined; timeoutMs: number }): Promise<{ result: QueryResult; daemons: EachReply[] }> {
  const seen = new Map<string, EachReply>();
  const started = performance.now();
  client.setCallback((u) => {
    if (u.type !== 'reply' || u.request !== request) return;
    seen.set(u.peer.label, { peer: u.peer.label, reply: u.reply, rttMs: Math.round((performance.now() - started) * 100) / 100 });
  });
  const coverage = opts.coverage ?? -1;
  const result = await client.query(request, { coverage, timeoutMs: opts.timeoutMs, all: true });
  client.setCallback(undefined);
  const everyPeer = coverage === -1 || coverage >= client.peerList.length;
  const daemons = everyPeer ? client.peerList.map((peer) => seen.get(peer.label) ?? { peer: peer.label }) : [...seen.values()];
  return { result, daemons };
}
