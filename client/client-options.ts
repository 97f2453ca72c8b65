// What a ConfdClient is made with, and what each of its calls takes.
import type { Keyring } from '../shared/keyring.js';
import type { Peer } from '../shared/peers.js';
import type { TrustKeys } from '../shared/signing.js';
import type { ClientProtocol } from './protocol.js';
import type { Logger, Reply, Request, UpcallHandler } from './types.js';

/** How a client is made: the key, the daemons, and the defaults of its requests. */
export interface ConfdClientOptions {
  /** The shared keys requests are signed with (`loadKeyring`, `Keyring.fromStrings`). */
  keyring: Keyring;
  /** The daemons: `host`, `host:port`, `[v6]:port`, as a list or one comma- or space-separated string. */
  peers: readonly string[] | string;
  /** The port of peers given without one (default 1814, `DEFAULT_PORT`). */
  port?: number;
  /** Where the client reports what a caller may want to log. */
  logger?: Logger;
  /** Receives the upcalls of requests made with `sendRequest` (Ganeti's client shape). */
  callback?: UpcallHandler;
  /** Lifetime of a request made with sendRequest (Ganeti: 10 s). */
  expireMs?: number;
  /** First retransmission delay; doubles up to 1 s. 0 disables retransmission. */
  retransmitMs?: number;
  /** Outstanding requests at most; beyond it sendRequest throws `busy`. */
  maxPending?: number;
  /**
   * Another wire protocol (tests, Ganeti's plj0).
   * @internal
   */
  protocol?: ClientProtocol;
  /**
   * Publishers' public keys (qconf keygen --signing): every answer must be proven against a
   * document one of them signed; a reply that is not is discarded as forged (result `forged`).
   */
  trustKeys?: TrustKeys;
  /** The newest serial already returned elsewhere (e.g. by an earlier run): none older is returned. */
  newestSerial?: number;
  /**
   * Seal request and reply bodies (docs/protocol.md, "Sealed traffic"): paths and values are
   * encrypted on the wire, and only sealed replies are accepted. QCF1 only.
   */
  seal?: boolean;
}

/** Options of one `sendRequest`. */
export interface SendOptions {
  /** How many of the peers to ask, chosen at random: default `min(peers, 6)`, -1 for all. */
  coverage?: number;
  /** Handed back in this request's upcalls. */
  args?: unknown;
  /** Overrides expireMs for this request. */
  expireMs?: number;
  /** First retransmission delay for this request; later ones double up to maxRetransmitMs. */
  retransmitMs?: number;
  /** The longest delay between retransmissions (default 1 s). */
  maxRetransmitMs?: number;
  /** Send to exactly these peers (no random choice, no hedging). */
  targets?: readonly Peer[];
}

/** Options of one quorum query (`get`, `mget`, `list`, `ping`, `stats`, `query`). */
export interface QueryOptions<T = unknown> {
  /** How many of the peers to ask, chosen at random: default `min(peers, 6)`, -1 for all. */
  coverage?: number;
  /** Answer only when `needed` replies agree (not merely the newest of `needed` replies). */
  strict?: boolean;
  /** Give up after this long (default 5 s): the result is then `no_quorum`. */
  timeoutMs?: number;
  /** First retransmission delay to daemons that have not answered (default 200 ms, doubling to 1 s). */
  retransmitMs?: number;
  /** Wait for every daemon asked (until the timeout) instead of stopping at the quorum. */
  all?: boolean;
  /** Cancels the call: its promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Check (and type) the answer, e.g. a zod schema's `parse`; a failure is an `invalid_answer` result. */
  parse?: (v: unknown) => T;
}

/**
 * How the quorum engine is asked for a fan-out (the parts a wait sets itself).
 * @internal
 */
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
