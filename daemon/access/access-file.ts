// The access file (--access-file): JSON naming, per key id, the paths a key may read, the ops it
// may use, whether its traffic must be sealed and its request rate; keys not named get
// `default`. Read and validated as a whole: the first problem refuses the file, and the message
// names the member at fault.
import { readFileSync, statSync } from 'node:fs';
import { QconfError } from '../../shared/errors.js';
import { parsePointer } from '../../shared/json-pointer.js';
import { SCOPE_OPS } from './scope.js';

/** One entry: a key's (or the default's) access. */
export interface AccessEntry {
  /** Prefixes as segments; [] is the whole document. */
  paths: string[][];
  /** The ops allowed; undefined: every op but `stats`, or every op for a full-paths entry. */
  ops: string[] | undefined;
  seal: boolean;
  /** Requests per second (token bucket, burst = rate); undefined: unlimited. */
  rate: number | undefined;
}

export interface AccessFile {
  default: AccessEntry;
  /** By key id (8 lowercase hex digits). */
  keys: Map<string, AccessEntry>;
}

/** An access file larger than this is refused (it names keys, not data). */
export const MAX_ACCESS_FILE_BYTES = 1024 * 1024;
/** Keys named at most: each is a label of the per-key metrics. */
export const MAX_ACCESS_KEYS = 1024;
/** Paths per entry at most. */
export const MAX_ENTRY_PATHS = 256;
export const MAX_RATE = 1_000_000;

const KEY_ID = /^[0-9a-f]{8}$/;
const ENTRY_MEMBERS = new Set(['paths', 'ops', 'seal', 'rate']);

/** Without a `default`, keys not named may read nothing (ping still answers). */
const NO_ACCESS: AccessEntry = { paths: [], ops: undefined, seal: false, rate: undefined };

function fail(where: string, message: string): never {
  throw new QconfError('access_file', `${where}: ${message}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function parseEntry(v: unknown, where: string): AccessEntry {
  if (!isObject(v)) fail(where, 'must be an object with "paths" (and optionally "ops", "seal", "rate")');
  for (const k of Object.keys(v)) if (!ENTRY_MEMBERS.has(k)) fail(`${where}.${k}`, 'unknown member (paths, ops, seal and rate are known)');
  const paths = v.paths;
  if (!Array.isArray(paths)) fail(`${where}.paths`, 'must be an array of JSON pointers ("/a/b") or "*"');
  if (paths.length > MAX_ENTRY_PATHS) fail(`${where}.paths`, `at most ${MAX_ENTRY_PATHS} paths`);
  const segs: string[][] = [];
  paths.forEach((p, i) => {
    const at = `${where}.paths[${i}]`;
    if (typeof p !== 'string') fail(at, 'must be a string');
    if (p === '*') return segs.push([]);
    if (p === '' || p === '/') fail(at, `${JSON.stringify(p)} is not a prefix: write "*" for the whole document`);
    if (!p.startsWith('/')) fail(at, `${JSON.stringify(p)} is not a JSON pointer: it must start with "/" (or be "*")`);
    const parsed = parsePointer(p);
    if (!parsed.ok) fail(at, parsed.message);
    segs.push(parsed.segments);
  });
  let ops: string[] | undefined;
  if (v.ops !== undefined) {
    if (!Array.isArray(v.ops)) fail(`${where}.ops`, `must be an array of op names (${SCOPE_OPS.join(', ')})`);
    ops = [];
    v.ops.forEach((o, i) => {
      if (typeof o !== 'string' || !(SCOPE_OPS as readonly string[]).includes(o)) fail(`${where}.ops[${i}]`, `${JSON.stringify(o)} is not an op (${SCOPE_OPS.join(', ')})`);
      ops?.push(o);
    });
  }
  if (v.seal !== undefined && typeof v.seal !== 'boolean') fail(`${where}.seal`, 'must be true or false');
  const rate = v.rate;
  if (rate !== undefined && (typeof rate !== 'number' || !Number.isFinite(rate) || rate <= 0 || rate > MAX_RATE)) {
    fail(`${where}.rate`, `must be a positive number of requests per second (at most ${MAX_RATE})`);
  }
  return { paths: segs, ops, seal: v.seal === true, rate };
}

/** Parse and validate an access file's text; `name` is how messages call the file. */
export function parseAccessFile(text: string, name = 'access file'): AccessFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new QconfError('access_file', `${name}: not JSON (${(e as Error).message})`);
  }
  if (!isObject(json)) fail(name, 'must be a JSON object with "default" and "keys"');
  for (const k of Object.keys(json)) if (k !== 'default' && k !== 'keys') fail(`${name}: ${k}`, 'unknown member (default and keys are known)');
  const dflt = json.default === undefined ? NO_ACCESS : parseEntry(json.default, `${name}: default`);
  const keys = new Map<string, AccessEntry>();
  if (json.keys !== undefined) {
    if (!isObject(json.keys)) fail(`${name}: keys`, 'must be an object of key ids (8 lowercase hex digits, as qconf key-id prints them)');
    const ids = Object.keys(json.keys);
    if (ids.length > MAX_ACCESS_KEYS) fail(`${name}: keys`, `at most ${MAX_ACCESS_KEYS} keys`);
    for (const id of ids) {
      if (!KEY_ID.test(id)) fail(`${name}: keys.${JSON.stringify(id)}`, 'is not a key id (8 lowercase hex digits, as qconf key-id prints them)');
      keys.set(id, parseEntry(json.keys[id], `${name}: keys.${id}`));
    }
  }
  return { default: dflt, keys };
}

/** Read and validate an access file: a regular file of at most MAX_ACCESS_FILE_BYTES. */
export function readAccessFile(path: string): AccessFile {
  const name = `access file ${path}`;
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new QconfError('access_file', `${name}: ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code})`}`);
  }
  if (!st.isFile()) throw new QconfError('access_file', `${name}: not a regular file`);
  if (st.size > MAX_ACCESS_FILE_BYTES) throw new QconfError('access_file', `${name}: larger than ${MAX_ACCESS_FILE_BYTES} bytes`);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new QconfError('access_file', `${name}: cannot be read (${(e as NodeJS.ErrnoException).code})`);
  }
  return parseAccessFile(text, name);
}
