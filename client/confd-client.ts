// ConfdClient: Ganeti's proven client shape (sendRequest, upcalls, expireRequests,
// waitForReply), plus the promise API most callers use (query). Each transmission carries a
// fresh salt, so a reply names the peer it answers, duplicates count once, and retransmissions
// cannot be confused with the original.
import { randomUUID } from 'node:crypto';
import { canonicalJson } from '../shared/canonical-json.js';
import { QconfError } from '../shared/errors.js';
import type { Keyring } from '../shared/keyring.js';
import { isIPv4 } from 'node:net';
import { formatDestination } from '../shared/destination.js';
import { DEFAULT_PORT, parsePeerList, type Peer } from '../shared/peers.js';
import { neededReplies, resolveCoverage, tally, type Vote } from '../shared/quorum.js';
import { Qcf1ClientProtocol, type ClientProtocol } from './protocol.js';
// QCF1 without msgpackr: protocol.ts's adapter loads it, the largest part of what a short-lived
// `qconf get` process loads and compiles.
import { UdpTransport } from './transport.js';
import type { Logger, QueryResult, Reply, Request, Upcall, UpcallHandler } from './types.js';
// wait-for.js is loaded when first used: most processes (a `qconf get`) never wait.
import type { WaitCondition, WaitOptions, WaitResult, WatchEvent } from './wait-for.js';

export interface ConfdClientOptions {
  keyring: Keyring;
  peers: readonly string[] | string;
  port?: number;
  logger?: Logger;
  callback?: UpcallHandler;
  /** Lifetime of a request made with sendRequest (Ganeti: 10 s). */
  expireMs?: number;
  /** First retransmission delay; doubles up to 1 s. 0 disables retransmission. */
  retransmitMs?: number;
  /** Outstanding requests at most; beyond it sendRequest throws `busy`. */
  maxPending?: number;
  /** Another wire protocol (tests, Ganeti's plj0). */
  protocol?: ClientProtocol;
}

export interface SendOptions {
  coverage?: number;
  args?: unknown;
  /** Overrides expireMs for this request. */
  expireMs?: number;
  /** First retransmission delay for this request; later ones double up to maxRetransmitMs. */
  retransmitMs?: number;
  maxRetransmitMs?: number;
  /** Send to exactly these peers (no random choice, no hedging). */
  targets?: readonly Peer[];
}

export interface QueryOptions {
  coverage?: number;
  strict?: boolean;
  timeoutMs?: number;
  retransmitMs?: number;
  /** Wait for every daemon asked (until the timeout) instead of stopping at the quorum. */
  all?: boolean;
}

interface ReplyRecord {
  peer: Peer;
  reply: Reply;
  key: string;
}

/** Which daemon a reply comes from: its node and start (QCF1), else the address it came from. */
export function daemonIdentity(reply: Reply, peer: Peer): string {
  return reply.instance !== undefined ? `${reply.node ?? ''}\u0000${reply.instance}` : `\u0001${peer.label}`;
}

/** What the client knows of one daemon's view of its address (docs/protocol.md, "Address validation"). */
interface PeerCookie {
  cookie: Uint8Array | undefined;
  /** Until then this address is taken as validated there: requests go unpadded (but to MIN_REQUEST_BYTES). */
  validatedUntil: number;
  /** When the cookie was last sent. */
  sentAt: number;
}

/** Every request is at least this large: the error `retry` (with a cookie) always fits in its reply. */
const MIN_REQUEST_BYTES = 256;
/** A request to a daemon that has not validated this address: answers this large need no round trip more. */
const UNVALIDATED_REQUEST_BYTES = 1200;
/** A daemon keeps an address validated for 10 minutes after its cookie; the client assumes less. */
const ASSUME_VALIDATED_MS = 4 * 60_000;
/** `retry` replies followed per request and daemon (a daemon restarting meanwhile may ask twice). */
const MAX_RETRIES = 3;

interface Pending {
  id: string;
  request: Request;
  args: unknown;
  coverage: number;
  needed: number;
  expiry: number;
  expiryTimer: NodeJS.Timeout | undefined;
  retransmitTimer: NodeJS.Timeout | undefined;
  retransmitMs: number;
  maxRetransmitMs: number;
  targets: Peer[];
  spare: Peer[];
  salts: string[];
  /** Replies by daemon (daemonIdentity): a quorum counts daemons, not addresses. */
  replies: Map<string, ReplyRecord>;
  /** Replies by peer address: who still needs a retransmission. */
  answered: Map<string, ReplyRecord>;
  /** `retry` replies followed, by peer address. */
  retries: Map<string, number>;
  /** Re-evaluated after every reply and at expiry. */
  watchers: Set<() => void>;
  done: boolean;
}

const DEFAULT_EXPIRE_MS = 10_000;
const DEFAULT_RETRANSMIT_MS = 200;
const MAX_RETRANSMIT_MS = 1000;

const IPV4_PORT = /^([0-9.]{7,15}):([0-9]{1,5})$/;

/**
 * parsePeerList, with a fast path for lists of IPv4 `address:port` peers (the usual case): the
 * same peers, without the IPv6 test parsePeer makes first, whose pattern costs a short-lived
 * `qconf` process milliseconds to compile. Anything else goes to parsePeerList.
 */
function peerList(list: string | readonly string[], defaultPort: number): Peer[] {
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

function shuffle<T>(a: T[]): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/** What makes two replies "the same answer" for the quorum rules. */
function replyKey(r: Reply): string {
  if (r.status !== 0) return `${r.status}:${r.error?.code ?? ''}:${canonicalJson(r.answer)}`;
  return r.etag !== undefined ? `0:e:${r.etag}` : `0:${canonicalJson(r.answer)}`;
}

export class ConfdClient {
  private peers: Peer[];
  private readonly port: number;
  private readonly transport: UdpTransport;
  private readonly protocol: ClientProtocol;
  private readonly pending = new Map<string, Pending>();
  private readonly bySalt = new Map<string, { p: Pending; peer: Peer }>();
  private readonly cookies = new Map<string, PeerCookie>();
  private callback: UpcallHandler | undefined;
  private readonly expireMs: number;
  private readonly retransmitMs: number;
  private readonly maxPending: number;
  private readonly logger: Logger | undefined;
  private closed = false;

  constructor(opts: ConfdClientOptions) {
    this.port = opts.port ?? DEFAULT_PORT;
    this.peers = peerList(opts.peers, this.port);
    if (this.peers.length === 0) throw new QconfError('usage', 'peer list is empty');
    const keyring = opts.keyring;
    this.protocol = opts.protocol ?? new Qcf1ClientProtocol(() => keyring);
    this.callback = opts.callback;
    this.logger = opts.logger;
    this.expireMs = opts.expireMs ?? DEFAULT_EXPIRE_MS;
    this.retransmitMs = opts.retransmitMs ?? DEFAULT_RETRANSMIT_MS;
    this.maxPending = opts.maxPending ?? 10_000;
    this.transport = new UdpTransport(
      (m) => this.onDatagram(m),
      (peer, err) => this.logger?.debug?.({ peer: peer.label, err: err.message }, 'send failed'),
    );
  }

  /** Replace the peers; requests already sent keep their targets. */
  updatePeerList(peers: readonly string[] | string): void {
    const next = peerList(peers, this.port);
    if (next.length === 0) throw new QconfError('usage', 'peer list is empty');
    this.peers = next;
    this.transport.reset();
  }

  get peerList(): readonly Peer[] {
    return this.peers;
  }

  setCallback(cb: UpcallHandler | undefined): void {
    this.callback = cb;
  }

  /** Send a request to `coverage` random peers; returns its id. Replies and expiry are upcalls. */
  sendRequest(request: Request, opts: SendOptions = {}): string {
    if (this.closed) throw new QconfError('closed', 'client is closed');
    const pool = opts.targets ?? this.peers;
    const coverage = opts.targets ? opts.targets.length : resolveCoverage(opts.coverage, pool.length);
    if (typeof coverage === 'string') throw new QconfError('usage', coverage);
    if (coverage === 0) throw new QconfError('usage', 'no peer to send to');
    if (this.pending.size >= this.maxPending) throw new QconfError('busy', `${this.maxPending} requests outstanding`);
    const order = opts.targets ? [...opts.targets] : shuffle([...pool]);
    const now = Date.now();
    const p: Pending = {
      id: randomUUID(),
      request,
      args: opts.args,
      coverage,
      needed: neededReplies(coverage),
      expiry: now + (opts.expireMs ?? this.expireMs),
      expiryTimer: undefined,
      retransmitTimer: undefined,
      retransmitMs: opts.retransmitMs ?? this.retransmitMs,
      maxRetransmitMs: opts.maxRetransmitMs ?? MAX_RETRANSMIT_MS,
      targets: order.slice(0, coverage),
      spare: order.slice(coverage),
      salts: [],
      replies: new Map(),
      answered: new Map(),
      retries: new Map(),
      watchers: new Set(),
      done: false,
    };
    this.pending.set(p.id, p);
    for (const peer of p.targets) this.transmit(p, peer, false);
    this.armExpiry(p);
    if (p.retransmitMs > 0) this.armRetransmit(p, p.retransmitMs);
    return p.id;
  }

  /**
   * Send one copy of a request to one peer, under a fresh salt. A retransmission, and any request
   * to a daemon that has not validated this address, is padded and carries the cookie if there is
   * one: a daemon that restarted (and forgot the address) can then answer it at once.
   */
  private transmit(p: Pending, peer: Peer, again: boolean): void {
    const salt = this.protocol.newSalt();
    p.salts.push(salt);
    this.bySalt.set(salt, { p, peer });
    const now = Date.now();
    const c = this.cookies.get(peer.label);
    const validated = c !== undefined && !again && now < c.validatedUntil;
    const cookie = validated ? undefined : c?.cookie;
    if (cookie !== undefined) (c as PeerCookie).sentAt = now;
    const padTo = validated ? MIN_REQUEST_BYTES : UNVALIDATED_REQUEST_BYTES;
    this.transport.send(peer, (address) => this.protocol.encode(p.request, salt, { to: formatDestination(address, peer.port), cookie, padTo }));
  }

  private armExpiry(p: Pending): void {
    clearTimeout(p.expiryTimer);
    p.expiryTimer = setTimeout(() => this.expireRequests(), Math.max(0, p.expiry - Date.now()) + 1);
  }

  private armRetransmit(p: Pending, delay: number): void {
    p.retransmitTimer = setTimeout(() => {
      if (p.done || p.replies.size >= p.needed && !this.wantsMore(p)) return;
      const silent = p.targets.filter((peer) => !p.answered.has(peer.label));
      // Hedge: a silent peer may be dead; ask one more peer if any is left beyond the coverage.
      if (silent.length > 0 && p.spare.length > 0) {
        const extra = p.spare.shift() as Peer;
        p.targets.push(extra);
        this.transmit(p, extra, false);
      }
      for (const peer of silent) this.transmit(p, peer, true);
      this.armRetransmit(p, Math.min(delay * 2, p.maxRetransmitMs));
    }, delay);
  }

  /** A strict query keeps asking until enough replies agree. */
  private wantsMore(p: Pending): boolean {
    return p.watchers.size > 0 && p.answered.size < p.targets.length;
  }

  private onDatagram(msg: Buffer): void {
    const d = this.protocol.decode(msg);
    if (!d) return;
    const entry = this.bySalt.get(d.salt);
    if (!entry) return;
    const { p, peer } = entry;
    if (p.done) return;
    // Duplicates (and late answers to retransmissions) count once per peer.
    if (p.answered.has(peer.label)) return;
    const reply = d.reply;
    const now = Date.now();
    if (reply.error?.code === 'retry' && reply.cookie !== undefined) {
      // The daemon wants proof that this address receives its replies: send it back its cookie.
      this.cookies.set(peer.label, { cookie: reply.cookie, validatedUntil: 0, sentAt: now });
      const n = (p.retries.get(peer.label) ?? 0) + 1;
      p.retries.set(peer.label, n);
      if (n <= MAX_RETRIES) return this.transmit(p, peer, true);
    } else {
      const c = this.cookies.get(peer.label);
      // A reply after the cookie was sent: the daemon has this address validated for a while.
      if (c !== undefined && c.sentAt > 0 && c.validatedUntil < c.sentAt + ASSUME_VALIDATED_MS) c.validatedUntil = c.sentAt + ASSUME_VALIDATED_MS;
    }
    const record: ReplyRecord = { peer, reply, key: replyKey(reply) };
    p.answered.set(peer.label, record);
    // One daemon reached at two addresses is one reply.
    const id = daemonIdentity(reply, peer);
    if (!p.replies.has(id)) p.replies.set(id, record);
    this.callback?.({ type: 'reply', id: p.id, request: p.request, reply, peer, args: p.args });
    for (const w of [...p.watchers]) w();
  }

  /**
   * Expire every request whose time has come, with an upcall for each. Timers call this on
   * time; it is public for callers that drive their own loop, as Ganeti's clients do.
   */
  expireRequests(): void {
    const now = Date.now();
    for (const p of [...this.pending.values()]) {
      if (now < p.expiry) continue;
      this.finish(p);
      this.callback?.({ type: 'expire', id: p.id, request: p.request, args: p.args, sent: p.targets.length, received: p.replies.size });
      for (const w of [...p.watchers]) w();
    }
  }

  private finish(p: Pending): void {
    if (p.done) return;
    p.done = true;
    clearTimeout(p.expiryTimer);
    clearTimeout(p.retransmitTimer);
    for (const s of p.salts) this.bySalt.delete(s);
    this.pending.delete(p.id);
  }

  /** Forget a request without an expiry upcall (its caller lost interest). */
  cancel(id: string): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.finish(p);
    for (const w of [...p.watchers]) w();
  }

  /**
   * One request to one peer, retransmitted (fresh salt each time) until it answers or
   * `timeoutMs` passes; resolves with the reply or undefined. `cancel` ends it early.
   */
  requestOne(peer: Peer, request: Request, opts: { timeoutMs: number; retransmitMs?: number; maxRetransmitMs?: number }): { id: string; reply: Promise<Reply | undefined> } {
    const id = this.sendRequest(request, { targets: [peer], expireMs: opts.timeoutMs, retransmitMs: opts.retransmitMs, maxRetransmitMs: opts.maxRetransmitMs });
    const p = this.pending.get(id) as Pending;
    const reply = new Promise<Reply | undefined>((resolve) => {
      const check = () => {
        const r = p.answered.get(peer.label);
        if (!r && !p.done) return;
        p.watchers.delete(check);
        this.finish(p);
        resolve(r?.reply);
      };
      p.watchers.add(check);
    });
    return { id, reply };
  }

  /**
   * Wait until `needed` peers replied to request `id`, extending its expiry by `timeoutMs`
   * (as Ganeti's WaitForReply does). An unknown or expired id gives {timedOut: true, 0, 0}.
   */
  waitForReply(id: string, timeoutMs = DEFAULT_EXPIRE_MS): Promise<{ timedOut: boolean; sent: number; received: number }> {
    const p = this.pending.get(id);
    if (!p) return Promise.resolve({ timedOut: true, sent: 0, received: 0 });
    p.expiry += timeoutMs;
    this.armExpiry(p);
    return new Promise((resolve) => {
      const check = () => {
        const enough = p.replies.size >= p.needed;
        if (!enough && !p.done) return;
        p.watchers.delete(check);
        resolve({ timedOut: !enough, sent: p.targets.length, received: p.replies.size });
      };
      p.watchers.add(check);
      check();
    });
  }

  /** Send a request and resolve with the quorum result (protocol.md, "Client rules"). */
  query<A = unknown>(request: Request, opts: QueryOptions = {}): Promise<QueryResult<A>> {
    let id: string;
    try {
      id = this.sendRequest(request, { coverage: opts.coverage, expireMs: opts.timeoutMs ?? 5000, retransmitMs: opts.retransmitMs });
    } catch (e) {
      return Promise.reject(e);
    }
    const p = this.pending.get(id) as Pending;
    return new Promise((resolve) => {
      const check = () => {
        let result = this.result<A>(p, !!opts.strict);
        if (result && opts.all && !p.done && p.answered.size < p.targets.length) result = undefined;
        if (!p.done && result === undefined) return;
        p.watchers.delete(check);
        this.finish(p);
        resolve(result ?? (this.result<A>(p, !!opts.strict, true) as QueryResult<A>));
      };
      p.watchers.add(check);
    });
  }

  /** The quorum result, or undefined while more replies are needed (unless `final`). */
  private result<A>(p: Pending, strict: boolean, final = false): QueryResult<A> | undefined {
    // Most replies arrive before the quorum: nothing to count for them.
    if (!final && p.replies.size < p.needed && p.replies.size < p.targets.length) return undefined;
    const records = [...p.replies.values()];
    const votes: Vote<ReplyRecord>[] = records.map((r) => ({ serial: r.reply.serial, key: r.key, value: r }));
    const t = tally(votes);
    const quorum = records.length >= p.needed && (!strict || t.agreeing >= p.needed);
    // Strict mode gives up early once every peer has answered without enough agreement.
    const exhausted = p.answered.size === p.targets.length && p.spare.length === 0;
    if (!quorum && !final && !exhausted) return undefined;
    const w = t.winner?.value.reply;
    const result: QueryResult<A> = {
      status: w ? w.status : null,
      serial: w ? w.serial : 0,
      replies: records.length,
      needed: p.needed,
      sent: p.targets.length,
      agreeing: t.agreeing,
      consistent: t.consistent,
      timedOut: !quorum,
      peers: records.map((r) => ({ peer: r.peer.label, status: r.reply.status, serial: r.reply.serial, node: r.reply.node })),
    };
    if (w) {
      if (w.answer !== undefined) result.answer = w.answer as A;
      if (w.etag !== undefined) result.etag = w.etag;
      if (w.error) result.error = w.error;
      if (w.timedOut !== undefined) result.holdTimedOut = w.timedOut;
    }
    if (!quorum && !result.error) {
      result.error = {
        code: 'no_quorum',
        message: strict && records.length >= p.needed
          ? `${t.agreeing} of ${records.length} replies agree; ${p.needed} needed`
          : `${records.length} of ${p.targets.length} daemons replied; ${p.needed} needed`,
      };
    }
    return result;
  }

  get<A = unknown>(path: string, opts?: QueryOptions): Promise<QueryResult<A>> {
    return this.query<A>({ op: 'get', path }, opts);
  }

  mget(paths: string[], opts?: QueryOptions): Promise<QueryResult<Array<{ status: number; answer?: unknown; etag?: string; error?: { code: string; message: string } }>>> {
    return this.query({ op: 'mget', paths }, opts);
  }

  list(path: string, depth = 1, opts?: QueryOptions): Promise<QueryResult<string[]>> {
    return this.query<string[]>({ op: 'list', path, depth }, opts);
  }

  ping(opts?: QueryOptions): Promise<QueryResult<Record<string, unknown>>> {
    return this.query({ op: 'ping' }, opts);
  }

  /** Block until a quorum of daemons report `condition` (see wait-for.ts), or the timeout. */
  waitFor<A = unknown>(condition: WaitCondition, opts?: WaitOptions): Promise<WaitResult<A>> {
    return import('./wait-for.js').then((m) => m.waitFor<A>(this, condition, opts));
  }

  /** Each new value of `path`, agreed by a quorum, for as long as the caller iterates. */
  watch<A = unknown>(path: string, opts?: Omit<WaitOptions, 'timeoutMs'>): AsyncGenerator<WatchEvent<A>, void, undefined> {
    return (async function* (client: ConfdClient) {
      const m = await import('./wait-for.js');
      yield* m.watch<A>(client, path, opts);
    })(this);
  }

  /** Number of outstanding requests (for tests and monitoring). */
  get outstanding(): number {
    return this.pending.size;
  }

  /** End sockets and timers. Outstanding requests expire now, with their upcalls. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of [...this.pending.values()]) p.expiry = 0;
    this.expireRequests();
    this.transport.close();
  }
}

export type { Upcall };
