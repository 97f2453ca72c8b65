// The plj0 codec (shared/plj0/, daemon/ganeti/request*.ts, reply.ts): the spec's test vectors,
// every silence case, Ganeti's JSON and timestamp rules, and property tests that parsing never
// throws.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeReplyDatagram, encodeRequestDatagram } from '../../shared/plj0/client-codec.js';
import { hmacSha1Hex } from '../../shared/plj0/mac.js';
import { parseGanetiJson, roundHalfEven } from '../../daemon/ganeti/ganeti-json.js';
import { encodeReply, innerReplyText, prepareInner } from '../../daemon/ganeti/reply.js';
import type { Plj0Request } from '../../daemon/ganeti/request.js';
import { RequestParser } from '../../daemon/ganeti/request-parser.js';
import { parseHaskellInteger } from '../../daemon/ganeti/request-timestamp.js';
import { showHaskellString } from '../../daemon/ganeti/answers.js';
import { parseGanetiPointer } from '../../daemon/ganeti/config-pointer.js';
import { clockTimeRoundTrip, roundHalfEvenNum } from '../../daemon/ganeti/serialize.js';

const KEY = Buffer.from('secretkey0123456789', 'latin1');
const NOW = 1795390000;

type ParseResult = { ok: true; request: Plj0Request } | { ok: false; reason: string };
const parser = new RequestParser();

/** The daemon's parser, its verdict as a result object. */
function parseRequestDatagram(d: Buffer, key: Buffer, nowSec: number): ParseResult {
  const r = parser.parse(d, key, nowSec);
  return typeof r === 'string' ? { ok: false, reason: r } : { ok: true, request: r };
}

/** A signed reply datagram for an inner text. */
function encodeReplyDatagram(key: Buffer, rsalt: string, inner: string): Buffer {
  return encodeReply(key, rsalt, prepareInner(inner));
}

/** A datagram with this outer text (latin1 bytes). */
const dg = (outer: string) => Buffer.from('plj0' + outer, 'latin1');

/** A correctly signed datagram for this inner text and salt. */
function signed(msg: string, salt = String(NOW), key = KEY): Buffer {
  return dg(JSON.stringify({ msg, salt, hmac: hmacSha1Hex(key, salt, msg) }));
}

function reason(r: ParseResult): string {
  return r.ok ? 'ok' : r.reason;
}

describe('test vectors (ganeti-confd-protocol.md §1)', () => {
  const msg = '{"protocol": 1, "type": 0, "rsalt": "r1"}\n';

  it('signs the request vector', () => {
    expect(hmacSha1Hex(KEY, '1795390000', msg)).toBe('086245e27f33173556d6e30579ddc8b678609399');
  });

  it('parses the request vector as a ping with rsalt r1', () => {
    const r = parseRequestDatagram(dg(JSON.stringify({ msg, salt: '1795390000', hmac: '086245e27f33173556d6e30579ddc8b678609399' })), KEY, NOW);
    expect(r).toEqual({ ok: true, request: { type: 0, query: { kind: 'empty' }, rsalt: 'r1', timestamp: 1795390000 } });
  });

  it('accepts the MAC in upper case', () => {
    const r = parseRequestDatagram(dg(JSON.stringify({ msg, salt: '1795390000', hmac: '086245E27F33173556D6E30579DDC8B678609399' })), KEY, NOW);
    expect(r.ok).toBe(true);
  });

  it('encodes the reply vector byte for byte', () => {
    const bytes = encodeReplyDatagram(KEY, 'r1', innerReplyText(0, '3000000', 0));
    expect(bytes.toString('latin1')).toBe(
      'plj0{"hmac":"dc8644aa698df5bc1bb468db1daf0b27431b4ed7","msg":"{\\"protocol\\":1,\\"status\\":0,\\"answer\\":3000000,\\"serial\\":0}","salt":"r1"}',
    );
    expect(decodeReplyDatagram(KEY, bytes)).toEqual({ salt: 'r1', status: 0, answer: 3000000, serial: 0 });
  });

  it('round-trips a client request and escapes non-ASCII in replies', () => {
    const req = encodeRequestDatagram(KEY, { type: 1, query: 'nœud', rsalt: 'é-1' }, NOW);
    expect(req.every((b) => b < 0x80)).toBe(true);
    const r = parseRequestDatagram(req, KEY, NOW);
    expect(r).toMatchObject({ ok: true, request: { type: 1, query: { kind: 'plain', value: 'nœud' }, rsalt: 'é-1' } });
    const reply = encodeReplyDatagram(KEY, 'é-1', innerReplyText(0, JSON.stringify('x').replace('x', '\\u00e9'), 5));
    expect(reply.every((b) => b < 0x80)).toBe(true);
    expect(decodeReplyDatagram(KEY, reply)).toEqual({ salt: 'é-1', status: 0, answer: 'é', serial: 5 });
    expect(decodeReplyDatagram(Buffer.from('other key'), reply)).toBeUndefined();
  });
});

describe('silence cases (§5) at codec level', () => {
  const ping = (rsalt = 'r') => `{"protocol":1,"type":0,"rsalt":"${rsalt}"}`;
  const cases: Array<[string, Buffer, string]> = [
    ['empty datagram', Buffer.alloc(0), 'plj0_bad_magic'],
    ['wrong magic PLJ0', Buffer.from('PLJ0{}'), 'plj0_bad_magic'],
    ['wrong magic plj1', Buffer.from('plj1{}'), 'plj0_bad_magic'],
    ['magic only', dg(''), 'plj0_bad_outer_json'],
    ['outer not JSON', dg('{nope'), 'plj0_bad_outer_json'],
    ['outer leading whitespace', dg(' ' + signed(ping()).toString('latin1', 4)), 'plj0_bad_outer_json'],
    ['outer trailing garbage', dg(signed(ping()).toString('latin1', 4) + 'x'), 'plj0_bad_outer_json'],
    ['outer not an object', dg('["a"]'), 'plj0_bad_envelope'],
    ['outer missing member', dg('{"msg":"x","salt":"1"}'), 'plj0_bad_envelope'],
    ['outer extra member (key_selector)', dg(JSON.stringify({ msg: ping(), salt: String(NOW), hmac: hmacSha1Hex(KEY, String(NOW), ping()), key_selector: 'a' })), 'plj0_bad_envelope'],
    ['outer non-string member', dg(JSON.stringify({ msg: ping(), salt: NOW, hmac: hmacSha1Hex(KEY, String(NOW), ping()) })), 'plj0_bad_envelope'],
    ['bad MAC', dg(JSON.stringify({ msg: ping(), salt: String(NOW), hmac: '0'.repeat(40) })), 'plj0_bad_mac'],
    ['MAC too short', dg(JSON.stringify({ msg: ping(), salt: String(NOW), hmac: 'abc' })), 'plj0_bad_mac'],
    ['MAC over another key (trailing newline)', signed(ping(), String(NOW), Buffer.concat([KEY, Buffer.from('\n')])), 'plj0_bad_mac'],
    ['raw UTF-8 in msg (double-encoded by Latin-1 reading)', Buffer.from('plj0' + JSON.stringify({ msg: '{"protocol":1,"type":1,"query":"é","rsalt":"r"}', salt: String(NOW), hmac: hmacSha1Hex(KEY, String(NOW), '{"protocol":1,"type":1,"query":"é","rsalt":"r"}') }), 'utf8'), 'plj0_bad_mac'],
    ['timestamp unparsable', signed(ping(), 'abc'), 'plj0_bad_timestamp'],
    ['timestamp 301 s old', signed(ping(), String(NOW - 301)), 'plj0_skew'],
    ['timestamp 301 s ahead', signed(ping(), String(NOW + 301)), 'plj0_skew'],
    ['inner not JSON', signed('{x'), 'plj0_bad_inner_json'],
    ['inner leading whitespace', signed(' ' + ping()), 'plj0_bad_inner_json'],
    ['inner trailing garbage', signed(ping() + ' x'), 'plj0_bad_inner_json'],
    ['inner not an object', signed('[1]'), 'plj0_bad_request'],
    ['inner extra key', signed('{"protocol":1,"type":0,"rsalt":"r","x":1}'), 'plj0_bad_request'],
    ['protocol missing', signed('{"type":0,"rsalt":"r"}'), 'plj0_bad_request'],
    ['protocol a string', signed('{"protocol":"1","type":0,"rsalt":"r"}'), 'plj0_bad_request'],
    ['type missing', signed('{"protocol":1,"rsalt":"r"}'), 'plj0_bad_type'],
    ['type 12', signed('{"protocol":1,"type":12,"rsalt":"r"}'), 'plj0_bad_type'],
    ['type -1', signed('{"protocol":1,"type":-1,"rsalt":"r"}'), 'plj0_bad_type'],
    ['type "0"', signed('{"protocol":1,"type":"0","rsalt":"r"}'), 'plj0_bad_type'],
    ['type 11.5 (rounds to 12)', signed('{"protocol":1,"type":11.5,"rsalt":"r"}'), 'plj0_bad_type'],
    ['rsalt missing', signed('{"protocol":1,"type":0}'), 'plj0_bad_rsalt'],
    ['rsalt null', signed('{"protocol":1,"type":0,"rsalt":null}'), 'plj0_bad_rsalt'],
    ['rsalt a number', signed('{"protocol":1,"type":0,"rsalt":5}'), 'plj0_bad_rsalt'],
    ['query a number', signed('{"protocol":1,"type":1,"query":5,"rsalt":"r"}'), 'plj0_bad_query'],
    ['query a list', signed('{"protocol":1,"type":1,"query":["a"],"rsalt":"r"}'), 'plj0_bad_query'],
    ['query a bool', signed('{"protocol":1,"type":1,"query":true,"rsalt":"r"}'), 'plj0_bad_query'],
    ['dict query unknown key', signed('{"protocol":1,"type":2,"query":{"4":"x"},"rsalt":"r"}'), 'plj0_bad_query'],
    ['dict query field as string', signed('{"protocol":1,"type":3,"query":{"3":["0"]},"rsalt":"r"}'), 'plj0_bad_query'],
    ['dict query field 3', signed('{"protocol":1,"type":3,"query":{"3":[3]},"rsalt":"r"}'), 'plj0_bad_query'],
    ['dict query ip list not a list', signed('{"protocol":1,"type":2,"query":{"2":"a"},"rsalt":"r"}'), 'plj0_bad_query'],
    ['dict query link a number', signed('{"protocol":1,"type":2,"query":{"0":1},"rsalt":"r"}'), 'plj0_bad_query'],
  ];
  for (const [name, bytes, want] of cases) {
    it(name, () => {
      expect(reason(parseRequestDatagram(bytes, KEY, NOW))).toBe(want);
    });
  }
});

describe("Ganeti's JSON rules", () => {
  const parse = (inner: string) => parseRequestDatagram(signed(inner), KEY, NOW);
  it('accepts trailing whitespace and newlines', () => {
    expect(parse('{"protocol":1,"type":0,"rsalt":"r"} \n\t\n').ok).toBe(true);
  });
  it('lets the first of duplicate keys win', () => {
    expect(parse('{"protocol":1,"type":3,"type":0,"rsalt":"a","rsalt":"b"}')).toMatchObject({ ok: true, request: { type: 3, rsalt: 'a' } });
  });
  it('rounds integer fields half to even', () => {
    const t = (x: string) => {
      const r = parse(`{"protocol":1,"type":${x},"rsalt":"r"}`);
      return r.ok ? r.request.type : r.reason;
    };
    expect([t('0.4'), t('2.6'), t('3.5'), t('2.5'), t('1e0'), t('0.5'), t('1.5'), t('-0.4'), t('11.49'), t('2.5000000000000000001')]).toEqual([0, 3, 4, 2, 1, 0, 2, 0, 11, 3]);
  });
  it('ignores the value of protocol', () => {
    expect(parse('{"protocol":99.7,"type":0,"rsalt":"r"}').ok).toBe(true);
  });
  it('treats null query members as absent and rounds field codes', () => {
    expect(parse('{"protocol":1,"type":2,"query":{"0":null,"1":"10.0.0.1","3":[0.4,2]},"rsalt":"r"}')).toMatchObject({
      ok: true,
      request: { query: { kind: 'dict', value: { ip: '10.0.0.1', ipList: [], fields: [0, 2] } } },
    });
    expect(parse('{"protocol":1,"type":0,"query":null,"rsalt":""}')).toMatchObject({ ok: true, request: { query: { kind: 'empty' }, rsalt: '' } });
  });
  it('decodes \\u escapes (surrogates stay separate units, as in Haskell)', () => {
    expect(parseGanetiJson('"\\u00e9\\ud83d\\ude00"')).toEqual({ t: 's', v: 'é\ud83d\ude00' });
    expect(parseGanetiJson('"\\x"')).toBeUndefined();
    expect(parseGanetiJson(' 1')).toBeUndefined();
    expect(parseGanetiJson('1 ')).toEqual({ t: 'n', raw: '1' });
  });
  it('rounds exact decimals', () => {
    expect([roundHalfEven('2.5'), roundHalfEven('3.5'), roundHalfEven('-2.5'), roundHalfEven('25e-1'), roundHalfEven('0.05e2')]).toEqual([2n, 4n, -2n, 2n, 5n]);
    expect([roundHalfEvenNum(2.5), roundHalfEvenNum(3.5), roundHalfEvenNum(-0.5), roundHalfEvenNum(2.6)]).toEqual([2, 4, 0, 3]);
  });
  it('rounds numbers far below 1 to 0 and refuses huge ones, at a cost bounded by their text', () => {
    // Each of these once spelled out its exponent as a string of zeros (up to a billion).
    expect(['1e-500000000', '-1e-999999999', '5e-1', '0.' + '0'.repeat(390) + '1', '7e-' + '9'.repeat(300), '123.456e-3', '-0.0001e-2'].map(roundHalfEven)).toEqual([0n, 0n, 0n, 0n, 0n, 0n, 0n]);
    expect(['1e999999999', '1e' + '9'.repeat(300), '1e4001'].map(roundHalfEven)).toEqual([undefined, undefined, undefined]);
    expect([roundHalfEven('0.6'), roundHalfEven('15e-1'), roundHalfEven('25e-1'), roundHalfEven('1e3'), roundHalfEven('-0.51')]).toEqual([1n, 2n, 2n, 1000n, -1n]);
    expect(parse(`{"protocol":1,"type":1e-500000000,"query":{"3":[-1e-999999999,1.5e0]},"rsalt":"r"}`)).toMatchObject({
      ok: true,
      request: { type: 0, query: { kind: 'dict', value: { fields: [0, 2] } } },
    });
  });
});

describe('timestamps (§2)', () => {
  const ok = ['1795390000', '01795390000', ' 1795390000', '\t\n1795390000', '0x6B037A30', '0X6b037a30', '0o15300675060', '0O15300675060', '(1795390000)', '( 1795390000 )', '((1795390000))'];
  const bad = ['', '1795390000 ', '1795390000\n', '+1795390000', '1795390000.0', '1795390000e0', '0b1', '1_0', 'abc', '1795390000)', '(1795390000', '0x', '--1'];
  for (const s of ok) {
    it(`accepts ${JSON.stringify(s)}`, () => {
      expect(parseHaskellInteger(s)).toBe(1795390000n);
      expect(parseRequestDatagram(signed('{"protocol":1,"type":0,"rsalt":"r"}', s), KEY, NOW).ok).toBe(true);
    });
  }
  for (const s of bad) {
    it(`rejects ${JSON.stringify(s)}`, () => {
      expect(parseHaskellInteger(s)).toBeUndefined();
      expect(reason(parseRequestDatagram(signed('{"protocol":1,"type":0,"rsalt":"r"}', s), KEY, NOW))).toBe('plj0_bad_timestamp');
    });
  }
  it('accepts ±300 s inclusive and refuses ±301 s', () => {
    const at = (d: number) => reason(parseRequestDatagram(signed('{"protocol":1,"type":0,"rsalt":"r"}', String(NOW + d)), KEY, NOW + 0.999));
    expect([at(-300), at(300), at(0), at(-301), at(301)]).toEqual(['ok', 'ok', 'ok', 'plj0_skew', 'plj0_skew']);
  });
});

describe('helpers', () => {
  it("spells Haskell's show of strings", () => {
    expect(showHaskellString('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(showHaskellString('é1')).toBe('"\\233\\&1"');
    expect(showHaskellString('\n\t\u0001\u007f\u000eH')).toBe('"\\n\\t\\SOH\\DEL\\SO\\&H"');
  });
  it("parses Ganeti's loose pointers", () => {
    expect(parseGanetiPointer('/cluster')).toEqual(['cluster']);
    expect(parseGanetiPointer('/cluster~2x')).toEqual(['cluster']);
    expect(parseGanetiPointer('/cluster//x')).toEqual(['cluster']);
    expect(parseGanetiPointer('/cluster/')).toEqual(['cluster', '']);
    expect(parseGanetiPointer('/a~1b~0c/d')).toEqual(['a/b~c', 'd']);
    expect(parseGanetiPointer('//cluster')).toBeUndefined();
    expect(parseGanetiPointer('/~')).toBeUndefined();
    expect(parseGanetiPointer('cluster')).toBeUndefined();
  });
  it("reproduces the ClockTime round trip of ctime/mtime", () => {
    expect(clockTimeRoundTrip(1358348755.779906)).toBe(1358348755.7799058);
    expect(clockTimeRoundTrip(1343869045.604884)).toBe(1343869045.604884);
    expect(clockTimeRoundTrip(1343869045)).toBe(1343869045);
  });
});

describe('property: parsing never throws', () => {
  it('on random bytes after the magic', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        const r = parseRequestDatagram(Buffer.concat([Buffer.from('plj0'), Buffer.from(bytes)]), KEY, NOW);
        expect(r.ok).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });
  it('on random JSON-ish text, signed or not', () => {
    const jsonish = fc.stringMatching(/^[{}\[\]":,0-9a-z \\.eE+\-ntrufl]{0,120}$/);
    fc.assert(
      fc.property(jsonish, jsonish, fc.boolean(), (msg, salt, sign) => {
        const hmac = sign ? hmacSha1Hex(KEY, salt, msg) : 'x';
        parseRequestDatagram(dg(JSON.stringify({ msg, salt, hmac })), KEY, NOW);
        parseGanetiJson(msg);
        parseHaskellInteger(salt);
      }),
      { numRuns: 3000 },
    );
  });
  it('on arbitrary signed inner JSON values', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (query, type) => {
        const inner = JSON.stringify({ protocol: 1, type, query, rsalt: 'r' });
        const r = parseRequestDatagram(signed(inner), KEY, NOW);
        if (r.ok) expect(r.request.type).toBeGreaterThanOrEqual(0);
      }),
      { numRuns: 2000 },
    );
  });
  it('on deeply nested input', () => {
    const deep = '['.repeat(5000) + ']'.repeat(5000);
    expect(parseGanetiJson(deep)).toBeUndefined();
    expect(reason(parseRequestDatagram(signed(`{"protocol":1,"type":0,"rsalt":"r","query":${deep}}`), KEY, NOW))).toBe('plj0_bad_inner_json');
  });
});
