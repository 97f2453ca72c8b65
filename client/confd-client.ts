// ConfdClient: Ganeti's proven client shape (sendRequest, upcalls, expireRequests,
// waitForReply), plus the promise API most callers use (query, get, waitFor, watch). Every
// request is fanned out by the quorum engine (fan-out.ts); this class owns the socket side: each
// transmission carries a fresh salt, so a reply names the request and daemon it answers,
// duplicates count once, and retransmissions cannot be confused with the original.
import { randomUUID } from 'node:crypto';
import { formatDestination } from '../shared/destination.js';
import { QconfError } from '../shared/errors.js';
import { DEFAULT_PORT, type Peer } from '../shared/peers.js';
import { AddressProof } from './address-proof.js';
import { settleCall } from './settle-call.js';
import { PROVEN_OPS, SignatureCache, admitted } from './verify-answer.js';
import type { ConfdClientOptions, FanOutRequest, QueryOptions, SendOptions } from './client-options.js';
import { FanOut, forgedPeers, maxSerial, silentPeers, type FanOutHost } from './fan-out.js';
import { optionsFromEnv } from './from-env.js';
import { peerList, shuffled } from './peer-list.js';
import { Qcf1ClientProtocol, type ClientProtocol } from './protocol.js';
import { neededReplies, resolveCoverage } from './quorum-rule.js';
import { buildResult, replyKey } from './results.js';
import { UdpTransport } from './transport.js';
import { traced } from './tracing.js';
import type { Logger, MgetEntry, PingAnswer, QueryResult, Reply, Request, Upcall, UpcallHandler } from './types.js';
// wait-for.js is loaded when first used: most processes (a `qconf get`) never wait.
import type { WaitCondition, WaitOptions, WaitResult, WatchEvent, WatchOptions } from './wait-for.js';
// So is mirror.js (and only for agents that mirror).
import type { Mirror, MirrorOptions } from './mirror.js';

export { daemonIdentity } from './fan-out.js';
export type { ConfdClientOptions, FanOutRequest, QueryOptions, SendOptions } from './client-options.js';
export { shuffled } from './peer-list.js';


const DEFAULT_EXPIRE_MS = 10_000;
const DEFAULT_RETRANSMIT_MS = 200;
const MAX_RETRANSMIT_MS = 1000;
/** `retry` replies (a daemon asking for its cookie) followed per request and daemon. */
const MAX_RETRIES = 3;


/**
 * A client of a qconfd cluster: every call asks several daemons and answers with what a quorum
 * of them agrees on. Make one with `new ConfdClient({keyring, peers})` or `ConfdClient.fromEnv()`,
 * keep it for the life of the program, and close it (or `await using` it) at the end.
 */
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
  /** Calls in progress: close() rejects each (a QconfError `closed`). */
  private readonly calls = new Set<(e: Error) => void>();
  /** The newest serial this client has returned: it never returns an older one (monotonic reads). */
  private newest = 0;
  /** With trusted keys: signatures already checked. */
  private readonly sigs: SignatureCache | undefined;
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
    if (opts.seal === true && opts.protocol !== undefined) throw new QconfError('usage', 'seal: only QCF1 bodies are sealed; a client given another protocol cannot seal');
    this.protocol = opts.protocol ?? new Qcf1ClientProtocol(() => keyring, Date.now, undefined, opts.seal === true);
    this.callback = opts.callback;
    this.logger = opts.logger;
    this.expireMs = opts.expireMs ?? DEFAULT_EXPIRE_MS;
    this.retransmitMs = opts.retransmitMs ?? DEFAULT_RETRANSMIT_MS;
    this.maxPending = opts.maxPending ?? 10_000;
    this.sigs = opts.trustKeys && new SignatureCache(opts.trustKeys);
    this.newest = opts.newestSerial ?? 0;
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

  /** The peers requests go to. */
  get peerList(): readonly Peer[] {
    return this.peers;
  }

  /** Replace (or, with undefined, remove) the handler of `sendRequest`'s upcalls. */
  setCallback(cb: UpcallHandler | undefined): void {
    this.callback = cb;
  }

  /**
   * Fan a request out to `coverage` random peers (or exactly `targets`): the quorum engine that
   * every call goes through. The caller watches `votes` and finishes it.
   * @internal
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
    // With trusted keys, only a proven answer is a vote; a forged one is counted and named. A
    // reply not awaited (a copy, or one to an earlier send) is not worth verifying: an insider's
    // copies must not each cost the client a proof's check.
    if (this.sigs && this.protocol.documentSerials && PROVEN_OPS.has(String(entry.request.op))) {
      if (!f.awaits(peer, generation)) return;
      const a = admitted(entry.request, d.reply, this.sigs);
      return a.vote === undefined ? f.discard(peer, generation, a.forged) : f.reply(peer, generation, a.vote);
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
  requestOne(
    peer: Peer,
    request: Request,
    opts: { timeoutMs: number; retransmitMs?: number; maxRetransmitMs?: number },
  ): {
    /** The request's id, for `cancel`. */
    id: string;
    /** The daemon's reply, or undefined when none came in time. */
    reply: Promise<Reply | undefined>;
  } {
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
  waitForReply(
    id: string,
    timeoutMs = DEFAULT_EXPIRE_MS,
  ): Promise<{
    /** Fewer than `needed` daemons replied. */
    timedOut: boolean;
    /** Daemons the request was sent to. */
    sent: number;
    /** Daemons that replied. */
    received: number;
  }> {
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

  /**
   * A call's promise, settled by the watcher `make` returns (run after every reply and at the
   * end), rejected by the signal's abort (with its reason) or by close() (a QconfError
   * `closed`): never left pending, never rejected unhandled by the client itself.
   * @internal
   */
  settle<T>(f: FanOut, signal: AbortSignal | undefined, make: (resolve: (v: T) => void) => () => void): Promise<T> {
    return settleCall(f, signal, this.calls, make);
  }

  /**
   * What a result says of verification: whether answers were proven, and which were forged.
   * @internal
   */
  trustOf(f: FanOut): { verified: boolean; forged: ReadonlyMap<string, string> } {
    return { verified: this.sigs !== undefined && this.protocol.documentSerials, forged: f.forged };
  }

  /** The newest serial this client has returned (to keep across runs: `newestSerial`). */
  get newestSerial(): number {
    return this.newest;
  }

  /** The oldest serial a call may still return: none older than one already returned (0: any). */
  get serialFloor(): number {
    return this.protocol.documentSerials ? this.newest : 0;
  }

  /** A serial returned by a call that is not a query (a met wait): later calls return none older. */
  returned(serial: number): void {
    if (serial > this.newest) this.newest = serial;
  }

  /** Send a request and resolve with the quorum result (protocol.md, "Client rules"). */
  query<A = unknown>(request: Request, opts: QueryOptions<A> = {}): Promise<QueryResult<A>> {
    return traced({ op: String(request.op), path: request.path }, this.peers.length, () => this.queryNow<A>(request, opts));
  }

  private queryNow<A>(request: Request, opts: QueryOptions<A>): Promise<QueryResult<A>> {
    let f: FanOut;
    try {
      opts.signal?.throwIfAborted();
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
    return this.settle<QueryResult<A>>(f, opts.signal, (resolve) => () => {
      const votes = [...f.votes.values()];
      // Most replies arrive before the quorum: nothing to count for them.
      if (!f.done && votes.length < f.needed && !f.exhausted) return;
      let older = false;
      // Read now, not when the query began: a call that ended meanwhile may have raised it.
      const newest = this.serialFloor;
      const result = buildResult<A>(votes, votes, {
        ...this.trustOf(f),
        needed: f.needed,
        sent: f.targets.length,
        // Never an answer older than one already returned: ask on, or report no quorum. (Serial 0
        // is no snapshot's: a daemon not ready, or Ganeti's error answers.)
        quorum: (agreeing) => votes.length >= f.needed && (!strict || agreeing >= f.needed) && !(older = maxSerial(votes) > 0 && maxSerial(votes) < newest),
        noQuorum: (agreeing) =>
          older
            ? `the replies (serial ${maxSerial(votes)}) are older than serial ${newest}, already returned by this client`
            : strict && votes.length >= f.needed
              ? `${agreeing} of ${votes.length} replies agree; ${f.needed} needed`
              : `${votes.length} of ${f.targets.length} daemons replied; ${f.needed} needed${silentPeers(f)}${forgedPeers(f)}`,
        parse: opts.parse,
      });
      const waitAll = opts.all === true && f.answered < f.targets.length;
      // Strict mode gives up early once every daemon has answered without enough agreement.
      if (!f.done && (result.timedOut ? !f.exhausted : waitAll)) return;
      f.finish();
      if (result.kind !== 'no_quorum' && result.serial > this.newest) this.newest = result.serial;
      resolve(result);
    });
  }

  /** The value at `path` (a JSON pointer) that a quorum agrees on; `kind` says whether there is one. */
  get<A = unknown>(path: string, opts?: QueryOptions<A>): Promise<QueryResult<A>> {
    return this.query<A>({ op: 'get', path }, opts);
  }

  /** The values at several paths, read at one serial: one entry per path, in order. */
  mget(paths: string[], opts?: QueryOptions<MgetEntry[]>): Promise<QueryResult<MgetEntry[]>> {
    return this.query<MgetEntry[]>({ op: 'mget', paths }, opts);
  }

  /** The sorted child keys of the object or array at `path`; with `depth` > 1, relative pointers down to that depth. */
  list(path: string, depth = 1, opts?: QueryOptions<string[]>): Promise<QueryResult<string[]>> {
    return this.query<string[]>({ op: 'list', path, depth }, opts);
  }

  /** The daemons' state (node, serial, source, readiness); ask with coverage -1 for every daemon. */
  ping(opts?: QueryOptions<PingAnswer>): Promise<QueryResult<PingAnswer>> {
    return this.query<PingAnswer>({ op: 'ping' }, opts);
  }

  /** Each daemon's counters (`qconf stats`): ask with coverage -1 for every daemon. */
  stats<A = Record<string, unknown>>(opts?: QueryOptions<A>): Promise<QueryResult<A>> {
    return this.query<A>({ op: 'stats' }, opts);
  }

  /** Block until a quorum of daemons report `condition` (see wait-for.ts), or the timeout. */
  waitFor<A = unknown>(condition: WaitCondition, opts?: WaitOptions<A>): Promise<WaitResult<A>> {
    const path = 'path' in condition ? condition.path : undefined;
    return traced({ op: 'wait', path }, this.peers.length, () => import('./wait-for.js').then((m) => m.waitFor<A>(this, condition, opts)));
  }

  /** Each new value of `path`, agreed by a quorum, for as long as the caller iterates. */
  watch<A = unknown>(path: string, opts?: WatchOptions<A>): AsyncGenerator<WatchEvent<A>, void, undefined> {
    return (async function* (client: ConfdClient) {
      const m = await import('./wait-for.js');
      yield* m.watch<A>(client, path, opts);
    })(this);
  }

  /**
   * A local mirror of the subtree at `prefix`, read synchronously with no datagram (mirror.ts):
   * resolves once it is filled by a quorum read; kept fresh by one held wait until closed.
   */
  async mirror<T = unknown>(prefix: string, opts?: MirrorOptions<T>): Promise<Mirror<T>> {
    const { Mirror } = await import('./mirror.js');
    const m = new Mirror<T>(this, prefix, opts);
    await m.ready;
    return m;
  }

  /**
   * A client configured as `qconf` is: peers from QCONF_PEERS, the key file from QCONF_KEY_FILE,
   * the default port from QCONF_PORT, publishers' keys from QCONF_TRUST_KEY, sealing from
   * QCONF_SEAL (`1`, `true` or `yes`; `0`, `false` or `no`) (each overridden by `opts`). A key
   * file others can read is reported through `opts.logger` (its `warn`), else as a process
   * warning (code QCONF_KEY_FILE).
   */
  static fromEnv(opts: Partial<ConfdClientOptions> & { env?: NodeJS.ProcessEnv } = {}): ConfdClient {
    return new ConfdClient(optionsFromEnv(opts));
  }

  /** Number of outstanding requests (for tests and monitoring). */
  get outstanding(): number {
    return this.pending.size;
  }

  /**
   * End sockets and timers. Calls in progress reject at once with a QconfError `closed`;
   * requests made with sendRequest expire now, with their upcalls.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const closed = new QconfError('closed', 'client is closed');
    for (const reject of [...this.calls]) reject(closed);
    for (const f of this.pending.values()) f.expiry = 0;
    this.expireRequests();
    this.transport.close();
  }
}

/** `await using client = new ConfdClient(...)` closes it at the end of the block. */
export interface ConfdClient {
  /** Closes the client (`close()`), for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}
ConfdClient.prototype[Symbol.asyncDispose] = async function (this: ConfdClient) {
  this.close();
};

export { forgedPeers } from './fan-out.js';

export type { Upcall };
