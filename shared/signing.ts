// Publisher signatures (docs/protocol.md, "Verified answers"): Ed25519 (tweetnacl) over a short
// statement — the document's commitment, its serial and an expiry — carried inside the document
// as its top-level member `qconf_signature`. Signing keys and trust files are text files of one
// key a line (hex), as the HMAC keyrings are: several public keys in a trust file is how signing
// keys rotate.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type * as Nacl from 'tweetnacl';
import { QconfError } from './errors.js';
import { checkKeyFile } from './keyring.js';

/**
 * tweetnacl, loaded on first use: a client that checks no signature (a plain `qconf get`) does
 * not pay for compiling it.
 */
let naclModule: typeof Nacl | undefined;
function nacl(): typeof Nacl {
  return (naclModule ??= createRequire(import.meta.url)('tweetnacl') as typeof Nacl);
}

/** Ed25519 sizes (tweetnacl's constants, known without loading it). */
const SEED_BYTES = 32;
const PUBLIC_KEY_BYTES = 32;
const SIGNATURE_BYTES = 64;

/** The document member carrying the signature; it is not part of what is committed to. */
export const SIGNATURE_MEMBER = 'qconf_signature';
const STATEMENT_TAG = Buffer.from('qconf signed document v1\0', 'ascii');

/** A publisher's Ed25519 public key (a line of a trust file). */
export interface PublicKey {
  /** The 32 bytes of the key. */
  readonly bytes: Uint8Array;
  /** First 4 bytes of SHA-256 of the public key, hex (as HMAC keys' ids). */
  readonly id: string;
}

export interface SigningKey extends PublicKey {
  /** tweetnacl's 64-byte secret key (seed and public key). */
  readonly secret: Uint8Array;
}

/** What a publisher signs, and how it travels. */
export interface Signature {
  /** The key that signed (its id). */
  key: string;
  serial: number;
  /** Unix ms after which the signature is no longer accepted. */
  expires: number;
  /** 64 bytes. */
  sig: Uint8Array;
}

/** A signature together with the commitment it covers: what every verified answer carries. */
export interface SignedRoot extends Signature {
  root: Uint8Array;
}

export function keyId(pub: Uint8Array): string {
  return createHash('sha256').update(pub).digest().subarray(0, 4).toString('hex');
}

function publicKey(bytes: Uint8Array): PublicKey {
  return { bytes, id: keyId(bytes) };
}

/** The bytes signed: a tag, the commitment (32 bytes), the serial and the expiry (u64 each). */
export function statement(root: Uint8Array, serial: number, expires: number): Buffer {
  for (const [name, v] of [['serial', serial], ['expires', expires]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new QconfError('document', `a signed ${name} must be a non-negative integer, not ${v}`);
  }
  const b = Buffer.alloc(STATEMENT_TAG.length + root.length + 16);
  STATEMENT_TAG.copy(b, 0);
  b.set(root, STATEMENT_TAG.length);
  b.writeBigUInt64BE(BigInt(serial), STATEMENT_TAG.length + root.length);
  b.writeBigUInt64BE(BigInt(expires), STATEMENT_TAG.length + root.length + 8);
  return b;
}

export function generateSigningKey(): SigningKey {
  const kp = nacl().sign.keyPair();
  return { ...publicKey(kp.publicKey), secret: kp.secretKey };
}

export function sign(key: SigningKey, root: Uint8Array, serial: number, expires: number): Signature {
  return { key: key.id, serial, expires, sig: nacl().sign.detached(statement(root, serial, expires), key.secret) };
}

/** The public keys a client or daemon trusts, by id. */
export class TrustKeys {
  private readonly byId = new Map<string, PublicKey>();
  constructor(
    /** The keys, in the order given. */
    readonly keys: readonly PublicKey[],
  ) {
    if (keys.length === 0) throw new QconfError('key_file', 'a trust file needs at least one public key');
    for (const k of keys) this.byId.set(k.id, k);
  }

  /**
   * Why `s` over `root` is not to be trusted at `now`, or undefined when it is.
   * @internal
   */
  check(s: SignedRoot, now = Date.now()): string | undefined {
    const k = this.byId.get(s.key);
    if (k === undefined) return `signed by key ${s.key}, which is not trusted`;
    if (!(s.expires > now)) return `its signature expired at ${whenMs(s.expires)}`;
    if (s.sig.length !== SIGNATURE_BYTES) return 'its signature is malformed';
    if (!nacl().sign.detached.verify(statement(s.root, s.serial, s.expires), s.sig, k.bytes)) return 'its signature does not verify';
    return undefined;
  }

  /** Trust these public keys, 64 hex digits each (a trust file's lines); throws `key_file` on any other. */
  static fromHex(lines: readonly string[]): TrustKeys {
    return new TrustKeys(lines.map((l) => publicKey(hexKey(l, PUBLIC_KEY_BYTES, 'public key'))));
  }
}

function hexKey(text: string, bytes: number, what: string): Uint8Array {
  const t = text.trim();
  if (!new RegExp(`^[0-9a-fA-F]{${bytes * 2}}$`).test(t)) throw new QconfError('key_file', `not a ${what}: expected ${bytes * 2} hex digits`);
  return Uint8Array.from(Buffer.from(t, 'hex'));
}

/** A key file's first line (its header, for the files qconf writes); '' when unreadable. */
function firstLine(path: string): string {
  try {
    return readFileSync(path, 'utf8').split(/\r?\n/, 1)[0].trim();
  } catch {
    return '';
  }
}

function keyLines(path: string, what: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new QconfError('key_file', `${what} ${path}: ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code})`}`);
  }
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '' && !l.startsWith('#'));
  if (lines.length === 0) throw new QconfError('key_file', `${what} ${path}: holds no key`);
  return lines;
}

/** A time in Unix ms for people: ISO 8601 where a Date holds it, else the number. */
export function whenMs(ms: number): string {
  const d = new Date(ms);
  return Number.isFinite(d.getTime()) ? d.toISOString() : `${ms} ms after 1970`;
}

/** A trust file: public keys (64 hex digits) a line. Anyone may read it; nobody but its owner may change it. */
export function loadTrustKeys(path: string): TrustKeys {
  checkKeyFile(path, { secret: false });
  const lines = keyLines(path, 'trust file');
  if (firstLine(path) === SIGNING_KEY_HEADER) throw new QconfError('key_file', `trust file ${path}: is a signing key (its secret); give its public key, ${path}.pub`);
  try {
    return TrustKeys.fromHex(lines);
  } catch (e) {
    throw new QconfError('key_file', `trust file ${path}: ${(e as Error).message}`);
  }
}

/** A signing key file: the first line is the key's 32-byte seed (64 hex digits). */
export function loadSigningKey(path: string): SigningKey {
  // A public key file (what trust files hold) is no signing key: signing with its line as a seed
  // would make the seed public to everyone who may read the trust file.
  if (firstLine(path).startsWith(PUBLIC_KEY_HEADER)) throw new QconfError('key_file', `signing key ${path}: is a public key file (qconf keygen --signing wrote it as FILE.pub); give the signing key, FILE`);
  // Whoever reads it can sign documents every trusting client accepts: refused, not warned of.
  const { warnings } = checkKeyFile(path);
  if (warnings.length > 0) throw new QconfError('key_file', `signing key ${path}: readable by others; run chmod 600 ${path}`);
  const lines = keyLines(path, 'signing key');
  let seed: Uint8Array;
  try {
    seed = hexKey(lines[0], SEED_BYTES, 'signing key');
  } catch (e) {
    throw new QconfError('key_file', `signing key ${path}: ${(e as Error).message}`);
  }
  const kp = nacl().sign.keyPair.fromSeed(seed);
  return { ...publicKey(kp.publicKey), secret: kp.secretKey };
}

/**
 * The first line of a signing key file: its seed is 64 hex digits like a shared key, and this
 * line keeps it from being taken for one (a keyring refuses a file that starts with it).
 */
export const SIGNING_KEY_HEADER = '# qconf signing key (Ed25519 seed): keep it secret';

/** The first line of a public key file, before the key's id. */
const PUBLIC_KEY_HEADER = '# qconf public key';

/** The text of a signing key file (its seed) and of its public key file (a trust file's line). */
export function signingKeyText(k: SigningKey): { secret: string; public: string } {
  return {
    secret: `${SIGNING_KEY_HEADER}\n${Buffer.from(k.secret.subarray(0, SEED_BYTES)).toString('hex')}\n`,
    public: `${PUBLIC_KEY_HEADER} ${k.id}\n${Buffer.from(k.bytes).toString('hex')}\n`,
  };
}

/** A document's signature member, read (undefined: unsigned; a string: why it is malformed). */
export function readSignature(doc: Record<string, unknown>): Signature | string | undefined {
  const s = doc[SIGNATURE_MEMBER];
  if (s === undefined) return undefined;
  if (s === null || typeof s !== 'object' || Array.isArray(s)) return `${SIGNATURE_MEMBER} is not an object`;
  const o = s as Record<string, unknown>;
  if (o.v !== 1) return `${SIGNATURE_MEMBER}.v is not 1`;
  if (typeof o.key !== 'string' || !/^[0-9a-f]{8}$/.test(o.key)) return `${SIGNATURE_MEMBER}.key is not a key id`;
  if (typeof o.serial !== 'number' || !Number.isSafeInteger(o.serial) || o.serial < 0) return `${SIGNATURE_MEMBER}.serial is not a serial`;
  if (typeof o.expires !== 'number' || !Number.isSafeInteger(o.expires)) return `${SIGNATURE_MEMBER}.expires is not a time`;
  // Padded standard base64 (RFC 4648 §4) of 64 bytes, nothing else: Buffer's decoder would skip junk.
  if (typeof o.sig !== 'string' || !/^[A-Za-z0-9+/]{86}==$/.test(o.sig)) return `${SIGNATURE_MEMBER}.sig is not the base64 of a signature`;
  const sig = Buffer.from(o.sig, 'base64');
  if (sig.length !== SIGNATURE_BYTES) return `${SIGNATURE_MEMBER}.sig is not a signature`;
  return { key: o.key, serial: o.serial, expires: o.expires, sig: Uint8Array.from(sig) };
}

/** The signature member as a document carries it. */
export function signatureMember(s: Signature): Record<string, unknown> {
  return { v: 1, key: s.key, serial: s.serial, expires: s.expires, sig: Buffer.from(s.sig).toString('base64') };
}

/** The document without its signature member (what is committed to, and what is served). */
export function unsigned(doc: Record<string, unknown>): Record<string, unknown> {
  if (!(SIGNATURE_MEMBER in doc)) return doc;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(doc)) if (k !== SIGNATURE_MEMBER) Object.defineProperty(out, k, { value: doc[k], enumerable: true, writable: true, configurable: true });
  return out;
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Thirty days: how long a signature is valid when the publisher does not say (TUF-style expiry). */
export const DEFAULT_VALID_FOR_MS = 30 * 24 * 60 * 60 * 1000;

/**
 * A document signed by `key`: the same members (an old signature member dropped), and a new
 * `qconf_signature` over its commitment, its `serial_no` (or `serial`) and an expiry.
 * `commit` computes the commitment (shared/commitment.ts's valueHash).
 */
export function signDocument(doc: Record<string, unknown>, key: SigningKey, commit: (v: unknown) => Uint8Array, o: { serial?: number; validForMs?: number; now?: number } = {}): Record<string, unknown> {
  const body = unsigned(doc);
  const serial = o.serial ?? body.serial_no;
  if (typeof serial !== 'number' || !Number.isSafeInteger(serial) || serial < 0) throw new QconfError('document', 'the document has no serial_no to sign (a non-negative integer)');
  const expires = (o.now ?? Date.now()) + (o.validForMs ?? DEFAULT_VALID_FOR_MS);
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(body)) Object.defineProperty(out, k, { value: body[k], enumerable: true, writable: true, configurable: true });
  out[SIGNATURE_MEMBER] = signatureMember(sign(key, commit(body), serial, expires));
  return out;
}
