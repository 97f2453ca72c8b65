// Return-address validation against reflection (docs/protocol.md, "Address validation"). UDP
// source addresses can be forged, even by a key holder: a reply larger than its request goes only
// to an address that has shown, within the last minutes, that it receives this daemon's replies,
// by sending back a cookie the daemon sent there. Cookies are keyed by a secret drawn at start,
// by address and by a five-minute epoch (the current and the previous one are accepted), so a
// daemon keeps no state per address until one comes back with its cookie. The table of validated
// addresses is bounded (the oldest go first), and only addresses that received a cookie can enter.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const COOKIE_BYTES = 16;
const EPOCH_MS = 5 * 60_000;
/** How long an address stays validated after its last cookie. */
export const VALIDATED_MS = 10 * 60_000;

export interface AddressValidationOptions {
  capacity?: number;
  now?: () => number;
}

export class AddressValidation {
  private readonly secret = randomBytes(32);
  /** Address → time its validation ends, oldest first (re-validated ones move to the end). */
  private readonly validated = new Map<string, number>();
  private readonly capacity: number;
  private readonly now: () => number;

  constructor(o: AddressValidationOptions = {}) {
    this.capacity = o.capacity ?? 65_536;
    this.now = o.now ?? Date.now;
  }

  private cookieAt(address: string, epoch: number): Buffer {
    return createHmac('sha256', this.secret).update(`qconf-cookie ${epoch} ${address}`).digest().subarray(0, COOKIE_BYTES);
  }

  /** The cookie for `address` now. */
  cookie(address: string): Buffer {
    return this.cookieAt(address, Math.floor(this.now() / EPOCH_MS));
  }

  /** Check a cookie sent from `address`; a good one validates the address. */
  accept(address: string, cookie: Uint8Array): boolean {
    if (cookie.length !== COOKIE_BYTES) return false;
    const epoch = Math.floor(this.now() / EPOCH_MS);
    const c = Buffer.from(cookie.buffer, cookie.byteOffset, cookie.length);
    if (!timingSafeEqual(c, this.cookieAt(address, epoch)) && !timingSafeEqual(c, this.cookieAt(address, epoch - 1))) return false;
    this.validated.delete(address);
    if (this.validated.size >= this.capacity) this.validated.delete(this.validated.keys().next().value as string);
    this.validated.set(address, this.now() + VALIDATED_MS);
    return true;
  }

  isValidated(address: string): boolean {
    const until = this.validated.get(address);
    if (until === undefined) return false;
    if (until > this.now()) return true;
    this.validated.delete(address);
    return false;
  }

  get size(): number {
    return this.validated.size;
  }
}
