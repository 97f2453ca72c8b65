// The client's UDP edge: one socket per address family, opened on first use; host names are
// resolved once per peer list. Incoming datagrams go to a single handler.
import dgram, { type RemoteInfo, type Socket } from 'node:dgram';
import type { LookupOneOptions } from 'node:dns';
import { isIP } from 'node:net';
import type { Peer } from '../shared/peers.js';

export type MessageHandler = (msg: Buffer, rinfo: RemoteInfo) => void;
export type SendErrorHandler = (peer: Peer, err: Error) => void;

/**
 * The sockets' address lookup. Every address this transport gives a socket is a literal (the
 * bind address, peers' addresses, names resolved by `resolve` below), so this answers without
 * node:dns, which dgram's default lookup loads (a short-lived `qconf` process is mostly
 * module loading), and at once, as the daemon's does: a deferred answer cost every datagram a
 * tick of its own. Anything else still goes to dns.lookup.
 */
function lookupLiteral(address: string, options: LookupOneOptions, cb: (err: NodeJS.ErrnoException | null, address: string, family: number) => void): void {
  const family = isIP(address);
  if (family !== 0) return cb(null, address, family);
  import('node:dns').then(
    (dns) => dns.lookup(address, options, cb),
    (err: Error) => cb(err, '', 0),
  );
}

const RECV_BUFFER_BYTES = 1 << 20;

export class UdpTransport {
  private sock4: Socket | undefined;
  private sock6: Socket | undefined;
  private readonly resolved = new Map<string, Promise<{ address: string; family: 4 | 6 }>>();
  private closed = false;

  constructor(
    private readonly onMessage: MessageHandler,
    private readonly onSendError: SendErrorHandler,
  ) {}

  private socket(family: 4 | 6): Socket {
    let s = family === 4 ? this.sock4 : this.sock6;
    if (s) return s;
    // A client with many requests out (an agent's held waits, answered together at a reload) gets
    // their replies in one burst: room for a megabyte of them (the kernel may allow less).
    const opts = { lookup: lookupLiteral, recvBufferSize: RECV_BUFFER_BYTES };
    s = dgram.createSocket(family === 4 ? { type: 'udp4', ...opts } : { type: 'udp6', ipv6Only: true, ...opts });
    s.on('message', this.onMessage);
    // Errors of an unconnected UDP socket are per send (e.g. ICMP unreachable): not fatal.
    s.on('error', () => undefined);
    s.bind(0);
    if (family === 4) this.sock4 = s;
    else this.sock6 = s;
    return s;
  }

  private resolve(peer: Peer): Promise<{ address: string; family: 4 | 6 }> {
    if (peer.family !== 0) return Promise.resolve({ address: peer.host, family: peer.family });
    let p = this.resolved.get(peer.host);
    if (!p) {
      // node:dns is loaded only for host names (most peer lists are addresses).
      p = import('node:dns/promises')
        .then((dns) => dns.lookup(peer.host))
        .then((r) => ({ address: r.address, family: r.family === 6 ? 6 : 4 }) as const);
      this.resolved.set(peer.host, p);
      p.catch(() => this.resolved.delete(peer.host));
    }
    return p;
  }

  /**
   * Send to `peer` the datagram `build` makes for the address it resolves to (a request names
   * the address it is sent to).
   */
  send(peer: Peer, build: (address: string) => Buffer): void {
    if (this.closed) return;
    if (peer.family !== 0) return this.sendTo(peer, peer.host, peer.family, build(peer.host));
    this.resolve(peer)
      .then((r) => this.sendTo(peer, r.address, r.family, build(r.address)))
      .catch((err: Error) => this.onSendError(peer, err));
  }

  private sendTo(peer: Peer, address: string, family: 4 | 6, bytes: Buffer): void {
    if (this.closed) return;
    this.socket(family).send(bytes, peer.port, address, (err) => {
      if (err) this.onSendError(peer, err);
    });
  }

  /** Forget resolved names (the peer list changed). */
  reset(): void {
    this.resolved.clear();
  }

  close(): void {
    this.closed = true;
    for (const s of [this.sock4, this.sock6]) {
      if (!s) continue;
      try {
        s.close();
      } catch {
        /* already closed */
      }
    }
    this.sock4 = this.sock6 = undefined;
  }
}
