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
}

/** The outcome of a quorum query (protocol.md, "Client rules"). */
export interface QueryResult<A = unknown> {
  /** The winning reply's status; null when no daemon replied. */
  status: number | null;
  answer?: A;
  etag?: string;
  serial: number;
  error?: { code: ErrorCode | string; message: string };
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
  peers: PeerResult[];
}

export interface Logger {
  debug?(obj: object, msg?: string): void;
  warn?(obj: object, msg?: string): void;
}
