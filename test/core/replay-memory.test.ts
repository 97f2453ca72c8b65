// The replay memory of a real qconfd under pressure and across clock steps (protocol.md,
// "Freshness and replay"; README, Limits and Security): a key holder's flood of far-stamped
// requests that fills the memory must not lock out clients stamping the present, and a wall
// clock stepped back (or forward and back) must not let a replay through. Counters are read
// from the metrics endpoint, which no guard stands in front of.
//
// The clock-step tests run the daemon under libfaketime (Debian's `faketime`, installed by
// test/install-deps.sh): its wall clock follows an offset read from a file on every clock
// read (FAKETIME_NO_CACHE), while its monotonic clock stays real
// (FAKETIME_DONT_FAKE_MONOTONIC). They fail, not skip, when libfaketime is missing.
import { existsSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TestDaemon } from '../../testkit/daemons.js';
import { sampleDoc } from '../support/sample-doc.js';
import { tempDir } from '../../testkit/fixtures.js';
import { RawClient, request } from '../support/raw-client.js';
import { httpGet } from '../ops/helpers.js';
import { until } from '../support/until.js';

/** Long enough that a reply, had one been sent, would have arrived on a loaded machine. */
const SILENCE_MS = 1500;

const daemons: TestDaemon[] = [];
const clients: RawClient[] = [];

afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
});

async function startDaemon(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ d: TestDaemon; metrics: string }> {
  const d = new TestDaemon({ doc: sampleDoc(3), args: ['--metrics-listen', '127.0.0.1:0', ...args], env });
  daemons.push(d);
  await d.start();
  const m = await d.waitForLog((l) => l.event === 'metrics_listen');
  return { d, metrics: `http://127.0.0.1:${m.port as number}/metrics` };
}

async function open(port: number): Promise<RawClient> {
  const c = await RawClient.open(port);
  clients.push(c);
  return c;
}

interface Counters {
  received: number;
  drops: Record<string, number>;
}

async function counters(url: string): Promise<Counters> {
  const r = await httpGet(url);
  expect(r.status).toBe(200);
  const received = Number(/^qconfd_datagrams_received_total (\S+)$/m.exec(r.body)?.[1] ?? NaN);
  const drops: Record<string, number> = {};
  for (const m of r.body.matchAll(/^qconfd_drops_total\{reason="([a-z0-9_]+)"\} (\S+)$/gm)) drops[m[1]] = Number(m[2]);
  return { received, drops };
}

function dropDelta(a: Counters, b: Counters): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(b.drops)) if (v !== (a.drops[k] ?? 0)) out[k] = v - (a.drops[k] ?? 0);
  return out;
}

/** Send every datagram, pacing a little so that loopback buffers never overflow. */
async function sendAll(c: RawClient, datagrams: Buffer[]): Promise<void> {
  for (let i = 0; i < datagrams.length; i++) {
    await c.send(datagrams[i]);
    if (i % 25 === 24) await new Promise((r) => setTimeout(r, 4));
  }
}

/** Flood, then wait until the daemon has received all of it (counted, not slept for). */
async function flood(d: TestDaemon, metrics: string, datagrams: Buffer[]): Promise<void> {
  const c = await open(d.port);
  const before = (await counters(metrics)).received;
  await sendAll(c, datagrams);
  await until(async () => (await counters(metrics)).received >= before + datagrams.length, 'the flood to be received', 30_000, 50);
}

/** Current-time pings from a fresh socket for `ms`: every one must be answered. */
async function expectCurrentClientsServed(d: TestDaemon, ms: number): Promise<number> {
  const c = await open(d.port);
  const end = Date.now() + ms;
  let n = 0;
  while (Date.now() < end) {
    const q = request({ op: 'ping' });
    const r = await c.exchange(q, 5000);
    expect(r, `current-time ping #${n + 1} was not answered`).toBeDefined();
    expect(r?.body.status).toBe(0);
    n++;
    await new Promise((res) => setTimeout(res, 100));
  }
  return n;
}

describe('a full replay memory (--replay-capacity 1024) and current clients', () => {
  it('1,100 pings stamped now + 59 s do not lock out current-time requests', async () => {
    const { d, metrics } = await startDaemon(['--replay-capacity', '1024']);
    const before = await counters(metrics);
    const t = Date.now() + 59_000;
    await flood(d, metrics, Array.from({ length: 1100 }, () => request({ op: 'ping' }, { timeMs: t, to: d.peer })));
    const served = await expectCurrentClientsServed(d, 5000);
    expect(served).toBeGreaterThan(10);
    // What was refused is the far-stamped flood beyond half the memory (what salts stamped
    // ahead may hold), counted as replay_overflow; current clients lost nothing.
    expect(dropDelta(before, await counters(metrics))).toEqual({ replay_overflow: 1100 - 512 });
  });

  it('a flood spread over every far bucket, past and future, does not lock out current-time requests', async () => {
    const { d, metrics } = await startDaemon(['--replay-capacity', '1024']);
    const now = Date.now();
    const far: Buffer[] = [];
    // Five salts in each 250 ms step from now - 59 s to now + 59 s, leaving out ±10 s of now.
    for (let dt = -59_000; dt <= 59_000; dt += 250) if (Math.abs(dt) > 10_000) for (let k = 0; k < 5; k++) far.push(request({ op: 'ping' }, { timeMs: now + dt, to: d.peer }));
    // ... and many more in one far-future and one far-past moment.
    for (let k = 0; k < 600; k++) far.push(request({ op: 'ping' }, { timeMs: now + 58_000, to: d.peer }), request({ op: 'ping' }, { timeMs: now - 40_000, to: d.peer }));
    await flood(d, metrics, far);
    await expectCurrentClientsServed(d, 4000);
  });
});

// ---- Clock steps (libfaketime) ----

function libfaketime(): string {
  const candidates = ['/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1', '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1'];
  try {
    for (const dir of readdirSync('/usr/lib')) candidates.push(join('/usr/lib', dir, 'faketime/libfaketime.so.1'));
  } catch {
    /* no /usr/lib */
  }
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error("libfaketime is not installed (Debian package `faketime`): run `bash test/install-deps.sh` as root");
  return found;
}

/** A daemon whose wall clock is real time + the offset last written with `step` (seconds). */
async function steppedDaemon(args: string[]): Promise<{ d: TestDaemon; metrics: string; step: (offsetS: number) => void }> {
  const lib = libfaketime();
  const file = join(tempDir('qconf-faketime-'), 'offset');
  const step = (offsetS: number) => {
    // Replaced whole (rename), so the daemon never reads a half-written offset.
    writeFileSync(`${file}.new`, `${offsetS >= 0 ? '+' : ''}${offsetS}\n`);
    renameSync(`${file}.new`, file);
  };
  step(0);
  const started = await startDaemon(args, {
    LD_PRELOAD: lib,
    FAKETIME_TIMESTAMP_FILE: file,
    FAKETIME_NO_CACHE: '1',
    FAKETIME_DONT_FAKE_MONOTONIC: '1',
  });
  return { ...started, step };
}

describe('the replay memory across wall-clock steps (libfaketime)', () => {
  it('a salt forgotten once its time left the window is still refused after the clock steps back into it', async () => {
    // A 5 s window: the salt is forgotten about 5.5 s after its time.
    const { d, metrics, step } = await steppedDaemon(['--max-skew', '5']);
    const c = await open(d.port);
    const t0 = Date.now();
    const q = request({ op: 'get', path: '/cluster/master' }, { timeMs: t0 });
    const first = await c.exchange(q, 5000);
    expect(first?.body.status).toBe(0);
    expect(Math.abs((first?.timeMs ?? 0) - Date.now())).toBeLessThan(2000);
    // Let the salt's time leave the window, and have the daemon notice (any request does).
    await until(() => Date.now() > t0 + 7000, 'the first request to leave the 5 s window', 15_000, 50);
    const later = request({ op: 'ping' });
    expect((await c.exchange(later, 5000))?.body.status).toBe(0);

    // Step the daemon's wall clock back 10 s: it now reads about t0 - 3 s, so the first
    // datagram's time passes the skew check again. Replayed, it must be dropped unanswered.
    const before = await counters(metrics);
    step(-10);
    const stepped = Date.now();
    await c.send(q);
    expect(await c.collect(SILENCE_MS), 'the replayed datagram was answered after the clock stepped back').toEqual([]);
    const delta = dropDelta(before, await counters(metrics));
    expect(Object.keys(delta)).toHaveLength(1);
    expect(['replay', 'replay_overflow']).toContain(Object.keys(delta)[0]);
    // The daemon noticed the step (against its monotonic clock) and said so.
    await d.waitForLog((l) => l.event === 'clock_step' && typeof l.stepMs === 'number' && Math.abs(l.stepMs + 10_000) < 1000, 5000);

    // Clients stamping the daemon's (stepped) time are refused while its clock re-treads the
    // time it had already shown: at most the step + the window + a bucket (0.25 s here).
    let answeredAt = 0;
    await until(
      async () => {
        const r = await c.exchange(request({ op: 'ping' }, { timeMs: Date.now() - 10_000 }), 1000);
        if (r === undefined) return false;
        answeredAt = Date.now();
        return true;
      },
      'a request stamped at the stepped clock to be answered again',
      30_000,
      50,
    );
    expect(answeredAt - stepped).toBeLessThan(10_000 + 5_000 + 250 + 1500);
  });

  it('a step forward then back (both beyond the window) lets no replay through and locks nobody out', async () => {
    const { d, metrics, step } = await steppedDaemon([]);
    const c = await open(d.port);
    const q = request({ op: 'get', path: '/cluster/master' });
    expect((await c.exchange(q, 5000))?.body.status).toBe(0);

    // 150 s ahead: a request stamped at the daemon's new time is answered (and carries it).
    step(150);
    const ahead = await c.exchange(request({ op: 'ping' }, { timeMs: Date.now() + 150_000 }), 5000);
    expect(ahead?.body.status).toBe(0);
    expect(Math.abs((ahead?.timeMs ?? 0) - (Date.now() + 150_000))).toBeLessThan(2000);
    await d.waitForLog((l) => l.event === 'clock_step' && typeof l.stepMs === 'number' && Math.abs(l.stepMs - 150_000) < 1000, 5000);

    // And back: the first datagram passes the skew check again; it is a replay.
    step(0);
    const before = await counters(metrics);
    await c.send(q);
    expect(await c.collect(SILENCE_MS), 'the replayed datagram was answered after the clock stepped back').toEqual([]);
    expect(dropDelta(before, await counters(metrics))).toEqual({ replay: 1 });
    await d.waitForLog((l) => l.event === 'clock_step' && typeof l.stepMs === 'number' && Math.abs(l.stepMs + 150_000) < 1000, 5000);

    // Current clients are served at once.
    await expectCurrentClientsServed(d, 2000);
  });
});
