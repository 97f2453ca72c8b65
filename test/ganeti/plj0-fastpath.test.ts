// The plj0 hot path (daemon/ganeti/request-parser.ts, reply.ts): the byte-level request parser
// must decide exactly as the general parser does, and the prepared-reply encoder must build
// exactly the bytes of the plain formula, on every input, however unusual.
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { asciiJson } from '../../shared/plj0/ascii-json.js';
import { hmacSha1Hex } from '../../shared/plj0/mac.js';
import { encodeReply, encodeReplyFromBytes, encodeReplySized, innerReplyText, prepareInner, prepareInnerFromBytes, preparedBytes } from '../../daemon/ganeti/reply.js';
import { hasMagic, parseGeneral } from '../../daemon/ganeti/request.js';
import { RequestParser } from '../../daemon/ganeti/request-parser.js';
import { ComposedAnswer, ComposedText, FragmentTable, composeInner, type FragmentTree } from '../../daemon/ganeti/fragments.js';

const KEY = Buffer.from('secretkey0123456789\n', 'latin1');
const NOW = 1795390000;

const parser = new RequestParser();

/** The daemon's parser: fast path, general parser where it steps aside. */
function outcome(d: Buffer, key = KEY, now = NOW): unknown {
  return parser.parse(d, key, now);
}
/** The general parser alone. */
function general(d: Buffer, key = KEY, now = NOW): unknown {
  return hasMagic(d) ? parseGeneral(d, key, now) : 'plj0_bad_magic';
}

const ws = fc.constantFrom('', '', ' ', '  ', '\t', '\n');
const str = fc.oneof(
  fc.constantFrom('node1.example.com', 'r', '', 'a"b', 'a\\b', 'x/y', 'é', '\u0001', 'ünï', '/cluster/master_node'),
  fc.string({ maxLength: 12 }),
);
const num = fc.constantFrom('3', '03', '3.0', '3e0', '-1', '12', '11', '1.5', '2.5', '0', '99999999999', '1e400', '"3"', 'null');

/** An inner request text, built by hand so that spacing, order, duplicates and forms vary. */
const inner = fc
  .record({
    order: fc.shuffledSubarray(['protocol', 'type', 'query', 'rsalt', 'extra', 'type2'], { minLength: 0 }),
    type: num,
    protocol: fc.constantFrom('1', '1.0', '"1"', '2'),
    query: fc.oneof(
      str.map((s) => JSON.stringify(s)),
      fc.constantFrom('null', '{"0":"br0","1":"10.0.0.5"}', '{"3":[0,1]}', '[1]', '7'),
    ),
    rsalt: fc.oneof(str.map((s) => JSON.stringify(s)), fc.constantFrom('5', 'null')),
    sp: ws,
    tail: fc.constantFrom('', ' ', '\n', 'x'),
  })
  .map(({ order, type, protocol, query, rsalt, sp, tail }) => {
    const member = (k: string) =>
      k === 'protocol' ? `"protocol":${sp}${protocol}` : k === 'type' ? `"type":${type}` : k === 'query' ? `"query":${sp}${query}` : k === 'rsalt' ? `"rsalt":${rsalt}` : k === 'type2' ? `"type":${sp}0` : `"extra":1`;
    return `{${sp}${order.map(member).join(`,${sp}`)}${sp}}${tail}`;
  });

const salt = fc.oneof(fc.constant(String(NOW)), fc.constantFrom(String(NOW - 300), String(NOW + 301), ` ${NOW}`, '0x6B03A1B0', `(${NOW})`, 'abc', '', `${NOW}.0`, `00${NOW}`));

/** An envelope around a message: members in any order, sometimes duplicated or odd. */
const datagram = fc
  .record({
    msg: inner,
    salt,
    order: fc.constantFrom(['msg', 'salt', 'hmac'], ['hmac', 'msg', 'salt'], ['salt', 'hmac', 'msg'], ['msg', 'msg', 'salt', 'hmac'], ['msg', 'salt']),
    sp: fc.constantFrom('', ' ', '  '),
    badMac: fc.constantFrom(false, false, false, true),
    upper: fc.boolean(),
    escapeSlash: fc.boolean(),
    lead: fc.constantFrom('', '', ' '),
    trail: fc.constantFrom('', '', '\n', ' ', '\u000b'),
    latin1: fc.boolean(),
  })
  .map(({ msg, salt, order, sp, badMac, upper, escapeSlash, lead, trail, latin1 }) => {
    let hmac = hmacSha1Hex(KEY, salt, msg);
    if (badMac) hmac = hmac.replace(/^./, (c) => (c === '0' ? '1' : '0'));
    if (upper) hmac = hmac.toUpperCase();
    let m = JSON.stringify(msg);
    if (escapeSlash) m = m.replace(/\//g, '\\/');
    const member = (k: string) => (k === 'msg' ? `"msg":${sp}${m}` : k === 'salt' ? `"salt":${sp}${JSON.stringify(salt)}` : `"hmac":${sp}"${hmac}"`);
    const text = `${lead}{${order.map(member).join(`,${sp}`)}}${trail}`;
    return Buffer.from('plj0' + text, latin1 ? 'latin1' : 'utf8');
  });

describe('plj0 request fast path', () => {
  it('decides every request exactly as the general parser', () => {
    fc.assert(
      fc.property(datagram, (d) => {
        expect(outcome(d)).toEqual(general(d));
      }),
      { numRuns: 4000 },
    );
  });

  it('takes the usual requests (Python client and qconf layouts) and rejects forgeries', () => {
    for (const msg of ['{"protocol": 1, "type": 1, "query": "node1", "rsalt": "abc"}', '{"protocol":1,"type":3,"rsalt":"r"}', '{"protocol":1,"type":10,"query":"/cluster/x","rsalt":"r"}']) {
      const sig = hmacSha1Hex(KEY, String(NOW), msg);
      for (const text of [`{"msg": ${JSON.stringify(msg)}, "salt": "${NOW}", "hmac": "${sig}"}`, JSON.stringify({ msg, salt: String(NOW), hmac: sig })]) {
        const d = Buffer.from('plj0' + text, 'latin1');
        expect(outcome(d)).toMatchObject({ timestamp: NOW });
        expect(outcome(d)).toEqual(general(d));
        expect(outcome(d, Buffer.from('another key'))).toBe('plj0_bad_mac');
      }
    }
  });
});

describe('prepared replies', () => {
  const plain = (key: Buffer, rsalt: string, text: string) =>
    Buffer.from(`plj0{"hmac":"${createHmac('sha1', key).update(hutf8(rsalt)).update(hutf8(text)).digest('hex')}","msg":${asciiJson(text)},"salt":${asciiJson(rsalt)}}`, 'latin1');
  // Haskell's per-UTF-16-unit UTF-8, as the codec signs.
  const hutf8 = (s: string) => {
    const out: number[] = [];
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x80) out.push(c);
      else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 0x3f));
      else out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
    }
    return Buffer.from(out);
  };
  const answer = fc.jsonValue({ maxDepth: 3 });

  it('are byte for byte the plain formula, short and long, ASCII or not', () => {
    fc.assert(
      fc.property(answer, fc.string({ maxLength: 40 }), fc.integer({ min: 0, max: 2000 }), fc.constantFrom(0, 1), (a, rsalt, pad, status) => {
        const text = innerReplyText(status, asciiJson([a, 'x'.repeat(pad), '"\\\u0001\u007f']), 7);
        const want = plain(KEY, rsalt, text);
        const p = prepareInner(text);
        expect(encodeReply(KEY, rsalt, p)).toEqual(want);
        expect(encodeReplySized(KEY, rsalt, p, want.length - 1)).toBe(want.length);
      }),
      { numRuns: 600 },
    );
  });

  it('sign non-ASCII inner texts over their Haskell UTF-8', () => {
    const text = 'ünïcode \ud83d\ude00 {"a":"é"}';
    expect(encodeReply(KEY, 'é-1', prepareInner(text))).toEqual(plain(KEY, 'é-1', text));
  });
});

describe('composed replies (answers put together from kept object texts)', () => {
  // Objects with the characters that quoting and escaping care about, and some it must refuse.
  const tricky = fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('a"b', 'a\\b', '\u0001', 'é', '\ud83d\ude00', '\ud800', '</', ''));
  const obj = fc.dictionary(tricky, fc.oneof(tricky, fc.integer(), fc.boolean(), fc.constant(null), fc.array(tricky, { maxLength: 3 })), { maxKeys: 4 });
  const tree = (n: number): fc.Arbitrary<FragmentTree> =>
    fc.oneof(fc.integer({ min: 0, max: n - 1 }), fc.array(fc.integer({ min: 0, max: n - 1 }), { maxLength: 4 }), fc.array(fc.array(fc.integer({ min: 0, max: n - 1 }), { maxLength: 3 }), { maxLength: 3 }));
  const setup = fc.array(obj, { minLength: 1, maxLength: 6 }).chain((objs) => fc.tuple(fc.constant(objs), tree(objs.length)));

  it('are byte for byte the general path, or refused where a text has a control character', () => {
    fc.assert(
      fc.property(setup, fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('é-1', 'a"b', 'x\\y', '\u0001', '1795390000')), fc.constantFrom(0, 1), fc.integer({ min: 0, max: 1e6 }), ([objs, t], rsalt, status, serial) => {
        const answer = new ComposedAnswer(new FragmentTable(objs, { held: 0, max: 1e9 }), t);
        const text = innerReplyText(status, asciiJson(answer), serial);
        const c = new ComposedText();
        const made = composeInner(status, answer, serial, c);
        // eslint-disable-next-line no-control-regex
        if (/[\u0000-\u001f]/.test(asciiJson(answer.toJSON()))) {
          expect(made).toBe(false);
          return;
        }
        if (!made) throw new Error('not composed');
        expect(c.bytes.toString('latin1', 0, c.length)).toBe(text);
        const want = encodeReply(KEY, rsalt, prepareInner(text));
        const got = encodeReplyFromBytes(KEY, rsalt, c.bytes, c.length, c.escapes, Infinity);
        if (/[^\u0000-\u007f]/.test(rsalt)) {
          expect(got).toBeUndefined();
          return;
        }
        expect(got).toEqual(want);
        expect(encodeReplyFromBytes(KEY, rsalt, c.bytes, c.length, c.escapes, want.length - 1)).toBe(want.length);
        const kept = prepareInnerFromBytes(c.bytes, c.length, c.escapes);
        expect(kept).toEqual(prepareInner(text));
        expect(preparedBytes(c.length, c.escapes)).toBe(kept.quoted.length + (kept.raw?.length ?? 0));
      }),
      { numRuns: 500 },
    );
  });

  it('take the general path for texts beyond the budget', () => {
    const objs = [{ a: 'x'.repeat(100) }, { b: 1 }];
    const table = new FragmentTable(objs, { held: 0, max: 50 });
    const c = new ComposedText();
    expect(composeInner(0, new ComposedAnswer(table, [1, 0]), 1, c)).toBe(false);
    expect(composeInner(0, new ComposedAnswer(table, [1, 1]), 1, c)).toBe(true);
    expect(c.length).toBe(innerReplyText(0, '[{"b":1},{"b":1}]', 1).length);
  });
});
