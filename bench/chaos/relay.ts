// A UDP relay in front of one daemon (listening on one of its advertised front ports), whose
// faults can be changed while it runs: datagrams lost, duplicated, delayed (which reorders
// them) and held back until the next one has passed, in each direction on its own. Decisions
// come from a seeded PRNG. For testing the checker it can also play a daemon that now and then
// answers from its previous snapshot (`stale`): it re-signs the reply that daemon gave the same
// request at an older serial.
import dgram, { type RemoteInfo, type Socket } from 'node:dgram';
import type { Keyring } from '../../shared/keyring.js';
import { HEADER_LEN, KIND_REPLY, KIND_REQUEST, SALT_LEN, SALT_OFFSET, decodeBody, frame, verifyDatagram } from '../../shared/qcf1.js';
import { seededRandom } from '../../testkit/random.js';

export interface LinkFaults {
  /** Fraction of datagrams lost, 0..1. */
  loss: number;
  /** Fraction of datagrams sent twice. */
  duplicate: number;
  /** Each datagram (and copy) is delayed by a uniform time in this range, in ms. */
  delayMs: [number, number];
  /** Fraction of datagrams held back until the next one in that direction has passed. */
  reorder: number;
}

export const CLEAN: LinkFaults = { loss: 0, duplicate: 0, delayMs: [0, 0], reorder: 0 };

export function isClean(f: LinkFaults): boolean {
  return f.loss === 0 && f.duplicate === 0 && f.delayMs[1] === 0 && f.reorder === 0;
}

export interface RelayCounters {
  forwarded: number;
  lost: number;
  duplicated: number;
  reordered: number;
  /** Replies replaced by an older snapshot's (the planted stale daemon). */
  stale: number;
}

/** Longest hold of a reordered datagram when nothing follows it. */
const REORDER_HOLD_MS = 150;
/** Requests remembered for the stale mode (their salts, until answered). */
const MAX_REMEMBERED = 4096;

class Direction {
  faults: LinkFaults = CLEAN;
  private held: { release: () => void; timer: NodeJS.Timeout } | undefined;

  constructor(
    private readonly rand: () => number,
    private readonly counters: RelayCounters,
    private readonly timers: Set<NodeJS.Timeout>,
  ) {}

  private later(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  /** Decide one datagram's fate; `send` puts one copy on the wire. */
  pass(send: () => void): void {
    const f = this.faults;
    if (f.loss > 0 && this.rand() < f.loss) {
      this.counters.lost++;
      return;
    }
    const copies = f.duplicate > 0 && this.rand() < f.duplicate ? 2 : 1;
    if (copies > 1) this.counters.duplicated++;
    const emit = () => {
      for (let i = 0; i < copies; i++) {
        const [lo, hi] = f.delayMs;
        const d = hi > 0 ? lo + this.rand() * (hi - lo) : 0;
        const one = () => {
          this.counters.forwarded++;
          send();
        };
        if (d <= 0) one();
        else this.later(d, one);
      }
    };
    // Whatever was held back goes after this datagram: the two swap places.
    const prev = this.held;
    this.held = undefined;
    if (prev === undefined && f.reorder > 0 && this.rand() < f.reorder) {
      this.counters.reordered++;
      const timer = this.later(REORDER_HOLD_MS, () => {
        if (this.held?.timer === timer) this.held = undefined;
        emit();
      });
      this.held = { release: emit, timer };
      return;
    }
    emit();
    if (prev) {
      clearTimeout(prev.timer);
      this.timers.delete(prev.timer);
      prev.release();
    }
  }
}

export interface StaleOptions {
  keyring: Keyring;
  /** Chance that a reply with an older answer on record is replaced by it. */
  probability: number;
}

/** The planted stale daemon's memory: per request (op and paths), its last two answers by serial. */
class StaleMemory {
  private readonly bySalt = new Map<string, string>();
  private readonly answers = new Map<string, { current: { serial: number; body: Buffer }; previous?: { serial: number; body: Buffer } }>();

  constructor(
    private readonly o: StaleOptions,
    private readonly rand: () => number,
  ) {}

  request(msg: Buffer): void {
    if (!verifyDatagram(msg, this.o.keyring, KIND_REQUEST).ok) return;
    const body = decodeBody(msg);
    const what = body?.op === 'get' ? `g${String(body.path)}` : body?.op === 'mget' ? `m${JSON.stringify(body.paths)}` : undefined;
    if (what === undefined) return;
    if (this.bySalt.size >= MAX_REMEMBERED) this.bySalt.delete(this.bySalt.keys().next().value as string);
    this.bySalt.set(msg.subarray(SALT_OFFSET, SALT_OFFSET + SALT_LEN).toString('hex'), what);
  }

  /** The reply to send instead of `msg` (or `msg` itself). */
  reply(msg: Buffer): Buffer {
    const v = verifyDatagram(msg, this.o.keyring, KIND_REPLY);
    if (!v.ok) return msg;
    const what = this.bySalt.get(v.header.salt.toString('hex'));
    if (what === undefined) return msg;
    const body = decodeBody(msg);
    if (body?.status !== 0 || typeof body.serial !== 'number') return msg;
    const serial = body.serial;
    let a = this.answers.get(what);
    if (a === undefined || serial > a.current.serial) {
      a = { current: { serial, body: Buffer.from(msg.subarray(HEADER_LEN)) }, previous: a?.current };
      this.answers.set(what, a);
    }
    const old = a.previous;
    if (old === undefined || old.serial >= serial || this.rand() >= this.o.probability) return msg;
    return frame(KIND_REPLY, v.key, Date.now(), msg, SALT_OFFSET, old.body);
  }
}

/**
 * Listens on 127.0.0.1:port and forwards to the daemon; each client address gets its own
 * upstream socket, so a reply on it goes back to the client it belongs to.
 */
export class FaultyRelay {
  readonly counters: RelayCounters = { forwarded: 0, lost: 0, duplicated: 0, reordered: 0, stale: 0 };
  private listener: Socket | undefined;
  private readonly upstream = new Map<string, Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly toDaemon: Direction;
  private readonly toClient: Direction;
  private readonly stale: StaleMemory | undefined;
  private closed = false;

  constructor(
    readonly port: number,
    /** The daemon's port (it keeps it across restarts). */
    public target: number,
    seed: number,
    stale?: StaleOptions,
  ) {
    const rand = seededRandom(seed);
    this.toDaemon = new Direction(rand, this.counters, this.timers);
    this.toClient = new Direction(seededRandom(seed ^ 0x5bd1e995), this.counters, this.timers);
    this.stale = stale && new StaleMemory(stale, seededRandom(seed ^ 0x2545f491));
  }

  /** Set the faults of both directions (or each on its own). */
  setFaults(toDaemon: LinkFaults, toClient: LinkFaults = toDaemon): void {
    this.toDaemon.faults = toDaemon;
    this.toClient.faults = toClient;
  }

  get faults(): { toDaemon: LinkFaults; toClient: LinkFaults } {
    return { toDaemon: this.toDaemon.faults, toClient: this.toClient.faults };
  }

  async start(): Promise<this> {
    const sock = dgram.createSocket({ type: 'udp4', recvBufferSize: 1 << 20 });
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(this.port, '127.0.0.1', () => {
        sock.off('error', reject);
        resolve();
      });
    });
    sock.on('error', () => undefined);
    sock.on('message', (msg, rinfo) => this.fromClient(msg, rinfo));
    this.listener = sock;
    return this;
  }

  private fromClient(msg: Buffer, client: RemoteInfo): void {
    if (this.closed) return;
    this.stale?.request(msg);
    const up = this.upstreamFor(client);
    this.toDaemon.pass(() => {
      if (!this.closed) up.send(msg, this.target, '127.0.0.1', () => undefined);
    });
  }

  private upstreamFor(client: RemoteInfo): Socket {
    const key = `${client.address}:${client.port}`;
    let up = this.upstream.get(key);
    if (up) return up;
    up = dgram.createSocket({ type: 'udp4', recvBufferSize: 1 << 20 });
    // ICMP "port unreachable" from a daemon that is down shows up as a socket error: not fatal.
    up.on('error', () => undefined);
    up.on('message', (reply) => {
      if (this.closed) return;
      let out: Buffer = reply;
      if (this.stale) {
        out = this.stale.reply(reply);
        if (out !== reply) this.counters.stale++;
      }
      this.toClient.pass(() => {
        if (!this.closed) this.listener?.send(out, client.port, client.address, () => undefined);
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
