// What the fuzzer sends, and what it must get back. Every datagram is made at the moment it is
// sent (so that its time is fresh when it should be) by a generator of one category, and says
// what the daemon must do with it:
//
//   reply        authenticated, fresh, never seen, addressed to this daemon, within size, and a
//                well-formed body (a map of JSON-ish values, however hostile): it must be
//                answered — with an error code when it is invalid
//   silence      anything the guards must drop without a word: bytes without a valid MAC, a
//                stale time, a replay, another destination, an oversize datagram
//   silence-auth authenticated but malformed at the protocol level (a QCF1 body that is no
//                map of JSON values; a plj0 request Ganeti's rules refuse): silence by protocol
//   unknown      a mutation that may have left the datagram valid: sent, not judged

export type Expect = 'reply' | 'silence' | 'silence-auth' | 'unknown';

export interface Case {
  /** The generator that made it (counted per category). */
  category: string;
  bytes: Buffer;
  expect: Expect;
  /** What its reply carries to name it (QCF1: the salt in hex; plj0: the rsalt). */
  match?: string;
  /** Its reply may come this late (a held wait): ms after it is sent. */
  holdMs?: number;
  /** The same request made afresh (new salt and time), to confirm one that went unanswered. */
  remake?: () => Case;
}

/** A verified, decoded reply: what it answers, and whether it is a well-formed one. */
export interface ReplyCheck {
  match: string;
  /** Undefined when the reply is well-formed; else what is wrong with it. */
  problem?: string;
  /** Its status and error code, for the counts. */
  outcome: string;
  /** A cookie the daemon asked to be sent back (QCF1 `retry`). */
  cookie?: Buffer;
}

/** One protocol's fuzzing: cases to send, and how to read replies. */
export interface Protocol {
  name: 'qcf1' | 'plj0';
  /** The next case, drawn from the weighted categories. */
  next(): Case;
  /** A reply datagram verified and matched, or undefined if it does not verify. */
  readReply(datagram: Buffer): ReplyCheck | undefined;
  /** A request that makes this client's address validated (QCF1), or nothing to do. */
  validate?(cookie: Buffer | undefined): Case;
}

/** Pick a generator by weight. */
export function weighted<T>(rand: () => number, items: readonly [number, T][]): T {
  const total = items.reduce((s, [w]) => s + w, 0);
  let r = rand() * total;
  for (const [w, v] of items) if ((r -= w) < 0) return v;
  return items[items.length - 1][1];
}
