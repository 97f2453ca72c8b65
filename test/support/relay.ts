// A UDP relay on loopback for fault-injection tests: client → relay → daemon and back. Each
// direction can drop a fraction of datagrams, duplicate them, delay them (jitter reorders
// them) and explicitly reorder them (hold one back until the next has passed). All decisions
// come from seeded PRNGs, one per direction, so a given sequence of datagrams always meets
// the same fate.
import dgram, { type RemoteInfo, type Socket } from 'node:dgram';
import { seededRandom } from '../../testkit/random.js';

export interface FaultSpec {
  /** Fraction of datagrams dropped, 0..1. */
  drop?: number;
  /** Fraction of (surviving) datagrams duplicated, 0..1. */
  duplicate?: number;
  /** Extra copies sent for a duplicated datagram (default 1). */
  copies?: number;
  /** Uniform random delay per datagram (and per copy), in ms. */
  delayMs?: [number, number];
  /** Fraction of datagrams held back until the next datagram in that direction has passed. */
  reorder?: number;
  /** Longest hold of a reordered datagram when nothing follows it (default 200 ms). */
  reorderHoldMs?: number;
}

export interface RelayOptions {
  /** Where requests go; undefined makes the relay a black hole that answers nothing. */
  target?: { host: string; port: number };
  /** The port to listen on (a daemon's advertised front port, TestDaemon.front()); default any. */
  port?: number;
  seed?: number;
  toDaemon?: FaultSpec;
  toClient?: FaultSpec;
  /** Sees every datagram as it reaches the relay, before its fate is decided (a capture of the wire). */
  tap?: (direction: 'toDaemon' | 'toClient', datagram: Buffer) => void;
}

export interface DirectionStats {
  /** Datagrams that arrived at the relay in this direction. */
  received: number;
  dropped: number;
  /** Datagrams handed on (copies included). */
  forwarded: number;
  duplicated: number;
  reordered: number;
}

function emptyStats(): DirectionStats {
  return { received: 0, dropped: 0, forwarded: 0, duplicated: 0, reordered: 0 };
}

class Direction {
  readonly stats = emptyStats();
  private readonly rand: () => number;
  private held: { send: () => void; timer: NodeJS.Timeout } | undefined;

  constructor(
    private readonly spec: FaultSpec,
    seed: number,
    private readonly timers: Set<NodeJS.Timeout>,
  ) {
    this.rand = seededRandom(seed);
  }

  private later(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  /** Decide the fate of one datagram; `send` puts one copy on the wire. */
  pass(send: () => void): void {
    const s = this.spec;
    this.stats.received++;
    // Draw every decision for every datagram, so a fate never shifts the PRNG stream.
    const rDrop = this.rand();
    const rDup = this.rand();
    const rReorder = this.rand();
    const copies = rDup < (s.duplicate ?? 0) ? 1 + (s.copies ?? 1) : 1;
    const delays = Array.from({ length: copies }, () => {
      const [lo, hi] = s.delayMs ?? [0, 0];
      return lo + this.rand() * (hi - lo);
    });
    if (rDrop < (s.drop ?? 0)) {
      this.stats.dropped++;
      return;
    }
    if (copies > 1) this.stats.duplicated++;
    const emit = () => {
      for (const d of delays) {
        const one = () => {
          this.stats.forwarded++;
          send();
        };
        if (d <= 0) one();
        else this.later(d, one);
      }
    };
    // Whatever was held back goes after this datagram: the two swap places.
    const prev = this.held;
    this.held = undefined;
    if (prev === undefined && rReorder < (s.reorder ?? 0)) {
      this.stats.reordered++;
      const timer = this.later(s.reorderHoldMs ?? 200, () => {
        if (this.held?.timer === timer) this.held = undefined;
        emit();
      });
      this.held = { send: emit, timer };
      return;
    }
    emit();
    if (prev) {
      clearTimeout(prev.timer);
      this.timers.delete(prev.timer);
      prev.send();
    }
  }
}

/**
 * The relay listens on 127.0.0.1:port. Each client address gets its own upstream socket, so
 * a daemon's reply on that socket is returned to the client it belongs to.
 */
export class UdpRelay {
  port = 0;
  private listener: Socket | undefined;
  private readonly upstream = new Map<string, Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private toDaemon: Direction;
  private toClient: Direction;
  private closed = false;

  constructor(private readonly opts: RelayOptions = {}) {
    const seed = opts.seed ?? 1;
    this.toDaemon = new Direction(opts.toDaemon ?? {}, seed, this.timers);
    this.toClient = new Direction(opts.toClient ?? {}, seed ^ 0x5bd1e995, this.timers);
  }

  get peer(): string {
    return `127.0.0.1:${this.port}`;
  }

  get stats(): { toDaemon: DirectionStats; toClient: DirectionStats } {
    return { toDaemon: { ...this.toDaemon.stats }, toClient: { ...this.toClient.stats } };
  }

  /** Zero the counters (the PRNG streams go on). */
  resetStats(): void {
    Object.assign(this.toDaemon.stats, emptyStats());
    Object.assign(this.toClient.stats, emptyStats());
  }

  async start(): Promise<this> {
    const sock = dgram.createSocket('udp4');
    sock.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(this.opts.port ?? 0, '127.0.0.1', () => {
        sock.off('error', reject);
        resolve();
      });
    });
    this.listener = sock;
    this.port = sock.address().port;
    sock.on('message', (msg, rinfo) => this.fromClient(msg, rinfo));
    return this;
  }

  private fromClient(msg: Buffer, client: RemoteInfo): void {
    if (this.closed) return;
    this.opts.tap?.('toDaemon', msg);
    const target = this.opts.target;
    const up = target ? this.upstreamFor(client) : undefined;
    this.toDaemon.pass(() => {
      if (this.closed || !target || !up) return;
      up.send(msg, target.port, target.host, () => undefined);
    });
  }

  private upstreamFor(client: RemoteInfo): Socket {
    const key = `${client.address}:${client.port}`;
    let up = this.upstream.get(key);
    if (up) return up;
    up = dgram.createSocket('udp4');
    // ICMP "port unreachable" from a dead daemon shows up as a socket error: not fatal.
    up.on('error', () => undefined);
    up.on('message', (reply) => {
      if (this.closed) return;
      this.opts.tap?.('toClient', reply);
      this.toClient.pass(() => {
        if (this.closed) return;
        this.listener?.send(reply, client.port, client.address, () => undefined);
      });
    });
    up.bind(0, '127.0.0.1');
    this.upstream.set(key, up);
    return up;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const socks = [this.listener, ...this.upstream.values()].filter((s): s is Socket => s !== undefined);
    this.upstream.clear();
    this.listener = undefined;
    await Promise.all(
      socks.map(
        (s) =>
          new Promise<void>((resolve) => {
            try {
              s.close(() => resolve());
            } catch {
              resolve();
            }
          }),
      ),
    );
  }
}

export async function startRelay(opts: RelayOptions): Promise<UdpRelay> {
  return new UdpRelay(opts).start();
}

export async function closeAll(relays: UdpRelay[]): Promise<void> {
  await Promise.all(relays.map((r) => r.close()));
}
