// Prints the "Signatures and proofs" test vectors of docs/protocol.md ("Test vectors"), computed
// by the code: the publisher's key from a fixed seed, two documents and their commitments, the
// statements and signatures, and the `signed` and `proof` members the daemon's handlers put in
// their replies. Run with `npx vite-node scripts/verified-vectors.ts` and paste its output over
// the list in protocol.md when the rules change; test/unit/verified-vectors.test.ts checks the
// page against the code.
import nacl from 'tweetnacl';
import { CommitmentTree } from '../daemon/commitment-tree.js';
import { sealDocument } from '../daemon/document-signature.js';
import { drain } from '../daemon/slices.js';
import { handleQuery, type QueryContext } from '../daemon/qcf1/ops.js';
import { Snapshot } from '../daemon/snapshot.js';
import { valueHash } from '../shared/commitment.js';
import { RawMsgpack, packBody } from '../shared/msgpack-encode.js';
import { DEFAULT_VALID_FOR_MS, TrustKeys, keyId, sign, signDocument, statement, type SigningKey } from '../shared/signing.js';

/** The publisher's seed: bytes 00 01 … 1f. */
const SEED = Uint8Array.from({ length: 32 }, (_, i) => i);
const SERIAL = 7;
/** 2030-01-01T00:00:00Z. */
const EXPIRES = 1_893_456_000_000;

/** The small document, as published (its text, parsed as a daemon parses it). */
const SMALL_TEXT = '{"serial_no":7,"cluster":{"name":"example","master":"node1.example.com"},"ports":{"http":80,"10":"ten","2":"two"},"limits":[1,0.1,1e21,-0,"h\\u00e9\\n",true,null]}';

/** The large document: 200 numbered nodes, and two arrays of 200 numbers. */
function largeDocument(): Record<string, unknown> {
  const nodes: Record<string, number> = {};
  for (let i = 0; i < 200; i++) nodes[`n${String(i).padStart(3, '0')}`] = i;
  return {
    serial_no: SERIAL,
    nodes,
    groups: { even: Array.from({ length: 200 }, (_, i) => 2 * i), odd: Array.from({ length: 200 }, (_, i) => 2 * i + 1) },
  };
}

function publisherKey(): SigningKey {
  const kp = nacl.sign.keyPair.fromSeed(SEED);
  return { bytes: kp.publicKey, id: keyId(kp.publicKey), secret: kp.secretKey };
}

/** The requests whose replies' proofs are given, by document. */
const REQUESTS: Array<{ doc: 'small' | 'large'; request: Record<string, unknown> }> = [
  { doc: 'small', request: { op: 'get', path: '/cluster/master' } },
  { doc: 'large', request: { op: 'get', path: '/nodes/n123' } },
  { doc: 'large', request: { op: 'get', path: '/groups/odd/7' } },
  { doc: 'large', request: { op: 'get', path: '/nodes/n123/x' } },
  { doc: 'large', request: { op: 'get', path: '/nodes/n123x' } },
  { doc: 'large', request: { op: 'get', path: '/groups/even/200' } },
  { doc: 'large', request: { op: 'list', path: '/groups' } },
];

/** A daemon's reply body to `request`, from `doc` signed as the vectors say. */
function replyTo(doc: Record<string, unknown>, request: Record<string, unknown>): Record<string, unknown> {
  const key = publisherKey();
  const signedDoc = signDocument(doc, key, (v) => valueHash(v).hash, { now: EXPIRES - DEFAULT_VALID_FOR_MS });
  const trust = new TrustKeys([key]);
  const sealed = drain(sealDocument(signedDoc, doc.serial_no as number, trust, 'vectors', EXPIRES - 1));
  const snapshot = new Snapshot({ doc: sealed.doc, serial: sealed.serial, source: 'file', loadedAt: 0, signed: sealed.signed });
  const ctx: QueryContext = { node: 'a', instance: '00112233aabbccdd', version: '0', snapshot, stale: false, lastContact: 0, now: 0, stats: () => ({}) };
  const out = handleQuery(ctx, request, 1000);
  if (out.kind !== 'reply') throw new Error('not a reply');
  return out.body as unknown as Record<string, unknown>;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const rawHex = (v: unknown): string => hex(v instanceof RawMsgpack ? v.bytes : packBody(v as object));

function vectorLines(): string[] {
  const key = publisherKey();
  const small = JSON.parse(SMALL_TEXT) as Record<string, unknown>;
  const large = largeDocument();
  const docs = { small, large };
  const lines: string[] = [];
  const item = (label: string, value: string) => lines.push(`- ${label}: \`${value}\``);
  item('seed', hex(SEED));
  item('public key', hex(key.bytes));
  item('key id', key.id);
  item('small document', SMALL_TEXT);
  item('small JSON text', JSON.stringify(small));
  item('small root', hex(valueHash(small).hash));
  const tree = CommitmentTree.of(large);
  const g = large.groups as Record<string, unknown>;
  item('large /nodes hash', hex(tree.hashFor(large.nodes)));
  item('large /groups/even hash', hex(tree.hashFor(g.even)));
  item('large /groups hash', hex(tree.hashFor(g)));
  item('large root', hex(tree.root));
  for (const [name, doc] of Object.entries(docs)) {
    const root = valueHash(doc).hash;
    const s = sign(key, root, SERIAL, EXPIRES);
    const member = signDocument(doc, key, (v) => valueHash(v).hash, { now: EXPIRES - DEFAULT_VALID_FOR_MS }).qconf_signature;
    item(`${name} statement`, hex(statement(root, SERIAL, EXPIRES)));
    item(`${name} signature`, hex(s.sig));
    item(`${name} signature member`, JSON.stringify(member));
    item(`${name} signed`, rawHex(replyTo(doc, { op: 'ping' }).signed));
  }
  for (const { doc, request } of REQUESTS) {
    const r = replyTo(docs[doc], request);
    const what = r.status === 0 ? `answer \`${JSON.stringify(answerOf(docs[doc], request))}\`` : `error \`${(r.error as { code: string }).code}\``;
    const container = r.container === undefined ? '' : `, container \`${r.container}\``;
    lines.push(`- ${doc} ${request.op} \`${request.path}\` (${what}${container}) proof: \`${rawHex(r.proof)}\``);
  }
  return lines;
}

/** The answer a daemon gives to `request` (get: the value; list at depth 1: the child names). */
function answerOf(doc: unknown, request: Record<string, unknown>): unknown {
  let v: unknown = doc;
  for (const s of String(request.path).split('/').slice(1)) v = (v as Record<string, unknown>)[s];
  if (request.op === 'list') return Array.isArray(v) ? v.map((_, i) => String(i)) : Object.keys(v as object).sort();
  return v;
}

for (const l of vectorLines()) console.log(l);
