// ConfdClient: Ganeti's proven client shape (sendRequest, upcalls, expireRequests,
// waitForReply), plus the promise API most callers use (query, get, waitFor, watch). Every
// request is fanned out by the quorum engine (fan-out.ts); this class owns the socket side: each
// transmission carries a fresh salt, so a reply names the request and daemon it answers,
// duplicates count once, and retransmissions cannot be confused with the original.
import { randomUUID } from 'node:crypto';
import { isIPv4 } from 'node:net';
import { formatDestination } from '../shared/destination.js';
import { QconfError } from '../shared/errors.js';
import type { Keyring } from '../shared/keyring.js';
import { DEFAULT_PORT, parsePeerList, type Peer } from '../shared/peers.js';
import { AddressProof } from './address-proof.js';
import { FanOut, type FanOutHost } from './fan-out.js';
import { Qcf1ClientProtocol, type ClientProtocol } from './protocol.js';
import { neededReplies, resolveCoverage } from './quorum-rule.js';
import { buildResult, replyKey } from './results.js';
// QCF1 without msgpackr: protocol.ts's adapter loads it, the largest part of what a short-lived
// `qconf get` process loads and compiles.
import { UdpTransport } from './transport.js';
import type { Logger, QueryResult, Reply, Request, Upcall, UpcallHandler } from './types.js';
// wait-for.js is loaded when first used: most processes (a `qconf get`) never wait.
import type { WaitCondition, WaitOptions, WaitResult, WatchEvent } from './wait-for.js';

export { daemonIdentity } from './fan-out.js';

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

/** How the quorum engine is asked for a fan-out (the parts a wait sets itself). */
export interface FanOutRequest {
  /** The request as upcalls report it (a wait's differs per daemon in its etag). */
  describe: Request;
  /** Passed back in upcalls (Ganeti's `args`). */
  args?: unknown;
  coverage?: number;
  expireMs: number;
  retransmitMs: number;
  maxRetransmitMs: number;
  request: (peer: Peer) => Request;
  rearm?: (peer: Peer, reply: Reply) => number | undefined;
  ignore?: (reply: Reply) => boolean;
  targets?: readonly Peer[];
  onReply?: (peer: Peer, reply: Reply) => void;
}

const DEFAULT_EXPIRE_MS = 10_000;
const DEFAULT_RETRANSMIT_MS = 200;
const MAX_RETRANSMIT_MS = 1000;
/** `retry` replies (a daemon asking for its cookie) followed per request and daemon. */
const MAX_RETRIES = 3;

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

/** An unbiased random order (Fisher–Yates). */
export function shuffled<T>(items: readonly T[]): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

export class ConfdClient {
  private peers: Peer[];
  private readonly port: number;
  private readonly transport: UdpTransport;
  private readonly protocol: ClientProtocol;
  private readonly pending = new Map<string, FanOut>();
  private readonly bySalt = new Map<string, { f: FanOut; peer: Peer; generation: number; request: Request }>();
  private readonly salts = new Map<FanOut, string[]>();
  private readonly proof = new AddressProof();
  /** `retry` replies followed, per request and peer. */
  private readonly retries = new WeakMap<FanOut, Map<string, number>>();
  private callback: UpcallHandler | undefined;
  private readonly expireMs: number;
  private readonly retransmitMs: number;
  private readonly maxPending: number;
  private readonly logger: Logger | undefined;
  private closed = false;
  private readonly host: FanOutHost = {
    transmit: (f, peer, request, generation, again) => this.transmit(f, peer, request, generation, again),
    release: (f) => {
      for (const s of this.salts.get(f) ?? []) this.bySalt.delete(s);
      this.salts.delete(f);
      this.pending.delete(f.id);
    },
  };

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

  /**
   * Fan a request out to `coverage` random peers (or exactly `targets`): the quorum engine that
   * every call goes through. The caller watches `votes` and finishes it.
   */
  fanOut(o: FanOutRequest): FanOut {
    if (this.closed) throw new QconfError('closed', 'client is closed');
    const pool = o.targets ?? this.peers;
    const coverage = o.targets ? o.targets.length : resolveCoverage(o.coverage, pool.length);
    if (typeof coverage === 'string') throw new QconfError('usage', coverage);
    if (coverage === 0) throw new QconfError('usage', 'no peer to send to');
    if (this.pending.size >= this.maxPending) throw new QconfError('busy', `${this.maxPending} requests outstanding`);
    const order = o.targets ? [...o.targets] : shuffled(pool);
    const f = new FanOut(this.host, {
      id: randomUUID(),
      targets: order.slice(0, coverage),
      spare: order.slice(coverage),
      needed: neededReplies(coverage),
      expireMs: o.expireMs,
      retransmitMs: o.retransmitMs,
      maxRetransmitMs: o.maxRetransmitMs,
      request: o.request,
      rearm: o.rearm,
      ignore: o.ignore,
      onReply: (peer, reply) => {
        o.onReply?.(peer, reply);
        this.callback?.({ type: 'reply', id: f.id, request: o.describe, reply, peer, args: o.args });
      },
      key: replyKey,
    });
    this.requests.set(f, { request: o.describe, args: o.args });
    this.pending.set(f.id, f);
    f.start(() => this.expireRequests());
    return f;
  }

  /** Send a request to `coverage` random peers; returns its id. Replies and expiry are upcalls. */
  sendRequest(request: Request, opts: SendOptions = {}): string {
    return this.fanOut({
      describe: request,
      args: opts.args,
      coverage: opts.coverage,
      targets: opts.targets,
      expireMs: opts.expireMs ?? this.expireMs,
      retransmitMs: opts.retransmitMs ?? this.retransmitMs,
      maxRetransmitMs: opts.maxRetransmitMs ?? MAX_RETRANSMIT_MS,
      request: () => request,
    }).id;
  }

  /** What each request was, for its upcalls. */
  private readonly requests = new WeakMap<FanOut, { request: Request; args: unknown }>();

  /**
   * Send one copy of a request to one peer, under a fresh salt. A retransmission, and any request
   * to a daemon that has not validated this address, is padded and carries the cookie if there is
   * one (address-proof.ts).
   */
  private transmit(f: FanOut, peer: Peer, request: Request, generation: number, again: boolean): void {
    const salt = this.protocol.newSalt();
    let list = this.salts.get(f);
    if (list === undefined) this.salts.set(f, (list = []));
    list.push(salt);
    this.bySalt.set(salt, { f, peer, generation, request });
    const t = this.proof.forRequest(peer, again);
    this.transport.send(peer, (address) => this.protocol.encode(request, salt, { ...t, to: formatDestination(address, peer.port) }));
  }

  private onDatagram(msg: Buffer): void {
    const d = this.protocol.decode(msg);
    if (!d) return;
    const entry = this.bySalt.get(d.salt);
    if (!entry) return;
    const { f, peer, generation } = entry;
    if (f.done) return;
    // The daemon wants proof that this address receives its replies: send it back its cookie.
    if (this.proof.onReply(peer, d.reply)) {
      // Followed a few times per request and daemon (one restarting meanwhile may ask twice).
      let n = this.retries.get(f);
      if (n === undefined) this.retries.set(f, (n = new Map()));
      const count = (n.get(peer.label) ?? 0) + 1;
      n.set(peer.label, count);
      if (count <= MAX_RETRIES) return this.transmit(f, peer, entry.request, generation, true);
    }
    f.reply(peer, generation, d.reply);
  }

  /**
   * Expire every request whose time has come, with an upcall for each. Timers call this on
   * time; it is public for callers that drive their own loop, as Ganeti's clients do.
   */
  expireRequests(): void {
    const now = Date.now();
    for (const f of [...this.pending.values()]) {
      if (now < f.expiry) continue;
      f.finish();
      const r = this.requests.get(f);
      if (r) this.callback?.({ type: 'expire', id: f.id, request: r.request, args: r.args, sent: f.targets.length, received: f.votes.size });
      f.notify();
    }
  }

  /** Forget a request without an expiry upcall (its caller lost interest). */
  cancel(id: string): void {
    const f = this.pending.get(id);
    if (!f) return;
    f.finish();
    f.notify();
  }

  /**
   * One request to one peer, retransmitted (fresh salt each time) until it answers or
   * `timeoutMs` passes; resolves with the reply or undefined. `cancel` ends it early.
   */
  requestOne(peer: Peer, request: Request, opts: { timeoutMs: number; retransmitMs?: number; maxRetransmitMs?: number }): { id: string; reply: Promise<Reply | undefined> } {
    const f = this.fanOut({
      describe: request,
      targets: [peer],
      expireMs: opts.timeoutMs,
      retransmitMs: opts.retransmitMs ?? this.retransmitMs,
      maxRetransmitMs: opts.maxRetransmitMs ?? MAX_RETRANSMIT_MS,
      request: () => request,
    });
    const reply = new Promise<Reply | undefined>((resolve) => {
      const check = () => {
        const v = [...f.votes.values()][0];
        if (!v && !f.done) return;
        f.watchers.delete(check);
        f.finish();
        resolve(v?.reply);
      };
      f.watchers.add(check);
    });
    return { id: f.id, reply };
  }

  /**
   * Wait until `needed` peers replied to request `id`, extending its expiry by `timeoutMs`
   * (as Ganeti's WaitForReply does). An unknown or expired id gives {timedOut: true, 0, 0}.
   */
  waitForReply(id: string, timeoutMs = DEFAULT_EXPIRE_MS): Promise<{ timedOut: boolean; sent: number; received: number }> {
    const f = this.pending.get(id);
    if (!f) return Promise.resolve({ timedOut: true, sent: 0, received: 0 });
    f.expiry += timeoutMs;
    f.armExpiry(() => this.expireRequests());
    return new Promise((resolve) => {
      const check = () => {
        const enough = f.votes.size >= f.needed;
        if (!enough && !f.done) return;
        f.watchers.delete(check);
        resolve({ timedOut: !enough, sent: f.targets.length, received: f.votes.size });
      };
      f.watchers.add(check);
      check();
    });
  }

  /** Send a request and resolve with the quorum result (protocol.md, "Client rules"). */
  query<A = unknown>(request: Request, opts: QueryOptions = {}): Promise<QueryResult<A>> {
    let f: FanOut;
    try {
      f = this.fanOut({
        describe: request,
        coverage: opts.coverage,
        expireMs: opts.timeoutMs ?? 5000,
        retransmitMs: opts.retransmitMs ?? this.retransmitMs,
        maxRetransmitMs: MAX_RETRANSMIT_MS,
        request: () => request,
      });
    } catch (e) {
      return Promise.reject(e);
    }
    const strict = opts.strict === true;
    return new Promise((resolve) => {
      const check = () => {
        const votes = [...f.votes.values()];
        // Most replies arrive before the quorum: nothing to count for them.
        if (!f.done && votes.length < f.needed && !f.exhausted) return;
        const result = buildResult<A>(votes, votes, {
          needed: f.needed,
          sent: f.targets.length,
          quorum: (agreeing) => votes.length >= f.needed && (!strict || agreeing >= f.needed),
          noQuorum: (agreeing) => ({
            code: 'no_quorum',
            message: strict && votes.length >= f.needed ? `${agreeing} of ${votes.length} replies agree; ${f.needed} needed` : `${votes.length} of ${f.targets.length} daemons replied; ${f.needed} needed`,
          }),
        });
        const waitAll = opts.all === true && f.answered < f.targets.length;
        // Strict mode gives up early once every daemon has answered without enough agreement.
        if (!f.done && (result.timedOut ? !f.exhausted : waitAll)) return;
        f.watchers.delete(check);
        f.finish();
        resolve(result);
      };
      f.watchers.add(check);
    });
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
    for (const f of this.pending.values()) f.expiry = 0;
    this.expireRequests();
    this.transport.close();
  }
}

export type { Upcall };
