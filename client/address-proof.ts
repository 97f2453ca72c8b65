// The client's side of address validation (docs/protocol.md, "Address validation"): a daemon
// sends a reply larger than its request only to an address that has sent back a cookie it gave
// there. This keeps, per daemon, the cookie and whether the daemon has this address validated,
// pads requests so that small answers need no round trip more, and says when a reply is the
// daemon asking for its cookie (the caller then sends the request again, with it).
import type { Peer } from '../shared/peers.js';
import type { Transmission } from './protocol.js';
import type { Reply } from './types.js';

/** Every request is at least this large: the error `retry` (with a cookie) always fits in its reply. */
const MIN_REQUEST_BYTES = 256;
/** A request to a daemon that has not validated this address: answers this large need no round trip more. */
const UNVALIDATED_REQUEST_BYTES = 1200;
/** A daemon keeps an address validated for 10 minutes after its cookie; the client assumes less. */
const ASSUME_VALIDATED_MS = 4 * 60_000;

interface PeerCookie {
  cookie: Uint8Array | undefined;
  /** Until then this address is taken as validated there: requests go unpadded (but to MIN_REQUEST_BYTES). */
  validatedUntil: number;
  /** When the cookie was last sent. */
  sentAt: number;
}

export class AddressProof {
  private readonly byPeer = new Map<string, PeerCookie>();

  /**
   * How to send a request to `peer` now: a retransmission (`again`), and any request to a daemon
   * that has not validated this address, is padded and carries the cookie if there is one, so a
   * daemon that restarted (and forgot the address) can answer it at once.
   */
  forRequest(peer: Peer, again: boolean): Omit<Transmission, 'to'> {
    const now = Date.now();
    const c = this.byPeer.get(peer.label);
    const validated = c !== undefined && !again && now < c.validatedUntil;
    const cookie = validated ? undefined : c?.cookie;
    if (cookie !== undefined) (c as PeerCookie).sentAt = now;
    return { cookie, padTo: validated ? MIN_REQUEST_BYTES : UNVALIDATED_REQUEST_BYTES };
  }

  /**
   * Take note of a reply; true when it is the daemon asking for its cookie (the request is to be
   * sent again, with it), false when the reply is the answer.
   */
  onReply(peer: Peer, reply: Reply): boolean {
    let c = this.byPeer.get(peer.label);
    if (reply.error?.code === 'retry' && reply.cookie !== undefined) {
      if (c === undefined) this.byPeer.set(peer.label, (c = { cookie: undefined, validatedUntil: 0, sentAt: 0 }));
      c.cookie = reply.cookie;
      c.validatedUntil = 0;
      return true;
    }
    if (c === undefined) return false;
    // An answer after the cookie was sent: the daemon has this address validated for a while.
    if (c.sentAt > 0 && c.validatedUntil < c.sentAt + ASSUME_VALIDATED_MS) c.validatedUntil = c.sentAt + ASSUME_VALIDATED_MS;
    return false;
  }
}
