// Hostile values for request fields: every type where another is expected, numbers at and past
// every limit, strings empty, huge, odd or named like prototype members, JSON pointers that are
// malformed, deep, or aimed at odd places, containers huge or nested thousands deep. Drawn from a
// seeded generator; sizes stay within a request datagram (8,192 bytes).
import { Entries, Raw, pack } from './msgpack-writer.js';

export type Rand = () => number;

export function pick<T>(rand: Rand, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)];
}

export function int(rand: Rand, lo: number, hi: number): number {
  return lo + Math.floor(rand() * (hi - lo + 1));
}

/** Names that are members of every object's prototype, or of Object itself. */
export const PROTO_NAMES = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', '__defineGetter__', 'isPrototypeOf'];

const ODD_NUMBERS = [0, -0, 1, -1, 0.5, -0.5, 1e-300, 1e308, -1e308, NaN, Infinity, -Infinity, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 53 - 1, 2 ** 53 + 2, -(2 ** 53) - 2, 16, 17, 64, 65, 30_000, 30_001, 2 ** 40];

/** A string of `n` characters drawn from an alphabet that includes the awkward ones. */
function text(rand: Rand, n: number): string {
  const alphabet = ['a', 'Z', '0', '/', '~', '~0', '~1', '.', ' ', '\u0000', '\u001f', '"', '\\', 'é', '€', '\ud83d\ude00', '\ud800', '\u2028', '%', '*'];
  let s = '';
  while (s.length < n) s += pick(rand, alphabet);
  return s;
}

export function oddString(rand: Rand): string {
  switch (int(rand, 0, 7)) {
    case 0:
      return '';
    case 1:
      return pick(rand, PROTO_NAMES);
    case 2:
      return text(rand, int(rand, 1, 40));
    case 3:
      return 'x'.repeat(int(rand, 1000, 7000));
    case 4:
      return text(rand, int(rand, 200, 2500));
    case 5:
      return pick(rand, ['ping', 'get', 'mget', 'list', 'wait', 'stats', 'GET', 'Get', ' get', 'get ', 'get\u0000']);
    case 6:
      return String(pick(rand, ODD_NUMBERS));
    default:
      return oddPointer(rand);
  }
}

/** Pointers into the served Ganeti config, valid or not in every way RFC 6901 allows and more. */
export function oddPointer(rand: Rand): string {
  const real = ['', '/cluster', '/cluster/cluster_name', '/nodes', '/instances', '/disks', '/cluster/beparams/default/maxmem', '/cluster/enabled_hypervisors/0', '/serial_no', '/version'];
  switch (int(rand, 0, 9)) {
    case 0:
    case 1:
      return pick(rand, real);
    case 2:
      return pick(rand, ['/', '//', '///', '~', '~0', '~1', '~2', '/~', '/~2', '/a~', '/-', '/0', '/00', '/01', '/-1', '/1e3', '/ ', '/\u0000', 'cluster', 'nodes/', '/cluster/', '/cluster//name']);
    case 3:
      return `/${pick(rand, PROTO_NAMES)}${rand() < 0.5 ? `/${pick(rand, PROTO_NAMES)}` : ''}`;
    case 4:
      return `${pick(rand, real)}/${pick(rand, ['-', '0', '999999', '4294967296', '1.5', '__proto__', 'x'])}`;
    case 5:
      // Deep: thousands of segments.
      return '/a'.repeat(int(rand, 100, 3500));
    case 6:
      return '/'.repeat(int(rand, 100, 7000));
    case 7:
      return `/cluster/${text(rand, int(rand, 1, 200))}`;
    case 8:
      return `/cluster/beparams/default/maxmem${'/x'.repeat(int(rand, 1, 50))}`;
    default:
      return '/' + ['~0~1', '~01', '~10', '~~', '~0~'][int(rand, 0, 4)].repeat(int(rand, 1, 500));
  }
}

/** Nesting `depth` levels deep, as bytes no recursive encoder is asked to write. */
export function deep(rand: Rand, depth: number): Raw {
  const leaf = pack(pick(rand, [0, null, '', 'x', []]));
  switch (int(rand, 0, 2)) {
    case 0:
      return new Raw(Buffer.concat([Buffer.alloc(depth, 0x91), leaf]));
    case 1: {
      // {"k": {"k": …}}: three bytes a level.
      const level = Buffer.from([0x81, 0xa1, 0x6b]);
      return new Raw(Buffer.concat([...Array.from({ length: depth }, () => level), leaf]));
    }
    default: {
      // Arrays and maps alternating, with a sibling at every level.
      const out: Buffer[] = [];
      for (let i = 0; i < depth; i++) out.push(i % 2 === 0 ? Buffer.from([0x92, 0x01]) : Buffer.from([0x81, 0xa1, 0x6b]));
      out.push(leaf);
      return new Raw(Buffer.concat(out));
    }
  }
}

/** A container with as many elements as fit: nils, small numbers, strings, or empty maps. */
export function huge(rand: Rand): Raw | unknown[] {
  const n = int(rand, 1000, 7000);
  switch (int(rand, 0, 3)) {
    case 0:
      return new Raw(Buffer.concat([Buffer.from([0xdc, n >> 8, n & 0xff]), Buffer.alloc(n, 0xc0)]));
    case 1:
      return Array.from({ length: Math.floor(n / 2) }, (_, i) => i);
    case 2:
      return Array.from({ length: Math.floor(n / 8) }, () => pick(rand, ['', '/', '/cluster', '/x', '~']));
    default: {
      // A map of n/4 entries with numeric-looking keys.
      const m = Math.floor(n / 4);
      const parts = [Buffer.from([0xde, m >> 8, m & 0xff])];
      for (let i = 0; i < m; i++) parts.push(Buffer.from([0xa1, 0x30 + (i % 10), i % 128]));
      return new Raw(Buffer.concat(parts));
    }
  }
}

/** A value of any JSON-ish MessagePack type, hostile more often than not. */
export function anyValue(rand: Rand, depthBudget = 2): unknown {
  switch (int(rand, 0, 13)) {
    case 0:
      return null;
    case 1:
      return rand() < 0.5;
    case 2:
    case 3:
      return pick(rand, ODD_NUMBERS);
    case 4:
      return BigInt.asUintN(64, BigInt(int(rand, 0, 2 ** 31)) << 33n);
    case 5:
    case 6:
      return oddString(rand);
    case 7:
      return Buffer.alloc(int(rand, 0, 40), int(rand, 0, 255));
    case 8:
      return depthBudget > 0 ? Array.from({ length: int(rand, 0, 4) }, () => anyValue(rand, depthBudget - 1)) : [];
    case 9:
      return depthBudget > 0 ? new Entries(Array.from({ length: int(rand, 0, 4) }, () => [rand() < 0.3 ? pick(rand, PROTO_NAMES) : oddString(rand).slice(0, 20), anyValue(rand, depthBudget - 1)] as [unknown, unknown])) : {};
    case 10:
      return deep(rand, int(rand, 10, 6000));
    case 11:
      return huge(rand);
    case 12:
      // A number where a map key would be, or a key that is a number: both legal MessagePack.
      return new Entries([[int(rand, -5, 5), anyValue(rand, 0)]]);
    default:
      return oddPointer(rand);
  }
}
