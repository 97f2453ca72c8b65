// Verified answers on real daemons: a publisher signs the document; daemons given its public
// key refuse anything else; clients given it accept only answers proven against the signature.
// An insider holding the shared HMAC key rewrites answers: with one such insider among three
// daemons the verified answer wins, with two the client refuses to answer, and without trusted
// keys the forgery wins (the threat is real).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfdClient } from '../../client/confd-client.js';
import { valueHash } from '../../shared/commitment.js';
import { etagOf } from '../../shared/etag.js';
import { Keyring } from '../../shared/keyring.js';
import { TrustKeys, generateSigningKey, signDocument, type SigningKey } from '../../shared/signing.js';
import { TestDaemon, stopAll } from '../../testkit/daemons.js';
import { KEY_A, tempDir } from '../../testkit/fixtures.js';
import { InsiderRelay, insiderBefore, type Rewrite } from '../support/insider.js';
import { probeLiveness } from '../support/liveness.js';

const clients: ConfdClient[] = [];
let daemons: TestDaemon[] = [];
let relays: InsiderRelay[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(relays.splice(0).map((r) => r.close()));
  await stopAll(daemons.splice(0));
});

const commit = (v: unknown) => valueHash(v).hash;
const hex = (k: SigningKey) => Buffer.from(k.bytes).toString('hex');

/** A document with a large part (proofs through a tree) and small ones (proofs given whole). */
function doc(serial: number, master = 'node1.example.com'): Record<string, unknown> {
  const nodes: Record<string, unknown> = {};
  for (let i = 0; i < 300; i++) nodes[`node${i}.example.com`] = { ip: `192.0.2.${i % 250}`, drained: i % 7 === 0 };
  return { serial_no: serial, cluster: { name: 'test.example.com', master }, nodes, list: [10, 20, 30] };
}

function trustFile(keys: SigningKey[]): string {
  const f = join(tempDir(), 'publishers.pub');
  writeFileSync(f, keys.map(hex).join('\n') + '\n');
  return f;
}

async function cluster(signed: Record<string, unknown>, publisher: SigningKey, n = 3): Promise<TestDaemon[]> {
  const tf = trustFile([publisher]);
  const ds = await Promise.all(Array.from({ length: n }, () => new TestDaemon({ doc: signed, args: ['--trust-key', tf] }).start()));
  daemons.push(...ds);
  return ds;
}

const insider = (d: TestDaemon, rewrite: Rewrite): Promise<InsiderRelay> => insiderBefore(d, KEY_A, rewrite, relays);

function client(peers: string[], trust?: SigningKey): ConfdClient {
  const c = new ConfdClient({ keyring: Keyring.fromStrings([KEY_A]), peers, trustKeys: trust && TrustKeys.fromHex([hex(trust)]) });
  clients.push(c);
  return c;
}

/** Rewrites for each kind of answer (a forger computes the etag of its value too: the rule is public). */
const forge: Record<string, Rewrite> = {
  get: (b, q) => (q?.op === 'get' && q.path === '/cluster/master' ? { ...b, answer: 'evil.example.com', etag: etagOf('evil.example.com') } : b),
  absent: (b, q) => (q?.op === 'get' && q.path === '/nodes/node1.example.com' ? { ...b, status: 1, answer: undefined, error: { code: 'not_found', message: 'no value' } } : b),
  invent: (b, q) => (q?.op === 'get' && q.path === '/nodes/ghost.example.com' ? { ...b, status: 0, error: undefined, answer: { ip: '203.0.113.66' } } : b),
  list: (b, q) => (q?.op === 'list' && Array.isArray(b.answer) ? { ...b, answer: [...(b.answer as string[]).slice(1), 'rogue.example.com'] } : b),
  mget: (b, q) => (q?.op === 'mget' && Array.isArray(b.answer) ? { ...b, answer: (b.answer as Array<Record<string, unknown>>).map((e, i) => (i === 0 ? { ...e, answer: 'evil.example.com' } : e)) } : b),
  wait: (b, q) => (q?.op === 'wait' && b.status === 0 ? { ...b, answer: 'evil.example.com', etag: etagOf('evil.example.com') } : b),
};

describe('daemons with --trust-key', () => {
  it('refuse an unsigned, a tampered, a foreign-signed, an expired and a wrong-serial document, and keep serving the last good one', async () => {
    const publisher = generateSigningKey();
    const stranger = generateSigningKey();
    const good = signDocument(doc(5), publisher, commit);
    const [d] = await cluster(good, publisher, 1);
    const c = client([d.peer], publisher);
    expect((await c.get('/cluster/master', { timeoutMs: 10_000 })).answer).toBe('node1.example.com');
    const tampered = signDocument(doc(6), publisher, commit);
    (tampered.cluster as Record<string, unknown>).master = 'evil.example.com';
    const wrongSerial = signDocument(doc(7), publisher, commit, { serial: 8 });
    const cases: Array<[string, Record<string, unknown>]> = [
      ['unsigned', doc(6)],
      ['tampered', tampered],
      ['foreign-signed', signDocument(doc(6), stranger, commit)],
      ['expired', signDocument(doc(6), publisher, commit, { validForMs: -1000 })],
      ['wrong serial', wrongSerial],
    ];
    let seen = 0;
    for (const [name, bad] of cases) {
      d.writeDoc(bad);
      const line = await d.waitForLog((l) => l.event === 'refused' && l.reason === 'signature', 15_000, seen);
      seen = d.output.length;
      expect(line.reason, name).toBe('signature');
      const r = await c.get('/cluster/master', { timeoutMs: 10_000 });
      expect([r.answer, r.serial, r.verified], name).toEqual(['node1.example.com', 5, true]);
    }
    d.writeDoc(signDocument(doc(9, 'node2.example.com'), publisher, commit));
    await d.waitForLog((l) => l.event === 'reload' && l.serial === 9, 15_000);
    expect((await c.get('/cluster/master', { timeoutMs: 10_000 })).answer).toBe('node2.example.com');
  });
});

describe('an insider holding the HMAC key', () => {
  for (const [name, rewrite, ask, truth] of [
    ['get', forge.get, (c: ConfdClient) => c.get('/cluster/master', OPTS), 'node1.example.com'],
    ['not_found claimed for a value that is there', forge.absent, (c: ConfdClient) => c.get('/nodes/node1.example.com', OPTS), { ip: '192.0.2.1', drained: false }],
    ['a value invented where there is none', forge.invent, (c: ConfdClient) => c.get('/nodes/ghost.example.com', OPTS), undefined],
    ['list', forge.list, (c: ConfdClient) => c.list('/nodes', 1, OPTS), 'names'],
    ['mget', forge.mget, (c: ConfdClient) => c.mget(['/cluster/master', '/list/1'], OPTS), 'entries'],
    ['wait', forge.wait, (c: ConfdClient) => c.waitFor({ minSerial: 5, path: '/cluster/master' }, { timeoutMs: 8000 }), 'node1.example.com'],
  ] as const) {
    it(`${name}: one insider of three is outvoted by verified answers, two make the client refuse, and without trusted keys the forgery wins`, async () => {
      const publisher = generateSigningKey();
      const ds = await cluster(signDocument(doc(5), publisher, commit), publisher);
      const one = await insider(ds[2], rewrite);
      const check = (r: { kind: string; answer?: unknown }) => {
        if (truth === undefined) return expect(r.kind).toBe('not_found');
        if (truth === 'names') return expect((r.answer as string[]).includes('rogue.example.com')).toBe(false);
        if (truth === 'entries') return expect((r.answer as Array<{ answer?: unknown }>)[0].answer).toBe('node1.example.com');
        return expect(r.answer).toEqual(truth);
      };
      // One insider: the answer is the signed document's, and the forgery is named.
      const a = await ask(client([ds[0].peer, ds[1].peer, one.peer], publisher));
      expect(a.kind, JSON.stringify(a)).not.toBe('no_quorum');
      check(a);
      expect(a.verified).toBe(true);
      // (A wait ends at its quorum, all: true being no wait option: the insider's reply may come after.)
      if (one.rewritten > 0 && name !== 'wait') expect(a.forged).toBeGreaterThan(0);
      // Two insiders: no verified quorum; the client refuses and names them.
      const two = await insider(ds[1], rewrite);
      const b = await ask(client([ds[0].peer, two.peer, one.peer], publisher));
      expect(b.kind, JSON.stringify(b)).toBe('no_quorum');
      expect(b.forged).toBe(2);
      expect(b.error?.message).toMatch(/failed verification/);
      // Without trusted keys the insiders' forgery is the answer (they are a quorum of the two asked).
      const c = await ask(client([two.peer, one.peer]));
      expect(c.kind).not.toBe('no_quorum');
      expect(() => check(c)).toThrow();
    });
  }
});

describe('what a verified client takes besides proven values', () => {
  it('a change that did not happen: two insiders strip the etag of an unchanged value after a new serial; the wait is not met', async () => {
    const publisher = generateSigningKey();
    const ds = await cluster(signDocument(doc(5), publisher, commit), publisher);
    const strip: Rewrite = (b) => (b.status === 0 && b.serial === 6 ? { ...b, etag: undefined } : b);
    const [one, two] = [await insider(ds[1], strip), await insider(ds[2], strip)];
    const c = client([ds[0].peer, one.peer, two.peer], publisher);
    const first = await c.get('/cluster/master', OPTS);
    expect(first.kind).toBe('ok');
    // Serial 6 changes another part; the master stays as it was.
    for (const d of ds) d.writeDoc(signDocument({ ...doc(6), list: [1] }, publisher, commit));
    const r = await c.waitFor({ path: '/cluster/master', changedFrom: first.etag, afterSerial: first.serial }, { timeoutMs: 4000, coverage: -1 });
    expect(r.met, JSON.stringify(r)).toBe(false);
    expect(one.rewritten + two.rewritten).toBeGreaterThan(0);
  });

  it('a value too large for a reply is the error too_large (not "no quorum"), and a mirror of it fills, verified', async () => {
    const publisher = generateSigningKey();
    const big = doc(5);
    const nodes = big.nodes as Record<string, unknown>;
    for (let i = 0; i < 400; i++) nodes[`big${i}.example.com`] = { note: 'x'.repeat(200), i };
    const ds = await cluster(signDocument(big, publisher, commit), publisher);
    const c = client(ds.map((d) => d.peer), publisher);
    const r = await c.get('/nodes', OPTS);
    expect(r.kind, JSON.stringify(r.error)).toBe('error');
    expect(r.error?.code).toBe('too_large');
    const m = await c.mirror('/nodes', { timeoutMs: 20_000 });
    try {
      expect(Object.keys(m.get('') as object).length).toBe(700);
      expect(m.get('/big7.example.com/i')).toBe(7);
    } finally {
      m.close();
    }
  });
});

// Every daemon heard (all: true), so that two forgeries of three outvote the truth when unchecked.
const OPTS = { timeoutMs: 5000, coverage: -1, all: true } as const;

describe('a large signed document', () => {
  it('is committed in slices on reload: pings stay answered, and the new serial serves verified answers', { timeout: 180_000 }, async () => {
    const publisher = generateSigningKey();
    const big = (serial: number, master: string) => {
      const d = doc(serial, master);
      const nodes: Record<string, unknown> = {};
      for (let i = 0; i < 60_000; i++) nodes[`node${i}.example.com`] = { ip: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, tags: ['a', 'b'], n: i };
      return { ...d, nodes };
    };
    const [d] = await cluster(signDocument(big(1, 'node1.example.com'), publisher, commit), publisher, 1);
    const c = client([d.peer], publisher);
    expect((await c.get('/cluster/master', { timeoutMs: 20_000 })).verified).toBe(true);
    // Signed and serialised before the probe starts: the probe's pings share this process.
    const next = JSON.stringify(signDocument(big(2, 'node2.example.com'), publisher, commit));
    const probe = await probeLiveness(d.port);
    d.writeDoc(next);
    const deadline = Date.now() + 120_000;
    let r = await c.get('/cluster/master', { timeoutMs: 10_000 });
    while (r.serial !== 2 && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 100));
      r = await c.get('/cluster/master', { timeoutMs: 10_000 });
    }
    const live = await probe.stop();
    expect(r.answer).toBe('node2.example.com');
    expect(r.verified).toBe(true);
    expect(live.lost, JSON.stringify(live)).toBe(0);
    // Built at once, the commitment of this document holds the daemon for seconds on a loaded machine.
    expect(live.maxMs, JSON.stringify(live)).toBeLessThan(1000);
  });
});
