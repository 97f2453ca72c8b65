// Public types of the client library.
import type { ErrorCode, WireErrorCode } from '../shared/errors.js';
import type { Peer } from '../shared/peers.js';

/** A QCF1 request body (protocol.md, "Request body"). */
export interface Request {
  op: 'ping' | 'get' | 'mget' | 'list' | 'wait' | 'stats' | (string & {});
  path?: string;
  paths?: string[];
  depth?: number;
  etag?: string;
  minSerial?: number;
  timeoutMs?: number;
  /** wait: marks retransmissions of one held wait. */
  rid?: string;
  [key: string]: unknown;
}

/** One daemon's reply, as the protocol adapter normalises it. */
export interface Reply {
  status: number;
  serial: number;
  node?: string;
  /** The daemon's start (QCF1): with `node`, which daemon this is, whatever address it came from. */
  instance?: string;
  answer?: unknown;
  etag?: string;
  timedOut?: boolean;
  error?: { code: WireErrorCode | string; message: string };
  /** With the error `retry`: the cookie to repeat the request with. */
  cookie?: Uint8Array;
  /** list: whether the listed value is an object or an array. */
  container?: 'object' | 'array';
  /** From a signed document: the publisher's signature and commitment, and the answer's proof. */
  signed?: unknown;
  proof?: unknown;
}

export interface ReplyUpcall {
  type: 'reply';
  id: string;
  request: Request;
  reply: Reply;
  peer: Peer;
  args: unknown;
}

export interface ExpireUpcall {
  type: 'expire';
  id: string;
  request: Request;
  args: unknown;
  sent: number;
  received: number;
}

export type Upcall = ReplyUpcall | ExpireUpcall;
export type UpcallHandler = (u: Upcall) => void;

export interface PeerResult {
  peer: string;
  status: number;
  serial: number;
  node?: string;
  /** With trusted keys: why this daemon's answer was discarded as forged. */
  forged?: string;
}

/** One entry of an `mget` answer (protocol.md, "Answers by op"). */
export interface MgetEntry {
  status: number;
  answer?: unknown;
  etag?: string;
  error?: { code: string; message: string };
}

/** A `ping` answer: the daemon's replica and version. */
export interface PingAnswer {
  node: string;
  serial: number;
  source: string;
  loadedAt: number;
  stale: boolean;
  version: string;
  ready: boolean;
  lastContactAgeMs?: number;
}

/** An error in a result: a code to branch on (ErrorCode; a newer daemon may send others), and a text. */
export interface ResultError {
  code: ErrorCode | (string & {});
  message: string;
}

/** What every quorum result says, whatever its kind. */
export interface ResultBase {
  /** The winning reply's status; null when no daemon replied. */
  status: number | null;
  etag?: string;
  serial: number;
  /** Distinct daemons that replied. */
  replies: number;
  needed: number;
  /** Distinct daemons the request was sent to. */
  sent: number;
  agreeing: number;
  consistent: boolean;
  timedOut: boolean;
  /** The winning reply's `timedOut` flag (wait op). */
  holdTimedOut?: boolean;
  /** list: whether the listed value is an object or an array. */
  container?: 'object' | 'array';
  peers: PeerResult[];
  /** With trusted keys: every answer counted was proven against the publisher's signature. */
  verified: boolean;
  /** With trusted keys: answers discarded because they did not verify (listed in `peers`). */
  forged: number;
}

/** A quorum answered: `answer` is there (and passed `parse`, when one was given). */
export interface OkResult<A> extends ResultBase {
  kind: 'ok';
  status: 0;
  answer: A;
  error?: undefined;
}

/** A quorum agrees there is no value at the path. */
export interface NotFoundResult extends ResultBase {
  kind: 'not_found';
  status: 1;
  /** What the error reply carried as its answer (Ganeti's protocol puts its error text there). */
  answer?: unknown;
  error: ResultError;
}

/** No quorum before the timeout: `replies` of `sent` answered, `needed` were needed. */
export interface NoQuorumResult<A> extends ResultBase {
  kind: 'no_quorum';
  timedOut: true;
  /** What the replies that came said (not a quorum's answer). */
  answer?: A;
  error: ResultError;
}

/** A quorum answered with an error (too_large, bad_argument, …), or the answer failed `parse`. */
export interface ErrorResult extends ResultBase {
  kind: 'error';
  /** What the error reply carried as its answer (Ganeti's protocol puts its error text there). */
  answer?: unknown;
  error: ResultError;
}

/**
 * The outcome of a quorum query (protocol.md, "Client rules"), by `kind`: check it and `answer`
 * narrows to the type asked for.
 */
export type QueryResult<A = unknown> = OkResult<A> | NotFoundResult | NoQuorumResult<A> | ErrorResult;

export interface Logger {
  debug?(obj: object, msg?: string): void;
  warn?(obj: object, msg?: string): void;
}
