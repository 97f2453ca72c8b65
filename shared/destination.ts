// The `to` of a QCF1 request (docs/protocol.md, "Destination"): the address and port the client
// sent it to, `192.0.2.7:1814` or `[2001:db8::3]:1814`, covered by the MAC, so that a request
// accepted by one daemon cannot be replayed to another. One spelling per address: IPv6 in its
// shortest lowercase form, IPv4-mapped IPv6 as IPv4.
import { isIP } from 'node:net';

export interface Destination {
  address: string;
  family: 4 | 6;
  port: number;
}

/** The canonical text of an IP address (undefined: not an address). */
export function canonicalAddress(address: string): { address: string; family: 4 | 6 } | undefined {
  const fam = isIP(address);
  if (fam === 4) return { address, family: 4 };
  if (fam !== 6) return undefined;
  // The URL parser writes IPv6 hosts in RFC 5952's form (lowercase, longest zero run as ::).
  let a: string;
  try {
    a = new URL(`http://[${address.replace(/%.*$/, '')}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(a);
  if (mapped) {
    const hi = parseInt(mapped[1], 16);
    const lo = parseInt(mapped[2], 16);
    return { address: `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`, family: 4 };
  }
  return { address: a, family: 6 };
}

export function formatDestination(address: string, port: number): string {
  const c = canonicalAddress(address);
  if (c === undefined) throw new RangeError(`${JSON.stringify(address)} is not an IP address`);
  return c.family === 6 ? `[${c.address}]:${port}` : `${c.address}:${port}`;
}

/** Parse a `to` value; undefined for anything that is not ADDR:PORT or [ADDR]:PORT. */
export function parseDestination(text: string): Destination | undefined {
  if (text.length > 64) return undefined;
  const m = /^(?:\[([^\]]+)\]|([0-9.]+)):([0-9]{1,5})$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return undefined;
  const raw = m[1] ?? m[2];
  if (m[1] !== undefined && isIP(raw) !== 6) return undefined;
  const c = canonicalAddress(raw);
  if (c === undefined) return undefined;
  return { address: c.address, family: c.family, port };
}
