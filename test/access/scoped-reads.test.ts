// Scoped keys on a real daemon: a property over random documents, random scopes and random
// requests. Every name and string value of a document carries a unique marker; no reply to a
// scoped key (answers, error messages, listings) may hold a marker outside what its scope shows,
// and every answer equals the one computed here, independently, from the filtered document
// (etags included). Also: full-access and scoped keys never share a cached reply.
import fc from 'fast-check';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { etagOf } from '../../shared/etag.js';
import { escapeSegment, formatPointer } from '../../shared/json-pointer.js';
import { makeKey } from '../../shared/keyring.js';
import { TestDaemon } from '../../testkit/daemons.js';
import { KEY_A, tempDir, writeAtomic } from '../../testkit/fixtures.js';
import { seededRandom } from '../../testkit/random.js';
import { RawClient, fetchStats } from '../support/raw-client.js';

const SCOPED_KEYS = ['1111111111111111aaaaaaaaaaaaaaaa', '2222222222222222bbbbbbbbbbbbbbbb', '3333333333333333cccccccccccccccc', '4444444444444444dddddddddddddddd'];
const idOf = (k: string) => makeKey(Buffer.from(k)).idHex;
const ALL_OPS = ['ping', 'get', 'mget', 'list', 'wait', 'stats'];

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Segs = string[];

interface KeyScope {
  /** null: "*" */
  prefixes: Segs[] | null;
  ops: string[] | undefined;
}

// ---- a random document whose every name and string carries a unique marker ----

function makeDoc(rnd: () => number, serial: number): { doc: Record<string, Json>; paths: Segs[]; fresh: () => string } {
  let n = 0;
  const marker = () => `Q${String(n++).padStart(5, '0')}Z`;
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)];
  const name = () => pick(['k', 'k', 'k', 'a/b', 't~x', '']) + marker();
  const paths: Segs[] = [];
  const value = (at: Segs, depth: number): Json => {
    paths.push(at);
    const r = rnd();
    if (depth >= 4 || r < 0.3) return pick<() => Json>([() => 'v' + marker(), () => Math.floor(rnd() * 1000), () => rnd() < 0.5, () => null, () => 'w' + marker()])();
    if (r < 0.75) {
      const o: Record<string, Json> = {};
      const count = Math.floor(rnd() * 4);
      for (let i = 0; i < count; i++) {
        const k = name();
        o[k] = value([...at, k], depth + 1);
      }
      return o;
    }
    return Array.from({ length: Math.floor(rnd() * 4) }, (_, i) => value([...at, String(i)], depth + 1));
  };
  const doc: Record<string, Json> = { serial_no: serial };
  paths.push(['serial_no']);
  for (let i = 0; i < 4; i++) {
    const k = name();
    doc[k] = value([k], 1);
  }
  return { doc, paths, fresh: () => 'n' + marker() };
}

// ---- the answers, computed here from the rules (not from the daemon's code) ----

const isPrefix = (p: Segs, of: Segs) => p.length <= of.length && p.every((s, i) => s === of[i]);

function resolve(v: Json | undefined, segs: Segs): Json | undefined {
  let cur = v;
  for (const s of segs) {
    if (cur === null || typeof cur !== 'object') return undefined;
    if (Array.isArray(cur)) {
      if (!/^(0|[1-9][0-9]*)$/.test(s) || Number(s) >= cur.length) return undefined;
      cur = cur[Number(s)];
    } else {
      if (!Object.prototype.hasOwnProperty.call(cur, s)) return undefined;
      cur = cur[s];
    }
  }
  return cur;
}

/** What a scope shows below `at`: the document's value where covered, else an object of the branches toward its paths. */
function filtered(doc: Json, prefixes: Segs[], at: Segs = []): Json | undefined {
  if (prefixes.some((p) => isPrefix(p, at))) return resolve(doc, at);
  const o: Record<string, Json> = {};
  for (const p of prefixes) {
    if (p.length <= at.length || !isPrefix(at, p)) continue;
    const seg = p[at.length];
    if (Object.prototype.hasOwnProperty.call(o, seg)) continue;
    const v = filtered(doc, prefixes, [...at, seg]);
    if (v !== undefined) Object.defineProperty(o, seg, { value: v, enumerable: true, writable: true, configurable: true });
  }
  return o;
}

function names(v: Json, depth: number, prefix?: string): string[] {
  if (v === null || typeof v !== 'object') return [];
  const keys = Array.isArray(v) ? v.map((_, i) => String(i)) : Object.keys(v).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const out: string[] = [];
  for (const k of keys) {
    const rel = prefix === undefined ? escapeSegment(k) : `${prefix}/${escapeSegment(k)}`;
    out.push(rel);
    if (depth > 1) out.push(...names((v as Record<string, Json>)[k], depth - 1, rel));
  }
  return out;
}

interface Expect {
  status: number;
  code?: string;
  answer?: unknown;
  etag?: string;
}

function expectGet(view: Json, allowed: (s: Segs) => boolean, segs: Segs): Expect {
  if (!allowed(segs)) return { status: 1, code: 'forbidden' };
  const v = resolve(view, segs);
  return v === undefined ? { status: 1, code: 'not_found' } : { status: 0, answer: v, etag: etagOf(v) };
}

function expectList(view: Json, allowed: (s: Segs) => boolean, segs: Segs, depth: number): Expect {
  if (!allowed(segs)) return { status: 1, code: 'forbidden' };
  const v = resolve(view, segs);
  if (v === undefined) return { status: 1, code: 'not_found' };
  if (v === null || typeof v !== 'object') return { status: 1, code: 'bad_argument' };
  const out = names(v, depth);
  if (depth > 1) out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return { status: 0, answer: out };
}

// ---- the daemon ----

let d: TestDaemon;
let client: RawClient;
let accessFile: string;

function writeAccess(scopes: KeyScope[]): void {
  const keys: Record<string, unknown> = { [idOf(KEY_A)]: { paths: ['*'] } };
  scopes.forEach((s, i) => {
    const e: Record<string, unknown> = { paths: s.prefixes === null ? ['*'] : s.prefixes.map(formatPointer) };
    if (s.ops !== undefined) e.ops = s.ops;
    keys[idOf(SCOPED_KEYS[i])] = e;
  });
  writeAtomic(accessFile, { default: { paths: [] }, keys });
}

beforeAll(async () => {
  accessFile = join(tempDir('qconf-access-'), 'access.json');
  writeFileSync(accessFile, JSON.stringify({ default: { paths: ['*'] } }));
  d = await new TestDaemon({ doc: { serial_no: 1 }, keys: [KEY_A, ...SCOPED_KEYS], logLevel: 'info', args: ['--access-file', accessFile] }).start();
  client = await RawClient.open(d.port);
});

afterAll(async () => {
  client?.close();
  await d?.stop('SIGKILL');
});

/** Publish a document and an access file, and wait until the daemon serves both. */
async function publish(doc: Record<string, Json>, scopes: KeyScope[]): Promise<void> {
  const before = (await fetchStats(d.port)).accessReloads as number;
  writeAccess(scopes);
  writeAtomic(d.file, doc);
  for (const deadline = Date.now() + 20_000; ; ) {
    const s = await fetchStats(d.port);
    if ((s.accessReloads as number) > before && (s.replica as { serial: number }).serial === doc.serial_no) return;
    if (Date.now() > deadline) throw new Error(`not reloaded: ${JSON.stringify(s.replica)} ${String(s.accessReloads)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const MARKER = /Q\d{5}Z/g;
const markersOf = (text: string) => new Set(text.match(MARKER) ?? []);

let serial = 1;

describe('scoped keys see only their scope', () => {
  it('no reply to a scoped key holds an out-of-scope marker, and each equals the filtered document\'s answer', async () => {
    let checked = 0;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 2 ** 31 - 1 }), async (seed) => {
        const rnd = seededRandom(seed);
        const { doc, paths, fresh } = makeDoc(rnd, ++serial);
        const pickPath = (): Segs => {
          const r = rnd();
          if (r < 0.1) return [];
          const p = paths[Math.floor(rnd() * paths.length)];
          if (r < 0.2) return [...p, fresh()];
          if (r < 0.3) return p.slice(0, Math.max(0, p.length - 1));
          return p;
        };
        const scopes: KeyScope[] = SCOPED_KEYS.map(() => {
          const r = rnd();
          const prefixes = r < 0.08 ? null : Array.from({ length: Math.floor(rnd() * 4) }, () => (rnd() < 0.85 ? pickPath() : [fresh(), fresh()])).filter((p) => p.length > 0);
          const ops = rnd() < 0.2 ? ALL_OPS.filter(() => rnd() < 0.5) : undefined;
          return { prefixes, ops };
        });
        await publish(doc, scopes);
        for (let k = 0; k < SCOPED_KEYS.length; k++) {
          const s = scopes[k];
          const prefixes = s.prefixes ?? [[]];
          const view = s.prefixes === null ? doc : (filtered(doc, prefixes) as Json);
          const allowed = (segs: Segs) => s.prefixes === null || prefixes.some((p) => isPrefix(p, segs) || isPrefix(segs, p));
          const ops = new Set(s.ops ?? (s.prefixes === null ? ALL_OPS : ALL_OPS.filter((o) => o !== 'stats')));
          const visible = markersOf(JSON.stringify(view));
          for (let i = 0; i < 10; i++) {
            const r = rnd();
            const segs = pickPath();
            const path = formatPointer(segs);
            let req: Record<string, unknown>;
            let want: Expect | Expect[];
            if (r < 0.35) {
              req = { op: 'get', path };
              want = expectGet(view, allowed, segs);
            } else if (r < 0.6) {
              const depth = 1 + Math.floor(rnd() * 3);
              req = { op: 'list', path, depth };
              want = expectList(view, allowed, segs, depth);
            } else if (r < 0.85) {
              const many = Array.from({ length: 1 + Math.floor(rnd() * 4) }, pickPath);
              req = { op: 'mget', paths: many.map(formatPointer) };
              want = many.map((m) => expectGet(view, allowed, m));
            } else {
              req = { op: 'wait', path, minSerial: 0, timeoutMs: 100 };
              want = expectGet(view, allowed, segs);
              if (want.code === 'not_found') want.etag = '';
            }
            const op = req.op as string;
            const reply = (await client.query(req, { key: SCOPED_KEYS[k] })).body;
            const context = `seed ${seed}, key ${k} ${JSON.stringify(s)}, request ${JSON.stringify(req)}, reply ${JSON.stringify(reply)}`;
            // Nothing beyond the scope's view and the request itself.
            const allowedMarkers = new Set([...visible, ...markersOf(JSON.stringify(req))]);
            for (const m of markersOf(JSON.stringify(reply))) expect(allowedMarkers.has(m), `${m} leaked: ${context}`).toBe(true);
            expect(reply.proof, context).toBeUndefined();
            if (!ops.has(op)) {
              expect(reply.status, context).toBe(1);
              expect((reply.error as { code: string }).code, context).toBe('forbidden');
              continue;
            }
            const check = (got: Record<string, unknown>, w: Expect) => {
              expect(got.status, context).toBe(w.status);
              if (w.code !== undefined) expect((got.error as { code: string }).code, context).toBe(w.code);
              if (w.status === 0) expect(got.answer, context).toEqual(w.answer);
              if (w.etag !== undefined) expect(got.etag, context).toBe(w.etag);
            };
            if (Array.isArray(want)) {
              expect(reply.status, context).toBe(0);
              const entries = reply.answer as Array<Record<string, unknown>>;
              want.forEach((w, j) => check(entries[j], w));
            } else check(reply, want);
            checked++;
          }
        }
      }),
      { numRuns: 30 },
    );
    expect(checked).toBeGreaterThan(300);
  });
});

describe('cached replies never cross scopes', () => {
  it('the same request bytes answer a full-access key and a scoped key each from its own view', async () => {
    const doc = { serial_no: ++serial, public: { a: 'Q90001Z' }, private: { b: 'Q90002Z' } };
    await publish(doc, [{ prefixes: [['public']], ops: undefined }, { prefixes: [['private']], ops: undefined }]);
    // The same body (same path, same `to`, same padding) from each key, twice: the second is from the cache.
    for (let round = 0; round < 2; round++) {
      expect((await client.query({ op: 'get', path: '' }, { key: KEY_A })).body.answer).toEqual(doc);
      expect((await client.query({ op: 'get', path: '' }, { key: SCOPED_KEYS[0] })).body.answer).toEqual({ public: { a: 'Q90001Z' } });
      expect((await client.query({ op: 'get', path: '' }, { key: SCOPED_KEYS[1] })).body.answer).toEqual({ private: { b: 'Q90002Z' } });
      expect((await client.query({ op: 'get', path: '/private' }, { key: SCOPED_KEYS[0] })).body.error).toMatchObject({ code: 'forbidden' });
      expect((await client.query({ op: 'get', path: '/private' }, { key: KEY_A })).body.answer).toEqual({ b: 'Q90002Z' });
    }
    const keys = (await fetchStats(d.port)).keys as Record<string, { forbidden: number; replies: { ok: number } }>;
    expect(keys[idOf(SCOPED_KEYS[0])].forbidden).toBeGreaterThanOrEqual(2);
  });
});
