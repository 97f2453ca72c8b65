// Strings a client cannot receive as they are: a lone surrogate reaches it as U+FFFD (MessagePack
// strings are UTF-8). What both sides hash from strings — commitments and etags — is hashed as the
// client sees it; a signed document whose large object has such a key (whose place in the tree
// the client could not check) is refused, not committed to.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CommitmentTree } from '../../daemon/commitment-tree.js';
import { SignatureError, sealDocument } from '../../daemon/document-signature.js';
import { drain } from '../../daemon/slices.js';
import { valueHash, wholeHash } from '../../shared/commitment.js';
import { etagOf } from '../../shared/etag.js';
import { jsonTextWithoutLoneSurrogates, withoutLoneSurrogates } from '../../shared/lone-surrogates.js';
import { packBody } from '../../shared/msgpack-encode.js';
import { unpackBody } from '../../shared/msgpack-decode.js';
import { TrustKeys, generateSigningKey, signDocument } from '../../shared/signing.js';

/** Strings dense in what matters here: backslashes, "u", "d", hex digits and both halves of pairs. */
const tricky = fc.array(fc.constantFrom('\\', 'u', 'd', '8', 'a', 'f', '"', 'x', '\ud800', '\udbff', '\udc00', '\udfff', '\ud83d\ude00', '\ufffd'), { maxLength: 24 }).map((a) => a.join(''));

/** Whether two keys of one object (at any depth) differ only by lone surrogates: one key to a client. */
function collides(v: unknown): boolean {
  if (v === null || typeof v !== 'object') return false;
  const keys = Object.keys(v);
  if (!Array.isArray(v) && new Set(keys.map(withoutLoneSurrogates)).size !== keys.length) return true;
  return Object.values(v).some(collides);
}

/** A value as a client receives it: through MessagePack. */
const received = (v: unknown): unknown => (unpackBody(packBody({ v })) as { v: unknown }).v;

describe('lone surrogates', () => {
  it('JSON text: each lone surrogate escape becomes U+FFFD, nothing else changes', () => {
    fc.assert(
      fc.property(tricky, (s) => {
        expect(jsonTextWithoutLoneSurrogates(JSON.stringify(s))).toBe(JSON.stringify(withoutLoneSurrogates(s)));
      }),
      { numRuns: 2000 },
    );
    // A long run of backslashes before "ud800" is read in one pass (it once took seconds).
    const s = `${'\\'.repeat(60_000)}ud800\ud800`;
    expect(jsonTextWithoutLoneSurrogates(JSON.stringify(s))).toBe(JSON.stringify(withoutLoneSurrogates(s)));
  });

  it('etags and whole hashes are the same for a value and for what a client receives of it', () => {
    const value = fc.dictionary(tricky, fc.oneof(tricky, fc.array(tricky, { maxLength: 3 }), fc.dictionary(tricky, tricky, { maxKeys: 3 })), { maxKeys: 6 });
    fc.assert(
      // Two keys that only a lone surrogate told apart are one key to the client: no hash can agree.
      fc.property(value.filter((v) => !collides(v)), (v) => {
        const seen = received(v);
        expect(etagOf(seen)).toBe(etagOf(v));
        expect(wholeHash(seen).equals(wholeHash(v))).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it("a large object's key with a lone surrogate: no commitment; a signed document with one is refused, or served unsigned", () => {
    const big: Record<string, number> = {};
    for (let i = 0; i < 200; i++) big[`k${i}`] = i;
    const doc = { serial_no: 5, big: { ...big, 'odd\ud800': 1 } };
    expect(() => valueHash(doc)).toThrow(/lone surrogate/);
    expect(() => CommitmentTree.of(doc)).toThrow(/lone surrogate/);
    // In a small object the key is hashed in the value's text, as the client sees it: fine.
    expect(() => valueHash({ serial_no: 5, small: { 'odd\ud800': 1 } })).not.toThrow();
    // Signed by a publisher whose tools did not check (the commitment of the rest, say).
    const key = generateSigningKey();
    const signed = signDocument(doc, key, () => new Uint8Array(32));
    expect(() => drain(sealDocument(signed, 5, new TrustKeys([key]), 'test'))).toThrow(SignatureError);
    const served = drain(sealDocument(signed, 5, undefined, 'test'));
    expect(served.signed).toBeUndefined();
    expect(served.serial).toBe(5);
  });
});
