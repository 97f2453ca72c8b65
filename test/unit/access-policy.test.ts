// The access file's rules, without a daemon: what is refused (and the member the message names),
// what a scope covers (prefixes on segment boundaries), the filtered document, the token bucket
// (given explicit times: no clock), and the policy's per-key answers.
import { describe, expect, it } from 'vitest';
import { makeKey } from '../../shared/keyring.js';
import { parseAccessFile } from '../../daemon/access/access-file.js';
import { AccessPolicy, DEFAULT_LABEL, requiresSealedTraffic } from '../../daemon/access/policy.js';
import { TokenBucket } from '../../daemon/access/rate-limiter.js';
import { Scope, SCOPE_OPS } from '../../daemon/access/scope.js';
import { filterDocument } from '../../daemon/access/scope-filter.js';
import { Stats } from '../../daemon/stats.js';
import { KEY_A, KEY_B } from '../../testkit/fixtures.js';

const ISSUE_EXAMPLE = `{ "default": { "paths": ["*"] },
  "keys": { "a8ae6e6e": { "paths": ["/public", "/services/web"], "seal": true, "rate": 200 },
            "0c1d2e3f": { "paths": ["*"], "ops": ["ping", "stats"] } } }`;

function refusal(text: string): string {
  try {
    parseAccessFile(text, 'access.json');
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('accepted');
}

describe('the access file', () => {
  it('reads the example of the issue', () => {
    const f = parseAccessFile(ISSUE_EXAMPLE);
    expect(f.default.paths).toEqual([[]]);
    expect(f.keys.get('a8ae6e6e')).toEqual({ paths: [['public'], ['services', 'web']], ops: undefined, seal: true, rate: 200 });
    expect(f.keys.get('0c1d2e3f')?.ops).toEqual(['ping', 'stats']);
  });

  it('refuses a bad file as a whole, naming the member at fault', () => {
    expect(refusal('{')).toMatch(/^access\.json: not JSON/);
    expect(refusal('[]')).toMatch(/must be a JSON object/);
    expect(refusal('{"defaults": {"paths": []}}')).toMatch(/access\.json: defaults: unknown member/);
    expect(refusal('{"keys": {"a8ae6e6e": {"paths": ["*"], "rates": 3}}}')).toMatch(/keys\.a8ae6e6e\.rates: unknown member/);
    expect(refusal('{"keys": {"A8AE6E6E": {"paths": ["*"]}}}')).toMatch(/keys\."A8AE6E6E": is not a key id/);
    expect(refusal('{"keys": {"a8ae6e6": {"paths": ["*"]}}}')).toMatch(/keys\."a8ae6e6": is not a key id/);
    expect(refusal('{"keys": {"a8ae6e6e": {"paths": ["public"]}}}')).toMatch(/keys\.a8ae6e6e\.paths\[0\]: "public" is not a JSON pointer/);
    expect(refusal('{"keys": {"a8ae6e6e": {"paths": ["/a", "/b~2"]}}}')).toMatch(/keys\.a8ae6e6e\.paths\[1\]: bad escape/);
    expect(refusal('{"default": {"paths": [""]}}')).toMatch(/default\.paths\[0\]: "" is not a prefix: write "\*"/);
    expect(refusal('{"default": {"paths": "/a"}}')).toMatch(/default\.paths: must be an array/);
    expect(refusal('{"default": {}}')).toMatch(/default\.paths: must be an array/);
    expect(refusal('{"default": {"paths": ["*"], "ops": ["get", "put"]}}')).toMatch(/default\.ops\[1\]: "put" is not an op/);
    expect(refusal('{"default": {"paths": ["*"], "seal": "yes"}}')).toMatch(/default\.seal: must be true or false/);
    for (const rate of ['0', '-1', '"5"', '1e9']) expect(refusal(`{"keys": {"a8ae6e6e": {"paths": ["*"], "rate": ${rate}}}}`)).toMatch(/keys\.a8ae6e6e\.rate: must be a positive number/);
  });
});

describe('scopes', () => {
  const s = new Scope([['public'], ['services', 'web']], SCOPE_OPS);

  it('cover a prefix and what is below it, on segment boundaries only', () => {
    expect(s.covers(['services', 'web'])).toBe(true);
    expect(s.covers(['services', 'web', 'port'])).toBe(true);
    expect(s.covers(['services', 'webmail'])).toBe(false);
    expect(s.covers(['services'])).toBe(false);
    expect(s.covers([])).toBe(false);
  });

  it('allow the ancestors of their paths (answered filtered) and nothing beside them', () => {
    expect(s.allows([])).toBe(true);
    expect(s.allows(['services'])).toBe(true);
    expect(s.allows(['services', 'webmail'])).toBe(false);
    expect(s.allows(['secret'])).toBe(false);
    expect(new Scope([], SCOPE_OPS).allows([])).toBe(false);
  });

  it('are equal (one id) for the same paths and ops in any order, covered prefixes dropped', () => {
    const a = new Scope([['a'], ['b', 'c'], ['a', 'x']], ['get', 'ping']);
    const b = new Scope([['b', 'c'], ['a']], ['ping', 'get']);
    expect(a.id).toBe(b.id);
    expect(new Scope([['a']], ['get']).id).not.toBe(a.id);
    expect(new Scope([[]], SCOPE_OPS).full).toBe(true);
    expect(new Scope([[]], ['get']).full).toBe(false);
    expect(new Scope([[]], ['get']).allPaths).toBe(true);
  });
});

describe('the filtered document', () => {
  const doc = { serial_no: 3, public: { x: [1, 2] }, services: { web: { port: 80 }, webmail: { pw: 'S' } }, list: ['a', 'b'], secret: 's' };

  it('holds the values in scope and the objects leading to them, nothing else', () => {
    expect(filterDocument(doc, new Scope([['public'], ['services', 'web']], SCOPE_OPS))).toEqual({ public: { x: [1, 2] }, services: { web: { port: 80 } } });
    // Ancestors are objects (even over an array), present whether or not the value is.
    expect(filterDocument(doc, new Scope([['list', '1'], ['nothing', 'here']], SCOPE_OPS))).toEqual({ list: { 1: 'b' }, nothing: {} });
    expect(filterDocument(doc, new Scope([['secret', 'x']], SCOPE_OPS))).toEqual({ secret: {} });
    expect(filterDocument(doc, new Scope([], SCOPE_OPS))).toEqual({});
    expect(filterDocument(doc, new Scope([[]], ['get']))).toBe(doc);
  });

  it('keeps a name such as __proto__ as a member', () => {
    const d = JSON.parse('{"__proto__": {"a": 1}, "b": 2}') as unknown;
    const f = filterDocument(d, new Scope([['__proto__', 'a']], SCOPE_OPS)) as Record<string, unknown>;
    expect(Object.keys(f)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(f)).toBe(Object.prototype);
    expect(JSON.stringify(f)).toBe('{"__proto__":{"a":1}}');
  });
});

describe('the token bucket', () => {
  it('admits a burst of the rate, then the rate; over it, busy once a second and the rest dropped', () => {
    const b = new TokenBucket(50, 0);
    const verdicts = Array.from({ length: 60 }, () => b.take(0));
    expect(verdicts.filter((v) => v === 'admit')).toHaveLength(50);
    expect(verdicts.filter((v) => v === 'busy')).toHaveLength(1);
    expect(verdicts.filter((v) => v === 'drop')).toHaveLength(9);
    // 100 ms later: 5 more tokens; no busy before a second has passed since the last.
    const later = Array.from({ length: 10 }, () => b.take(100));
    expect(later.filter((v) => v === 'admit')).toHaveLength(5);
    expect(later.filter((v) => v === 'busy')).toHaveLength(0);
    expect(b.take(1000)).toBe('admit');
    const after = Array.from({ length: 60 }, () => b.take(1000));
    expect(after.filter((v) => v === 'busy')).toHaveLength(1);
  });

  it('keeps a burst of one for a rate under one a second', () => {
    const b = new TokenBucket(0.5, 0);
    expect(b.take(0)).toBe('admit');
    expect(b.take(0)).toBe('busy');
    expect(b.take(999)).toBe('drop');
    expect(b.take(2000)).toBe('admit');
  });
});

describe('the policy', () => {
  const a = makeKey(Buffer.from(KEY_A));
  const b = makeKey(Buffer.from(KEY_B));

  it('gives a named key its entry and the others the default, each with its own bucket', () => {
    const stats = new Stats();
    const p = new AccessPolicy(parseAccessFile(`{"default": {"paths": ["/public"], "rate": 1}, "keys": {"${a.idHex}": {"paths": ["/public", "/services/web"], "seal": true}}}`), stats);
    const ka = p.forKey(a);
    const kb = p.forKey(b);
    expect(ka.label).toBe(a.idHex);
    expect(kb.label).toBe(DEFAULT_LABEL);
    expect(requiresSealedTraffic(ka)).toBe(true);
    expect(requiresSealedTraffic(kb)).toBe(false);
    expect(requiresSealedTraffic(undefined)).toBe(false);
    // Listing-only by default: no stats without the op (or full access).
    expect(ka.scope.allowsOp('stats')).toBe(false);
    expect(ka.scope.allowsOp('get')).toBe(true);
    expect(kb.admit()).toBe('admit');
    expect(kb.admit()).toBe('busy');
    expect(ka.admit()).toBe('admit');
    expect(stats.report().keys).toMatchObject({ default: { requests: 2, rateLimited: 1 }, [a.idHex]: { requests: 1, rateLimited: 0 } });
  });

  it('keeps a bucket across a reload with the same rate, and counters only for the keys still named', () => {
    const stats = new Stats();
    const first = new AccessPolicy(parseAccessFile(`{"keys": {"${a.idHex}": {"paths": ["*"], "rate": 1}}}`), stats);
    expect(first.forKey(a).admit()).toBe('admit');
    const second = new AccessPolicy(parseAccessFile(`{"keys": {"${a.idHex}": {"paths": ["/x"], "rate": 1}}}`), stats, first);
    expect(second.forKey(a).admit()).not.toBe('admit');
    expect(second.forKey(a).scope.pointers()).toEqual(['/x']);
    const third = new AccessPolicy(parseAccessFile(`{"default": {"paths": ["*"]}}`), stats, second);
    expect(third.forKey(a).label).toBe(DEFAULT_LABEL);
    expect(Object.keys(stats.report().keys ?? {})).toEqual([DEFAULT_LABEL]);
  });

  it('gives a key full access with paths ["*"] and no ops (stats included)', () => {
    const p = new AccessPolicy(parseAccessFile('{"default": {"paths": ["*"]}}'), new Stats());
    expect(p.forKey(a).scope.full).toBe(true);
    const q = new AccessPolicy(parseAccessFile('{}'), new Stats());
    expect(q.forKey(a).scope.allows([])).toBe(false);
    expect(q.forKey(a).scope.allowsOp('ping')).toBe(true);
  });
});
