// The client's check of a daemon's answer, against the daemon's own replies and against an
// insider's rewrites of them: listings with names added, hidden or moved; errors passed off as
// answers; malformed signatures and proofs (judged forged, never thrown); honest answers about
// keys such as "constructor" and "__proto__", and about strings no UTF-8 can carry.
import { describe, expect, it } from 'vitest';
import type { Reply, Request } from '../../client/types.js';
import { SignatureCache, verifyAnswer } from '../../client/verify-answer.js';
import { sealDocument } from '../../daemon/document-signature.js';
import { handleQuery, type QueryContext } from '../../daemon/qcf1/ops.js';
import { drain } from '../../daemon/slices.js';
import { Snapshot } from '../../daemon/snapshot.js';
import { valueHash } from '../../shared/commitment.js';
import { packBody } from '../../shared/msgpack-encode.js';
import { unpackBody } from '../../shared/msgpack-decode.js';
import { TrustKeys, generateSigningKey, signDocument } from '../../shared/signing.js';

const KEY = generateSigningKey();
const TRUST = new TrustKeys([KEY]);
const commit = (v: unknown) => valueHash(v).hash;

/** A large `nodes` (a tree in the commitment), with whatever else `extra` adds to it. */
function doc(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const nodes: Record<string, unknown> = {};
  for (let i = 0; i < 200; i++) nodes[`n${String(i).padStart(3, '0')}`] = i;
  return { serial_no: 3, nodes: { ...nodes, ...extra }, small: { a: 1 } };
}

function context(d: Record<string, unknown>): QueryContext {
  const sealed = drain(sealDocument(signDocument(d, KEY, commit), 3, TRUST, 'test'));
  const snapshot = new Snapshot({ doc: sealed.doc, serial: sealed.serial, source: 'file', signed: sealed.signed });
  return { node: 'a', instance: '00112233aabbccdd', version: '0', snapshot, stale: false, lastContact: 0, now: Date.now(), stats: () => ({}) };
}

/** The daemon's reply to `request`, as a client decodes it. */
function reply(d: Record<string, unknown>, request: Record<string, unknown>): Reply {
  const out = handleQuery(context(d), request, 1000);
  if (out.kind !== 'reply') throw new Error('not a reply');
  return unpackBody(packBody(out.body as unknown as Record<string, unknown>)) as unknown as Reply;
}

function verdict(request: Record<string, unknown>, r: Reply): string {
  return verifyAnswer(request as Request, r, new SignatureCache(TRUST), Date.now()).kind;
}

describe('listings', () => {
  it('a name added below a child, at depth 1 or below a scalar at depth 2, is forged', () => {
    const d = doc();
    const one = { op: 'list', path: '/nodes' };
    const r1 = reply(d, one);
    expect(verdict(one, r1)).toBe('verified');
    expect(verdict(one, { ...r1, answer: [...(r1.answer as string[]), 'n000/rogue'] })).toBe('forged');
    const two = { op: 'list', path: '/nodes', depth: 2 };
    const r2 = reply(d, two);
    expect(verdict(two, r2)).toBe('verified');
    expect(verdict(two, { ...r2, answer: [...(r2.answer as string[]), 'n001/rogue'] })).toBe('forged');
    expect(verdict(two, { ...r2, answer: [...(r2.answer as string[]), 'nobody/rogue'] })).toBe('forged');
  });

  it('the names below a container child, replaced and their proof removed, are forged', () => {
    const d = doc({ sub: { a: 1, b: 2 } });
    const two = { op: 'list', path: '/nodes', depth: 2 };
    const r = reply(d, two);
    expect(verdict(two, r)).toBe('verified');
    const names = (r.answer as string[]).filter((n) => !n.startsWith('sub/'));
    const proof = r.proof as { p: unknown; l: { b: Record<string, unknown> } };
    const below = { ...proof.l.b };
    delete below.sub;
    const hidden = { ...r, proof: { ...proof, l: { ...proof.l, b: below } } };
    expect(verdict(two, { ...hidden, answer: [...names, 'sub/evil'] })).toBe('forged');
    // Hiding them (no names below, no proof) is forged too: every child is proven at depth 2.
    expect(verdict(two, { ...hidden, answer: names })).toBe('forged');
  });

  it('honest listings of keys such as "constructor" and "__proto__" are verified', () => {
    const d = doc({ constructor: 5, toString: { x: 1 } });
    Object.defineProperty(d.nodes, '__proto__', { value: { a: 1 }, enumerable: true, configurable: true, writable: true });
    for (const depth of [1, 2, 3]) {
      const req = { op: 'list', path: '/nodes', depth };
      const r = reply(d, req);
      expect((r.answer as string[]).includes('__proto__')).toBe(true);
      expect(verdict(req, r), `depth ${depth}`).toBe('verified');
    }
  });
});

describe('errors and malformed members', () => {
  it('an error other than not_found, with a valid signature, is no verified answer', () => {
    const req = { op: 'get', path: '/nodes/n001' };
    const r = reply(doc(), req);
    expect(verdict(req, r)).toBe('verified');
    for (const error of [{ code: 'denied', message: 'no' }, { code: 'too_large', message: 'big' }, undefined]) {
      expect(verdict(req, { ...r, status: 1, answer: undefined, error } as Reply)).toBe('unproven');
    }
    const mget = { op: 'mget', paths: ['/nodes/n001', '/small'] };
    const m = reply(doc(), mget);
    expect(verdict(mget, m)).toBe('verified');
    const entries = m.answer as Array<Record<string, unknown>>;
    // An entry with another error cannot pass for an absence: the whole answer is unproven.
    expect(verdict(mget, { ...m, answer: [entries[0], { status: 1, error: { code: 'forbidden', message: 'no' } }] })).toBe('unproven');
    // An entry too large for the reply's room: the others are proven, it is kept as that error alone.
    const tooLarge = { ...m, answer: [entries[0], { status: 1, error: { code: 'too_large', message: 'big' }, answer: 'evil', etag: 'x' }] };
    expect(verdict(mget, tooLarge)).toBe('verified');
    expect((tooLarge.answer as unknown[])[1]).toEqual({ status: 1, error: { code: 'too_large', message: 'big' } });
  });

  it('a signed member with a fractional, negative or huge serial or expiry is forged, not thrown', () => {
    const req = { op: 'get', path: '/nodes/n001' };
    const r = reply(doc(), req);
    const signed = r.signed as Record<string, unknown>;
    for (const bad of [{ serial: 1.5 }, { serial: -1 }, { expires: 1e30 }, { expires: 2e12 + 0.5 }]) {
      expect(() => verdict(req, { ...r, signed: { ...signed, ...bad } })).not.toThrow();
      expect(verdict(req, { ...r, signed: { ...signed, ...bad } })).toBe('forged');
    }
  });

  it('a path proof with more steps than the path has segments is forged, not thrown', () => {
    const req = { op: 'get', path: '/nodes' };
    const r = reply(doc(), req);
    expect(verdict(req, r)).toBe('verified');
    const proof = r.proof as { s: unknown[] };
    const longer = { ...r, proof: { ...proof, s: [...proof.s, ['o', 2, 0, []], ['o', 2, 0, []]] } };
    expect(() => verdict(req, longer)).not.toThrow();
    expect(verdict(req, longer)).toBe('forged');
  });
});

describe('strings', () => {
  it('a lone surrogate, which reaches the client as U+FFFD, is verified as the client sees it', () => {
    const d = doc({ odd: 'x\ud800y' });
    (d.small as Record<string, unknown>).odd = '\udc00';
    for (const path of ['/nodes/odd', '/small', '/small/odd']) {
      const req = { op: 'get', path };
      expect(verdict(req, reply(d, req)), path).toBe('verified');
    }
  });
});

describe('what a proof cannot tell apart', () => {
  // MessagePack can carry undefined (fixext 0), NaN, ±Infinity and bytes; JSON text writes them
  // as null or leaves them out, so hashed as text they would pass for what the publisher signed.
  const NOT_JSON: Array<[string, unknown]> = [
    ['undefined', undefined],
    ['NaN', NaN],
    ['Infinity', Infinity],
    ['-Infinity', -Infinity],
    ['bytes', new Uint8Array([1, 2])],
  ];

  it('an answer that is no JSON value is forged, in get, wait and mget, whole or inside a value', () => {
    const d = doc({ nul: null, obj: { a: 1 } });
    for (const [what, bad] of NOT_JSON) {
      const get = { op: 'get', path: '/nodes/nul' };
      expect(verdict(get, { ...reply(d, get), answer: bad }), what).toBe('forged');
      const inside = { op: 'get', path: '/nodes/obj' };
      expect(verdict(inside, { ...reply(d, inside), answer: { a: 1, extra: bad } }), what).toBe('forged');
      const arr = { op: 'get', path: '/small' };
      expect(verdict(arr, { ...reply(d, arr), answer: { a: 1, b: bad } }), what).toBe('forged');
      const m = { op: 'mget', paths: ['/nodes/nul', '/small/a'] };
      const rm = reply(d, m);
      const entries = (rm.answer as Array<Record<string, unknown>>).map((e) => ({ ...e }));
      entries[0].answer = bad;
      expect(verdict(m, { ...rm, answer: entries }), what).toBe('forged');
    }
  });

  it('a name passed off through a member that is no JSON value, in a value given whole, is forged', () => {
    const d = doc();
    // /small is small: its proof for /small/backdoor gives it whole; the insider adds the member.
    const get = { op: 'get', path: '/small/backdoor' };
    const honest = reply(d, get);
    expect(honest.status).toBe(1);
    const proof = { ...(honest.proof as Record<string, unknown>), w: { a: 1, backdoor: undefined } };
    expect(verdict(get, { ...honest, status: 0, error: undefined, answer: undefined, proof })).toBe('forged');
    const list = { op: 'list', path: '/small' };
    const rl = reply(d, list);
    const lp = rl.proof as { p: unknown; l: Record<string, unknown> };
    expect(verdict(list, { ...rl, answer: ['a', 'backdoor'], proof: { p: lp.p, l: { ...lp.l, w: { a: 1, backdoor: undefined } } } })).toBe('forged');
  });

  it("an etag that is not the proven answer's, or an absence carrying a value, is forged", () => {
    const d = doc({ obj: { a: 1 } });
    const get = { op: 'get', path: '/nodes/obj' };
    const r = reply(d, get);
    expect(r.etag).toBeDefined();
    expect(verdict(get, r)).toBe('verified');
    expect(verdict(get, { ...r, etag: 'AAAAAAAAAAAAAAAAAAAAAA' })).toBe('forged');
    const absent = { op: 'get', path: '/nodes/none' };
    const ra = reply(d, absent);
    expect(verdict(absent, ra)).toBe('verified');
    expect(verdict(absent, { ...ra, answer: { master: 'evil' } })).toBe('forged');
    expect(verdict(absent, { ...ra, etag: r.etag })).toBe('forged');
    const m = { op: 'mget', paths: ['/nodes/obj', '/nodes/none'] };
    const rm = reply(d, m);
    expect(verdict(m, rm)).toBe('verified');
    const entries = (rm.answer as Array<Record<string, unknown>>).map((e) => ({ ...e }));
    entries[0].etag = 'AAAAAAAAAAAAAAAAAAAAAA';
    expect(verdict(m, { ...rm, answer: entries })).toBe('forged');
  });

  it('a listed name with an escape that is none ("~" not followed by 0 or 1) is forged', () => {
    const d = doc({ 'a~b': 1, 'c/d': 2 });
    const list = { op: 'list', path: '/nodes' };
    const r = reply(d, list);
    const names = r.answer as string[];
    expect(names).toContain('a~0b');
    expect(verdict(list, r)).toBe('verified');
    expect(verdict(list, { ...r, answer: names.map((n) => (n === 'a~0b' ? 'a~b' : n)) })).toBe('forged');
  });
});

describe('etags required', () => {
  it('a value without its etag is forged (a missing one would read as "absent" to a test of change), in get and mget', () => {
    const d = doc({ obj: { a: 1 } });
    const get = { op: 'get', path: '/nodes/obj' };
    expect(verdict(get, { ...reply(d, get), etag: undefined })).toBe('forged');
    const m = { op: 'mget', paths: ['/nodes/obj'] };
    const rm = reply(d, m);
    const entries = (rm.answer as Array<Record<string, unknown>>).map((e) => ({ ...e, etag: undefined }));
    expect(verdict(m, { ...rm, answer: entries })).toBe('forged');
  });
});

describe('signature members read strictly', () => {
  it('a sig that is not padded standard base64 of 64 bytes is malformed; an expiry no date can hold is refused, not thrown', async () => {
    const { readSignature, whenMs } = await import('../../shared/signing.js');
    const signed = signDocument({ serial_no: 3, a: 1 }, KEY, commit);
    const member = signed.qconf_signature as Record<string, unknown>;
    expect(typeof readSignature(signed)).toBe('object');
    const sig = member.sig as string;
    for (const bad of [`!!!${sig}`, `${sig.slice(0, 10)}***${sig.slice(10)}`, sig.replace(/=+$/, ''), Buffer.from(sig, 'base64').toString('base64url')]) {
      expect(typeof readSignature({ ...signed, qconf_signature: { ...member, sig: bad } }), bad).toBe('string');
    }
    expect(whenMs(-9007199254740991)).toMatch(/ms after 1970/);
    const expired = { ...(readSignature(signed) as object), expires: -9007199254740991, root: commit({ serial_no: 3, a: 1 }) } as Parameters<typeof TRUST.check>[0];
    expect(() => TRUST.check(expired)).not.toThrow();
    expect(TRUST.check(expired)).toMatch(/expired/);
  });
});
