// ConfdClient: Ganeti's proven client shape (sendRequest, upcalls, expireRequests,
// waitForReply), plus the promise API most callers use (query, get, waitFor, watch). Every
// request is fanned out by the quorum engine (fan-out.ts); this class owns the socket side: each
// transmission carries a fresh salt, so a reply names the request and daemon it answers,
// duplicates count once, and retransmissions cannot be confused with the original.
import { randomUUID } from 'node:crypto';
import { isIPv4 } from 'node:net';
import { formatDestination } from '../shared/destination.js';
import { QconfError } from '../shared/errors.js';
import { loadKeyring, type Keyring } from '../shared/keyring.js';
import { DEFAULT_PORT, parsePeerList, type Peer } from '../shared/peers.js';
import { AddressProof } from './address-proof.js';
import { PROVEN_OPS, SignatureCache, verifyAnswer } from './verify-answer.js';
import { loadTrustKeys, type TrustKeys } from '../shared/signing.js';
import { FanOut, type FanOutHost } from './fan-out.js';
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
  /**
   * Publishers' public keys (qconf keygen --signing): every answer must be proven against a
   * document one of them signed; a reply that is not is discarded as forged (result `forged`).
   */
  trustKeys?: TrustKeys;
  /** The newest serial already returned elsewhere (e.g. by an earlier run): none older is returned. */
  newestSerial?: number;
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

export interface QueryOptions<T = unknown> {
  coverage?: number;
  strict?: boolean;
  timeoutMs?: number;
  retransmitMs?: number;
  /** Wait for every daemon asked (until the timeout) instead of stopping at the quorum. */
  all?: boolean;
  /** Cancels the call: its promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Check (and type) the answer, e.g. a zod schema's `parse`; a failure is an `invalid_answer` result. */
  parse?: (v: unknown) => T;
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
    this.protocol = opts.protocol ?? new Qcf1ClientProtocol(() => keyring);
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
    // With trusted keys, only a proven answer is a vote; a forged one is counted and named.
    if (this.sigs && this.protocol.documentSerials && PROVEN_OPS.has(String(entry.request.op))) {
      const v = verifyAnswer(entry.request, d.reply, this.sigs, Date.now());
      if (v.kind !== 'verified') return f.discard(peer, generation, v.kind === 'forged' ? v.why : undefined);
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

  /**
   * A call's promise, settled by the watcher `make` returns (run after every reply and at the
   * end), rejected by the signal's abort (with its reason) or by close() (a QconfError
   * `closed`): never left pending, never rejected unhandled by the client itself.
   */
  settle<T>(f: FanOut, signal: AbortSignal | undefined, make: (resolve: (v: T) => void) => () => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let over = false;
      const end = () => {
        over = true;
        f.watchers.delete(check);
        signal?.removeEventListener('abort', onAbort);
        this.calls.delete(onClose);
      };
      const onAbort = () => {
        if (over) return;
        end();
        f.finish();
        reject(signal?.reason);
      };
      const onClose = (e: Error) => {
        if (over) return;
        end();
        reject(e);
      };
      const check = make((v) => {
        if (over) return;
        end();
        resolve(v);
      });
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.calls.add(onClose);
      f.watchers.add(check);
      check();
    });
  }

  /** What a result says of verification: whether answers were proven, and which were forged. */
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

  get<A = unknown>(path: string, opts?: QueryOptions<A>): Promise<QueryResult<A>> {
    return this.query<A>({ op: 'get', path }, opts);
  }

  mget(paths: string[], opts?: QueryOptions<MgetEntry[]>): Promise<QueryResult<MgetEntry[]>> {
    return this.query<MgetEntry[]>({ op: 'mget', paths }, opts);
  }

  list(path: string, depth = 1, opts?: QueryOptions<string[]>): Promise<QueryResult<string[]>> {
    return this.query<string[]>({ op: 'list', path, depth }, opts);
  }

  ping(opts?: QueryOptions<PingAnswer>): Promise<QueryResult<PingAnswer>> {
    return this.query<PingAnswer>({ op: 'ping' }, opts);
  }

  /** Each daemon's counters (`qconf stats`): ask with coverage -1 for every daemon. */
  stats(opts?: QueryOptions<Record<string, unknown>>): Promise<QueryResult<Record<string, unknown>>> {
    return this.query<Record<string, unknown>>({ op: 'stats' }, opts);
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
   * the default port from QCONF_PORT, publishers' keys from QCONF_TRUST_KEY (each overridden by
   * `opts`). A world-readable key file is
   * reported through `opts.logger`.
   */
  static fromEnv(opts: Partial<ConfdClientOptions> & { env?: NodeJS.ProcessEnv } = {}): ConfdClient {
    const env = opts.env ?? process.env;
    const peers = opts.peers ?? env.QCONF_PEERS;
    if (peers === undefined || peers === '' || (Array.isArray(peers) && peers.length === 0)) throw new QconfError('usage', 'no peers: set QCONF_PEERS (or give peers)');
    let keyring = opts.keyring;
    if (keyring === undefined) {
      const keyFile = env.QCONF_KEY_FILE;
      if (!keyFile) throw new QconfError('usage', 'no key file: set QCONF_KEY_FILE (or give a keyring)');
      const loaded = loadKeyring(keyFile);
      for (const w of loaded.warnings) opts.logger?.warn?.({ event: 'key_file_warning', keyFile }, w);
      keyring = loaded.keyring;
    }
    const trustFile = env.QCONF_TRUST_KEY;
    const trustKeys = opts.trustKeys ?? (trustFile ? loadTrustKeys(trustFile) : undefined);
    let port = opts.port;
    if (port === undefined && env.QCONF_PORT) {
      port = Number(env.QCONF_PORT);
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new QconfError('usage', `QCONF_PORT: ${JSON.stringify(env.QCONF_PORT)} is not a port number`);
    }
    return new ConfdClient({ ...opts, peers, keyring, port, trustKeys });
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
  [Symbol.asyncDispose](): Promise<void>;
}
ConfdClient.prototype[Symbol.asyncDispose] = async function (this: ConfdClient) {
  this.close();
};

function maxSerial(votes: readonly { reply: Reply }[]): number {
  let m = 0;
  for (const v of votes) if (v.reply.serial > m) m = v.reply.serial;
  return m;
}

/** The daemons asked that never answered, for a message that names them. */
function silentPeers(f: FanOut): string {
  const silent = f.targets.filter((p) => !f.hasAnswered(p)).map((p) => p.label);
  return silent.length === 0 ? '' : ` (no answer from ${silent.join(', ')})`;
}

/** The daemons whose answers failed verification, and why. */
export function forgedPeers(f: FanOut): string {
  if (f.forged.size === 0) return '';
  return `; answers that failed verification: ${[...f.forged].map(([peer, why]) => `${peer} (${why})`).join(', ')}`;
}

export type { Upcall };
