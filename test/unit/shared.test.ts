// The shared modules on their own: the quorum rule and tally, JSON pointers, canonical JSON and
// etags, keyrings and key files, peer addresses, and the version matching package.json.
import { chmodSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../shared/atomic-file.js';
import { canonicalJson, etagOf } from '../../shared/canonical-json.js';
import { QconfError } from '../../shared/errors.js';
import { formatPointer, parsePointer, resolveSegments } from '../../shared/json-pointer.js';
import { Keyring, loadKeyring, makeKey, parseKeyText, readRawKeyFile } from '../../shared/keyring.js';
import { parsePeer, parsePeerList } from '../../shared/peers.js';
import { neededReplies, resolveCoverage, tally } from '../../client/quorum-rule.js';
import { VERSION } from '../../shared/version.js';
import { ROOT } from '../../testkit/paths.js';
import { tempDir } from '../../testkit/fixtures.js';

describe('neededReplies', () => {
  it('matches Ganeti for 1..7 and the general rule beyond', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map(neededReplies)).toEqual([1, 2, 2, 3, 3, 4, 4]);
    for (let n = 5; n < 50; n++) expect(neededReplies(n)).toBe(Math.floor(n / 2) + 1);
  });
  it('resolves coverage like Ganeti', () => {
    expect(resolveCoverage(undefined, 3)).toBe(3);
    expect(resolveCoverage(0, 9)).toBe(6);
    expect(resolveCoverage(-1, 9)).toBe(9);
    expect(resolveCoverage(4, 9)).toBe(4);
    expect(resolveCoverage(10, 9)).toMatch(/exceeds/);
    expect(resolveCoverage(1, 0)).toMatch(/empty/);
    expect(resolveCoverage(-2, 3)).toMatch(/invalid/);
  });
});

describe('tally', () => {
  const v = (serial: number, key: string) => ({ serial, key, value: `${serial}/${key}` });
  it('prefers the newest serial', () => {
    const t = tally([v(1, 'a'), v(3, 'b'), v(2, 'c')]);
    expect(t.winner?.value).toBe('3/b');
    expect(t.consistent).toBe(true);
    expect(t.agreeing).toBe(1);
  });
  it('flags two answers of one serial as inconsistent and picks the majority', () => {
    const t = tally([v(5, 'x'), v(5, 'y'), v(5, 'y')]);
    expect(t.consistent).toBe(false);
    expect(t.winner?.value).toBe('5/y');
    expect(t.agreeing).toBe(2);
  });
  it('a stale replica disagreeing on an older serial is still consistent', () => {
    const t = tally([v(4, 'old'), v(5, 'new'), v(5, 'new')]);
    expect(t.consistent).toBe(true);
    expect(t.agreeing).toBe(2);
  });
  it('no votes, no winner', () => {
    expect(tally([])).toEqual({ winner: undefined, consistent: true, agreeing: 0 });
  });
});

describe('JSON pointers (RFC 6901)', () => {
  const doc = { foo: ['bar', 'baz'], '': 0, 'a/b': 1, 'c%d': 2, 'e^f': 3, 'g|h': 4, 'i\\j': 5, 'k"l': 6, ' ': 7, 'm~n': 8 };
  const cases: Array<[string, unknown]> = [
    ['', doc],
    ['/foo', ['bar', 'baz']],
    ['/foo/0', 'bar'],
    ['/', 0],
    ['/a~1b', 1],
    ['/c%d', 2],
    ['/e^f', 3],
    ['/g|h', 4],
    ['/i\\j', 5],
    ['/k"l', 6],
    ['/ ', 7],
    ['/m~0n', 8],
  ];
  it.each(cases)('resolves %j (the RFC examples)', (ptr, want) => {
    const p = parsePointer(ptr);
    expect(p.ok).toBe(true);
    if (p.ok) expect(resolveSegments(doc, p.segments)).toEqual(want);
  });
  it('decodes ~01 as ~1, not /', () => {
    const p = parsePointer('/~01');
    expect(p).toEqual({ ok: true, segments: ['~1'] });
  });
  it.each(['abc', '/a~', '/a~2', '/~x'])('rejects malformed %j', (ptr) => {
    expect(parsePointer(ptr).ok).toBe(false);
  });
  it.each(['/foo/2', '/foo/01', '/foo/-', '/foo/-1', '/foo/0/x', '/nope', '/foo/1e0'])('does not find %j', (ptr) => {
    const p = parsePointer(ptr);
    expect(p.ok && resolveSegments(doc, p.segments)).toBe(undefined);
  });
  it('does not walk the prototype chain', () => {
    const p = parsePointer('/constructor');
    expect(p.ok && resolveSegments({}, p.segments)).toBe(undefined);
  });
  it('formats what it parses', () => {
    for (const [ptr] of cases) {
      const p = parsePointer(ptr);
      if (p.ok) expect(formatPointer(p.segments)).toBe(ptr);
    }
  });
});

describe('canonical JSON and etags', () => {
  it('is independent of key order', () => {
    expect(canonicalJson({ b: 1, a: [1, { d: 2, c: 3 }] })).toBe('{"a":[1,{"c":3,"d":2}],"b":1}');
    expect(etagOf({ x: 1, y: 2 })).toBe(etagOf({ y: 2, x: 1 }));
    expect(etagOf({ x: 1 })).not.toBe(etagOf({ x: 2 }));
  });
});

describe('keyrings', () => {
  it('computes the keyId of protocol.md', () => {
    expect(makeKey(Buffer.from('0123456789abcdef'.repeat(4))).idHex).toBe('a8ae6e6e');
  });
  it('parses lines, skipping blanks and comments; the first key signs', () => {
    const keys = parseKeyText('# comment\n\n' + 'a'.repeat(16) + '\r\n' + 'b'.repeat(20) + '\n');
    expect(keys.map((k) => k.bytes.toString())).toEqual(['a'.repeat(16), 'b'.repeat(20)]);
    const ring = new Keyring(keys);
    expect(ring.signer.bytes.toString()).toBe('a'.repeat(16));
    expect(ring.byId(keys[1].id)).toBe(keys[1]);
  });
  it('refuses short keys', () => {
    expect(() => parseKeyText('short')).toThrow(/at least 16/);
  });
  it('refuses missing, empty and group- or world-writable files; warns when world-readable', () => {
    const dir = tempDir();
    const f = join(dir, 'k');
    expect(() => loadKeyring(f)).toThrow(/does not exist/);
    writeFileSync(f, '# nothing\n', { mode: 0o600 });
    expect(() => loadKeyring(f)).toThrow(/holds no key/);
    writeFileSync(f, 'k'.repeat(32) + '\n');
    chmodSync(f, 0o620);
    expect(() => loadKeyring(f)).toThrow(/writable by group/);
    chmodSync(f, 0o602);
    expect(() => loadKeyring(f)).toThrow(/writable by others/);
    chmodSync(f, 0o644);
    const r = loadKeyring(f);
    expect(r.warnings.join()).toMatch(/world-readable/);
    chmodSync(f, 0o600);
    expect(loadKeyring(f).warnings).toEqual([]);
    expect(() => loadKeyring(dir)).toThrow(/not a regular file/);
    try {
      loadKeyring(join(dir, 'missing'));
    } catch (e) {
      expect(e).toBeInstanceOf(QconfError);
      expect((e as QconfError).code).toBe('key_file');
    }
  });
  it('reads Ganeti key files raw, trailing newline included', () => {
    const dir = tempDir();
    const f = join(dir, 'hmac.key');
    writeFileSync(f, 'abc\n', { mode: 0o600 });
    expect(readRawKeyFile(f).key.toString()).toBe('abc\n');
  });
});

describe('peer addresses', () => {
  it.each([
    ['10.0.0.1', '10.0.0.1', 1814, 4],
    ['10.0.0.1:99', '10.0.0.1', 99, 4],
    ['[::1]:99', '::1', 99, 6],
    ['[::1]', '::1', 1814, 6],
    ['::1', '::1', 1814, 6],
    ['fe80::1:2', 'fe80::1:2', 1814, 6],
    ['node1.example.com:7', 'node1.example.com', 7, 0],
    ['localhost', 'localhost', 1814, 0],
  ])('parses %s', (spec, host, port, family) => {
    expect(parsePeer(spec)).toMatchObject({ host, port, family });
  });
  it.each(['', '[::1', '[10.0.0.1]:5', 'a:0', 'a:70000', 'a:x', 'bad host', '[::1]x'])('rejects %j', (spec) => {
    expect(() => parsePeer(spec)).toThrow(QconfError);
  });
  it('parses lists with mixed families, dropping duplicates', () => {
    expect(parsePeerList('127.0.0.1, [::1]:5 127.0.0.1:1814', 1814).map((p) => p.label)).toEqual(['127.0.0.1:1814', '[::1]:5']);
  });
});

describe('version', () => {
  it('equals package.json', () => {
    expect(VERSION).toBe(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
  });
});

describe('atomic file replacement', () => {
  it('replaces a file, and leaves no temporary file when it cannot (a directory in its place)', () => {
    const dir = tempDir();
    writeFileAtomic(join(dir, 'a.json'), '{"a":1}');
    expect(readFileSync(join(dir, 'a.json'), 'utf8')).toBe('{"a":1}');
    mkdirSync(join(dir, 'sub'));
    expect(() => writeFileAtomic(join(dir, 'sub'), '{}')).toThrow(/is a directory/);
    expect(readdirSync(dir).sort()).toEqual(['a.json', 'sub']);
  });
});
