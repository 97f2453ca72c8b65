// Sends one protocol's cases to the daemon and judges what comes back. Requests that must be
// answered (and the authenticated malformed ones) go from one socket, whose replies are matched
// to them; everything that must get silence goes from another, on which any datagram at all is a
// reply to unauthenticated input; mutations that may have left a datagram valid (`unknown`) go
// from a third, whose replies are only counted (and must verify). The daemon reads its socket in order, so an answer to a request
// means every datagram sent before it has been read: the sender keeps at most WINDOW datagrams
// beyond the newest answered one (and never more than `rate` a second), so that none is lost to
// a full socket buffer. A request left unanswered is made afresh and sent again, alone, once the
// address is validated again: only one that is then still unanswered counts.
import dgram, { type Socket } from 'node:dgram';
import type { Case, Protocol } from './cases.js';
import type { ReplayPool } from './replay-pool.js';

/** Datagrams sent beyond the newest one known to be read by the daemon, at most. */
const WINDOW = 256;
/** After a later request was answered, an earlier one has this long more (ms; plus its hold). */
const OVERTAKEN_MS = 1500;
/** A request is given up on after this long in any case (ms; plus its hold). */
const GIVE_UP_MS = 8000;
/** With nothing answered for this long the daemon is taken to be stuck (ms). */
const STALL_MS = 20_000;
const CONFIRM_MS = 3000;
const RECENT_JUNK = 2048;
/** Examples kept of each kind of finding. */
const EXAMPLES = 3;

export interface CategoryCounts {
  sent: number;
  /** Replies by outcome (ok, an error code). */
  outcomes: Record<string, number>;
}

export interface DriverResult {
  sent: number;
  byCategory: Map<string, CategoryCounts>;
  /** Replies to datagrams that must get none (unauthenticated, stale, replayed, misaddressed). */
  unauthReplies: number;
  /** Replies to mutations that left the datagram valid (a MAC digit upper-cased): not judged. */
  unjudgedReplies: number;
  /** Replies to authenticated requests the protocol says to drop (a body that is no map...). */
  malformedReplies: number;
  /** Authenticated, fresh, addressed requests never answered, even when sent again. */
  unanswered: number;
  /** Replies that do not verify, are not in the protocol's form, or answer a request twice. */
  badReplies: number;
  /** Requests unanswered the first time and answered when sent again alone. */
  resent: number;
  /** Requests answered after the driver had given up on them. */
  late: number;
  examples: string[];
  /** The daemon stopped answering altogether. */
  stuck: boolean;
}

interface Pending {
  idx: number;
  sentAt: number;
  c: Case;
}

function open(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket({ type: 'udp4', recvBufferSize: 8 << 20, sendBufferSize: 8 << 20 });
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      s.off('error', reject);
      s.on('error', () => undefined);
      resolve(s);
    });
  });
}

function describe(c: Case): string {
  return `${c.category} (${c.bytes.length} bytes): ${c.bytes.toString('hex').slice(0, 400)}${c.bytes.length > 200 ? '…' : ''}`;
}

export class Driver {
  private auth!: Socket;
  private junk!: Socket;
  private unjudged!: Socket;
  private idx = 0;
  private watermark = 0;
  private lastProgress = Date.now();
  private readonly pending = new Map<string, Pending>();
  private readonly answered = new Set<string>();
  private readonly gaveUp = new Map<string, Case>();
  private readonly confirming = new Map<string, () => void>();
  private cookie: Buffer | undefined;
  private wake: (() => void) | undefined;
  readonly result: DriverResult = { sent: 0, byCategory: new Map(), unauthReplies: 0, unjudgedReplies: 0, malformedReplies: 0, unanswered: 0, badReplies: 0, resent: 0, late: 0, examples: [], stuck: false };

  constructor(
    private readonly p: Protocol,
    private readonly port: number,
    private readonly pool: ReplayPool,
  ) {}

  private readonly exampleKinds = new Map<string, number>();
  /** The last datagrams sent that must get no reply: a reply is matched to one of them. */
  private readonly recentJunk: Case[] = [];

  private example(kind: string, text: string): void {
    const n = this.exampleKinds.get(kind) ?? 0;
    this.exampleKinds.set(kind, n + 1);
    if (n < EXAMPLES) this.result.examples.push(`${this.p.name}: ${kind}: ${text}`);
  }

  private counts(category: string): CategoryCounts {
    let c = this.result.byCategory.get(category);
    if (!c) this.result.byCategory.set(category, (c = { sent: 0, outcomes: {} }));
    return c;
  }

  async open(): Promise<void> {
    this.auth = await open();
    this.junk = await open();
    this.unjudged = await open();
    this.unjudged.on('message', (m) => {
      this.result.unjudgedReplies++;
      if (this.p.readReply(m)) return;
      this.result.badReplies++;
      this.example('a reply that does not verify', m.toString('hex').slice(0, 400));
    });
    this.auth.on('message', (m) => this.onAuth(m));
    this.junk.on('message', (m) => {
      this.result.unauthReplies++;
      const r = this.p.readReply(m);
      // Which datagram it answers, if it is one of the last few sent.
      const c = r && this.recentJunk.find((j) => j.bytes.includes(Buffer.from(r.match, this.p.name === 'qcf1' ? 'hex' : 'latin1')));
      this.example('a reply to unauthenticated input', c ? describe(c) : m.toString('hex').slice(0, 200));
    });
  }

  close(): void {
    this.auth.close();
    this.junk.close();
    this.unjudged.close();
  }

  private send(c: Case, count = true): void {
    const idx = ++this.idx;
    if (count) {
      this.result.sent++;
      this.counts(c.category).sent++;
    }
    if (c.match !== undefined && (c.expect === 'reply' || c.expect === 'silence-auth')) this.pending.set(c.match, { idx, sentAt: Date.now(), c });
    const toJunk = c.expect === 'silence';
    if (toJunk) {
      this.recentJunk.push(c);
      if (this.recentJunk.length > RECENT_JUNK) this.recentJunk.shift();
    }
    const sock = toJunk ? this.junk : c.expect === 'unknown' ? this.unjudged : this.auth;
    sock.send(c.bytes, this.port, '127.0.0.1');
  }

  private onAuth(m: Buffer): void {
    const r = this.p.readReply(m);
    if (!r) {
      this.result.badReplies++;
      this.example('a reply that does not verify', m.toString('hex').slice(0, 400));
      return;
    }
    if (r.problem) {
      this.result.badReplies++;
      this.example('a malformed reply', r.problem);
    }
    if (r.cookie) {
      // The daemon no longer has this address validated: send its cookie back at once.
      this.cookie = r.cookie;
      if (this.p.validate) this.send(this.p.validate(r.cookie), false);
    }
    const confirm = this.confirming.get(r.match);
    if (confirm) return confirm();
    const p = this.pending.get(r.match);
    if (!p) {
      if (this.gaveUp.delete(r.match)) this.result.late++;
      else if (this.answered.has(r.match)) {
        this.result.badReplies++;
        this.example('a second reply to one request', r.match);
      }
      return;
    }
    this.pending.delete(r.match);
    this.answered.add(r.match);
    if (this.answered.size > 100_000) this.answered.delete(this.answered.values().next().value as string);
    const c = p.c;
    this.counts(c.category).outcomes[r.outcome] = (this.counts(c.category).outcomes[r.outcome] ?? 0) + 1;
    if (c.expect === 'silence-auth') {
      this.result.malformedReplies++;
      this.example('a reply to a request the protocol drops', `${r.outcome}: ${describe(c)}`);
      return;
    }
    this.pool.add(c.bytes);
    if (c.holdMs === undefined && p.idx > this.watermark) {
      this.watermark = p.idx;
      this.lastProgress = Date.now();
      this.wake?.();
    }
  }

  /** Requests given up on: answered late, or to be confirmed. */
  private sweep(): void {
    const now = Date.now();
    for (const [match, p] of this.pending) {
      const hold = p.c.holdMs ?? 0;
      const overtaken = p.idx < this.watermark && now - p.sentAt > hold + OVERTAKEN_MS;
      if (!overtaken && now - p.sentAt <= hold + GIVE_UP_MS) continue;
      this.pending.delete(match);
      if (p.c.expect === 'reply') this.gaveUp.set(match, p.c);
    }
  }

  private waitForProgress(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(t);
        this.wake = undefined;
        resolve();
      };
    });
  }

  /** Send `count` cases at most `rate` a second; then confirm the unanswered ones. */
  async run(count: number, rate: number, onProgress?: (sent: number) => void): Promise<DriverResult> {
    // Validated before anything else is sent: the daemon's cookie, asked for and sent back.
    if (this.p.validate) {
      await this.exchange(this.p.validate(undefined));
      if (this.cookie) await this.exchange(this.p.validate(this.cookie));
    }
    const start = Date.now();
    let lastSweep = start;
    while (this.result.sent < count) {
      if (Date.now() - lastSweep > 200) {
        this.sweep();
        lastSweep = Date.now();
        onProgress?.(this.result.sent);
      }
      const ahead = this.idx - this.watermark;
      const early = start + (this.result.sent * 1000) / rate - Date.now();
      // Timers fire a millisecond late at best: sleep only once well ahead of the rate.
      if (ahead > WINDOW || early > 10) {
        if (Date.now() - this.lastProgress > STALL_MS) {
          this.result.stuck = true;
          this.example('stuck', `no answer for ${STALL_MS} ms after ${this.result.sent} datagrams`);
          break;
        }
        // An answered request moves the window on; a validation ping makes sure one comes.
        if (ahead > WINDOW && Date.now() - this.lastProgress > 1000 && this.p.validate) this.send(this.p.validate(this.cookie), false);
        await this.waitForProgress(ahead > WINDOW ? 100 : Math.min(early, 100));
        continue;
      }
      this.send(this.p.next());
      // Let replies in now and then.
      if (this.result.sent % 64 === 0) await new Promise((r) => setImmediate(r));
    }
    // The last replies, then whatever is left is confirmed one by one.
    const end = Date.now() + 3000;
    while (this.pending.size > 0 && Date.now() < end) {
      await this.waitForProgress(100);
      this.sweep();
    }
    for (const [match, p] of this.pending) if (p.c.expect === 'reply') this.gaveUp.set(match, p.c);
    this.pending.clear();
    if (this.gaveUp.size > 0 && this.p.validate) await this.exchange(this.p.validate(this.cookie));
    for (const c of [...this.gaveUp.values()]) {
      const again = c.remake ? c.remake() : c;
      if (await this.exchange(again)) {
        this.result.resent++;
        this.example('answered only when sent again', describe(c));
      }
      else {
        this.result.unanswered++;
        this.example('unanswered (twice)', describe(again));
      }
    }
    this.gaveUp.clear();
    return this.result;
  }

  /** Send one case alone and wait for its answer. */
  private exchange(c: Case): Promise<boolean> {
    const match = c.match as string;
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.confirming.delete(match);
        resolve(false);
      }, CONFIRM_MS + (c.holdMs ?? 0));
      this.confirming.set(match, () => {
        clearTimeout(t);
        this.confirming.delete(match);
        resolve(true);
      });
      this.auth.send(c.bytes, this.port, '127.0.0.1');
    });
  }
}
