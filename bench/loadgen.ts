// The load generator: a child process (node dist/bench/loadgen.js, forked with an IPC channel)
// that keeps a fixed number of requests in flight against one or more UDP targets for a fixed
// time, and reports queries/s, latency percentiles, and the daemon's CPU and RSS.
//
// Every request is unique: requests are generated and signed BEFORE the timed run (a QCF1 salt
// or a plj0 rsalt carries the request's index plus random bits), so the run itself costs the
// generator only a send and a receive per query and the daemon, not the generator, is what is
// measured. Bounded: at most `maxRequests` requests, `warmupMs + durationMs` of sending; a
// request without a reply within `timeoutMs` is counted lost and its slot moves on.
//
// Protocol (IPC): parent sends {cmd:'run', job}; child answers {type:'result', result} (or
// {type:'error', message}); {cmd:'exit'} ends the child. Also runnable standalone for a quick
// look: node dist/bench/loadgen.js --port N --key-file F [--plj0-key-file F] ...
import { createHmac, randomBytes } from 'node:crypto';
import dgram, { type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { decodeReplyDatagram } from '../shared/plj0/client-codec.js';
import { Keyring } from '../shared/keyring.js';
import { HEADER_LEN, KIND_REPLY, KIND_REQUEST, MAC_OFFSET, SALT_OFFSET, decodeBody, frame, packBody, verifyDatagram } from '../shared/qcf1.js';
import { cpuMs, machineCpuMs, rssMB } from './lib/common.js';

export type LoadKind = 'qcf1' | 'plj0' | 'echo';

export interface Plj0Template {
  type: number;
  /** Omitted from the request when undefined. */
  query?: unknown;
}

export interface Job {
  kind: LoadKind;
  targets: Array<{ host: string; port: number }>;
  /** qcf1 / echo: MessagePack request bodies, base64. */
  bodies?: string[];
  /** qcf1: the key line (UTF-8), as in a key file. */
  key?: string;
  /** plj0: raw hmac.key bytes, base64. */
  plj0Key?: string;
  plj0?: Plj0Template[];
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  /** Pre-generated requests at most (the run stops early if they run out). */
  maxRequests: number;
  /** Rate the generator sizes its pre-generated requests for (queries/s). */
  expectRate: number;
  timeoutMs: number;
  /** Decode and verify every Nth reply (status, serial, MAC); 0: never. */
  verifyEvery: number;
  /** Processes whose CPU and RSS are reported (the daemon; all of a multi-process daemon). */
  pids: number[];
  seed: number;
  /** Send at most this many queries/s (0: as fast as replies come back). */
  rateLimit?: number;
  /** Take the bodies (templates) in order, cycling, instead of at random: a warm-up pass over each. */
  inOrder?: boolean;
}

export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

export interface LoadResult {
  kind: LoadKind;
  sent: number;
  received: number;
  lost: number;
  late: number;
  windowMs: number;
  qps: number;
  latencyMs: Percentiles;
  daemonCpuPct: number;
  daemonRssMB: number;
  daemonHwmMB: number;
  loadgenCpuPct: number;
  /** CPU used by everything else on the machine during the window (% of one core): noise. */
  otherCpuPct: number;
  /** Sampled replies by status ("0", "1", "1:not_found", ...). */
  statuses: Record<string, number>;
  badReplies: number;
  /** Each serial seen in sampled replies, with when it was first seen (ms since the window began). */
  serials: Array<{ serial: number; firstMs: number }>;
  /** Longest time without any reply inside the window, and when it began (ms since window start). */
  maxGapMs: number;
  maxGapAtMs: number;
  exhausted: boolean;
  generateMs: number;
  /** Replies per 10 ms bin over the window (for reload timelines). */
  bins?: number[];
}

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function percentiles(samples: Float64Array, n: number): Percentiles {
  if (n === 0) return { p50: NaN, p90: NaN, p99: NaN, p999: NaN, max: NaN, mean: NaN };
  const s = samples.subarray(0, n).sort();
  const q = (p: number) => s[Math.min(n - 1, Math.max(0, Math.ceil(p * n) - 1))];
  let sum = 0;
  for (let i = 0; i < n; i++) sum += s[i];
  return { p50: q(0.5), p90: q(0.9), p99: q(0.99), p999: q(0.999), max: s[n - 1], mean: sum / n };
}

interface Generated {
  buf: Buffer;
  /** offsets[i]..offsets[i+1] is request i. */
  offsets: Uint32Array;
  count: number;
}

const HEX = '0123456789abcdef';

/**
 * A request body (a map16, as the client codec writes) with `to` added: the address the request
 * is sent to (docs/protocol.md, "Destination").
 */
function withTo(body: Buffer, to: string): Buffer {
  if (body[0] !== 0xde) throw new Error('request bodies must be map16');
  const out = Buffer.concat([body, packBody({ to }).subarray(3)]);
  out.writeUInt16BE(body.readUInt16BE(1) + 1, 1);
  return out;
}

function destination(t: { host: string; port: number }): string {
  return t.host.includes(':') ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`;
}

/** QCF1 (or echo) requests: header + body, index in the first 4 salt bytes, signed. */
function generateQcf1(job: Job, count: number, sign: boolean): Generated {
  const plain = (job.bodies ?? []).map((b) => Buffer.from(b, 'base64'));
  if (plain.length === 0) throw new Error('no request bodies');
  // Request i goes to target (i mod concurrency) mod targets (see sendSlot): its `to` names it.
  const C = Math.max(1, Math.floor(job.concurrency));
  const perTarget = job.targets.map((t) => plain.map((b) => withTo(b, destination(t))));
  const keyring = Keyring.fromStrings([job.key ?? 'x'.repeat(32)]);
  const key = keyring.signer;
  const pick = rng(job.seed);
  const choice = new Uint32Array(count);
  let total = 0;
  const bodiesOf = (i: number) => perTarget[(i % C) % perTarget.length];
  for (let i = 0; i < count; i++) {
    const c = job.inOrder ? i % plain.length : Math.floor(pick() * plain.length);
    choice[i] = c;
    total += HEADER_LEN + bodiesOf(i)[c].length;
  }
  const buf = Buffer.allocUnsafe(total);
  const offsets = new Uint32Array(count + 1);
  const rand = randomBytes(count * 12);
  const now = Date.now();
  const hi = Math.floor(now / 0x1_0000_0000);
  const lo = now >>> 0;
  let o = 0;
  for (let i = 0; i < count; i++) {
    const body = bodiesOf(i)[choice[i]];
    offsets[i] = o;
    buf.write('QCF1', o, 'latin1');
    buf[o + 4] = 1;
    buf[o + 5] = buf[o + 6] = buf[o + 7] = 0;
    buf.writeUInt32BE(key.id, o + 8);
    buf.writeUInt32BE(hi, o + 12);
    buf.writeUInt32BE(lo, o + 16);
    buf.writeUInt32BE(i, o + SALT_OFFSET);
    rand.copy(buf, o + 24, i * 12, i * 12 + 12);
    body.copy(buf, o + HEADER_LEN);
    const end = o + HEADER_LEN + body.length;
    if (sign) {
      createHmac('sha256', key.bytes)
        .update(buf.subarray(o, o + MAC_OFFSET))
        .update(buf.subarray(o + HEADER_LEN, end))
        .digest()
        .copy(buf, o + MAC_OFFSET);
    } else {
      buf.fill(0, o + MAC_OFFSET, o + HEADER_LEN);
    }
    o = end;
  }
  offsets[count] = o;
  return { buf, offsets, count };
}

/** plj0 requests as Ganeti's clients send them; rsalt = "qb" + 8 hex digits of the index + random. */
function generatePlj0(job: Job, count: number): Generated {
  const templates = job.plj0 ?? [];
  if (templates.length === 0) throw new Error('no plj0 templates');
  const key = Buffer.from(job.plj0Key ?? '', 'base64');
  const prefixes = templates.map((t) => {
    const inner: Record<string, unknown> = { protocol: 1, type: t.type };
    if (t.query !== undefined) inner.query = t.query;
    inner.rsalt = '\u0000';
    const s = JSON.stringify(inner);
    const cut = s.indexOf('"\\u0000"');
    return [s.slice(0, cut + 1), s.slice(cut + 7)] as const;
  });
  const pick = rng(job.seed);
  const salt = String(Math.floor(Date.now() / 1000));
  const rand = randomBytes(count * 6).toString('hex');
  const parts: Buffer[] = [];
  const offsets = new Uint32Array(count + 1);
  let o = 0;
  for (let i = 0; i < count; i++) {
    const [pre, post] = prefixes[job.inOrder ? i % templates.length : Math.floor(pick() * templates.length)];
    let idx = '';
    for (let s = 28; s >= 0; s -= 4) idx += HEX[(i >>> s) & 15];
    const msg = `${pre}qb${idx}${rand.slice(i * 12, i * 12 + 12)}${post}`;
    const hmac = createHmac('sha1', key).update(salt, 'latin1').update(msg, 'latin1').digest('hex');
    const b = Buffer.from(`plj0{"msg":${JSON.stringify(msg)},"salt":"${salt}","hmac":"${hmac}"}`, 'latin1');
    parts.push(b);
    offsets[i] = o;
    o += b.length;
  }
  offsets[count] = o;
  return { buf: Buffer.concat(parts, o), offsets, count };
}

function hexVal(c: number): number {
  return c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x57;
}

/** The request index a reply answers, or -1. */
function indexOf(kind: LoadKind, msg: Buffer): number {
  if (kind !== 'plj0') return msg.length >= SALT_OFFSET + 4 ? msg.readUInt32BE(SALT_OFFSET) : -1;
  const i = msg.lastIndexOf('"qb');
  if (i < 0 || i + 11 > msg.length) return -1;
  let v = 0;
  for (let k = i + 3; k < i + 11; k++) v = v * 16 + hexVal(msg[k]);
  return v;
}

/**
 * Have a daemon validate this host's address (docs/protocol.md, "Address validation"), so that
 * its replies may be larger than the requests: ask for something larger than the question, get
 * the error `retry` with a cookie, send the cookie back. Lasts ten minutes.
 */
async function validateAddress(t: { host: string; port: number }, keyring: Keyring): Promise<void> {
  const sock = dgram.createSocket(t.host.includes(':') ? 'udp6' : 'udp4');
  try {
    await new Promise<void>((r) => sock.bind(0, () => r()));
    let cookie: Buffer | undefined;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const salt = randomBytes(16);
      // Padded so that the `retry` (with the cookie) fits in the reply to it.
      const body: Record<string, unknown> = { op: 'stats', to: destination(t), pad: Buffer.alloc(300) };
      if (cookie) body.cookie = cookie;
      const reply = await new Promise<Record<string, unknown> | undefined>((resolve) => {
        const timer = setTimeout(() => done(undefined), 500);
        const onMessage = (m: Buffer) => {
          if (verifyDatagram(m, keyring, KIND_REPLY).ok && m.subarray(SALT_OFFSET, SALT_OFFSET + 16).equals(salt)) done(decodeBody(m));
        };
        const done = (r: Record<string, unknown> | undefined) => {
          clearTimeout(timer);
          sock.off('message', onMessage);
          resolve(r);
        };
        sock.on('message', onMessage);
        sock.send(frame(KIND_REQUEST, keyring.signer, Date.now(), salt, 0, packBody(body)), t.port, t.host);
      });
      if (reply === undefined) continue;
      const c = reply.cookie;
      // A stats answer is larger than the request: it comes only to a validated address.
      if ((reply.error as { code?: string } | undefined)?.code === 'retry' && Buffer.isBuffer(c)) cookie = c;
      else return;
    }
    throw new Error(`${destination(t)} did not validate this address`);
  } finally {
    sock.close();
  }
}

export async function runJob(job: Job): Promise<LoadResult> {
  const C = Math.max(1, Math.floor(job.concurrency));
  const want = Math.ceil((job.expectRate * (job.warmupMs + job.durationMs)) / 1000 * 1.15) + C;
  const count = Math.max(C * 4, Math.min(job.maxRequests, want));
  const g0 = performance.now();
  const gen = job.kind === 'plj0' ? generatePlj0(job, count) : generateQcf1(job, count, job.kind === 'qcf1');
  const generateMs = performance.now() - g0;

  const keyring = job.kind === 'qcf1' ? Keyring.fromStrings([job.key ?? '']) : undefined;
  if (keyring) for (const t of job.targets) await validateAddress(t, keyring);
  const plj0Key = job.kind === 'plj0' ? Buffer.from(job.plj0Key ?? '', 'base64') : undefined;

  const sockets: Socket[] = await Promise.all(
    job.targets.map(
      (t) =>
        new Promise<Socket>((resolve, reject) => {
          const s = dgram.createSocket({ type: t.host.includes(':') ? 'udp6' : 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
          s.once('error', reject);
          s.bind(0, () => s.connect(t.port, t.host, () => resolve(s)));
        }),
    ),
  );

  const slotIdx = new Int32Array(C).fill(-1);
  const slotK = new Int32Array(C);
  const sentAt = new Float64Array(C);
  const lat = new Float64Array(count);
  let nLat = 0;
  let sent = 0;
  let received = 0;
  let lost = 0;
  let late = 0;
  let inWindow = false;
  let stopping = false;
  let exhausted = false;
  let replies = 0;
  const statuses: Record<string, number> = {};
  let badReplies = 0;
  const serialSeen = new Map<number, number>();
  let lastReplyAt = 0;
  let maxGap = 0;
  let maxGapAt = 0;
  let winStart = 0;
  const bins: number[] = [];
  let cpu0 = 0;
  let lg0 = process.cpuUsage();
  let m0 = machineCpuMs();
  let m1 = m0;
  const pidsCpu = () => job.pids.reduce((a, p) => a + cpuMs(p), 0);

  const { buf, offsets } = gen;
  const t0 = performance.now();
  const minGapMs = job.rateLimit ? 1000 / job.rateLimit : 0;
  let nextSendAt = 0;

  const sendSlot = (s: number): void => {
    if (stopping) {
      slotIdx[s] = -1;
      return;
    }
    const idx = slotK[s] * C + s;
    if (idx >= count) {
      slotIdx[s] = -1;
      exhausted = true;
      return;
    }
    slotK[s]++;
    slotIdx[s] = idx;
    const now = performance.now();
    sentAt[s] = now;
    sent++;
    const sock = sockets[s % sockets.length];
    sock.send(buf, offsets[idx], offsets[idx + 1] - offsets[idx]);
  };

  // With a rate limit, slots whose turn has not come wait here.
  const waiting: number[] = [];
  const schedule = (s: number): void => {
    if (minGapMs === 0) return sendSlot(s);
    const now = performance.now();
    if (now >= nextSendAt && waiting.length === 0) {
      nextSendAt = Math.max(nextSendAt + minGapMs, now - 50);
      return sendSlot(s);
    }
    waiting.push(s);
  };

  const sample = (msg: Buffer, tWin: number): void => {
    if (job.kind === 'qcf1' && keyring) {
      const v = verifyDatagram(msg, keyring, KIND_REPLY);
      const body = v.ok ? decodeBody(msg) : undefined;
      if (!body) {
        badReplies++;
        return;
      }
      const err = body.error as { code?: string } | undefined;
      const k = `${String(body.status)}${err?.code ? ':' + err.code : ''}`;
      statuses[k] = (statuses[k] ?? 0) + 1;
      if (typeof body.serial === 'number' && !serialSeen.has(body.serial)) serialSeen.set(body.serial, tWin);
    } else if (job.kind === 'plj0' && plj0Key) {
      const r = decodeReplyDatagram(plj0Key, msg);
      if (!r) {
        badReplies++;
        return;
      }
      const k = String(r.status);
      statuses[k] = (statuses[k] ?? 0) + 1;
      if (!serialSeen.has(r.serial)) serialSeen.set(r.serial, tWin);
    } else {
      statuses.echo = (statuses.echo ?? 0) + 1;
    }
  };

  const onMessage = (msg: Buffer): void => {
    const idx = indexOf(job.kind, msg);
    if (idx < 0) {
      badReplies++;
      return;
    }
    const s = idx % C;
    if (slotIdx[s] !== idx) {
      late++;
      return;
    }
    const now = performance.now();
    if (inWindow) {
      received++;
      lat[nLat++] = now - sentAt[s];
      const gap = now - lastReplyAt;
      if (gap > maxGap) {
        maxGap = gap;
        maxGapAt = lastReplyAt - winStart;
      }
      const bin = Math.floor((now - winStart) / 10);
      while (bins.length <= bin) bins.push(0);
      bins[bin]++;
      if (job.verifyEvery > 0 && ++replies % job.verifyEvery === 0) sample(msg, now - winStart);
    } else if (job.verifyEvery > 0 && ++replies % job.verifyEvery === 0) {
      // Before the window: times relative to when it is due to begin (negative).
      sample(msg, now - (t0 + job.warmupMs));
    }
    lastReplyAt = now;
    slotIdx[s] = -1;
    schedule(s);
  };
  for (const s of sockets) s.on('message', onMessage);

  let cpuEnd = 0;
  let lgEnd = lg0;
  let windowEnd = 0;
  let rss = { rss: NaN, hwm: NaN };
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const now = performance.now();
      if (!inWindow && !stopping && now - t0 >= job.warmupMs) {
        inWindow = true;
        winStart = now;
        lastReplyAt = now;
        cpu0 = pidsCpu();
        lg0 = process.cpuUsage();
        m0 = machineCpuMs();
        process.send?.({ type: 'window' });
      }
      if (inWindow && !stopping && (now - winStart >= job.durationMs || exhausted)) {
        stopping = true;
        inWindow = false;
        windowEnd = now;
        cpuEnd = pidsCpu();
        lgEnd = process.cpuUsage(lg0);
        m1 = machineCpuMs();
        rss = job.pids.reduce((a, p) => {
          const r = rssMB(p);
          return { rss: a.rss + r.rss, hwm: a.hwm + r.hwm };
        }, { rss: 0, hwm: 0 });
        // A final gap: the time since the last reply, if the window ended in one.
        const gap = now - lastReplyAt;
        if (gap > maxGap) {
          maxGap = gap;
          maxGapAt = lastReplyAt - winStart;
        }
        setTimeout(() => {
          clearInterval(tick);
          resolve();
        }, 100);
        return;
      }
      // Rate-limited sends that are due.
      while (waiting.length > 0 && now >= nextSendAt) {
        nextSendAt = Math.max(nextSendAt + minGapMs, now - 50);
        sendSlot(waiting.shift() as number);
      }
      // Lost requests: their slot moves on.
      for (let s = 0; s < C; s++) {
        if (slotIdx[s] >= 0 && now - sentAt[s] > job.timeoutMs) {
          if (inWindow) lost++;
          slotIdx[s] = -1;
          schedule(s);
        }
      }
    }, 5);
    for (let s = 0; s < C; s++) schedule(s);
  });
  for (const s of sockets) s.close();

  const windowMs = windowEnd - winStart;
  const lgUsed = (lgEnd.user + lgEnd.system) / 1000;
  return {
    kind: job.kind,
    sent,
    received,
    lost,
    late,
    windowMs,
    qps: windowMs > 0 ? (received / windowMs) * 1000 : 0,
    latencyMs: percentiles(lat, nLat),
    daemonCpuPct: windowMs > 0 ? ((cpuEnd - cpu0) / windowMs) * 100 : NaN,
    daemonRssMB: rss.rss,
    daemonHwmMB: rss.hwm,
    loadgenCpuPct: windowMs > 0 ? (lgUsed / windowMs) * 100 : NaN,
    otherCpuPct: windowMs > 0 ? Math.max(0, ((m1.busy - m0.busy - (cpuEnd - cpu0) - lgUsed) / windowMs) * 100) : NaN,
    statuses,
    badReplies,
    serials: [...serialSeen].map(([serial, firstMs]) => ({ serial, firstMs })).sort((a, b) => a.firstMs - b.firstMs),
    maxGapMs: maxGap,
    maxGapAtMs: maxGapAt,
    exhausted,
    generateMs,
    bins,
  };
}

// ---------------------------------------------------------------------------------------------
// As a child process.

if (process.send !== undefined && process.argv[1]?.endsWith('loadgen.js')) {
  process.on('message', (m: { cmd: string; job?: Job }) => {
    if (m.cmd === 'exit') process.exit(0);
    if (m.cmd === 'run' && m.job) {
      runJob(m.job).then(
        (result) => process.send?.({ type: 'result', result }),
        (e: unknown) => process.send?.({ type: 'error', message: (e as Error).stack ?? String(e) }),
      );
    }
  });
  process.on('disconnect', () => process.exit(0));
} else if (process.argv[1]?.endsWith('loadgen.js')) {
  // Standalone: a quick QCF1 `ping`/`get` load against a running daemon.
  const args = process.argv.slice(2);
  const arg = (n: string, d?: string) => {
    const i = args.indexOf(`--${n}`);
    return i >= 0 ? args[i + 1] : d;
  };
  const { packBody } = await import('../shared/qcf1.js');
  const keyLine = readFileSync(arg('key-file', '') as string, 'utf8').split('\n')[0];
  const path = arg('path', '/serial_no') as string;
  const job: Job = {
    kind: 'qcf1',
    targets: [{ host: arg('host', '127.0.0.1') as string, port: Number(arg('port', '1814')) }],
    bodies: [packBody({ op: 'get', path }).toString('base64')],
    key: keyLine,
    concurrency: Number(arg('concurrency', '64')),
    warmupMs: 1000,
    durationMs: Number(arg('seconds', '5')) * 1000,
    maxRequests: 2_000_000,
    expectRate: 80_000,
    timeoutMs: 1000,
    verifyEvery: 64,
    pids: arg('pid') ? [Number(arg('pid'))] : [],
    seed: 1,
  };
  const r = await runJob(job);
  process.stdout.write(JSON.stringify({ ...r, bins: undefined }, null, 1) + '\n');
  process.exit(0);
}
