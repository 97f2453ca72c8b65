// The daemons a client asks: its peer list (with a fast path for the usual IPv4 `address:port`
// lists) and an unbiased random order of them.
import { isIPv4 } from 'node:net';
import { parsePeerList, type Peer } from '../shared/peers.js';

const IPV4_PORT = /^([0-9.]{7,15}):([0-9]{1,5})$/;

/**
 * parsePeerList, with a fast path for lists of IPv4 `address:port` peers (the usual case): the
 * same peers, without the IPv6 test parsePeer makes first, whose pattern costs a short-lived
 * `qconf` process milliseconds to compile. Anything else goes to parsePeerList.
 */
export function peerList(list: string | readonly string[], defaultPort: number): Peer[] {
  const items = typeof list === 'string' ? list.split(/[\s,]+/).filter((x) => x !== '') : list;
  const out: Peer[] = [];
  const seen = new Set<string>();
  for (const item of items) {
    const m = IPV4_PORT.exec(item);
    const port = m ? Number(m[2]) : 0;
    if (!m || !isIPv4(m[1]) || port < 1 || port > 65535) return parsePeerList(list, defaultPort);
    const label = `${m[1]}:${port}`;
    if (seen.has(label)) continue;
    seen.add(label);
    out.push({ host: m[1], port, family: 4, label });
  }
  return out;
}

/** An unbiased random order (Fisher–Yates). */
export function shuffled<T>(items: readonly T[]): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}
