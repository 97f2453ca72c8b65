// protocol.md's "Signatures and proofs" test vectors (section "Test vectors"), read from the page
// and checked against the code: the key from its seed (and from key files), the documents'
// commitments (by the code, and by the page's rules written out again here), the statements and
// signatures, the `signed` members and the proofs the daemon's handlers send, and the client's
// verdict on each answer — verified as given, forged with any bit of a proof, of a `signed`
// member or of an answer changed.
import { createHash } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import nacl from 'tweetnacl';
import { describe, expect, it } from 'vitest';
import type { Reply, Request } from '../../client/types.js';
import { SignatureCache, verifyAnswer } from '../../client/verify-answer.js';
import { CommitmentTree } from '../../daemon/commitment-tree.js';
import { sealDocument } from '../../daemon/document-signature.js';
import { handleQuery, waitBody, type QueryContext } from '../../daemon/qcf1/ops.js';
import { drain } from '../../daemon/slices.js';
import { Snapshot } from '../../daemon/snapshot.js';
import { listProofFromWire, listedHash, pathProofFromWire, verifyPath } from '../../shared/commitment-proof.js';
import { valueHash } from '../../shared/commitment.js';
import { etagOf } from '../../shared/etag.js';
import { parsePointer } from '../../shared/json-pointer.js';
import { RawMsgpack, packBody } from '../../shared/msgpack-encode.js';
import { unpackBody } from '../../shared/msgpack-decode.js';
import { DEFAULT_VALID_FOR_MS, TrustKeys, keyId, loadSigningKey, loadTrustKeys, readSignature, sign, signDocument, statement, unsigned, type SigningKey } from '../../shared/signing.js';
import { ROOT } from '../../testkit/paths.js';
import { tempDir } from '../../testkit/fixtures.js';

// ---------------------------------------------------------------------------------------------
// The page.

const PAGE = readFileSync(join(ROOT, 'docs/protocol.md'), 'utf8');

/** The subsection's text: from its heading to the next heading. */
function subsection(): string {
  const vectors = PAGE.indexOf('\n## Test vectors\n');
  const start = PAGE.indexOf('\n### Signatures and proofs\n');
  expect(vectors).toBeGreaterThan(0);
  expect(start).toBeGreaterThan(vectors);
  const rest = PAGE.slice(start + 1);
  const end = rest.slice(1).search(/\n#{1,3} /);
  return end < 0 ? rest : rest.slice(0, end + 1);
}

const TEXT = subsection();

/** Its items: `- label: \`value\``, by label. */
const ITEMS = new Map<string, string>();
for (const m of TEXT.matchAll(/^- (.+): `([^`]*)`$/gm)) {
  expect(ITEMS.has(m[1]), `label ${m[1]} given twice`).toBe(false);
  ITEMS.set(m[1], m[2]);
}

function item(label: string): string {
  const v = ITEMS.get(label);
  expect(v, `protocol.md gives "${label}"`).toBeDefined();
  return v as string;
}

const bytes = (label: string): Buffer => {
  const v = item(label);
  expect(v, label).toMatch(/^([0-9a-f]{2})+$/);
  return Buffer.from(v, 'hex');
};

/** The proofs: "<doc> <op> `<path>` (answer `<json>`[, container `<c>`] | error `<code>`) proof". */
interface ProofVector {
  label: string;
  doc: 'small' | 'large';
  op: string;
  path: string;
  answer?: unknown;
  code?: string;
  container?: string;
  proof: Buffer;
}

const PROOFS: ProofVector[] = [...ITEMS]
  .filter(([label]) => label.endsWith(' proof'))
  .map(([label, value]) => {
    const m = /^(small|large) (get|list) `([^`]*)` \((?:answer `([^`]*)`(?:, container `(object|array)`)?|error `([a-z_]+)`)\) proof$/.exec(label);
    expect(m, `a proof's label: ${label}`).not.toBeNull();
    const [, doc, op, path, answer, container, code] = m as RegExpExecArray;
    expect(value, label).toMatch(/^([0-9a-f]{2})+$/);
    return { label, doc: doc as 'small' | 'large', op, path, answer: answer === undefined ? undefined : JSON.parse(answer), code, container, proof: Buffer.from(value, 'hex') };
  });

/** The stated serial and expiry, read from the page's prose. */
const SERIAL = Number(/signed with serial (\d+) and expires (\d+) \(([^)]+)\)/.exec(TEXT)?.[1]);
const EXPIRES = Number(/signed with serial (\d+) and expires (\d+) \(([^)]+)\)/.exec(TEXT)?.[2]);
const NOW = EXPIRES - 60_000;

/** The large document, by the page's rule. */
function largeDocument(): Record<string, unknown> {
  const nodes: Record<string, number> = {};
  for (let i = 0; i < 200; i++) nodes[`n${String(i).padStart(3, '0')}`] = i;
  return {
    serial_no: 7,
    nodes,
    groups: { even: Array.from({ length: 200 }, (_, i) => 2 * i), odd: Array.from({ length: 200 }, (_, i) => 2 * i + 1) },
  };
}

const DOCS = { small: JSON.parse(item('small document')) as Record<string, unknown>, large: largeDocument() };

function publisher(): SigningKey {
  const kp = nacl.sign.keyPair.fromSeed(bytes('seed'));
  return { bytes: kp.publicKey, id: keyId(kp.publicKey), secret: kp.secretKey };
}

const commit = (v: unknown) => valueHash(v).hash;
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

// ---------------------------------------------------------------------------------------------
// The commitment, from the page's rules alone (a second implementation, for the vectors).

const sha = (...parts: Uint8Array[]) => createHash('sha256').update(Buffer.concat(parts)).digest();
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

function counts(v: unknown): { values: number; units: number } {
  if (typeof v === 'string') return { values: 1, units: v.length };
  if (v === null || typeof v !== 'object') return { values: 1, units: 0 };
  let values = 1;
  let units = 0;
  for (const [k, c] of Object.entries(v)) {
    const x = counts(c);
    values += x.values;
    units += x.units + (Array.isArray(v) ? 0 : k.length);
  }
  return { values, units };
}

function mth(leaves: Buffer[]): Buffer {
  if (leaves.length === 1) return leaves[0];
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return sha(Buffer.from([1]), mth(leaves.slice(0, k)), mth(leaves.slice(k)));
}

function H(v: unknown): Buffer {
  const c = counts(v);
  if (v === null || typeof v !== 'object' || (c.values <= 128 && c.units <= 4096)) return sha(Buffer.from([2]), Buffer.from(JSON.stringify(v), 'utf8'));
  const leaves = Array.isArray(v)
    ? v.map((x) => sha(Buffer.from([0]), H(x)))
    : Object.keys(v)
        .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
        .map((k) => sha(Buffer.from([0]), u32(Buffer.byteLength(k)), Buffer.from(k, 'utf8'), H((v as Record<string, unknown>)[k])));
  return sha(Buffer.from([3, Array.isArray(v) ? 0x61 : 0x6f]), u32(leaves.length), mth(leaves));
}

function at(doc: unknown, pointer: string): unknown {
  const p = parsePointer(pointer);
  expect(p.ok).toBe(true);
  let v = doc;
  for (const s of p.ok ? p.segments : []) v = (v as Record<string, unknown>)[s];
  return v;
}

// ---------------------------------------------------------------------------------------------
// Replies: as the daemon makes them, and as a client decodes them.

const IDENTITY = { node: 'a', instance: '00112233aabbccdd' };

function signedDocument(doc: Record<string, unknown>): Record<string, unknown> {
  return signDocument(doc, publisher(), commit, { now: EXPIRES - DEFAULT_VALID_FOR_MS });
}

function daemonContext(doc: Record<string, unknown>): QueryContext {
  const trust = new TrustKeys([publisher()]);
  const sealed = drain(sealDocument(signedDocument(doc), doc.serial_no as number, trust, 'vectors', NOW));
  const snapshot = new Snapshot({ doc: sealed.doc, serial: sealed.serial, source: 'file', loadedAt: 0, signed: sealed.signed });
  return { ...IDENTITY, version: '0', snapshot, stale: false, lastContact: 0, now: NOW, stats: () => ({}) };
}

function daemonReply(doc: Record<string, unknown>, request: Record<string, unknown>): Record<string, unknown> {
  const ctx = daemonContext(doc);
  const out = handleQuery(ctx, request, 1000);
  if (out.kind === 'reply') return out.body as unknown as Record<string, unknown>;
  // A wait: answered at once when it holds.
  const value = at(DOCS.large, out.spec.path);
  return waitBody(ctx, out.spec, { found: value !== undefined, value, etag: '' }, false) as unknown as Record<string, unknown>;
}

const rawBytes = (v: unknown): Buffer => Buffer.from(v instanceof RawMsgpack ? v.bytes : packBody(v as object));

/** A reply body carrying the given members' bytes as they are, decoded as a client decodes it. */
function clientReply(members: Record<string, unknown>): Reply {
  const body: Record<string, unknown> = { status: 0, serial: SERIAL, ...IDENTITY };
  for (const [k, v] of Object.entries(members)) if (v !== undefined) body[k] = Buffer.isBuffer(v) ? new RawMsgpack(v) : v;
  const decoded = unpackBody(packBody(body));
  expect(decoded).toBeDefined();
  return decoded as unknown as Reply;
}

/** The client's signature cache, as a long-lived client keeps it (one signature check per signed member). */
const SIGS = new SignatureCache(TrustKeys.fromHex([item('public key')]));

function verdict(request: Request, reply: Reply) {
  return verifyAnswer(request, reply, SIGS, NOW);
}

function proofReply(v: ProofVector, proof: Buffer | Record<string, unknown>, signed = bytes(`${v.doc} signed`), answer = v.answer): Reply {
  return clientReply({
    status: v.code === undefined ? 0 : 1,
    answer,
    // A value's etag, as a daemon sends it (a client requires it: it is what a wait's test reads).
    etag: v.code === undefined && v.op === 'get' ? etagOf(answer) : undefined,
    error: v.code === undefined ? undefined : { code: v.code, message: 'no value' },
    container: v.container,
    signed,
    proof,
  });
}

const requestOf = (v: ProofVector): Request => ({ op: v.op, path: v.path });

/** `b` with one bit flipped, for each bit (but those in `skip`). */
function* flips(b: Buffer, skip?: [number, number]): Generator<[number, Buffer]> {
  for (let i = 0; i < b.length; i++) {
    if (skip && i >= skip[0] && i < skip[1]) continue;
    for (let bit = 0; bit < 8; bit++) {
      const c = Buffer.from(b);
      c[i] ^= 1 << bit;
      yield [i * 8 + bit, c];
    }
  }
}

// ---------------------------------------------------------------------------------------------

describe("protocol.md's signature and proof vectors", () => {
  it('gives every vector', () => {
    for (const l of ['seed', 'public key', 'key id', 'small document', 'small JSON text', 'small root', 'large /nodes hash', 'large /groups/even hash', 'large /groups hash', 'large root']) item(l);
    for (const d of ['small', 'large']) for (const l of ['statement', 'signature', 'signature member', 'signed']) item(`${d} ${l}`);
    expect(PROOFS.map((p) => `${p.doc} ${p.op} ${p.path} ${p.code ?? 'found'}`)).toEqual([
      'small get /cluster/master found',
      'large get /nodes/n123 found',
      'large get /groups/odd/7 found',
      'large get /nodes/n123/x not_found',
      'large get /nodes/n123x not_found',
      'large get /groups/even/200 not_found',
      'large list /groups found',
    ]);
    expect([SERIAL, EXPIRES, new Date(EXPIRES).toISOString()]).toEqual([7, 1893456000000, '2030-01-01T00:00:00.000Z']);
    expect(TEXT).toContain(`(${new Date(EXPIRES).toISOString().replace('.000Z', 'Z')})`);
    expect(TEXT).toContain('the bytes `00 01 … 1f`');
    // The large document's rule, as the page states it.
    expect(TEXT).toContain('`serial_no`: 7, `nodes`: {`n000`: 0, `n001`: 1, …, `n199`: 199}');
    expect(TEXT).toContain('`groups`: {`even`: [0, 2, …, 398], `odd`: [1, 3, …, 399]} (200 numbers');
    expect(hex(bytes('seed'))).toBe(Buffer.from(Array.from({ length: 32 }, (_, i) => i)).toString('hex'));
  });

  it('the public key and key id come from the seed, and from key files', () => {
    const k = publisher();
    expect(hex(k.bytes)).toBe(item('public key'));
    expect(k.id).toBe(item('key id'));
    expect(createHash('sha256').update(k.bytes).digest().subarray(0, 4).toString('hex')).toBe(item('key id'));
    const dir = tempDir();
    const secret = join(dir, 'publisher.key');
    writeFileSync(secret, `# the publisher\n${item('seed')}\n`);
    chmodSync(secret, 0o600);
    const trusted = join(dir, 'publishers.pub');
    writeFileSync(trusted, `${item('public key').toUpperCase()}\r\n\n`);
    chmodSync(trusted, 0o644);
    const loaded = loadSigningKey(secret);
    expect([hex(loaded.bytes), loaded.id, hex(loaded.secret)]).toEqual([item('public key'), item('key id'), hex(k.secret)]);
    expect(loadTrustKeys(trusted).keys.map((x) => [hex(x.bytes), x.id])).toEqual([[item('public key'), item('key id')]]);
  });

  it('the commitments: the code’s, and the page’s rules written out again', () => {
    const small = DOCS.small;
    expect(JSON.stringify(small)).toBe(item('small JSON text'));
    const wholeText = Buffer.concat([Buffer.from([2]), Buffer.from(item('small JSON text'), 'utf8')]);
    expect(createHash('sha256').update(wholeText).digest('hex')).toBe(item('small root'));
    expect(hex(valueHash(small).hash)).toBe(item('small root'));
    expect(hex(CommitmentTree.of(small).root)).toBe(item('small root'));
    expect(hex(H(small))).toBe(item('small root'));

    const large = DOCS.large;
    const tree = CommitmentTree.of(large);
    expect(hex(tree.root)).toBe(item('large root'));
    expect(hex(valueHash(large).hash)).toBe(item('large root'));
    expect(hex(H(large))).toBe(item('large root'));
    for (const p of ['/nodes', '/groups/even', '/groups']) {
      const v = at(large, p);
      expect(hex(tree.hashFor(v)), p).toBe(item(`large ${p} hash`));
      expect(hex(valueHash(v).hash), p).toBe(item(`large ${p} hash`));
      expect(hex(H(v)), p).toBe(item(`large ${p} hash`));
    }
    // What is hashed is the document without its signature member.
    expect(hex(valueHash(unsigned(signedDocument(large))).hash)).toBe(item('large root'));
  });

  it('the statements, signatures, signature members and `signed` members', () => {
    const k = publisher();
    const trust = new TrustKeys([k]);
    for (const d of ['small', 'large'] as const) {
      const root = bytes(`${d} root`);
      const st = bytes(`${d} statement`);
      expect(st.length).toBe(73);
      expect(hex(statement(root, SERIAL, EXPIRES))).toBe(hex(st));
      const layout = Buffer.alloc(73);
      layout.write('qconf signed document v1\0', 0, 'latin1');
      root.copy(layout, 25);
      layout.writeBigUInt64BE(BigInt(SERIAL), 57);
      layout.writeBigUInt64BE(BigInt(EXPIRES), 65);
      expect(hex(layout)).toBe(hex(st));

      const sig = bytes(`${d} signature`);
      expect(hex(sign(k, root, SERIAL, EXPIRES).sig)).toBe(hex(sig));
      expect(hex(nacl.sign.detached(st, k.secret))).toBe(hex(sig));
      expect(nacl.sign.detached.verify(st, sig, bytes('public key'))).toBe(true);

      const member = JSON.parse(item(`${d} signature member`)) as Record<string, unknown>;
      expect(member).toEqual({ v: 1, key: item('key id'), serial: SERIAL, expires: EXPIRES, sig: sig.toString('base64') });
      const signedDoc = signedDocument(DOCS[d]);
      expect(JSON.stringify(signedDoc.qconf_signature)).toBe(item(`${d} signature member`));
      expect(readSignature(signedDoc)).toEqual({ key: item('key id'), serial: SERIAL, expires: EXPIRES, sig: Uint8Array.from(sig) });

      const signedRoot = { root, key: k.id, serial: SERIAL, expires: EXPIRES, sig };
      expect(trust.check(signedRoot, EXPIRES - 1)).toBeUndefined();
      expect(trust.check(signedRoot, EXPIRES)).toMatch(/expired/);

      // The reply member: what the daemon's seal of the signed document sends, byte for byte.
      const wire = bytes(`${d} signed`);
      const sealed = drain(sealDocument(signedDoc, SERIAL, trust, 'vectors', NOW));
      expect(hex(packBody(sealed.signed?.wire as object))).toBe(hex(wire));
      expect(hex(rawBytes(daemonReply(DOCS[d], { op: 'ping' }).signed))).toBe(hex(wire));
      const decoded = unpackBody(wire) as Record<string, unknown>;
      expect(Object.keys(decoded)).toEqual(['root', 'key', 'serial', 'expires', 'sig']);
      expect([hex(decoded.root as Buffer), decoded.key, decoded.serial, decoded.expires, hex(decoded.sig as Buffer)]).toEqual([hex(root), k.id, SERIAL, EXPIRES, hex(sig)]);
    }
  });

  it('the proofs are the daemon’s, byte for byte, with its answers', () => {
    for (const v of PROOFS) {
      const r = daemonReply(DOCS[v.doc], { op: v.op, path: v.path });
      expect(hex(rawBytes(r.proof)), v.label).toBe(hex(v.proof));
      expect(hex(rawBytes(r.signed)), v.label).toBe(item(`${v.doc} signed`));
      if (v.code === undefined) {
        expect(r.status, v.label).toBe(0);
        expect(unpackBody(packBody({ a: r.answer }))?.a, v.label).toEqual(v.answer);
        expect(r.container, v.label).toBe(v.container);
        if (v.op === 'get') expect(at(DOCS[v.doc], v.path), v.label).toEqual(v.answer);
      } else {
        expect([r.status, (r.error as { code: string }).code], v.label).toEqual([1, v.code]);
      }
    }
  });

  it('a client verifies every answer with its proof', () => {
    const root = (v: ProofVector) => bytes(`${v.doc} root`);
    for (const v of PROOFS) {
      expect(verdict(requestOf(v), proofReply(v, v.proof)), v.label).toEqual({ kind: 'verified', serial: SERIAL });
      // The same, through the proof functions alone.
      const segments = (parsePointer(v.path) as { segments: string[] }).segments;
      const wire = unpackBody(v.proof);
      if (v.op === 'get') {
        const p = pathProofFromWire(wire);
        expect(p, v.label).toBeDefined();
        const claim = v.code === undefined ? { found: true as const, value: v.answer } : { found: false as const };
        expect(verifyPath(root(v), segments, p!, claim), v.label).toBe(true);
      } else {
        const p = pathProofFromWire(wire?.p);
        const l = listProofFromWire(wire?.l);
        const h = listedHash(v.container === 'array', v.answer as string[], l!, 1);
        expect(h && hex(h), v.label).toBe(hex(H(at(DOCS[v.doc], v.path))));
        expect(verifyPath(root(v), segments, p!, { found: true, hash: h! }), v.label).toBe(true);
      }
    }
    // mget: the entries carry the proofs of their paths.
    const proofOf = (path: string) => (PROOFS.find((p) => p.doc === 'large' && p.path === path) as ProofVector).proof;
    const entries = [
      { status: 0, answer: 123, etag: etagOf(123), proof: new RawMsgpack(proofOf('/nodes/n123')) },
      { status: 1, error: { code: 'not_found', message: 'no value' }, proof: new RawMsgpack(proofOf('/nodes/n123x')) },
    ];
    const mget: Request = { op: 'mget', paths: ['/nodes/n123', '/nodes/n123x'] };
    expect(verdict(mget, clientReply({ answer: entries, signed: bytes('large signed') }))).toEqual({ kind: 'verified', serial: SERIAL });
    const swapped = [entries[0], { ...entries[1], proof: new RawMsgpack(proofOf('/nodes/n123/x')) }];
    expect(verdict(mget, clientReply({ answer: swapped, signed: bytes('large signed') })).kind).toBe('forged');
    // wait: as get, from the daemon's wait reply too.
    const n123 = PROOFS.find((p) => p.doc === 'large' && p.path === '/nodes/n123') as ProofVector;
    const wait = daemonReply(DOCS.large, { op: 'wait', path: '/nodes/n123', minSerial: SERIAL, timeoutMs: 0 });
    expect(hex(rawBytes(wait.proof))).toBe(hex(n123.proof));
    const waitReply = proofReply(n123, n123.proof);
    waitReply.timedOut = false;
    expect(verdict({ op: 'wait', path: '/nodes/n123', minSerial: SERIAL }, waitReply)).toEqual({ kind: 'verified', serial: SERIAL });
    // ping: the signed serial.
    for (const d of ['small', 'large']) {
      expect(verdict({ op: 'ping' }, clientReply({ answer: { serial: SERIAL }, signed: bytes(`${d} signed`) }))).toEqual({ kind: 'verified', serial: SERIAL });
      expect(verdict({ op: 'ping' }, clientReply({ answer: { serial: SERIAL - 1 }, signed: bytes(`${d} signed`) })).kind).toBe('forged');
    }
    // A signature past its expiry proves nothing.
    const v = PROOFS[1];
    expect(verifyAnswer(requestOf(v), proofReply(v, v.proof), new SignatureCache(TrustKeys.fromHex([item('public key')])), EXPIRES).kind).toBe('forged');
  });

  it('any bit changed in a proof or an answer makes the answer forged', () => {
    for (const v of PROOFS) {
      // The list proof's path proof ends with `t`, which the client does not use.
      let skip: [number, number] | undefined;
      if (v.op === 'list') {
        const t = (unpackBody(v.proof)?.p as { t?: unknown[] } | undefined)?.t;
        expect(t, v.label).toBeDefined();
        const member = packBody({ t }).subarray(3);
        const from = v.proof.indexOf(member);
        expect(from, v.label).toBeGreaterThan(0);
        skip = [from, from + member.length];
      }
      const reply = proofReply(v, v.proof);
      let decodable = 0;
      for (const [bit, proof] of flips(v.proof, skip)) {
        // Bytes that are no longer one MessagePack map are refused before any check.
        const w = unpackBody(proof);
        if (w === undefined) continue;
        decodable++;
        expect(verdict(requestOf(v), { ...reply, proof: w }).kind, `${v.label}, proof bit ${bit}`).toBe('forged');
      }
      expect(decodable, v.label).toBeGreaterThan(v.proof.length);
      if (v.code === undefined) {
        const wrong = v.op === 'list' ? ['even', 'evens'] : typeof v.answer === 'number' ? v.answer + 1 : 'node2.example.com';
        expect(verdict(requestOf(v), proofReply(v, v.proof, undefined, wrong)).kind, v.label).toBe('forged');
      } else {
        const found = clientReply({ answer: 0, signed: bytes(`${v.doc} signed`), proof: v.proof });
        expect(verdict(requestOf(v), found).kind, v.label).toBe('forged');
      }
    }
  });

  it('any bit changed in the root, key or signature of a `signed` member, or another serial or expiry, makes the answer forged', () => {
    const v = PROOFS.find((p) => p.path === '/nodes/n123') as ProofVector;
    const wire = bytes('large signed');
    const decoded = unpackBody(wire) as Record<string, Buffer | string | number>;
    const fields: Array<[string, Buffer]> = [
      ['root', bytes('large root')],
      ['key', Buffer.from(item('key id'), 'latin1')],
      ['sig', bytes('large signature')],
    ];
    for (const [name, field] of fields) {
      const from = wire.indexOf(field);
      expect(from, name).toBeGreaterThan(0);
      // One bit of each byte (Ed25519 checks cost a few ms each).
      for (let i = 0; i < field.length; i++) {
        const signed = Buffer.from(wire);
        signed[from + i] ^= 1 << i % 8;
        const r = verdict(requestOf(v), proofReply(v, v.proof, signed));
        expect(r.kind, `${name} byte ${i}`).toBe('forged');
      }
    }
    for (const change of [{ serial: SERIAL + 1 }, { serial: SERIAL - 1 }, { expires: EXPIRES + 1 }, { expires: EXPIRES - 1 }]) {
      const signed = { ...decoded, ...change };
      const reply = proofReply(v, v.proof, packBody(signed));
      reply.serial = signed.serial as number;
      expect(verdict(requestOf(v), reply), JSON.stringify(change)).toEqual({ kind: 'forged', why: 'its signature does not verify' });
    }
  });
});
