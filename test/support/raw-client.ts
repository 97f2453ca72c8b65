// Raw QCF1 datagrams for guard, fuzz and reload tests: craft any header (valid or not), sign
// or mis-sign it, send it with node:dgram, and read what comes back with a deadline. Unlike
// ConfdClient, nothing is retransmitted or filtered, so a test sees exactly what the daemon did.
import dgram, { type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { Keyring, makeKey, type Key } from '../../shared/keyring.js';
import {
  HEADER_LEN,
  KIND_REPLY,
  KIND_REQUEST,
  MAC_OFFSET,
  QCF1_MAGIC,
  SALT_LEN,
  computeMac,
  decodeBody,
  frame as frameBytes,
  packBody,
  verifyDatagram,
} from '../../shared/qcf1.js';
import { KEY_A } from '../../testkit/fixtures.js';

export const keyOf = (text: string): Key => makeKey(Buffer.from(text, 'utf8'));

export interface FrameOptions {
  kind?: number;
  /** The three bytes after the kind (must be zero on the wire). */
  reserved?: [number, number, number];
  /** Signing key (default KEY_A). */
  key?: Key;
  /** Override the keyId written in the header (the MAC still uses `key`). */
  keyId?: number;
  timeMs?: number;
  salt?: Buffer;
  /** A body object (packed with the product's MessagePack settings) or raw body bytes. */
  body?: object | Buffer;
  /** false: leave the MAC field zero (unsigned). */
  sign?: boolean;
  /**
   * An object body's `to` (docs/protocol.md, "Destination"), when it has none: by default the
   * daemon the last RawClient opened was aimed at; null: none.
   */
  to?: string | null;
  /**
   * Pad an object body (unless it has a `pad` of its own) so the datagram is at least this large,
   * as clients do before their address is validated (default 1200; 0: no padding).
   */
  padTo?: number;
}

/** The daemon the last opened RawClient is aimed at: the default `to` of requests framed after. */
let lastTarget = '127.0.0.1:1814';

/** An object body completed as a client sends it: `to`, then `pad` to the size asked for. */
function completeBody(body: object, o: FrameOptions): Buffer {
  const b: Record<string, unknown> = { ...body };
  const to = o.to === undefined ? lastTarget : o.to;
  if (!('to' in b) && to !== null) b.to = to;
  const padTo = o.padTo ?? 1200;
  if ('pad' in b || padTo <= 0) return packBody(b);
  const base = packBody({ ...b, pad: Buffer.alloc(0) });
  const n = padTo - HEADER_LEN - base.length;
  return n <= 0 ? base : packBody({ ...b, pad: Buffer.alloc(n >= 256 ? n - 1 : n) });
}

/** Frame a datagram field by field; the MAC (if signed) is computed over the bytes as framed. */
export function frame(o: FrameOptions = {}): Buffer {
  const key = o.key ?? keyOf(KEY_A);
  const body = Buffer.isBuffer(o.body) ? o.body : completeBody(o.body ?? { op: 'ping' }, o);
  const buf = Buffer.alloc(HEADER_LEN + body.length);
  QCF1_MAGIC.copy(buf, 0);
  buf[4] = o.kind ?? KIND_REQUEST;
  const r = o.reserved ?? [0, 0, 0];
  buf[5] = r[0];
  buf[6] = r[1];
  buf[7] = r[2];
  buf.writeUInt32BE(o.keyId ?? key.id, 8);
  const t = o.timeMs ?? Date.now();
  buf.writeUInt32BE(Math.floor(t / 0x1_0000_0000), 12);
  buf.writeUInt32BE(t >>> 0, 16);
  (o.salt ?? randomBytes(SALT_LEN)).copy(buf, 20, 0, SALT_LEN);
  body.copy(buf, HEADER_LEN);
  if (o.sign !== false) computeMac(key.bytes, buf).copy(buf, MAC_OFFSET);
  return buf;
}

/** Frame and sign a datagram as given (no `to` or padding added). `body` may be encoded bytes. */
export function encodeDatagram(kind: number, key: Key, timeMs: number, salt: Buffer, body: object | Buffer): Buffer {
  return frameBytes(kind, key, timeMs, salt, 0, Buffer.isBuffer(body) ? body : packBody(body));
}

/** A correctly signed request with a fresh salt and the current time. */
export function request(body: object | Buffer, o: Omit<FrameOptions, 'body'> = {}): Buffer {
  return frame({ ...o, body });
}

/** A copy of `buf` with bit `bit` (0 = MSB of byte 0) flipped. */
export function flipBit(buf: Buffer, bit: number): Buffer {
  const out = Buffer.from(buf);
  out[bit >> 3] ^= 0x80 >> (bit & 7);
  return out;
}

export interface DecodedReply {
  raw: Buffer;
  keyId: number;
  timeMs: number;
  salt: Buffer;
  body: Record<string, unknown>;
}

/** Verify and decode a reply datagram with the given keys; throws if it is not a valid reply. */
export function decodeReply(raw: Buffer, keys: string[] = [KEY_A]): DecodedReply {
  const v = verifyDatagram(raw, Keyring.fromStrings(keys), KIND_REPLY);
  if (!v.ok) throw new Error(`reply does not verify: ${v.reason}`);
  const body = decodeBody(raw);
  if (!body) throw new Error('reply body is not a MessagePack map');
  return { raw, keyId: v.header.keyId, timeMs: v.header.timeMs, salt: Buffer.from(v.header.salt), body };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** One UDP socket aimed at one daemon; received datagrams are queued until read. */
export class RawClient {
  private readonly queue: Buffer[] = [];
  private waiter: (() => void) | undefined;
  private closed = false;
  received = 0;

  private constructor(
    private readonly sock: Socket,
    readonly port: number,
    readonly host: string,
  ) {
    sock.on('message', (m) => {
      this.received++;
      this.queue.push(m);
      const w = this.waiter;
      this.waiter = undefined;
      w?.();
    });
    sock.on('error', () => undefined);
  }

  static open(port: number, host = '127.0.0.1'): Promise<RawClient> {
    lastTarget = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    return new Promise((resolve, reject) => {
      const sock = dgram.createSocket({ type: 'udp4', recvBufferSize: 1 << 20 });
      sock.once('error', reject);
      sock.bind(0, '127.0.0.1', () => {
        sock.off('error', reject);
        resolve(new RawClient(sock, port, host));
      });
    });
  }

  send(buf: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      this.sock.send(buf, this.port, this.host, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** The next datagram, or undefined if none arrives within `deadlineMs`. */
  async recv(deadlineMs: number): Promise<Buffer | undefined> {
    const end = Date.now() + deadlineMs;
    while (this.queue.length === 0) {
      const left = end - Date.now();
      if (left <= 0 || this.closed) return undefined;
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          this.waiter = undefined;
          resolve();
        }, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    return this.queue.shift();
  }

  /** Every datagram that arrives within `ms` (the whole window is waited out). */
  async collect(ms: number): Promise<Buffer[]> {
    await sleep(ms);
    return this.queue.splice(0);
  }

  /** Drop anything queued. */
  drain(): void {
    this.queue.length = 0;
  }

  /**
   * Send `datagram` and wait for the reply carrying its salt (other datagrams are discarded).
   * Undefined when nothing matching arrives within `deadlineMs`.
   */
  async exchange(datagram: Buffer, deadlineMs = 5000, keys: string[] = [KEY_A]): Promise<DecodedReply | undefined> {
    const salt = datagram.subarray(20, 36);
    await this.send(datagram);
    const end = Date.now() + deadlineMs;
    for (;;) {
      const left = end - Date.now();
      if (left <= 0) return undefined;
      const m = await this.recv(left);
      if (!m) return undefined;
      let r: DecodedReply;
      try {
        r = decodeReply(m, keys);
      } catch {
        continue;
      }
      if (r.salt.equals(salt)) return r;
    }
  }

  /**
   * A signed request answered within the deadline; retried with a fresh salt on loss (loopback
   * UDP on a loaded machine may lose a datagram). Throws when no attempt is answered.
   */
  async query(body: object, o: { key?: string; attempts?: number; deadlineMs?: number } = {}): Promise<DecodedReply> {
    const key = o.key ?? KEY_A;
    const attempts = o.attempts ?? 5;
    const to = this.host.includes(':') ? `[${this.host}]:${this.port}` : `${this.host}:${this.port}`;
    let cookie: Buffer | undefined;
    for (let i = 0; i < attempts; i++) {
      const r = await this.exchange(request(cookie ? { ...body, cookie } : body, { key: keyOf(key), to }), o.deadlineMs ?? 3000, [key]);
      // Asked to prove the address (a reply larger than the request): again, with the cookie.
      if (r && (r.body.error as { code?: string } | undefined)?.code === 'retry' && Buffer.isBuffer(r.body.cookie) && cookie === undefined) {
        cookie = r.body.cookie;
        i--;
        continue;
      }
      if (r) return r;
    }
    throw new Error(`no reply to ${JSON.stringify(body)} from 127.0.0.1:${this.port} after ${attempts} attempts`);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.waiter?.();
    try {
      this.sock.close();
    } catch {
      /* already closed */
    }
  }
}

export interface StatsAnswer {
  received: number;
  requests: { qcf1: Record<string, number>; plj0: Record<string, number> };
  replies: Record<string, number>;
  errors: Record<string, number>;
  drops: Record<string, number>;
  reloads: number;
  refusals: number;
  refusalReasons: Record<string, number>;
  sendErrors: number;
  heldWaits: number;
  waitsBusy: number;
  [k: string]: unknown;
}

/** The daemon's `stats` answer, fetched with a valid signed request on its own socket. */
export async function fetchStats(port: number, key = KEY_A): Promise<StatsAnswer> {
  const c = await RawClient.open(port);
  try {
    const r = await c.query({ op: 'stats' }, { key });
    if (r.body.status !== 0) throw new Error(`stats failed: ${JSON.stringify(r.body)}`);
    return r.body.answer as StatsAnswer;
  } finally {
    c.close();
  }
}

export const sum = (rec: Record<string, number> | undefined): number => Object.values(rec ?? {}).reduce((a, b) => a + b, 0);

/** Per-reason difference of two drop tables (reasons that did not move are left out). */
export function dropDelta(before: StatsAnswer, after: StatsAnswer): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after.drops)) {
    const d = v - (before.drops[k] ?? 0);
    if (d !== 0) out[k] = d;
  }
  return out;
}

export { KIND_REPLY, KIND_REQUEST, HEADER_LEN };
