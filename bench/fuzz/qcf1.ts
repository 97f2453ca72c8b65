// QCF1 cases (cases.ts): random bytes; valid requests mutated in header, MAC, time, salt and
// length; requests correctly signed but refused by a guard (another key, a reply's kind, reserved
// bytes, a stale or future time, another destination, oversize); replays; correctly signed,
// fresh, addressed requests with hostile bodies (every op with every kind of bad argument, deep
// nesting, huge containers, prototype keys, odd pointers); and signed bodies that are no map of
// JSON values.
import { randomBytes } from 'node:crypto';
import { WIRE_ERROR_CODES } from '../../shared/errors.js';
import { Keyring, type Key } from '../../shared/keyring.js';
import { HEADER_LEN, KIND_REPLY, KIND_REQUEST, MAC_OFFSET, MAX_REQUEST_BYTES, SALT_LEN, SALT_OFFSET, computeMac, decodeBody, frame, verifyDatagram } from '../../shared/qcf1.js';
import { weighted, type Case, type Protocol, type ReplyCheck } from './cases.js';
import { PROTO_NAMES, anyValue, deep, huge, int, oddPointer, oddString, pick, type Rand } from './hostile.js';
import { Entries, Raw, pack } from './msgpack-writer.js';
import type { ReplayPool } from './replay-pool.js';

/** The daemon holds a wait at most this long (it is started with --max-wait this). */
export const MAX_WAIT_MS = 1000;
const OPS = ['ping', 'get', 'mget', 'list', 'wait', 'stats'];
const CODES = new Set<string>(WIRE_ERROR_CODES);

export class Qcf1Fuzz implements Protocol {
  readonly name = 'qcf1';
  private readonly to: string;
  private readonly ring: Keyring;
  private rids = 0;

  constructor(
    private readonly rand: Rand,
    private readonly key: Key,
    private readonly foreignKey: Key,
    private readonly port: number,
    private readonly replays: ReplayPool,
  ) {
    this.to = `127.0.0.1:${port}`;
    this.ring = new Keyring([key]);
  }

  private sign(body: Buffer, o: { kind?: number; key?: Key; time?: number; salt?: Buffer } = {}): Buffer {
    return frame(o.kind ?? KIND_REQUEST, o.key ?? this.key, o.time ?? Date.now(), o.salt ?? randomBytes(SALT_LEN), 0, body);
  }

  next(): Case {
    return weighted(this.rand, [
      [8, () => this.randomBytes()],
      [18, () => this.mutated()],
      [12, () => this.refused()],
      [5, () => this.replay()],
      [52, () => this.hostile()],
      [5, () => this.malformed()],
    ])();
  }

  /** Random bytes, sometimes behind the magic and a request's kind. */
  private randomBytes(): Case {
    const n = this.rand() < 0.9 ? int(this.rand, 0, 300) : int(this.rand, 300, 9000);
    const b = randomBytes(n);
    if (this.rand() < 0.5 && n >= 5) Buffer.from('QCF1\x01', 'latin1').copy(b);
    return { category: 'random bytes', bytes: b, expect: 'silence' };
  }

  /** A valid request, then changed: no change survives the MAC. */
  private mutated(): Case {
    const good = this.sign(this.hostileBody().body);
    const b = Buffer.from(good);
    const what = int(this.rand, 0, 8);
    let category = 'mutated';
    switch (what) {
      case 0:
        category = 'mutated magic';
        b[int(this.rand, 0, 3)] ^= int(this.rand, 1, 255);
        break;
      case 1:
        category = 'mutated kind/reserved';
        b[int(this.rand, 4, 7)] ^= int(this.rand, 1, 255);
        break;
      case 2:
        category = 'mutated key id';
        b[int(this.rand, 8, 11)] ^= int(this.rand, 1, 255);
        break;
      case 3:
        category = 'mutated time';
        b[int(this.rand, 12, 19)] ^= int(this.rand, 1, 255);
        break;
      case 4:
        category = 'mutated salt';
        b[int(this.rand, 20, 35)] ^= int(this.rand, 1, 255);
        break;
      case 5:
        category = 'mutated MAC';
        b[int(this.rand, 36, 67)] ^= 1 << int(this.rand, 0, 7);
        break;
      case 6:
        category = 'mutated body';
        for (let i = int(this.rand, 1, 8); i > 0; i--) b[int(this.rand, HEADER_LEN, b.length - 1)] ^= int(this.rand, 1, 255);
        break;
      case 7:
        return { category: 'mutated length (cut)', bytes: good.subarray(0, int(this.rand, 0, good.length - 1)), expect: 'silence' };
      default:
        return { category: 'mutated length (extended)', bytes: Buffer.concat([good, randomBytes(int(this.rand, 1, 64))]), expect: 'silence' };
    }
    return { category, bytes: b, expect: 'silence' };
  }

  /** Correctly signed, refused by a guard before any answer. */
  private refused(): Case {
    const simple = () => pack({ op: pick(this.rand, OPS), path: '/cluster', to: this.to });
    switch (int(this.rand, 0, 8)) {
      case 0:
        return { category: 'signed as a reply', bytes: this.sign(simple(), { kind: KIND_REPLY }), expect: 'silence' };
      case 1: {
        const b = this.sign(simple());
        b[int(this.rand, 5, 7)] = int(this.rand, 1, 255);
        // Signed again over the reserved byte: still refused.
        computeMac(this.key.bytes, b).copy(b, MAC_OFFSET);
        return { category: 'reserved bytes set', bytes: b, expect: 'silence' };
      }
      case 2:
        return { category: 'unknown key', bytes: this.sign(simple(), { key: this.foreignKey }), expect: 'silence' };
      case 3: {
        const skew = pick(this.rand, [61_000, 120_000, 3_600_000, 10 ** 12]) * (this.rand() < 0.5 ? 1 : -1);
        return { category: 'stale or future time', bytes: this.sign(simple(), { time: Math.max(0, Date.now() + skew) }), expect: 'silence' };
      }
      case 4:
        return { category: 'time 0 or max', bytes: this.sign(simple(), { time: this.rand() < 0.5 ? 0 : 2 ** 53 - 1 }), expect: 'silence' };
      case 5: {
        const to = pick(this.rand, [`192.0.2.1:${this.port}`, `127.0.0.1:${this.port === 65535 ? 1 : this.port + 1}`, `198.51.100.7:1814`, 'localhost:' + this.port, '127.0.0.1', `[2001:db8::1]:${this.port}`, '']);
        return { category: 'another destination', bytes: this.sign(pack({ op: 'ping', to })), expect: 'silence' };
      }
      case 6:
        return { category: 'no destination', bytes: this.sign(pack(this.rand() < 0.5 ? { op: 'ping' } : { op: 'ping', to: anyValue(this.rand, 0) === this.to ? 1 : anyValue(this.rand, 0) })), expect: 'silence' };
      case 7: {
        const pad = Buffer.alloc(int(this.rand, MAX_REQUEST_BYTES - HEADER_LEN - 20, 9000));
        return { category: 'oversize', bytes: this.sign(pack({ op: 'ping', to: this.to, pad })), expect: 'silence' };
      }
      default:
        return { category: 'header only', bytes: this.sign(Buffer.alloc(0)), expect: 'silence' };
    }
  }

  private replay(): Case {
    const b = this.replays.take(this.rand);
    return b ? { category: 'replay', bytes: b, expect: 'silence' } : this.randomBytes();
  }

  /** A request body: `to` right, everything else drawn to hurt. Fits in a request datagram. */
  private hostileBody(): { body: Buffer; op: unknown } {
    for (;;) {
      const r = this.rand;
      const op = r() < 0.85 ? pick(r, OPS) : r() < 0.5 ? oddString(r) : anyValue(r, 1);
      const e: [unknown, unknown][] = [['op', op]];
      const arg = (good: () => unknown) => (r() < 0.5 ? good() : anyValue(r));
      const withArgs = r() < 0.9 ? op : pick(r, OPS);
      if (withArgs === 'get' || withArgs === 'list' || withArgs === 'wait' || r() < 0.05) e.push(['path', arg(() => oddPointer(r))]);
      if (withArgs === 'mget' || r() < 0.05) e.push(['paths', arg(() => Array.from({ length: r() < 0.1 ? int(r, 60, 200) : int(r, 0, 8) }, () => oddPointer(r).slice(0, 64)))]);
      if (withArgs === 'list' && r() < 0.7) e.push(['depth', arg(() => int(r, -2, 20))]);
      if (withArgs === 'wait') {
        if (r() < 0.7) e.push(['etag', arg(() => pick(r, ['', '!', 'x', oddString(r).slice(0, 30)]))]);
        if (r() < 0.6) e.push(['minSerial', arg(() => int(r, 0, 10_000))]);
        if (r() < 0.8) e.push(['timeoutMs', arg(() => int(r, 0, 1500))]);
        // A wait with the rid of one held before is that wait again (the first is replaced and
        // never answered): string rids are made unique, whatever else they hold.
        if (r() < 0.5) e.push(['rid', arg(() => oddString(r).slice(0, int(r, 0, 100)))]);
        const rid = e.find(([k]) => k === 'rid');
        if (rid && typeof rid[1] === 'string') rid[1] = `${++this.rids}:${rid[1]}`.slice(0, 64);
      }
      if (r() < 0.1) e.push(['cookie', arg(() => randomBytes(pick(r, [0, 15, 16, 17])))]);
      if (r() < 0.1) e.push(['pad', arg(() => Buffer.alloc(int(r, 0, 1200)))]);
      for (let i = r() < 0.3 ? int(r, 1, 4) : 0; i > 0; i--) e.push([r() < 0.5 ? pick(r, PROTO_NAMES) : oddString(r).slice(0, 40), anyValue(r)]);
      if (r() < 0.05) e.push(['x', deep(r, int(r, 1000, 8000))]);
      if (r() < 0.03) e.push(['x', huge(r)]);
      // Keys in any order (the destination anywhere), duplicates allowed: `to` comes once, last
      // of its name, so that the request stays addressed to this daemon.
      for (let i = e.length - 1; i > 0; i--) {
        const j = int(r, 0, i);
        [e[i], e[j]] = [e[j], e[i]];
      }
      if (r() < 0.05) e.push(['op', pick(r, OPS)]);
      e.splice(int(r, 0, e.length), 0, ['to', this.to]);
      const body = pack(new Entries(e));
      if (HEADER_LEN + body.length <= MAX_REQUEST_BYTES) return { body, op };
    }
  }

  /** Signed, fresh, addressed, and a well-formed body: it must be answered. */
  private hostile(): Case {
    const { body, op } = this.hostileBody();
    const make = (): Case => {
      const bytes = this.sign(body);
      const c: Case = { category: `hostile ${typeof op === 'string' && OPS.includes(op) ? op : 'op'}`, bytes, expect: 'reply', match: bytes.subarray(SALT_OFFSET, SALT_OFFSET + SALT_LEN).toString('hex'), remake: make };
      if (op === 'wait') c.holdMs = MAX_WAIT_MS;
      return c;
    };
    return make();
  }

  /** Signed, fresh, addressed where it can be, but no map of JSON values: dropped (bad_body). */
  private malformed(): Case {
    const r = this.rand;
    const good = pack({ op: 'ping', to: this.to });
    const bodies: (() => Buffer)[] = [
      () => pack(pick(r, [[], 'ping', null, 7, [this.to]])),
      () => Buffer.concat([good, randomBytes(int(r, 1, 20))]),
      () => good.subarray(0, int(r, 1, good.length - 1)),
      () => pack(new Entries([['to', this.to], ['op', 'ping'], ['x', new Raw(Buffer.from([0xd4, int(r, 1, 127), 0]))]])),
      () => pack(new Entries([['to', this.to], ['op', 'ping'], ['x', new Raw(Buffer.from([0xc1]))]])),
      () => pack(new Entries([['to', this.to], [new Raw(pack([1])), 'ping']])),
      () => Buffer.from([0xdf, 0xff, 0xff, 0xff, 0xff]),
      () => Buffer.concat([Buffer.from([0x82]), pack('to'), pack(this.to), pack('op'), Buffer.from([0xdb, 0xff, 0xff, 0xff, 0xff])]),
    ];
    const bytes = this.sign(pick(r, bodies)());
    return { category: 'body not a map of JSON values', bytes, expect: 'silence-auth', match: bytes.subarray(SALT_OFFSET, SALT_OFFSET + SALT_LEN).toString('hex') };
  }

  /**
   * Without a cookie: a request whose answer (stats, some kilobytes) is larger than it, yet large
   * enough for the error `retry` with a cookie to fit in its reply (docs/protocol.md, "Address
   * validation"). With one: the cookie sent back, which validates this address.
   */
  validate(cookie: Buffer | undefined): Case {
    const body = pack(cookie ? { op: 'ping', to: this.to, cookie } : { op: 'stats', to: this.to, pad: Buffer.alloc(400) });
    const bytes = this.sign(body);
    return { category: 'validation', bytes, expect: 'reply', match: bytes.subarray(SALT_OFFSET, SALT_OFFSET + SALT_LEN).toString('hex') };
  }

  readReply(datagram: Buffer): ReplyCheck | undefined {
    const v = verifyDatagram(datagram, this.ring, KIND_REPLY);
    if (!v.ok) return undefined;
    const match = v.header.salt.toString('hex');
    const body = decodeBody(datagram);
    if (!body) return { match, outcome: 'undecodable', problem: 'a reply whose body is no MessagePack map' };
    const { status, serial, node } = body;
    const error = body.error as { code?: unknown; message?: unknown } | undefined;
    if (status !== 0 && status !== 1 && status !== 2) return { match, outcome: 'bad status', problem: `a reply with status ${JSON.stringify(status)}` };
    if (typeof serial !== 'number' || typeof node !== 'string') return { match, outcome: 'bad reply', problem: 'a reply without serial or node' };
    if (status === 0) return { match, outcome: 'ok' };
    const code = error?.code;
    if (typeof code !== 'string' || !CODES.has(code) || typeof error?.message !== 'string') return { match, outcome: 'bad error', problem: `an error reply without a known code: ${JSON.stringify(error)}` };
    const cookie = code === 'retry' && Buffer.isBuffer(body.cookie) ? body.cookie : undefined;
    return { match, outcome: code, cookie };
  }
}
