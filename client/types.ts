// Public types of the client library.
import type { ErrorCode, WireErrorCode } from '../shared/errors.js';
import type { Peer } from '../shared/peers.js';

/** A QCF1 request body (protocol.md, "Request body"). */
export interface Request {
  /** What is asked; a daemon answers an op it does not know with the error `bad_argument`. */
  op: 'ping' | 'get' | 'mget' | 'list' | 'wait' | 'stats' | (string & {});
  /** get, list, wait: a JSON pointer into the document ("" is the whole document). */
  path?: string;
  /** mget: the pointers to read, answered in order. */
  paths?: string[];
  /** list: how many levels of names below `path`. */
  depth?: number;
  /** wait: the etag the caller holds; the wait ends when the value's etag differs. */
  etag?: string;
  /** wait: end once the daemon serves at least this serial. */
  minSerial?: number;
  /** wait: how long the daemon holds the request before it answers `timedOut`. */
  timeoutMs?: number;
  /** wait: marks retransmissions of one held wait. */
  rid?: string;
  [key: string]: unknown;
}

/** One daemon's reply, as the protocol adapter normalises it. */
export interface Reply {
  /** 0: the answer is there; non-zero: `error` says why (1 is not found). */
  status: number;
  /** The serial of the snapshot that answered (0: the daemon has none yet). */
  serial: number;
  /** The daemon's node name. */
  node?: string;
  /** The daemon's start (QCF1): with `node`, which daemon this is, whatever address it came from. */
  instance?: string;
  /** The value read (get), the entries (mget), the names (list), the daemon's state (ping). */
  answer?: unknown;
  /** The answer's etag: equal etags, equal values. */
  etag?: string;
  /** wait: the daemon held the request for its whole time and the condition was not met. */
  timedOut?: boolean;
  /** Why the status is not 0. */
  error?: {
    /** A code to branch on (WireErrorCode; a newer daemon may send others). */
    code: WireErrorCode | string;
    /** The daemon's explanation. */
    message: string;
  };
  /** With the error `retry`: the cookie to repeat the request with. */
  cookie?: Uint8Array;
  /** list: whether the listed value is an object or an array. */
  container?: 'object' | 'array';
  /** From a signed document: the publisher's signature and commitment. */
  signed?: unknown;
  /** From a signed document: the proof that the answer is the signed document's. */
  proof?: unknown;
}

/** A daemon replied to a request made with `sendRequest` (one upcall per reply counted). */
export interface ReplyUpcall {
  /** Tells the upcalls apart. */
  type: 'reply';
  /** The request's id, as `sendRequest` returned it. */
  id: string;
  /** The request as it was sent. */
  request: Request;
  /** The daemon's reply. */
  reply: Reply;
  /** The daemon that replied. */
  peer: Peer;
  /** What the caller passed as `args` to `sendRequest`. */
  args: unknown;
}

/** A request made with `sendRequest` expired (its time ran out, or the client was closed). */
export interface ExpireUpcall {
  /** Tells the upcalls apart. */
  type: 'expire';
  /** The request's id, as `sendRequest` returned it. */
  id: string;
  /** The request as it was sent. */
  request: Request;
  /** What the caller passed as `args` to `sendRequest`. */
  args: unknown;
  /** Daemons the request was sent to. */
  sent: number;
  /** Daemons that replied. */
  received: number;
}

/** What the client's `callback` receives (Ganeti's upcalls). */
export type Upcall = ReplyUpcall | ExpireUpcall;
/** The client's `callback`: called with each upcall, synchronously, from the socket's handler. */
export type UpcallHandler = (u: Upcall) => void;

/** One daemon's part in a quorum result. */
export interface PeerResult {
  /** The daemon's address (`host:port`). */
  peer: string;
  /** Its reply's status (1 for an answer discarded as forged). */
  status: number;
  /** The serial it answered at. */
  serial: number;
  /** Its node name, when it said. */
  node?: string;
  /** With trusted keys: why this daemon's answer was discarded as forged. */
  forged?: string;
}

/** One entry of an `mget` answer (protocol.md, "Answers by op"). */
export interface MgetEntry {
  /** 0: `answer` is the value at the path; else `error` says why (`not_found`, `too_large`). */
  status: number;
  /** The value at the path. */
  answer?: unknown;
  /** The value's etag. */
  etag?: string;
  /** Why the status is not 0. */
  error?: {
    /** A code to branch on (`not_found`, `too_large`, …). */
    code: string;
    /** The daemon's explanation. */
    message: string;
  };
}

/** A `ping` answer: the daemon's replica and version. */
export interface PingAnswer {
  /** The daemon's node name. */
  node: string;
  /** The serial of the snapshot it serves (0: none yet). */
  serial: number;
  /** The replica source (`file`, `etcd`, …; `none` before the first snapshot). */
  source: string;
  /** When the snapshot was loaded (Unix ms; 0 before the first). */
  loadedAt: number;
  /** The source is out of reach: the daemon serves its last good snapshot. */
  stale: boolean;
  /** The daemon's version. */
  version: string;
  /** It has a snapshot to serve. */
  ready: boolean;
  /** etcd: milliseconds since the daemon last heard from its source. */
  lastContactAgeMs?: number;
}

/** An error in a result: a code to branch on (ErrorCode; a newer daemon may send others), and a text. */
export interface ResultError {
  /** What went wrong, to branch on. */
  code: ErrorCode | (string & {});
  /** For people: what went wrong, naming the daemons or the path concerned. */
  message: string;
}

/** What every quorum result says, whatever its kind. */
export interface ResultBase {
  /** The winning reply's status; null when no daemon replied. */
  status: number | null;
  /** The winning answer's etag: equal etags, equal values (a wait's `changedFrom`). */
  etag?: string;
  /** The serial of the snapshot the winning reply came from (the newest among the replies). */
  serial: number;
  /** Distinct daemons that replied. */
  replies: number;
  /** Replies needed for a quorum of the daemons asked (`neededReplies`). */
  needed: number;
  /** Distinct daemons the request was sent to. */
  sent: number;
  /** Replies equal to the winning one. */
  agreeing: number;
  /** False when two replies at the winning serial differ (the replicas disagree). */
  consistent: boolean;
  /** No quorum replied before the timeout (the `no_quorum` kind). */
  timedOut: boolean;
  /** The winning reply's `timedOut` flag (wait op). */
  holdTimedOut?: boolean;
  /** list: whether the listed value is an object or an array. */
  container?: 'object' | 'array';
  /** Each daemon that replied (and, with trusted keys, each whose answer was forged). */
  peers: PeerResult[];
  /** With trusted keys: every answer counted was proven against the publisher's signature. */
  verified: boolean;
  /** With trusted keys: answers discarded because they did not verify (listed in `peers`). */
  forged: number;
}

/** A quorum answered: `answer` is there (and passed `parse`, when one was given). */
export interface OkResult<A> extends ResultBase {
  /** Tells the results apart: check it and `answer` is there. */
  kind: 'ok';
  status: 0;
  /** The answer a quorum agreed on, as `parse` returned it when one was given. */
  answer: A;
  /** Never set on an answer: lets `r.error` be read on any result. */
  error?: undefined;
}

/** A quorum agrees there is no value at the path. */
export interface NotFoundResult extends ResultBase {
  /** Tells the results apart. */
  kind: 'not_found';
  status: 1;
  /** What the error reply carried as its answer (Ganeti's protocol puts its error text there). */
  answer?: unknown;
  /** The code `not_found`, and the daemons' message. */
  error: ResultError;
}

/** No quorum before the timeout: `replies` of `sent` answered, `needed` were needed. */
export interface NoQuorumResult<A> extends ResultBase {
  /** Tells the results apart. */
  kind: 'no_quorum';
  timedOut: true;
  /** What the replies that came said (not a quorum's answer). */
  answer?: A;
  /** The code `no_quorum`, and a message naming the daemons that did not answer. */
  error: ResultError;
}

/** A quorum answered with an error (too_large, bad_argument, …), or the answer failed `parse`. */
export interface ErrorResult extends ResultBase {
  /** Tells the results apart. */
  kind: 'error';
  /** What the error reply carried as its answer (Ganeti's protocol puts its error text there). */
  answer?: unknown;
  /** The daemons' error, or `invalid_answer` when the answer failed `parse`. */
  error: ResultError;
}

/**
 * The outcome of a quorum query (protocol.md, "Client rules"), by `kind`: check it and `answer`
 * narrows to the type asked for.
 */
export type QueryResult<A = unknown> = OkResult<A> | NotFoundResult | NoQuorumResult<A> | ErrorResult;

/** Where the client reports what a caller may want to log (pino's and console-like loggers fit). */
export interface Logger {
  /** Routine trouble, such as a datagram that could not be sent. */
  debug?(obj: object, msg?: string): void;
  /** Something to fix, such as a key file others can read. */
  warn?(obj: object, msg?: string): void;
}
