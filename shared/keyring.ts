// Key files: one key per line, the first signs, all verify (protocol.md, "Keys"). Ganeti's raw
// key files (trailing newline included) are read by `readRawKeyFile`.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { QconfError } from './errors.js';

export const MIN_KEY_BYTES = 16;

/** One shared key of a keyring. */
export interface Key {
  /** The secret: the key line's UTF-8 bytes. */
  readonly bytes: Buffer;
  /** First 4 bytes of SHA-256 of the key, as an unsigned integer. */
  readonly id: number;
  /** `id` as 8 hex digits, as requests carry it and `qconf key-id` prints it. */
  readonly idHex: string;
}

/** A key from its bytes (a key line's UTF-8 bytes), with its id. */
export function makeKey(bytes: Buffer): Key {
  const id = createHash('sha256').update(bytes).digest().readUInt32BE(0);
  return { bytes, id, idHex: id.toString(16).padStart(8, '0') };
}

/** The shared keys of a key file: the first signs requests, any of them verifies replies. */
export class Keyring {
  private readonly ids: Map<number, Key>;
  /** The keys, in the file's order. */
  readonly keys: readonly Key[];

  constructor(keys: readonly Key[]) {
    if (keys.length === 0) throw new QconfError('key_file', 'a keyring needs at least one key');
    this.keys = keys;
    this.ids = new Map();
    // Two keys could share a keyId; the earlier line wins, which keeps the signer reachable.
    for (const k of keys) if (!this.ids.has(k.id)) this.ids.set(k.id, k);
  }

  /** The key requests are signed with (the first). */
  get signer(): Key {
    return this.keys[0];
  }

  /** The key with this id (the earliest of two that share one), or undefined. */
  byId(id: number): Key | undefined {
    return this.ids.get(id);
  }

  /** A keyring of these keys, each spelt as a key file's line (the first signs). */
  static fromStrings(lines: readonly string[]): Keyring {
    return new Keyring(lines.map((l) => makeKey(Buffer.from(l, 'utf8'))));
  }
}

/** Parse key-file text: UTF-8 lines; blank lines and `#` comments ignored. */
export function parseKeyText(text: string, source = 'key file'): Key[] {
  const keys: Key[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim() === '' || line.startsWith('#')) continue;
    const bytes = Buffer.from(line, 'utf8');
    if (bytes.length < MIN_KEY_BYTES) {
      throw new QconfError('key_file', `${source}: key on line ${i + 1} is ${bytes.length} bytes; at least ${MIN_KEY_BYTES} are required`);
    }
    keys.push(makeKey(bytes));
  }
  return keys;
}

export interface KeyFileCheck {
  /** Problems that are not fatal (world-readable file). */
  warnings: string[];
}

/**
 * Refuse a key file that is missing, not a regular file, or writable by group or others:
 * whoever can change it can sign answers for the whole cluster.
 */
export function checkKeyFile(path: string, o: { secret?: boolean } = {}): KeyFileCheck {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new QconfError('key_file', `key file ${path}: ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code})`}`);
  }
  if (!st.isFile()) throw new QconfError('key_file', `key file ${path}: not a regular file`);
  if (st.mode & 0o022) {
    const who = [st.mode & 0o020 ? 'group' : '', st.mode & 0o002 ? 'others' : ''].filter((w) => w !== '').join(' and ');
    throw new QconfError('key_file', `key file ${path}: writable by ${who} (mode ${(st.mode & 0o777).toString(8)}); run chmod 600 ${path}`);
  }
  const warnings: string[] = [];
  // A public key (a trust file) may be read by anyone; a secret one should not.
  if (o.secret !== false && st.mode & 0o004) warnings.push(`key file ${path} is world-readable (mode ${(st.mode & 0o777).toString(8)}); anyone on this host can forge answers; run chmod 600 ${path}`);
  return { warnings };
}

/**
 * Read a key file (`qconf keygen`): one key per line, `#` comments. Throws a QconfError `key_file`
 * when it cannot be used; a world-readable file is a warning, for the caller to report.
 */
export function loadKeyring(path: string): {
  /** Its keys. */
  keyring: Keyring;
  /** What to tell the operator (a key file others can read). */
  warnings: string[];
} {
  const { warnings } = checkKeyFile(path);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new QconfError('key_file', `key file ${path}: cannot be read (${(e as NodeJS.ErrnoException).code})`);
  }
  // A publisher's signing key (shared/signing.ts) is 64 hex digits too, under this first line.
  if (text.startsWith('# qconf signing key')) throw new QconfError('key_file', `key file ${path}: is a signing key (qconf keygen --signing), not a shared key: give it to --sign-key`);
  const keys = parseKeyText(text, `key file ${path}`);
  if (keys.length === 0) throw new QconfError('key_file', `key file ${path}: holds no key`);
  return { keyring: new Keyring(keys), warnings };
}

/** Ganeti's hmac.key: the raw bytes, nothing trimmed (its trailing newline is part of the key). */
export function readRawKeyFile(path: string): { key: Buffer; warnings: string[] } {
  const { warnings } = checkKeyFile(path);
  const key = readFileSync(path);
  if (key.length === 0) throw new QconfError('key_file', `key file ${path}: is empty`);
  return { key, warnings };
}

/** A fresh key as written by `qconf keygen`: 64 lowercase hex digits (256 random bits). */
export function generateKeyText(): string {
  return randomBytes(32).toString('hex');
}
