// Key rotation against real daemons: keyrings with two keys accept clients holding either,
// a removed key is refused, replies are signed with the key that verified the request, and
// the documented procedure (add second, move first, remove old) works live with SIGHUP.
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfdClient } from '../../client/confd-client.js';
import { Keyring, makeKey } from '../../shared/keyring.js';
import { KIND_REPLY, KIND_REQUEST, decodeBody, verifyDatagram } from '../../shared/qcf1.js';
import { encodeDatagram } from '../support/raw-client.js';
import { TestDaemon, runCli, startDaemons, stopAll } from '../../testkit/daemons.js';
import { KEY_A, KEY_B, tempDir, writeKeyFile } from '../../testkit/fixtures.js';

const OLD = KEY_A;
const NEW = KEY_B;

const clients: ConfdClient[] = [];
let daemons: TestDaemon[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await stopAll(daemons.splice(0));
});

function docOf(serial: number): Record<string, unknown> {
  return { serial_no: serial, cluster: { master: 'node1.example.com' } };
}

async function serve(n: number, keys: string[]): Promise<TestDaemon[]> {
  // TestDaemon checks readiness with a ping signed by the first key of `keys`.
  const ds = await startDaemons(n, (i) => ({ doc: docOf(4), keys, nodeName: `k${i}` }));
  daemons.push(...ds);
  return ds;
}

/** A quorum query (coverage all) with a client holding exactly `keys`. */
async function ask(ds: TestDaemon[], keys: string[], timeoutMs = 10_000) {
  const c = new ConfdClient({ keyring: Keyring.fromStrings(keys), peers: ds.map((d) => d.peer) });
  clients.push(c);
  try {
    return await c.get<string>('/cluster/master', { coverage: -1, timeoutMs });
  } finally {
    c.close();
  }
}

/** One raw request signed with `signWith`; resolves with the reply datagram (or undefined). */
async function rawPing(port: number, signWith: string, timeoutMs = 5000): Promise<Buffer | undefined> {
  const sock = dgram.createSocket('udp4');
  try {
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const salt = randomBytes(16);
    const req = encodeDatagram(KIND_REQUEST, makeKey(Buffer.from(signWith)), Date.now(), salt, { op: 'ping', to: `127.0.0.1:${port}`, pad: Buffer.alloc(1024) });
    return await new Promise<Buffer | undefined>((resolve) => {
      const t = setTimeout(() => resolve(undefined), timeoutMs);
      sock.on('message', (m) => {
        if (m.length >= 36 && m.subarray(20, 36).equals(salt)) {
          clearTimeout(t);
          resolve(m);
        }
      });
      sock.send(req, port, '127.0.0.1');
    });
  } finally {
    sock.close();
  }
}

const keyIdOf = (k: string) => makeKey(Buffer.from(k)).id;

/** Rewrite a daemon's key file (mode 0600), send SIGHUP, and wait until it re-read the keys. */
async function rekey(d: TestDaemon, keys: string[]): Promise<void> {
  writeKeyFile(d.dir, keys);
  const from = d.output.length;
  d.child.kill('SIGHUP');
  await d.waitForLog((l) => l.event === 'keys_reloaded' && l.keys === keys.length, 30_000, from);
}

describe('keyrings with two keys', () => {
  it('daemons holding [old, new] answer clients holding either key alone', async () => {
    const ds = await serve(3, [OLD, NEW]);
    for (const keys of [[OLD], [NEW], [NEW, OLD], [OLD, NEW]]) {
      const r = await ask(ds, keys);
      expect(r.timedOut, `client keys ${keys.map(keyIdOf)}`).toBe(false);
      expect(r.answer).toBe('node1.example.com');
      expect(r.replies).toBeGreaterThanOrEqual(2);
    }
    // The CLI too, with a key file holding only the new key.
    const keyFile = writeKeyFile(tempDir(), [NEW]);
    const cli = await runCli(['get', '/cluster/master', '--peers', ds.map((d) => d.peer).join(','), '--key-file', keyFile, '--timeout', '10000']);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toBe('node1.example.com\n');
  });

  it('a daemon holding only [new] does not answer a client holding only [old]', async () => {
    const ds = await serve(1, [NEW]);
    const r = await ask(ds, [OLD], 1500);
    expect(r.timedOut).toBe(true);
    expect(r.replies).toBe(0);
    expect(r.sent).toBe(1);
    // Nor one that holds both but signs with the old (first) key.
    const both = await ask(ds, [OLD, NEW], 1500);
    expect(both.timedOut).toBe(true);
    expect(both.replies).toBe(0);
    // The daemon counted the refused requests as unknown-key drops.
    const stats = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const c = new ConfdClient({ keyring: Keyring.fromStrings([NEW]), peers: [ds[0].peer] });
      clients.push(c);
      c.query<Record<string, unknown>>({ op: 'stats' }, { timeoutMs: 10_000 }).then((r) => (r.answer ? resolve(r.answer) : reject(new Error(JSON.stringify(r)))), reject);
    });
    expect((stats.drops as Record<string, number>).unknown_key).toBeGreaterThanOrEqual(2);
    const keyFile = writeKeyFile(tempDir(), [OLD]);
    const cli = await runCli(['get', '/cluster/master', '--peers', ds[0].peer, '--key-file', keyFile, '--timeout', '1000']);
    expect(cli.code).toBe(4);
  });

  it('signs each reply with the key that verified its request', async () => {
    // The daemon's first (signing) key is the new one.
    const ds = await serve(1, [NEW, OLD]);
    const r = await ask(ds, [OLD]);
    expect(r.timedOut).toBe(false);
    expect(r.answer).toBe('node1.example.com');

    for (const key of [OLD, NEW]) {
      const reply = await rawPing(ds[0].port, key);
      expect(reply, `no reply to a request signed with ${keyIdOf(key)}`).toBeDefined();
      const buf = reply as Buffer;
      expect(buf.readUInt32BE(8)).toBe(keyIdOf(key));
      const v = verifyDatagram(buf, Keyring.fromStrings([key]), KIND_REPLY);
      expect(v.ok).toBe(true);
      expect(decodeBody(buf)).toMatchObject({ status: 0, node: 'k0' });
    }
  });
});

describe('live rotation with SIGHUP', () => {
  it('add the new key second, move it first, remove the old one: clients follow each step', async () => {
    const ds = await serve(3, [OLD]);
    expect((await ask(ds, [OLD])).timedOut).toBe(false);
    expect((await ask(ds, [NEW], 1500)).timedOut).toBe(true);

    // 1. Every daemon accepts both; it still signs with the old one.
    await Promise.all(ds.map((d) => rekey(d, [OLD, NEW])));
    for (const keys of [[OLD], [NEW]]) {
      const r = await ask(ds, keys);
      expect(r.timedOut, `step 1, client ${keys.map(keyIdOf)}`).toBe(false);
    }

    // 2. The new key signs first; old-only clients still verify the replies to their requests.
    await Promise.all(ds.map((d) => rekey(d, [NEW, OLD])));
    for (const keys of [[OLD], [NEW]]) {
      const r = await ask(ds, keys);
      expect(r.timedOut, `step 2, client ${keys.map(keyIdOf)}`).toBe(false);
      expect(r.answer).toBe('node1.example.com');
    }

    // 3. The old key is gone: only new-key clients get answers.
    await Promise.all(ds.map((d) => rekey(d, [NEW])));
    const fresh = await ask(ds, [NEW]);
    expect(fresh.timedOut).toBe(false);
    expect(fresh.sent).toBe(3);
    const stale = await ask(ds, [OLD], 1500);
    expect(stale.timedOut).toBe(true);
    expect(stale.replies).toBe(0);
  });

  it('a key file that became group-writable is refused on SIGHUP and the old keys keep serving', async () => {
    const [d] = await serve(1, [OLD]);
    writeKeyFile(d.dir, [NEW], 'qconf.key', 0o660);
    const from = d.output.length;
    d.child.kill('SIGHUP');
    await d.waitForLog((l) => l.event === 'refused' && l.reason === 'key_file', 30_000, from);
    expect((await ask([d], [OLD])).timedOut).toBe(false);
    expect((await ask([d], [NEW], 1500)).timedOut).toBe(true);
  });
});
