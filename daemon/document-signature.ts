// A loaded document's signature (docs/protocol.md, "Verified answers"): the document as served
// (without its `qconf_signature` member), its commitment built once, and the signature checked
// against the trusted keys when the daemon has any (`--trust-key`): an unsigned, tampered,
// foreign-signed or expired document, or one whose serial is not the signed one, is refused like
// any bad document. A signed document is served with proofs whether or not the daemon checks it:
// clients check every answer themselves.
import { QconfError, isQconfError } from '../shared/errors.js';
import { readSignature, unsigned, type SignedRoot, type TrustKeys } from '../shared/signing.js';
import { CommitmentTree } from './commitment-tree.js';

/** A document refused for its signature (refusal reason `signature`). */
export class SignatureError extends QconfError {
  readonly reason = 'signature';
  constructor(message: string) {
    super('document', message);
    this.name = 'SignatureError';
  }
}

/** What answers from a signed document carry: the signature with its commitment, and the tree to prove from. */
export interface SignedContent {
  signed: SignedRoot;
  tree: CommitmentTree;
  /** The `signed` member of every reply from this document. */
  wire: Record<string, unknown>;
}

export interface Sealed {
  /** The document to serve (the signature member left out). */
  doc: unknown;
  /** The serial: the document's, or for a signed document the signed one. */
  serial: number;
  signed?: SignedContent;
}

/**
 * Seal a parsed document: `serial` is the source's (a file's serial_no; an etcd revision, which
 * a signature replaces with its own serial). Throws SignatureError where `trust` refuses it. In
 * steps: a large signed document's commitment is built in slices while the last one serves.
 */
export function* sealDocument(doc: unknown, serial: number | undefined, trust: TrustKeys | undefined, origin: string, now = Date.now()): Generator<void, Sealed> {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    if (trust) throw new SignatureError(`${origin}: not a signed document`);
    return { doc, serial: serial ?? 0 };
  }
  const sig = readSignature(doc as Record<string, unknown>);
  const served = unsigned(doc as Record<string, unknown>);
  if (sig === undefined || typeof sig === 'string') {
    if (trust) throw new SignatureError(`${origin}: ${sig ?? 'the document is not signed'}`);
    return { doc: served, serial: serial ?? 0 };
  }
  if (serial !== undefined && sig.serial !== serial) {
    if (trust) throw new SignatureError(`${origin}: serial_no ${serial} is not the signed serial ${sig.serial}`);
    return { doc: served, serial };
  }
  let tree: CommitmentTree;
  try {
    tree = yield* CommitmentTree.build(served);
  } catch (e) {
    // A document no commitment can be made of (a large object's key that is not well-formed).
    if (!isQconfError(e, 'document')) throw e;
    if (trust) throw new SignatureError(`${origin}: ${e.message}`);
    return { doc: served, serial: sig.serial };
  }
  const signed: SignedRoot = { ...sig, root: tree.root };
  const why = trust?.check(signed, now);
  if (why !== undefined) throw new SignatureError(`${origin}: ${why}`);
  const wire = { root: Buffer.from(tree.root), key: sig.key, serial: sig.serial, expires: sig.expires, sig: Buffer.from(sig.sig) };
  return { doc: served, serial: sig.serial, signed: { signed, tree, wire } };
}
