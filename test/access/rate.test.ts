// Per-key rates on a real daemon: a key flooding with 64 requests in flight against `rate: 50`
// gets at most its budget (burst + rate × elapsed), is told `busy` at most once a second and
// the rest is dropped (counted), while another key gets every answer. No latency is asserted
// here (bench/sections/scoped.ts measures it).
import dgram from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeKey } from '../../shared/keyring.js';
import { TestDaemon } from '../../testkit/daemons.js';
import { KEY_A, KEY_B, tempDir } from '../../testkit/fixtures.js';
import { RawClient, decodeReply, fetchStats, keyOf, request } from '../support/raw-client.js';

const FLOOD_KEY = KEY_B;
const RATE = 50;
const IN_FLIGHT = 64;
const FLOOD_MS = 3000;

let d: TestDaemon;

beforeAll(async () => {
  const access = join(tempDir('qconf-access-'), 'access.json');
  writeFileSync(access, JSON.stringify({ default: { paths: ['*'] }, keys: { [makeKey(Buffer.from(FLOOD_KEY)).idHex]: { paths: ['/public'], rate: RATE } } }));
  d = await new TestDaemon({ doc: { serial_no: 1, public: { a: 1 }, other: 2 }, keys: [KEY_A, FLOOD_KEY], logLevel: 'info', args: ['--access-file', access] }).start();
});

afterAll(async () => {
  await d?.stop('SIGKILL');
});

interface Flood {
  sent: number;
  ok: number;
  busy: number;
  other: number;
  elapsedMs: number;
}

/** Keep IN_FLIGHT requests outstanding for `ms`: a slot is freed by its reply, or after 50 ms of silence. */
async function flood(port: number, ms: number): Promise<Flood> {
  const sock = dgram.createSocket({ type: 'udp4', recvBufferSize: 1 << 20 });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const pending = new Map<string, (body: Record<string, unknown> | undefined) => void>();
  sock.on('message', (m) => {
    try {
      const r = decodeReply(m, [FLOOD_KEY]);
      pending.get(r.salt.toString('hex'))?.(r.body);
    } catch {
      /* not ours */
    }
  });
  const f: Flood = { sent: 0, ok: 0, busy: 0, other: 0, elapsedMs: 0 };
  const start = performance.now();
  const end = start + ms;
  const key = keyOf(FLOOD_KEY);
  const worker = async () => {
    while (performance.now() < end) {
      const dg = request({ op: 'get', path: '/public/a' }, { key, to: `127.0.0.1:${port}` });
      const salt = dg.subarray(20, 36).toString('hex');
      const reply = new Promise<Record<string, unknown> | undefined>((resolve) => {
        const t = setTimeout(() => resolve(undefined), 50);
        pending.set(salt, (b) => {
          clearTimeout(t);
          resolve(b);
        });
      });
      sock.send(dg, port, '127.0.0.1');
      f.sent++;
      const body = await reply;
      pending.delete(salt);
      if (body === undefined) continue;
      if (body.status === 0) f.ok++;
      else if ((body.error as { code?: string }).code === 'busy') f.busy++;
      else f.other++;
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  f.elapsedMs = performance.now() - start;
  sock.close();
  return f;
}

describe('a key over its rate', () => {
  it('gets at most its budget, busy at most once a second, while another key gets every answer', async () => {
    const other = await RawClient.open(d.port);
    const before = await fetchStats(d.port);
    let answered = 0;
    let asked = 0;
    const flooding = flood(d.port, FLOOD_MS);
    const steady = (async () => {
      const stop = performance.now() + FLOOD_MS;
      while (performance.now() < stop) {
        asked++;
        const r = await other.query({ op: 'get', path: '/other' });
        if (r.body.status === 0 && r.body.answer === 2) answered++;
      }
    })();
    const [f] = await Promise.all([flooding, steady]);
    other.close();
    const seconds = f.elapsedMs / 1000;
    const budget = RATE + RATE * seconds;
    expect(f.sent, 'the flood was a flood').toBeGreaterThan(budget * 2);
    expect(f.ok, JSON.stringify(f)).toBeLessThanOrEqual(budget * 1.1 + 5);
    expect(f.ok, 'it still gets its rate').toBeGreaterThanOrEqual(RATE);
    expect(f.busy, JSON.stringify(f)).toBeLessThanOrEqual(Math.ceil(seconds) + 1);
    expect(f.busy).toBeGreaterThanOrEqual(1);
    expect(f.other).toBe(0);
    expect(asked).toBeGreaterThan(10);
    expect(answered, 'the other key got every answer').toBe(asked);
    // The daemon's own counts: the flooding key's, labelled by its id; drops counted as rate_limited.
    const after = await fetchStats(d.port);
    const id = makeKey(Buffer.from(FLOOD_KEY)).idHex;
    const k = (after.keys as Record<string, { requests: number; rateLimited: number; replies: { ok: number } }>)[id];
    const k0 = (before.keys as Record<string, { requests: number; rateLimited: number; replies: { ok: number } }>)[id];
    expect(k.replies.ok - k0.replies.ok).toBeLessThanOrEqual(budget * 1.1 + 5);
    expect(k.rateLimited - k0.rateLimited).toBeGreaterThan(0);
    // Every refused request was dropped but the (at most one a second) told busy.
    const dropped = (after.drops.rate_limited ?? 0) - (before.drops.rate_limited ?? 0);
    expect(dropped).toBeLessThan(k.rateLimited - k0.rateLimited);
    expect(dropped).toBeGreaterThanOrEqual(k.rateLimited - k0.rateLimited - (Math.ceil(seconds) + 1));
    expect((after.keys as Record<string, { rateLimited: number }>).default.rateLimited).toBe(0);
  });
});
