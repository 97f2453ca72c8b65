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
// The job and result types are in lib/load-job.ts, the requests are made by lib/requests.ts.
import { randomBytes } from 'node:crypto';
import dgram, { type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { decodeReplyDatagram } from '../shared/plj0/client-codec.js';
import { Keyring } from '../shared/keyring.js';
import { HEADER_LEN, KIND_REPLY, KIND_REQUEST, KIND_SEALED_REPLY, SALT_OFFSET, decodeBody, frame, packBody, verifyDatagram } from '../shared/qcf1.js';
import { openBody, sealKeys } from '../shared/seal.js';
import { cpuMs, machineCpuMs, rssMB } from '../testkit/proc-stats.js';
import { percentiles, type Job, type LoadResult } from './lib/load-job.js';
import { destination, generatePlj0, generateQcf1, indexOf } from './lib/requests.js';

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
      const v = verifyDatagram(msg, keyring, job.seal ? KIND_SEALED_REPLY : KIND_REPLY);
      const plain = !v.ok ? undefined : job.seal ? openBody(sealKeys(v.key).reply, msg, HEADER_LEN, msg.length, HEADER_LEN) : msg;
      const body = plain && decodeBody(plain);
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
