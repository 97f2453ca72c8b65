// Which `to` values name this daemon (docs/protocol.md, "Destination"): its bound address, or
// with a wildcard bind every address of its interfaces (the whole loopback range on Linux), at
// its port; and any ADDR:PORT given with --advertise (a NAT's or relay's address in front of
// it). Interfaces are read again, at most once a second, when a `to` does not match, so an
// address added at run time is taken up without a restart.
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import { canonicalAddress, formatDestination, parseDestination } from '../shared/destination.js';

export interface OwnAddressOptions {
  /** The address bound; undefined, `::` or `0.0.0.0`: every interface. */
  bind: string | undefined;
  /** The port bound. */
  port: number;
  /** ADDR:PORT pairs this daemon is also reached at (IP literals). */
  advertise?: readonly string[];
  /** The interfaces (os.networkInterfaces by default; tests give their own). */
  interfaces?: () => NodeJS.Dict<NetworkInterfaceInfo[]>;
  now?: () => number;
}

const REFRESH_MS = 1000;

function isLoopbackV4(address: string): boolean {
  return address.startsWith('127.');
}

export class OwnAddresses {
  private readonly wildcard: boolean;
  /** Canonical `to` spellings that name this daemon. */
  private names = new Set<string>();
  private readonly advertised: Set<string>;
  private readAt = -Infinity;
  private loopbackRange = false;
  private readonly interfaces: () => NodeJS.Dict<NetworkInterfaceInfo[]>;
  private readonly now: () => number;

  constructor(private readonly o: OwnAddressOptions) {
    const b = o.bind === undefined ? undefined : canonicalAddress(o.bind)?.address;
    this.wildcard = b === undefined || b === '::' || b === '0.0.0.0';
    this.interfaces = o.interfaces ?? networkInterfaces;
    this.now = o.now ?? Date.now;
    this.advertised = new Set((o.advertise ?? []).map((a) => canonicalTo(a)).filter((a): a is string => a !== undefined));
    this.refresh();
  }

  private refresh(): void {
    this.readAt = this.now();
    const names = new Set<string>();
    this.loopbackRange = false;
    if (!this.wildcard) {
      names.add(formatDestination(this.o.bind as string, this.o.port));
    } else {
      for (const list of Object.values(this.interfaces())) {
        for (const i of list ?? []) {
          const c = canonicalAddress(i.address);
          if (c === undefined) continue;
          names.add(formatDestination(c.address, this.o.port));
          // Linux delivers the whole 127.0.0.0/8 to the loopback interface.
          if (i.internal && c.family === 4 && isLoopbackV4(c.address)) this.loopbackRange = true;
        }
      }
    }
    this.names = names;
  }

  /** Whether a request's `to` names this daemon. */
  matches(to: string): boolean {
    if (this.names.has(to) || this.advertised.has(to)) return true;
    const d = parseDestination(to);
    if (d === undefined) return false;
    const canonical = d.family === 6 ? `[${d.address}]:${d.port}` : `${d.address}:${d.port}`;
    if (this.advertised.has(canonical)) return true;
    if (d.port !== this.o.port) return false;
    if (this.names.has(canonical)) return true;
    if (this.wildcard && this.loopbackRange && d.family === 4 && isLoopbackV4(d.address)) return true;
    if (this.wildcard && this.now() - this.readAt >= REFRESH_MS) {
      this.refresh();
      return this.names.has(canonical);
    }
    return false;
  }

  /** The names this daemon answers to (for logs and --check). */
  list(): string[] {
    return [...this.names, ...this.advertised];
  }
}

/** The canonical spelling of an ADDR:PORT (undefined when it is not one). */
export function canonicalTo(text: string): string | undefined {
  const d = parseDestination(text);
  if (d === undefined) return undefined;
  return d.family === 6 ? `[${d.address}]:${d.port}` : `${d.address}:${d.port}`;
}
