// The UDP edge: binds the socket, reads datagrams, and hands each to the protocol its magic
// selects. Nothing here interprets a request.
import dgram, { type RemoteInfo, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import { beforeEachSlice } from './turn-end.js';
import { QconfError } from '../shared/errors.js';
import { udpPortHolder } from './port-holder.js';
import type { Protocol, Stats } from './stats.js';

export type DatagramHandler = (msg: Buffer, rinfo: RemoteInfo) => void;

export interface Route {
  /** Four magic bytes as a 32-bit big-endian integer. */
  magic: number;
  /** Largest request accepted for this protocol. */
  maxBytes: number;
  handler: DatagramHandler;
  /** Which latency histogram this route's replies feed (when stats.timing is on). */
  protocol?: Protocol;
}

export function magicOf(ascii: string): number {
  return Buffer.from(ascii, 'ascii').readUInt32BE(0);
}

/**
 * Replies go only to the address a request came from, always an IP literal. dgram's default
 * lookup (dns.lookup) answers a literal on the next tick, which costs every reply a deferred
 * call; this one answers at once (about a tenth of the daemon's time per datagram).
 */
function literalLookup(address: string, _options: unknown, callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void): void {
  callback(null, address, address.includes(':') ? 6 : 4);
}

export interface BoundAddress {
  address: string;
  port: number;
  family: string;
}

/** Every this many sends, one is sent with a completion check (see UdpServer.send). */
const CHECK_EVERY = 32;
/** A queued reply is sent at the latest after this many more datagrams of its turn. */
const FLUSH_AFTER = 16;
/** Sends checked one by one after a failed one. */
const CHECK_ALL_AFTER_FAILURE = 4096;

export class UdpServer {
  private socket: Socket | undefined;
  private readonly routes = new Map<number, Route>();
  private closing = false;
  /** Bound but not yet dispatching (listen with `paused`): datagrams are dropped, as if unbound. */
  private paused = false;
  /** Sends since the last one given a completion check (see send). */
  private unchecked = 0;
  /** Sends left to check one by one after a failure was seen. */
  private checkAll = 0;
  /**
   * Reply latency (stats.timing): the receive time of the datagram being dispatched. A reply
   * sent while its request is dispatched is timed; one sent later (a held wait) is not, since
   * its hold is not latency.
   */
  private rxAt = -1;
  private rxProtocol: Protocol | undefined;

  constructor(
    private readonly stats: Stats,
    private readonly onError: (err: Error) => void,
  ) {}

  route(r: Route): void {
    this.routes.set(r.magic, r);
  }

  /**
   * Bind to `bind` (default: `::` dual-stack, falling back to `0.0.0.0` without IPv6). With
   * `paused`, datagrams are dropped until resume(): the port is held before the daemon has
   * anything to serve. A port that cannot be bound is a QconfError `bind` naming it.
   */
  async listen(port: number, bind?: string, opts: { paused?: boolean } = {}): Promise<BoundAddress> {
    this.paused = opts.paused === true;
    if (bind !== undefined) {
      const fam = isIP(bind);
      if (fam === 0) throw new Error(`--bind ${bind}: not an IP address`);
      return this.bindOne(fam === 6 ? 'udp6' : 'udp4', bind, port);
    }
    try {
      return await this.bindOne('udp6', '::', port);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL' && code !== 'EINVAL') throw e;
      return this.bindOne('udp4', '0.0.0.0', port);
    }
  }

  /** Dispatch datagrams from now on (after listen with `paused`). */
  resume(): void {
    this.paused = false;
  }

  private bindOne(type: 'udp4' | 'udp6', address: string, port: number): Promise<BoundAddress> {
    return new Promise((resolve, reject) => {
      const sock = dgram.createSocket({ type, ipv6Only: false, recvBufferSize: 4 << 20, sendBufferSize: 4 << 20, lookup: literalLookup });
      const fail = (err: NodeJS.ErrnoException) => {
        sock.close();
        if (err.code === 'EADDRINUSE') {
          const holder = udpPortHolder(port);
          reject(new QconfError('bind', `UDP port ${port} on ${address} is in use${holder ? ` by ${holder}` : ''}: stop it, or give another --port`, { cause: err }));
        } else if (err.code === 'EACCES') {
          reject(new QconfError('bind', `UDP port ${port} on ${address}: permission denied (ports below 1024 need privileges)`, { cause: err }));
        } else reject(err);
      };
      sock.once('error', fail);
      sock.bind({ port, address, exclusive: true }, () => {
        sock.off('error', fail);
        sock.on('error', (err) => this.onError(err));
        sock.on('message', (msg, rinfo) => this.dispatch(msg, rinfo));
        this.socket = sock;
        this.unregister = beforeEachSlice(this.flush);
        const a = sock.address();
        resolve({ address: a.address, port: a.port, family: a.family });
      });
    });
  }

  private dispatch(msg: Buffer, rinfo: RemoteInfo): void {
    if (this.closing || this.paused) return;
    // A queued reply waits for at most FLUSH_AFTER more datagrams, those that get no reply (a
    // flood being dropped) included.
    if (this.queue.bytes.length > 0 && ++this.waitedFor >= FLUSH_AFTER) this.flush();
    const stats = this.stats;
    stats.received++;
    if (msg.length < 4) return stats.drop('too_short');
    const r = this.routes.get(msg.readUInt32BE(0));
    if (r === undefined) return stats.drop('bad_magic');
    if (msg.length > r.maxBytes) return stats.drop('too_long');
    if (stats.timing && r.protocol !== undefined) {
      this.rxAt = performance.now();
      this.rxProtocol = r.protocol;
    }
    try {
      r.handler(msg, rinfo);
    } catch (err) {
      // A handler bug must never take the daemon down; count it and keep serving.
      stats.drop('internal');
      this.onError(err as Error);
    } finally {
      this.rxAt = -1;
    }
  }

  /**
   * Queue a reply; the queue leaves at the end of this turn of the event loop, after every
   * datagram the turn read has been handled (or before a slice of long work, turn-end.ts, if
   * one comes first). A client with many requests in flight then wakes once for a batch of
   * replies instead of once for each: on loopback the wake-up is most of what a send costs, and
   * batching measured 1.2× the queries a second (bench/results/reply-batching-ab.md). A reply
   * waits for at most FLUSH_AFTER more datagrams (dispatch), so a flood that gets no replies
   * does not hold another key's. Bounded by what one turn produces (libuv reads at most a few
   * dozen datagrams a turn; a snapshot change releases at most the held waits).
   */
  send(bytes: Buffer, to: RemoteInfo): void {
    if (!this.socket) return;
    let rxAt = -1;
    if (this.rxAt >= 0) {
      rxAt = this.rxAt;
      this.rxAt = -1;
    }
    const q = this.queue;
    q.bytes.push(bytes);
    q.to.push(to);
    q.rxAt.push(rxAt);
    q.protocol.push(this.rxProtocol);
    if (q.bytes.length === 1) setImmediate(this.flush);
  }

  /** Takes the flush back from the slice runner (turn-end.ts) when the socket closes. */
  private unregister: (() => void) | undefined;

  /** Replies waiting for the end of the turn, and when each one's request arrived (-1: not timed). */
  private readonly queue = { bytes: [] as Buffer[], to: [] as RemoteInfo[], rxAt: [] as number[], protocol: [] as (Protocol | undefined)[] };

  /** Datagrams dispatched since the queue's first reply was queued. */
  private waitedFor = 0;

  /** Send every queued reply, in order. */
  private readonly flush = (): void => {
    const q = this.queue;
    this.waitedFor = 0;
    const sock = this.socket;
    for (let i = 0; i < q.bytes.length && sock; i++) {
      if (q.rxAt[i] >= 0) this.stats.observeLatency(q.protocol[i] as Protocol, performance.now() - q.rxAt[i]);
      try {
        this.sendNow(sock, q.bytes[i], q.to[i]);
      } catch (err) {
        // Refused before it left (say, a port 0 to reply to): counted, and the rest still go.
        this.stats.sendErrors++;
        this.onError(err as Error);
      }
    }
    q.bytes.length = 0;
    q.to.length = 0;
    q.rxAt.length = 0;
    q.protocol.length = 0;
  };

  private sendNow(sock: Socket, bytes: Buffer, to: RemoteInfo): void {
    // A completion callback costs a tick per datagram (some 10% of a small reply's cost), and
    // without one a failed send goes unseen (dgram reports it to nobody). So one send in
    // CHECK_EVERY is checked, and after a failure every send, for a while: a cause that fails
    // replies (a route, a firewall) is seen at once and counted reply by reply.
    if (this.checkAll > 0 || ++this.unchecked >= CHECK_EVERY) {
      this.unchecked = 0;
      if (this.checkAll > 0) this.checkAll--;
      sock.send(bytes, to.port, to.address, this.onChecked);
    } else {
      sock.send(bytes, to.port, to.address);
    }
  }

  /** One completion callback for every checked send (no closure per datagram). */
  private readonly onChecked = (err: Error | null): void => {
    if (!err) return;
    this.stats.sendErrors++;
    this.checkAll = CHECK_ALL_AFTER_FAILURE;
  };

  get listening(): boolean {
    return this.socket !== undefined && !this.closing;
  }

  /** Stop reading; sends already queued complete before the socket closes. */
  stopReceiving(): void {
    this.closing = true;
  }

  /** Close once every queued reply has left (bounded: a stuck send cannot hold shutdown). */
  async close(): Promise<void> {
    this.closing = true;
    this.flush();
    // Replies the kernel could not take at once wait in the socket's queue.
    const end = Date.now() + 2000;
    while (this.socket && this.socket.getSendQueueCount() > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    const sock = this.socket;
    this.socket = undefined;
    this.unregister?.();
    if (!sock) return;
    await new Promise<void>((resolve) => sock.close(() => resolve()));
  }
}

