// plj0 cases (cases.ts), by Ganeti's rules (the handout's ganeti-confd-protocol.md, §§1–3):
// random bytes; valid requests mutated; requests signed with another key, with stale or
// malformed timestamps, replayed or oversize (silence); authenticated requests whose inner
// request Ganeti refuses — extra keys, bad types, bad queries, deep nesting (silence too); and
// authenticated, fresh, well-formed requests of every type with hostile queries and rsalts,
// which must be answered. Written independently of the daemon's parser: the MAC is HMAC-SHA1 over
// the UTF-8 of salt ‖ msg, where msg is the datagram's bytes read as Latin-1.
import { createHmac, randomBytes } from 'node:crypto';
import { weighted, type Case, type Protocol, type ReplyCheck } from './cases.js';
import { PROTO_NAMES, int, oddPointer, oddString, pick, type Rand } from './hostile.js';
import type { ReplayPool } from './replay-pool.js';

const MAX_REQUEST_BYTES = 8192;
/** Node names and addresses of the served config (examples/ganeti/config.data), and fakes. */
const NAMES = ['node1.example.com', 'node2.example.com', 'node3.example.com', 'instance1.example.com', 'node1', 'NODE1.EXAMPLE.COM', '2ae3d962-2dad-44f2-bdb1-85f77107f907', 'nosuch.example.com', ''];
const IPS = ['192.0.2.1', '198.51.100.65', '0.0.0.0', '255.255.255.255', '::1', '2001:db8::1', '999.1.1.1', '1.2.3', '192.0.2.1/24', ''];

/** JSON text with every non-ASCII character escaped, as Ganeti's Python client writes it. */
function asciiJson(v: unknown): string {
  return JSON.stringify(v).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * HMAC-SHA1 over salt ‖ msg as Ganeti computes it: the UTF-8 of each UTF-16 unit on its own, as
 * Haskell encodes its Chars (an astral character, a surrogate pair here, is two 3-byte sequences).
 * A request's text is one byte a character, which both encodings agree on.
 */
function mac(key: Buffer, salt: string, msg: string): string {
  const text = salt + msg;
  const out = Buffer.allocUnsafe(text.length * 3);
  let o = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) out[o++] = c;
    else if (c < 0x800) {
      out[o++] = 0xc0 | (c >> 6);
      out[o++] = 0x80 | (c & 0x3f);
    } else {
      out[o++] = 0xe0 | (c >> 12);
      out[o++] = 0x80 | ((c >> 6) & 0x3f);
      out[o++] = 0x80 | (c & 0x3f);
    }
  }
  return createHmac('sha1', key).update(out.subarray(0, o)).digest('hex');
}

/** The datagram of an envelope: `plj0` and the outer JSON, one byte per character. */
function envelope(members: [string, string][]): Buffer {
  const text = '{' + members.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',') + '}';
  return Buffer.from('plj0' + text, 'latin1');
}

export class Plj0Fuzz implements Protocol {
  readonly name = 'plj0';
  private counter = 0;

  constructor(
    private readonly rand: Rand,
    private readonly key: Buffer,
    private readonly foreignKey: Buffer,
    private readonly replays: ReplayPool,
  ) {}

  /** A signed request of the inner text `msg` with the timestamp text `salt`. */
  private signed(msg: string, salt = String(Math.floor(Date.now() / 1000)), key = this.key): Buffer {
    return envelope([
      ['msg', msg],
      ['salt', salt],
      ['hmac', mac(key, salt, msg)],
    ]);
  }

  /** An rsalt no request had before (Ganeti echoes it; the daemon refuses it a second time). */
  private rsalt(): string {
    const id = `${++this.counter}.`;
    switch (int(this.rand, 0, 5)) {
      case 0:
        return id + oddString(this.rand).slice(0, 200);
      case 1:
        return id + '\u00e9\u00ff\u0080';
      case 2:
        return id + 'x'.repeat(int(this.rand, 0, 3000));
      default:
        return id + randomBytes(8).toString('hex');
    }
  }

  next(): Case {
    return weighted(this.rand, [
      [8, () => this.randomBytes()],
      [15, () => this.mutated()],
      [10, () => this.refused()],
      [5, () => this.replay()],
      [50, () => this.hostile()],
      [12, () => this.malformed()],
    ])();
  }

  private randomBytes(): Case {
    const n = this.rand() < 0.9 ? int(this.rand, 0, 300) : int(this.rand, 300, 9000);
    const b = randomBytes(n);
    if (this.rand() < 0.5 && n >= 5) Buffer.from('plj0{', 'latin1').copy(b);
    return { category: 'random bytes', bytes: b, expect: 'silence' };
  }

  /** Whether a datagram would still authenticate (a mutation that only upper-cased a MAC digit). */
  private authenticates(b: Buffer): boolean {
    if (b.subarray(0, 4).toString('latin1') !== 'plj0') return false;
    try {
      const o = JSON.parse(b.toString('latin1', 4)) as Record<string, unknown>;
      const keys = Object.keys(o);
      if (keys.length !== 3 || typeof o.msg !== 'string' || typeof o.salt !== 'string' || typeof o.hmac !== 'string') return false;
      return o.hmac.toLowerCase() === mac(this.key, o.salt, o.msg);
    } catch {
      return false;
    }
  }

  private mutated(): Case {
    const good = this.hostile().bytes;
    let b: Buffer;
    let category: string;
    switch (int(this.rand, 0, 3)) {
      case 0:
        category = 'mutated bytes';
        b = Buffer.from(good);
        for (let i = int(this.rand, 1, 6); i > 0; i--) b[int(this.rand, 0, b.length - 1)] ^= int(this.rand, 1, 255);
        break;
      case 1:
        category = 'mutated length (cut)';
        b = good.subarray(0, int(this.rand, 0, good.length - 1));
        break;
      case 2:
        category = 'mutated length (extended)';
        b = Buffer.concat([good, Buffer.from(pick(this.rand, ['x', '}', ',"a":"b"}', '\u0000', 'plj0']), 'latin1')]);
        break;
      default: {
        category = 'mutated MAC';
        b = Buffer.from(good);
        const at = b.lastIndexOf('"hmac":"') + 8 + int(this.rand, 0, 39);
        b[at] = b[at] === 0x30 ? 0x31 : 0x30;
        break;
      }
    }
    return { category, bytes: b, expect: this.authenticates(b) ? 'unknown' : 'silence' };
  }

  private simpleMsg(): string {
    return asciiJson({ protocol: 1, type: int(this.rand, 0, 11), query: pick(this.rand, [null, 'node1.example.com', '/cluster']), rsalt: this.rsalt() });
  }

  private refused(): Case {
    const now = Math.floor(Date.now() / 1000);
    switch (int(this.rand, 0, 4)) {
      case 0:
        return { category: 'unknown key', bytes: this.signed(this.simpleMsg(), undefined, this.foreignKey), expect: 'silence' };
      case 1: {
        // A second may pass before the daemon reads it: +301 could become +300, which is answered.
        const off = this.rand() < 0.5 ? pick(this.rand, [303, 305, 3600, 10 ** 9]) : -pick(this.rand, [301, 302, 3600, 10 ** 9]);
        return { category: 'stale or future timestamp', bytes: this.signed(this.simpleMsg(), String(now + off)), expect: 'silence' };
      }
      case 2: {
        const salt = pick(this.rand, ['', `${now} `, `${now}\n`, `+${now}`, `${now}.0`, `${now}e0`, 'abc', `0b1`, `1_0`, `${now})`, '-0x', String(BigInt(now) * 10n ** 30n)]);
        return { category: 'malformed timestamp', bytes: this.signed(this.simpleMsg(), salt), expect: 'silence' };
      }
      case 3:
        return { category: 'oversize', bytes: this.signed(asciiJson({ protocol: 1, type: 0, query: 'x'.repeat(int(this.rand, MAX_REQUEST_BYTES, 9000)), rsalt: this.rsalt() })), expect: 'silence' };
      default: {
        // A wrong MAC in the right shape.
        const msg = this.simpleMsg();
        const salt = String(now);
        return { category: 'wrong MAC', bytes: envelope([['msg', msg], ['salt', salt], ['hmac', randomBytes(20).toString('hex')]]), expect: 'silence' };
      }
    }
  }

  private replay(): Case {
    const b = this.replays.take(this.rand);
    return b ? { category: 'replay', bytes: b, expect: 'silence' } : this.randomBytes();
  }

  /** A hostile but well-formed query for a request type. */
  private query(type: number): unknown {
    const r = this.rand;
    const plain = () =>
      type === 10 ? pick(r, [oddPointer(r), oddString(r)]) : pick(r, [pick(r, NAMES), pick(r, IPS), oddString(r), pick(r, PROTO_NAMES)]);
    const dict = () => {
      const d: Record<string, unknown> = {};
      if (r() < 0.6) d['0'] = r() < 0.2 ? null : pick(r, ['br0', 'xen-br0', '', oddString(r).slice(0, 300)]);
      if (r() < 0.6) d['1'] = r() < 0.2 ? null : pick(r, [...IPS, oddString(r).slice(0, 300)]);
      if (r() < 0.6) d['2'] = r() < 0.1 ? null : Array.from({ length: r() < 0.1 ? int(r, 100, 600) : int(r, 0, 5) }, () => pick(r, IPS));
      if (r() < 0.6) d['3'] = r() < 0.1 ? null : Array.from({ length: r() < 0.1 ? int(r, 100, 1500) : int(r, 0, 4) }, () => pick(r, [0, 1, 2, 0.4, 1.5, 2.4]));
      return d;
    };
    return weighted<() => unknown>(r, [
      [2, () => undefined],
      [2, () => null],
      [6, plain],
      [type === 3 || type === 2 || type === 6 ? 6 : 2, dict],
    ])();
  }

  /** Authenticated, fresh, well-formed: every type, hostile queries and rsalts. Must be answered. */
  hostile(): Case {
    const r = this.rand;
    const type = int(r, 0, 11);
    const query = this.query(type);
    const typeText = pick(r, [String(type), String(type), `${type}.0`, `${type}e0`, type === 0 ? '0.4' : type === 2 ? '2.5' : type === 11 ? '11.4' : String(type)]);
    const protocol = pick(r, ['1', '1', '99', '1.7', '-5', '1e300', '0']);
    const tsOffset = r() < 0.8 ? 0 : int(r, -299, 299);
    const make = (): Case => {
      const rsalt = this.rsalt();
      const parts = [`"protocol":${protocol}`, `"type":${typeText}`, ...(query === undefined ? [] : [`"query":${asciiJson(query)}`]), `"rsalt":${asciiJson(rsalt)}`];
      for (let i = parts.length - 1; i > 0; i--) {
        const j = int(r, 0, i);
        [parts[i], parts[j]] = [parts[j], parts[i]];
      }
      const msg = `{${parts.join(',')}}`;
      const now = Math.floor(Date.now() / 1000) + tsOffset;
      const salt = pick(r, [String(now), String(now), `00${now}`, `0x${now.toString(16)}`, `0o${now.toString(8)}`, `(${now})`, ` ${now}`]);
      const bytes = this.signed(msg, salt);
      if (bytes.length > MAX_REQUEST_BYTES) return this.hostile();
      return { category: `type ${type}${query === undefined || query === null ? '' : typeof query === 'string' ? ' plain' : ' dict'}`, bytes, expect: 'reply', match: rsalt, remake: make };
    };
    return make();
  }

  /** Authenticated and fresh, but an inner request Ganeti refuses: silence. */
  private malformed(): Case {
    const r = this.rand;
    // A short rsalt: the request's size is the deep list's to spend, within 8,192 bytes.
    const rs = asciiJson(`${++this.counter}.m`);
    const deepList = (n: number) => '['.repeat(n) + ']'.repeat(n);
    const msgs = [
      `{"protocol":1,"type":0,"rsalt":${rs},"${pick(r, ['key_selector', 'x', ...PROTO_NAMES])}":1}`,
      `{"type":0,"rsalt":${rs}}`,
      `{"protocol":"1","type":0,"rsalt":${rs}}`,
      `{"protocol":1,"type":${pick(r, ['12', '-1', '99', '"0"', 'null', '11.5', 'true', '[]', '1e400'])},"rsalt":${rs}}`,
      `{"protocol":1,"rsalt":${rs}}`,
      `{"protocol":1,"type":0,"rsalt":${pick(r, ['1', 'null', '[]', '{}'])}}`,
      `{"protocol":1,"type":0}`,
      `{"protocol":1,"type":1,"query":${pick(r, ['1', '[]', 'true', '["a"]'])},"rsalt":${rs}}`,
      `{"protocol":1,"type":3,"query":{"${pick(r, ['4', '-1', '00', '__proto__', 'link'])}":"x"},"rsalt":${rs}}`,
      `{"protocol":1,"type":3,"query":{"0":${pick(r, ['1', '[]', '{}'])}},"rsalt":${rs}}`,
      `{"protocol":1,"type":3,"query":{"2":${pick(r, ['"a"', '[1]', '[null]', deepList(int(r, 2, 3000))])}},"rsalt":${rs}}`,
      `{"protocol":1,"type":3,"query":{"3":${pick(r, ['[3]', '["0"]', '[2.6]', '[-1]', '[[0]]'])}},"rsalt":${rs}}`,
      `{"protocol":1,"type":0,"rsalt":${rs},"query":null,"x":${deepList(int(r, 100, 3500))}}`,
      ` {"protocol":1,"type":0,"rsalt":${rs}}`,
      `{"protocol":1,"type":0,"rsalt":${rs}}x`,
      `{"protocol":1,"type":0,"rsalt":${rs}`,
      `[1,0,${rs}]`,
      deepList(int(r, 1000, 4000)),
    ];
    const msg = pick(r, msgs);
    const bytes = this.signed(msg);
    return { category: 'refused inner request', bytes, expect: 'silence-auth' };
  }

  readReply(datagram: Buffer): ReplyCheck | undefined {
    if (datagram.subarray(0, 4).toString('latin1') !== 'plj0') return undefined;
    let outer: { msg?: unknown; salt?: unknown; hmac?: unknown };
    try {
      outer = JSON.parse(datagram.toString('utf8', 4)) as typeof outer;
    } catch {
      return undefined;
    }
    if (typeof outer.msg !== 'string' || typeof outer.salt !== 'string' || typeof outer.hmac !== 'string') return undefined;
    if (mac(this.key, outer.salt, outer.msg) !== outer.hmac) return undefined;
    const match = outer.salt;
    let inner: { protocol?: unknown; status?: unknown; serial?: unknown };
    try {
      inner = JSON.parse(outer.msg) as typeof inner;
    } catch {
      return { match, outcome: 'undecodable', problem: 'a reply whose inner text is not JSON' };
    }
    if (inner.protocol !== 1 || (inner.status !== 0 && inner.status !== 1) || typeof inner.serial !== 'number' || !('answer' in inner)) {
      return { match, outcome: 'bad reply', problem: `a reply not in Ganeti's form: ${outer.msg.slice(0, 200)}` };
    }
    return { match, outcome: inner.status === 0 ? 'ok' : 'error' };
  }
}
