// Peer addresses: `host`, `host:port`, `[v6]:port`, or a bare IPv6 literal.
import { isIP } from 'node:net';
import { QconfError } from './errors.js';

/** qconfd's port unless configured otherwise. */
export const DEFAULT_PORT = 1814;

/** A daemon's address, parsed. */
export interface Peer {
  /** An IPv4 or IPv6 address (no brackets), or a host name. */
  host: string;
  /** The UDP port. */
  port: number;
  /** 4, 6, or 0 for a host name to be resolved. */
  family: 0 | 4 | 6;
  /** The canonical spelling, `host:port` or `[v6]:port`; used as the peer's identity. */
  label: string;
}

function parsePort(text: string, spec: string): number {
  if (!/^[0-9]{1,5}$/.test(text)) throw new QconfError('usage', `peer ${JSON.stringify(spec)}: bad port ${JSON.stringify(text)}`);
  const n = Number(text);
  if (n < 1 || n > 65535) throw new QconfError('usage', `peer ${JSON.stringify(spec)}: port ${n} out of range`);
  return n;
}

export function formatHostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Parse `host`, `host:port`, `[v6]:port` or a bare IPv6 literal; throws a QconfError `usage` when it is none. */
export function parsePeer(spec: string, defaultPort = DEFAULT_PORT): Peer {
  const s = spec.trim();
  if (s === '') throw new QconfError('usage', 'empty peer address');
  let host: string;
  let port = defaultPort;
  if (s.startsWith('[')) {
    const end = s.indexOf(']');
    if (end < 0) throw new QconfError('usage', `peer ${JSON.stringify(spec)}: missing "]"`);
    host = s.slice(1, end);
    const rest = s.slice(end + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) throw new QconfError('usage', `peer ${JSON.stringify(spec)}: unexpected ${JSON.stringify(rest)}`);
      port = parsePort(rest.slice(1), spec);
    }
    if (isIP(host) !== 6) throw new QconfError('usage', `peer ${JSON.stringify(spec)}: not an IPv6 address inside brackets`);
  } else if (isIP(s) === 6) {
    host = s;
  } else {
    const colon = s.lastIndexOf(':');
    if (colon >= 0) {
      host = s.slice(0, colon);
      port = parsePort(s.slice(colon + 1), spec);
    } else {
      host = s;
    }
    if (host === '' || !/^[A-Za-z0-9.-]+$/.test(host)) throw new QconfError('usage', `peer ${JSON.stringify(spec)}: bad host name`);
  }
  const fam = isIP(host);
  const family = fam === 4 ? 4 : fam === 6 ? 6 : 0;
  return { host, port, family, label: formatHostPort(host, port) };
}

/** Parse a comma- or space-separated peer list, dropping duplicates. */
export function parsePeerList(list: string | readonly string[], defaultPort = DEFAULT_PORT): Peer[] {
  const items = typeof list === 'string' ? list.split(/[\s,]+/).filter((x) => x !== '') : list;
  const seen = new Set<string>();
  const out: Peer[] = [];
  for (const item of items) {
    const p = parsePeer(item, defaultPort);
    if (seen.has(p.label)) continue;
    seen.add(p.label);
    out.push(p);
  }
  return out;
}
