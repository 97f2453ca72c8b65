// The WebAssembly HMAC of sha.wat, for fast-hmac.ts: one call per MAC, about 1.6× the speed of
// fast-hmac's unrolled JS on the datagrams qconfd checks and signs. The memory is made at load,
// so that fast-hmac's message scratch can be a view on it (callers fill it in place, nothing
// is copied again); the module is compiled only when first needed (that and its first call
// take a millisecond or two), which a short-lived process that MACs a message or two never pays.
import { endianness } from 'node:os';
import { SHA_WASM_BASE64 } from './sha-wasm.js';

/** Where sha.wat keeps things in its memory (see its header). */
const MSG_AT = 0;
const MSG_BYTES = 1024;
const STATE_AT = 1024;

/** Views on the module's memory. */
export interface WasmHmacMemory {
  readonly memory: WebAssembly.Memory;
  /** MSG: the message, then room for its padding. */
  readonly msg: Buffer;
  /** The key's inner state at 0..7, its outer state at 8..15; the MAC's words land at 16..23. */
  readonly state: Int32Array;
}

/** The module's entry points: HMAC of msg[0..len) (len ≤ 768) keyed by state[0..16). */
export interface WasmHmac {
  hmac256(len: number): void;
  hmac1(len: number): void;
}

/** The memory, or undefined where wasm cannot be used. */
export function createWasmHmacMemory(): WasmHmacMemory | undefined {
  // The state views are in the host's byte order, the module's words little-endian.
  if (typeof WebAssembly !== 'object' || endianness() !== 'LE') return undefined;
  try {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 1 });
    return { memory, msg: Buffer.from(memory.buffer, MSG_AT, MSG_BYTES), state: new Int32Array(memory.buffer, STATE_AT, 24) };
  } catch {
    return undefined;
  }
}

/** The module instantiated on `mem`, or undefined where it does not compile (no SIMD). */
export function instantiateWasmHmac(mem: WasmHmacMemory): WasmHmac | undefined {
  try {
    const module = new WebAssembly.Module(Buffer.from(SHA_WASM_BASE64, 'base64'));
    const { exports } = new WebAssembly.Instance(module, { env: { memory: mem.memory } });
    const { hmac256, hmac1 } = exports;
    if (typeof hmac256 !== 'function' || typeof hmac1 !== 'function') return undefined;
    return { hmac256: hmac256 as (len: number) => void, hmac1: hmac1 as (len: number) => void };
  } catch {
    return undefined;
  }
}
