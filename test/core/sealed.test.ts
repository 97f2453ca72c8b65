// Sealed traffic end to end (docs/protocol.md, "Sealed traffic"), against real qconfd child
// processes on loopback, each behind a relay that captures every datagram both ways: sealed, no
// path or value asked or answered is on the wire, for every op, through the library and the
// CLI; in clear they are (so the capture can see them). A daemon requiring sealing refuses
// unsealed requests with `seal_required`; forged, tampered, truncated or foreign sealed frames
// are dropped, counted, and never crash it.
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfdClient } from '../../client/confd-client.js';
import { valueHash } from '../../shared/commitment.js';
import { Keyring } from '../../shared/keyring.js';
import { TrustKeys, generateSigningKey, signDocument } from '../../shared/signing.js';
import { packBody } from '../../shared/msgpack-encode.js';
import { unpackBody } from '../../shared/msgpack-decode.js';
import { HEADER_LEN, KIND_REQUEST, KIND_SEALED_REPLY, KIND_SEALED_REQUEST, frame } from '../../shared/qcf1-frame.js';
import { openBody, sealBody, sealKeys } from '../../shared/seal.js';
import { runCli, type TestDaemon } from '../../testkit/daemons.js';
import { KEY_A, KEY_B, writeKeyFile, tempDir } from '../../testkit/fixtures.js';
import { RawClient, dropDelta, fetchStats } from '../support/raw-client.js';
import { sampleDoc } from '../support/sample-doc.js';
import { trackAll } from '../support/tracked.js';
import { until } from '../support/until.js';

const owned = trackAll();

/** Distinctive strings: a key in the document (so in paths and listings) and its value. */
const PATH_MARK = 'pathmarkQ7zx';
const VALUE_MARK = 'valuemarkK3vr';
const doc = (serial: number) => sampleDoc(serial, { secrets: { [PATH_MARK]: VALUE_MARK, other: 1 } });
const SECRET = `/secrets/${PATH_MARK}`;

/** Every datagram the relays saw, in both directions. */
const wire: Array<{ dir: 'toDaemon' | 'toClient'; bytes: Buffer }> = [];

function leaks(): string[] {
  const found = new Set<string>();
  for (const { bytes } of wire) for (const mark of [PATH_MARK, VALUE_MARK]) if (bytes.includes(mark)) found.add(mark);
  return [...found];
}

function kinds(): Set<string> {
  return new Set(wire.map((w) => `${w.dir}:${w.bytes[4]}`));
}

let daemons: TestDaemon[];
/** The relays' addresses: what clients are given as peers. */
let peers: string[];
let keyFile: string;
let serial = 5;

beforeAll(async () => {
  daemons = await owned.serve([doc(serial), doc(serial), doc(serial)], 's');
  const relays = await Promise.all(daemons.map((d) => owned.relay({ ...d.front(), tap: (dir, bytes) => wire.push({ dir, bytes: Buffer.from(bytes) }) })));
  peers = relays.map((r) => r.peer);
  keyFile = writeKeyFile(tempDir('qconf-sealed-'), [KEY_A]);
});

/** Replace every daemon's document and wait until each serves it. */
async function publish(next: number): Promise<void> {
  serial = next;
  await Promise.all(
    daemons.map(async (d) => {
      const from = d.output.length;
      d.writeDoc(doc(next));
      await d.waitForLog((l) => l.event === 'reload' && typeof l.serial === 'number' && l.serial >= next, 30_000, from);
    }),
  );
}

describe('sealed traffic through the library', () => {
  it('answers get, mget, list, ping and wait, with no path or value on the wire', async () => {
    wire.length = 0;
    const c = owned.client(peers, { seal: true });
    const got = await c.get(SECRET);
    expect(got.kind).toBe('ok');
    expect(got.answer).toBe(VALUE_MARK);
    const m = await c.mget([SECRET, '/cluster/master']);
    expect(m.kind).toBe('ok');
    expect((m.answer ?? []).map((e) => e.answer)).toEqual([VALUE_MARK, 'node1.example.com']);
    const l = await c.list('/secrets');
    expect(l.answer).toEqual(['other', PATH_MARK]);
    const p = await c.ping();
    expect(p.kind).toBe('ok');
    expect(p.serial).toBe(serial);
    const w = await c.waitFor({ path: SECRET, equals: VALUE_MARK }, { timeoutMs: 10_000 });
    expect(w.met).toBe(true);
    expect(w.answer).toBe(VALUE_MARK);
    // Every daemon asked answered through its relay, sealed both ways.
    expect(wire.filter((x) => x.dir === 'toClient').length).toBeGreaterThanOrEqual(5 * 2);
    expect(kinds()).toEqual(new Set([`toDaemon:${KIND_SEALED_REQUEST}`, `toClient:${KIND_SEALED_REPLY}`]));
    expect(leaks()).toEqual([]);
  });

  it('holds a sealed wait until the document changes, and answers it sealed', async () => {
    wire.length = 0;
    const c = owned.client(peers, { seal: true });
    const waiting = c.waitFor({ minSerial: serial + 1, path: SECRET }, { timeoutMs: 30_000 });
    await new Promise((r) => setTimeout(r, 300));
    await publish(serial + 1);
    const w = await waiting;
    expect(w.met).toBe(true);
    expect(w.serial).toBe(serial);
    expect(w.answer).toBe(VALUE_MARK);
    expect(kinds()).toEqual(new Set([`toDaemon:${KIND_SEALED_REQUEST}`, `toClient:${KIND_SEALED_REPLY}`]));
    expect(leaks()).toEqual([]);
  });

  it('in clear, the same queries show the path and the value on the wire', async () => {
    wire.length = 0;
    const c = owned.client(peers);
    // Every daemon's reply waited for: none arrives after the test.
    expect((await c.get(SECRET, { all: true })).answer).toBe(VALUE_MARK);
    expect((await c.list('/secrets', 1, { all: true })).answer).toEqual(['other', PATH_MARK]);
    expect(kinds()).toEqual(new Set([`toDaemon:${KIND_REQUEST}`, 'toClient:2']));
    expect(leaks().sort()).toEqual([PATH_MARK, VALUE_MARK].sort());
  });

  it('ConfdClient.fromEnv seals with QCONF_SEAL=1, and refuses a value that is neither yes nor no', async () => {
    wire.length = 0;
    const env = { QCONF_PEERS: peers.join(','), QCONF_KEY_FILE: keyFile };
    const c = ConfdClient.fromEnv({ env: { ...env, QCONF_SEAL: '1' } });
    try {
      expect((await c.get(SECRET)).answer).toBe(VALUE_MARK);
    } finally {
      c.close();
    }
    expect(kinds()).toEqual(new Set([`toDaemon:${KIND_SEALED_REQUEST}`, `toClient:${KIND_SEALED_REPLY}`]));
    expect(leaks()).toEqual([]);
    expect(() => ConfdClient.fromEnv({ env: { ...env, QCONF_SEAL: 'sometimes' } })).toThrow(/QCONF_SEAL/);
  });

  it('verified answers work sealed: the signature and proofs travel inside the box', async () => {
    const publisher = generateSigningKey();
    const signed = signDocument(doc(9), publisher, (v) => valueHash(v).hash);
    const d = await owned.daemon({ doc: signed, nodeName: 'signed' });
    const c = owned.client([d.peer], { seal: true, trustKeys: TrustKeys.fromHex([Buffer.from(publisher.bytes).toString('hex')]) });
    const r = await c.get(SECRET);
    expect([r.kind, r.answer, r.verified, r.forged]).toEqual(['ok', VALUE_MARK, true, 0]);
    const l = await c.list('/secrets');
    expect([l.answer, l.verified]).toEqual([['other', PATH_MARK], true]);
  });

  it('counts sealed requests and replies in stats', async () => {
    const s = await fetchStats(daemons[0].port);
    const sealed = s.sealed as { requests: number; replies: number; openFailures: number };
    expect(sealed.requests).toBeGreaterThan(0);
    expect(sealed.replies).toBeGreaterThan(0);
  });
});

describe('sealed traffic through qconf', () => {
  const base = () => ['--peers', peers.join(','), '--key-file', keyFile];

  it('get, mget, list, ping and wait --seal print their answers, with nothing readable on the wire', async () => {
    wire.length = 0;
    const get = await runCli(['get', SECRET, '--seal', ...base()]);
    expect(get.stderr).toBe('');
    expect([get.code, get.stdout]).toEqual([0, `${VALUE_MARK}\n`]);
    const mget = await runCli(['mget', SECRET, '/cluster/master', '--seal', ...base()]);
    expect([mget.code, mget.stdout]).toEqual([0, `"${VALUE_MARK}"\n"node1.example.com"\n`]);
    const list = await runCli(['list', '/secrets', '--seal', ...base()]);
    expect([list.code, list.stdout]).toEqual([0, `other\n${PATH_MARK}\n`]);
    const ping = await runCli(['ping', '--seal', ...base()]);
    expect(ping.code).toBe(0);
    const wait = await runCli(['wait', SECRET, '--equals', JSON.stringify(VALUE_MARK), '--seal', ...base()]);
    expect([wait.code, wait.stdout]).toEqual([0, `${VALUE_MARK}\n`]);
    // QCONF_SEAL=1 is --seal.
    const env = await runCli(['get', SECRET, ...base()], { QCONF_SEAL: '1' });
    expect([env.code, env.stdout]).toEqual([0, `${VALUE_MARK}\n`]);
    expect(kinds()).toEqual(new Set([`toDaemon:${KIND_SEALED_REQUEST}`, `toClient:${KIND_SEALED_REPLY}`]));
    expect(leaks()).toEqual([]);
  });

  it('without --seal the value is on the wire; QCONF_SEAL that says neither yes nor no is a usage error', async () => {
    wire.length = 0;
    const get = await runCli(['get', SECRET, ...base()], { QCONF_SEAL: '0' });
    expect([get.code, get.stdout]).toEqual([0, `${VALUE_MARK}\n`]);
    expect(leaks().sort()).toEqual([PATH_MARK, VALUE_MARK].sort());
    const bad = await runCli(['get', SECRET, ...base()], { QCONF_SEAL: 'maybe' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('QCONF_SEAL');
  });
});

describe('a daemon that requires sealing', () => {
  let strict: TestDaemon;
  beforeAll(async () => {
    // Ready once a ping is answered: its refusal (seal_required) is an answer.
    strict = await owned.daemon({ doc: doc(1), nodeName: 'strict', args: ['--require-seal'] });
  });

  it('refuses unsealed requests with seal_required, and answers sealed ones', async () => {
    const clear = await owned.client([strict.peer]).get(SECRET);
    expect(clear.kind).toBe('error');
    expect(clear.error?.code).toBe('seal_required');
    expect(clear.answer).toBeUndefined();
    const sealed = await owned.client([strict.peer], { seal: true }).get(SECRET);
    expect([sealed.kind, sealed.answer]).toEqual(['ok', VALUE_MARK]);
  });

  it('a wait in clear ends at once with seal_required (no request storm), through the library and qconf', async () => {
    const c = owned.client([strict.peer]);
    const w = await c.waitFor({ minSerial: 1 }, { timeoutMs: 20_000 });
    expect([w.met, w.kind, w.error?.code]).toEqual([false, 'error', 'seal_required']);
    const cli = await runCli(['wait', '--serial', '1', '--timeout', '20000', '--peers', strict.peer, '--key-file', keyFile]);
    expect(cli.code).toBe(4);
    expect(cli.stderr).toContain('seal_required');
    const sealed = await runCli(['wait', '--serial', '1', '--seal', '--peers', strict.peer, '--key-file', keyFile]);
    expect([sealed.code, sealed.stdout]).toEqual([0, '1\n']);
  });

  it('a mirror in clear is refused with seal_required; sealed, it mirrors', async () => {
    await expect(owned.client([strict.peer]).mirror('/secrets', { timeoutMs: 10_000 })).rejects.toMatchObject({ code: 'seal_required' });
    const m = await owned.client([strict.peer], { seal: true }).mirror('/secrets', { timeoutMs: 10_000 });
    try {
      expect(m.get(`/${PATH_MARK}`)).toBe(VALUE_MARK);
    } finally {
      m.close();
    }
  });

  it('a watch in clear ends with seal_required (exit 4) instead of asking again and again', async () => {
    const c = owned.client([strict.peer]);
    await expect(async () => {
      for await (const ev of c.watch(SECRET, { checkEveryMs: 20_000 })) void ev;
    }).rejects.toThrow(/seal_required/);
    const cli = await runCli(['watch', SECRET, '--timeout', '20000', '--peers', strict.peer, '--key-file', keyFile]);
    expect(cli.code).toBe(4);
    expect(cli.stderr).toContain('seal_required');
  });

  it('qconf without --seal exits 4 naming seal_required; with --seal it answers', async () => {
    const clear = await runCli(['get', SECRET, '--peers', strict.peer, '--key-file', keyFile]);
    expect(clear.code).toBe(4);
    expect(clear.stdout).toBe('');
    expect(clear.stderr).toContain('seal_required');
    expect(clear.stderr).toContain('--seal');
    const sealed = await runCli(['get', SECRET, '--seal', '--peers', strict.peer, '--key-file', keyFile]);
    expect([sealed.code, sealed.stdout]).toEqual([0, `${VALUE_MARK}\n`]);
    const c = owned.client([strict.peer], { seal: true });
    const stats = (await c.stats()).answer as { errors: Record<string, number> };
    expect(stats.errors.seal_required).toBeGreaterThanOrEqual(2);
  });
});

describe('bad sealed frames', () => {
  const key = Keyring.fromStrings([KEY_A]).signer;
  const foreign = Keyring.fromStrings([KEY_B]).signer;
  /** A sealed request's plaintext for daemon `d`, padded as a first request is. */
  const plain = (d: TestDaemon, body: object = { op: 'get', path: SECRET }) => packBody({ ...body, to: `127.0.0.1:${d.port}`, pad: Buffer.alloc(1000) });
  /** Frame (and MAC with `macKey`) a sealed request whose body is `sealed`. */
  const sealedFrame = (sealed: Uint8Array, macKey = key, kind = KIND_SEALED_REQUEST) => frame(kind, macKey, Date.now(), randomBytes(16), 0, sealed);
  const seal = (p: Buffer, under = key) => sealBody(sealKeys(under).request, p, 0, p.length);

  it('are dropped without a reply and counted, and the daemon goes on answering', async () => {
    const d = daemons[1];
    const before = await fetchStats(d.port);
    const raw = await RawClient.open(d.port);
    try {
      const good = sealedFrame(seal(plain(d)));
      // Any byte of the box changed, the MAC not made again: bad_mac.
      const tampered = Buffer.from(good);
      tampered[HEADER_LEN + 30] ^= 1;
      // A box under another key's seal key, with an authentic MAC: bad_box.
      const foreignBox = sealedFrame(seal(plain(d), foreign));
      // Truncated boxes, with authentic MACs: bad_box.
      const sealedBody = seal(plain(d));
      const truncated = [1, 16, 39, 40, sealedBody.length - 1].map((n) => sealedFrame(sealedBody.subarray(0, n)));
      // An unsealed body under the sealed kind: bad_box.
      const notSealed = sealedFrame(plain(d));
      // Wholly under a key the daemon does not hold: unknown_key.
      const unknown = sealedFrame(seal(plain(d), foreign), foreign);
      // A sealed reply's kind sent as a request: bad_kind.
      const replyKind = sealedFrame(seal(plain(d)), key, KIND_SEALED_REPLY);
      for (const f of [tampered, foreignBox, ...truncated, notSealed, unknown, replyKind]) await raw.send(f);
      expect(await raw.collect(500)).toEqual([]);
      const after = await fetchStats(d.port);
      expect(dropDelta(before, after)).toMatchObject({ bad_mac: 1, bad_box: 7, unknown_key: 1, bad_kind: 1 });
      const openFailures = (s: typeof after) => (s.sealed as { openFailures: number }).openFailures;
      expect(openFailures(after) - openFailures(before)).toBe(7);
      // Still serving, sealed and in clear.
      expect((await owned.client([d.peer], { seal: true }).get(SECRET)).answer).toBe(VALUE_MARK);
      expect((await owned.client([d.peer]).get(SECRET)).answer).toBe(VALUE_MARK);
    } finally {
      raw.close();
    }
  });

  it('from an address not validated, a sealed reply is never larger than its request: a sealed retry, then the answer', async () => {
    const d = daemons[1];
    // From an address of its own (127.0.0.1 is validated by the clients above).
    const sock = dgram.createSocket('udp4');
    owned.sockets.push(sock);
    const got: Buffer[] = [];
    sock.on('message', (m) => got.push(m));
    await new Promise<void>((r) => sock.bind(0, '127.0.0.7', () => r()));
    const exchange = async (q: Buffer): Promise<Buffer> => {
      got.length = 0;
      sock.send(q, d.port, '127.0.0.1');
      await until(() => got.length > 0, 'a reply', 5000);
      return got[0];
    };
    {
      // For the whole document, padded only as far as a retry needs: the answer is larger.
      const small = packBody({ op: 'get', path: '', to: `127.0.0.1:${d.port}`, pad: Buffer.alloc(150) });
      const q = sealedFrame(seal(small));
      const r = await exchange(q);
      expect(r[4]).toBe(KIND_SEALED_REPLY);
      expect(r.length).toBeLessThanOrEqual(q.length);
      const opened = openBody(sealKeys(key).reply, r, HEADER_LEN, r.length);
      const body = unpackBody(opened as Buffer) as { error: { code: string }; cookie: Buffer };
      expect(body.error.code).toBe('retry');
      // With the cookie, the address is validated and the whole document comes, sealed.
      const again = packBody({ op: 'get', path: '', to: `127.0.0.1:${d.port}`, cookie: body.cookie });
      const a = await exchange(sealedFrame(seal(again)));
      const answer = unpackBody(openBody(sealKeys(key).reply, a, HEADER_LEN, a.length) as Buffer) as { answer: unknown };
      expect(answer.answer).toEqual(doc(serial));
      expect(a.includes(VALUE_MARK)).toBe(false);
    }
  });

  it('a sealed request sent on to another daemon is dropped there (wrong_destination)', async () => {
    const [a, b] = [daemons[0], daemons[2]];
    const before = await fetchStats(b.port);
    const raw = await RawClient.open(b.port);
    try {
      await raw.send(sealedFrame(seal(plain(a))));
      expect(await raw.collect(500)).toEqual([]);
      expect(dropDelta(before, await fetchStats(b.port))).toMatchObject({ wrong_destination: 1 });
    } finally {
      raw.close();
    }
  });
});
