// The hot path's building blocks against plain references: the sliced JSON parser against
// JSON.parse, the replay memory against a set of every salt, the stepped sort against the
// engine's, the per-snapshot reply caches' bounds. (The allocation-free HMACs have their own
// file, fast-hmac.test.ts.)
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_DOCUMENT_DEPTH } from '../../daemon/source/document-limits.js';
import { parseJsonBytes, parseJsonSliced, parseJsonSteps } from '../../daemon/source/json-sliced.js';
import { JsonDepthError, depthBeyondBytes, depthBeyondText } from '../../shared/json-depth.js';
import { ReplayGuard } from '../../daemon/replay-guard.js';
import { ReplyCache, SnapshotCaches } from '../../daemon/reply-cache.js';
import { Snapshot } from '../../daemon/snapshot.js';
import { drain } from '../../daemon/slices.js';
import { compareBytes, sortBytes, sortBytesSteps } from '../../daemon/ganeti/byte-order.js';

describe('sliced JSON parsing', () => {
  const keyed = fc.dictionary(fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('__proto__', '0', '12', 'constructor')), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 8 });
  // Large enough containers to be assembled piecewise (not handed to JSON.parse whole).
  const big = (v: unknown) => ({ pad: 'x'.repeat(300 * 1024), v, list: Array.from({ length: 600 }, (_, i) => ({ i, v })) });

  it('gives what JSON.parse gives: values, key order, "__proto__" keys, duplicates', async () => {
    await fc.assert(
      fc.asyncProperty(keyed, fc.constantFrom('', ' ', '\n\t'), fc.boolean(), async (doc, sp, large) => {
        let text = JSON.stringify({ top: large ? big(doc) : doc, doc }, null, sp === '' ? undefined : sp);
        text = text.replace('{', `{"dup":1,${sp}"dup":[2],`);
        const b = Buffer.from(text, 'utf8');
        const want = JSON.parse(text) as unknown;
        for (const got of [parseJsonBytes(b), await parseJsonSliced(b, 1)]) {
          expect(JSON.stringify(got)).toBe(JSON.stringify(want));
          expect(got).toEqual(want);
          expect(Object.getPrototypeOf(got)).toBe(Object.prototype);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('fails where JSON.parse fails, with its message', async () => {
    const good = JSON.stringify({ a: 'x'.repeat(300 * 1024), b: [1, 2, { c: 'é' }] });
    for (const text of [good.slice(0, -1), good.replace('[1', '[01'), good + ' x', '\ufeff' + good, good.replace('"c"', "'c'"), good.replace(',', ',,'), '']) {
      let msg = '';
      try {
        JSON.parse(text);
      } catch (e) {
        msg = (e as Error).message;
      }
      const b = Buffer.from(text, 'utf8');
      expect(() => parseJsonBytes(b)).toThrow(msg);
      await expect(parseJsonSliced(b)).rejects.toThrow(msg);
    }
  });

  it('yields while it parses', () => {
    const doc = { m: Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`k${i}`, { i }])) };
    const gen = parseJsonSteps(Buffer.from(JSON.stringify(doc)));
    let steps = 0;
    let r = gen.next();
    while (!r.done) {
      steps++;
      r = gen.next();
    }
    expect(steps).toBeGreaterThan(5);
    expect(r.value).toEqual(doc);
  });
});

describe('sliced JSON parsing of deep and large documents', () => {
  type Level = { obj: boolean; before: unknown[]; after: unknown[]; pad: number; sp: string };
  /** Containers nested inside one another, each holding small values, a padding string and the next. */
  function nested(levels: Level[], inner: string): string {
    let text = inner;
    for (let l = levels.length - 1; l >= 0; l--) {
      const { obj, before, after, pad, sp } = levels[l];
      const items = [...before.map((v) => JSON.stringify(v)), JSON.stringify('p'.repeat(pad)), text, ...after.map((v) => JSON.stringify(v))];
      text = obj ? `{${items.map((t, i) => `"k${i}":${sp}${t}`).join(`,${sp}`)}}` : `[${items.join(`,${sp}`)}]`;
    }
    return text;
  }
  const small = fc.jsonValue({ maxDepth: 4 });
  const level: fc.Arbitrary<Level> = fc.record({
    obj: fc.boolean(),
    before: fc.array(small, { maxLength: 3 }),
    after: fc.array(small, { maxLength: 3 }),
    // Up to ~100 KB: a level's scan stops inside its own padding, a child's, or a grandchild's.
    pad: fc.oneof(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 20_000, max: 100_000 })),
    sp: fc.constantFrom('', ' ', '\n  '),
  });

  it('gives what JSON.parse gives when large containers nest inside one another', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(level, { minLength: 1, maxLength: 30 }), fc.integer({ min: 0, max: 400_000 }), small, async (levels, innerPad, tail) => {
        const text = nested(levels, JSON.stringify({ big: 'x'.repeat(innerPad), tail }));
        const b = Buffer.from(text, 'utf8');
        const want = JSON.parse(text) as unknown;
        for (const got of [parseJsonBytes(b), await parseJsonSliced(b, 1)]) expect(got).toEqual(want);
      }),
      { numRuns: 40 },
    );
  });

  it(`accepts ${MAX_DOCUMENT_DEPTH} levels and refuses ${MAX_DOCUMENT_DEPTH + 1}, in small values and in large ones`, async () => {
    const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
    const big = 'x'.repeat(300 * 1024);
    // The nesting inside a value handed to JSON.parse whole, or assembled level by level.
    const docs = (n: number) => [deep(n), `{"pad":"${big}","deep":${deep(n - 1)}}`, '['.repeat(n - 1) + `["${big}"]` + ']'.repeat(n - 1)];
    for (const text of docs(MAX_DOCUMENT_DEPTH)) {
      const b = Buffer.from(text);
      expect(parseJsonBytes(b)).toEqual(JSON.parse(text));
      expect(await parseJsonSliced(b, 1)).toEqual(JSON.parse(text));
    }
    for (const text of docs(MAX_DOCUMENT_DEPTH + 1)) {
      const b = Buffer.from(text);
      expect(() => parseJsonBytes(b)).toThrow(JsonDepthError);
      await expect(parseJsonSliced(b, 1)).rejects.toThrow(JsonDepthError);
      expect(depthBeyondBytes(b, MAX_DOCUMENT_DEPTH)).toBeGreaterThan(0);
      expect(depthBeyondText(text, MAX_DOCUMENT_DEPTH)).toBe(depthBeyondBytes(b, MAX_DOCUMENT_DEPTH));
    }
    // A million levels: refused at once, not scanned level after level.
    expect(() => parseJsonBytes(Buffer.from(deep(1_000_000)))).toThrow(/nested deeper than 512 levels/);
  });

  it('counts brackets in strings as text', () => {
    const text = JSON.stringify({ s: '[[[{{{\\"]]]', t: ['"[', '\\'] });
    expect(depthBeyondBytes(Buffer.from(text), 2)).toBe(-1);
    expect(depthBeyondBytes(Buffer.from(text), 1)).toBe(text.indexOf(':[') + 1);
  });

  it('yields at every depth: never more than about 256 KB of scanning between two steps', () => {
    // 500 arrays nested in 2.1 MB: every level larger than what is handed to JSON.parse whole,
    // and no value larger than 1 KB.
    const levels = 500;
    const inner = Array.from({ length: 1600 }, () => `"${'x'.repeat(1000)}"`).join(',');
    const text = '[' + Array.from({ length: levels - 1 }, () => `"${'y'.repeat(1000)}",[`).join('') + inner + ']'.repeat(levels);
    const b = Buffer.from(text);
    // Instrument the scan's reads: between two steps, count the bytes the parser looked at.
    let reads = 0;
    let most = 0;
    const counted = new Proxy(b, {
      get(target, prop, receiver) {
        if (typeof prop === 'string' && prop.charCodeAt(0) >= 0x30 && prop.charCodeAt(0) <= 0x39) reads++;
        const v = Reflect.get(target, prop, receiver === counted ? target : receiver);
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const gen = parseJsonSteps(counted as Buffer);
    let r = gen.next();
    while (!r.done) {
      most = Math.max(most, reads);
      reads = 0;
      r = gen.next();
    }
    most = Math.max(most, reads);
    expect(r.value).toEqual(JSON.parse(text));
    expect(most).toBeLessThan(600 * 1024);
  });
});

describe('replay memory', () => {
  it('refuses exactly the salts it has accepted within the window (against a set)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 2000 })), { maxLength: 3000 }), (reqs) => {
        const g = new ReplayGuard({ windowMs: 60_000, capacity: 1 << 20, bucketMs: 1000 });
        const seen = new Set<string>();
        const now = 1_000_000;
        for (const [salt, dt] of reqs) {
          const t = now - dt;
          const buf = Buffer.alloc(20);
          buf.writeUInt32BE(salt, 4);
          buf.writeUInt32BE(salt * 7919, 16);
          // As before: a salt is remembered per one-second bucket of its request time.
          const k = `${salt}@${Math.floor(t / 1000)}`;
          expect(g.admitBytes(buf, 4, t, now)).toBe(seen.has(k) ? 'replay' : 'fresh');
          seen.add(k);
        }
        expect(g.entries).toBe(seen.size);
      }),
      { numRuns: 50 },
    );
  });

  it('grows its tables and keeps every salt of a busy second', () => {
    const g = new ReplayGuard({ windowMs: 60_000, capacity: 1 << 20 });
    const now = 5_000_000;
    for (let i = 0; i < 50_000; i++) expect(g.admit(`s${i}`, now, now)).toBe('fresh');
    for (let i = 0; i < 50_000; i += 97) expect(g.admit(`s${i}`, now, now)).toBe('replay');
    expect(g.admitPrefixed(0x67, 's1', now, now)).toBe('fresh');
    expect(g.admit('gs1', now, now)).toBe('replay');
  });
});

describe('stepped sort', () => {
  it('orders as sortBytes (code points, surrogates after U+FFFF... as UTF-8)', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string({ maxLength: 5 }), fc.constantFrom('\ud83d\ude00', '\uffff', 'a\ue000')), { minLength: 4097, maxLength: 9000 }), (xs) => {
        const keys = [...new Set(xs)];
        expect(drain(sortBytesSteps([...keys]))).toEqual(sortBytes([...keys]));
        expect(sortBytes([...keys])).toEqual([...keys].sort(compareBytes));
      }),
      { numRuns: 10 },
    );
  });
});

describe('reply caches', () => {
  it('stay within their shared budget and evict the oldest entries', () => {
    const budget = { held: 0, max: 100_000, caches: [] };
    const a = new ReplyCache<{ bytes: number }>(budget, 1000);
    const b = new ReplyCache<{ bytes: number }>(budget, 1000);
    for (let i = 0; i < 500; i++) a.set(`a${i}`, { bytes: 300 });
    for (let i = 0; i < 500; i++) b.set(`b${i}`, { bytes: 300 });
    expect(budget.held).toBeLessThanOrEqual(budget.max);
    expect(a.get('a0')).toBeUndefined();
    expect(b.get('b499')).toBeDefined();
    expect(a.size + b.size).toBeGreaterThan(100);
    // A service's caches of one snapshot share one budget; another snapshot's have their own.
    const caches = new SnapshotCaches<{ bytes: number }>(100_000);
    const s = new Snapshot({ doc: {}, serial: 1, source: 'file' });
    const t = new Snapshot({ doc: {}, serial: 2, source: 'file' });
    expect(caches.of(s, 'type1')).toBe(caches.of(s, 'type1'));
    expect(caches.of(s, 'type1').budget).toBe(caches.of(s, 'type2').budget);
    expect(caches.of(t, 'type1').budget).not.toBe(caches.of(s, 'type1').budget);
  });
});

describe('QCF1 replies cached by request bytes', async () => {
  const { qcf1Service, serviceRequest, CLIENT } = await import('../support/qcf1-service.js');
  const { Replica } = await import('../../daemon/replica.js');
  const { Stats } = await import('../../daemon/stats.js');
  const { Keyring } = await import('../../shared/keyring.js');
  const { KIND_REPLY, decodeBody, verifyDatagram } = await import('../../shared/qcf1.js');
  const { randomBytes } = await import('node:crypto');

  it('answers from the serving snapshot, per request, as without the cache', () => {
    const keyring = Keyring.fromStrings(['k'.repeat(32)]);
    const replica = new Replica();
    replica.offer(new Snapshot({ doc: { serial_no: 1, a: 'one', big: 'x'.repeat(70_000) }, serial: 1, source: 'file' }));
    const sent: Buffer[] = [];
    const stats = new Stats();
    const svc = qcf1Service({ keyring, replica, stats, send: (b) => sent.push(b) });
    const ask = (body: Record<string, unknown>) => {
      const salt = randomBytes(16);
      svc.handle(serviceRequest(keyring, body, salt), CLIENT);
      const reply = sent.pop() as Buffer;
      const v = verifyDatagram(reply, keyring, KIND_REPLY);
      expect(v.ok && v.header.salt.equals(salt)).toBe(true);
      return decodeBody(reply) as Record<string, unknown>;
    };
    expect(ask({ op: 'get', path: '/a' }).answer).toBe('one');
    expect(ask({ op: 'get', path: '/a' }).answer).toBe('one');
    expect(ask({ op: 'get', path: '/a', rid: 'r1' }).answer).toBe('one');
    expect((ask({ op: 'get', path: '/big' }).error as { code: string }).code).toBe('too_large');
    expect((ask({ op: 'get', path: '/big' }).error as { code: string }).code).toBe('too_large');
    expect(ask({ op: 'list', path: '' }).answer).toEqual(['a', 'big', 'serial_no']);
    replica.offer(new Snapshot({ doc: { serial_no: 2, a: 'two' }, serial: 2, source: 'file' }));
    const r = ask({ op: 'get', path: '/a' });
    expect([r.answer, r.serial]).toEqual(['two', 2]);
    expect(stats.requests.qcf1.get).toBe(6);
    expect(stats.answered.qcf1.get).toEqual({ ok: 4, error: 2, not_implemented: 0 });
    expect(stats.errors.too_large).toBe(2);
  });
});

describe('large documents read from their bytes', async () => {
  const { readDocument } = await import('../../daemon/source/file.js');
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');

  it('parse (at once or in slices) as JSON.parse, and are refused with its message', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qconf-hot-'));
    try {
      const doc = { serial_no: 7, nodes: Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`node${i}`, { ip: `10.0.${i >> 8}.${i & 255}`, tags: ['a', 'é'] }])) };
      const file = join(dir, 'doc.json');
      writeFileSync(file, JSON.stringify(doc, null, 1));
      for (const sliced of [false, true]) {
        const r = await readDocument(file, sliced);
        expect(r.serial).toBe(7);
        expect(r.doc).toEqual(doc);
      }
      const text = JSON.stringify(doc).replace('"node5"', '"node5" ');
      writeFileSync(file, text.slice(0, -3));
      let msg = '';
      try {
        JSON.parse(text.slice(0, -3));
      } catch (e) {
        msg = (e as Error).message;
      }
      for (const sliced of [false, true]) await expect(readDocument(file, sliced)).rejects.toThrow(`not valid JSON (${msg})`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
