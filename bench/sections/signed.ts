// Section 7 of `npm run bench`, signed documents: what a publisher's signature costs. Point
// lookups on signed documents beside the same documents unsigned (alternating, in one run), the
// proof and reply bytes of a point lookup, the commitment's build time against the daemon's
// load time, the longest gap in answers while a signed document reloads, and what checking an
// answer costs a client. This build only: a baseline (--baseline-js) may not sign at all.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Request } from '../../client/types.js';
import { SignatureCache, verifyAnswer } from '../../client/verify-answer.js';
import { sealDocument } from '../../daemon/document-signature.js';
import { runSliced } from '../../daemon/slices.js';
import { unsigned, type TrustKeys } from '../../shared/signing.js';
import { machineCpuMs } from '../../testkit/proc-stats.js';
import { fmt, fmtInt, progress, ratio } from '../lib/format.js';
import type { LoadResult } from '../lib/load-job.js';
import { ganetiConfigFile, genericBodies, genericDoc } from '../lib/mixes.js';
import type { Report } from '../lib/report.js';
import { median, prioritise, quiet, type RunContext, type Section } from '../lib/run-context.js';
import { Qcf1Probe, commitmentOf, cpuSince, hashWholeValues, newPublisher, signed, timeRuns, type Captured, type Publisher } from '../lib/signed-docs.js';
import { startQconfd, type StartedQconfd } from '../lib/targets.js';

type Obj = Record<string, unknown>;
type Kind = 'unsigned' | 'signed';
const KINDS: Kind[] = ['unsigned', 'signed'];

/** One round: a size's two daemons measured one right after the other. */
type Pair = Record<Kind, LoadResult>;

interface Lookups {
  n: number;
  pairs: Pair[];
}

/** Other processes' CPU (% of a core) above which a window counts as disturbed, as everywhere in the run. */
const NOISY = 25;

/** The daemon's CPU time per answer (µs): its own cost, whatever share of the machine it got. */
const cpuUs = (r: LoadResult): number => (r.received > 0 ? (r.daemonCpuPct / 100) * r.windowMs * 1000 / r.received : NaN);

/**
 * Whether a round's two windows met the same machine: both quiet, or disturbed alike. Others'
 * load that hits one window of a pair and not the other decides its ratio by itself.
 */
const alike = (p: Pair): boolean => Math.max(p.unsigned.otherCpuPct, p.signed.otherCpuPct) <= NOISY || Math.abs(p.unsigned.otherCpuPct - p.signed.otherCpuPct) <= 15;

/** The rounds a size's ratios come from: those measured alike, or every round if none was. */
const usable = (l: Lookups): Pair[] => (l.pairs.some(alike) ? l.pairs.filter(alike) : l.pairs);

interface Sizes {
  n: number;
  op: string;
  /** Over the sample of keys: proof bytes, signed and unsigned reply datagrams, the `signed` member. */
  proof: number[];
  reply: number[];
  unsignedReply: number[];
  signedMember: number[];
}

interface Commit {
  what: string;
  bytes: number;
  parseMs: number;
  treeMs: number;
  treeRuns: number[];
  /** The commitment's CPU time in this process, the median run's. */
  treeCpuMs: number;
  /** The daemon's sealing (signature checked, commitment built), run in its slices: wall time. */
  sealMs: number;
  /** Other processes' CPU (% of a core) while the commitment was timed. */
  others: number;
  /** The values the commitment hashes whole, hashed alone (hashWholeValues): the median run's wall time. */
  wholeMs: number;
  /** How many values those are. */
  wholeValues: number;
  startMs: Record<Kind, number[]>;
}

interface Reload {
  kind: Kind;
  r: LoadResult;
  /** ms from the replacement to the first answer with the new serial. */
  switchedMs: number;
}

interface Verify {
  what: string;
  /** Wall time per answer, the median batch's. */
  cachedUs: number;
  newRootUs: number;
  /** This process's CPU time per answer over every call. */
  cachedCpuUs: number;
  newRootCpuUs: number;
  calls: number;
  verified: number;
  /** Other processes' CPU (% of a core) while the two were timed. */
  others: number;
}

/** `fn`'s result, and the other processes' CPU (% of a core) while it ran: the machine's busy time less this process's. */
function withOthers<T>(fn: () => T): { value: T; others: number } {
  const m0 = machineCpuMs();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const value = fn();
  const elapsed = performance.now() - t0;
  const own = process.cpuUsage(c0);
  return { value, others: Math.max(0, ((machineCpuMs().busy - m0.busy - (own.user + own.system) / 1000) / elapsed) * 100) };
}

/**
 * Per-answer time (µs) of `verifyAnswer` on captured replies: the wall time of the median batch,
 * and this process's CPU time over all of them. Bounded by count and time.
 */
function timeVerify(caps: Captured[], trust: TrustKeys, cachedRoot: boolean, maxCalls: number, maxMs: number): { us: number; cpuUs: number; calls: number; verified: number } {
  const now = Date.now();
  const batch = cachedRoot ? 64 : 1;
  const warm = new SignatureCache(trust);
  const perCall: number[] = [];
  let calls = 0;
  let verified = 0;
  // Compiled and warm first (tweetnacl included), as in a long-lived client.
  for (let i = 0; i < Math.min(caps.length, 200); i++) verifyAnswer(caps[i].request, caps[i].reply, warm, now);
  const end = performance.now() + maxMs;
  const c0 = process.cpuUsage();
  while (calls < maxCalls && performance.now() < end) {
    const t = performance.now();
    for (let j = 0; j < batch; j++) {
      const c = caps[(calls + j) % caps.length];
      if (verifyAnswer(c.request, c.reply, cachedRoot ? warm : new SignatureCache(trust), now).kind === 'verified') verified++;
    }
    perCall.push(((performance.now() - t) * 1000) / batch);
    calls += batch;
  }
  const cpuUs = (cpuSince(c0) * 1000) / calls;
  perCall.sort((a, b) => a - b);
  return { us: perCall[Math.floor((perCall.length - 1) / 2)], cpuUs, calls, verified };
}

/** `count` indices of 0..n-1: the first, the last, and the rest seeded-random. */
function sampleIndices(n: number, count: number): number[] {
  let a = 12345;
  const out = [0, n - 1];
  while (out.length < Math.min(count, n)) {
    a = (Math.imul(a, 1103515245) + 12345) >>> 0;
    out.push(a % n);
  }
  return out;
}

/** Signed over unsigned, the median of the kept rounds: queries/s, and the daemon's CPU per answer. */
const qpsRatio = (l: Lookups): number => med(usable(l).map((p) => p.signed.qps / p.unsigned.qps));
const cpuRatio = (l: Lookups): number => med(usable(l).map((p) => cpuUs(p.signed) / cpuUs(p.unsigned)));

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
/** The median (of an even count, the mean of the middle two). */
function med(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = sorted(xs);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}
const max = (xs: number[]) => (xs.length ? Math.max(...xs) : NaN);

export function signedSection(ctx: RunContext): Section {
  const { quick, scaleWindowMs } = ctx.opts;
  // The ratio is the point: several rounds even when quick.
  const rounds = Math.max(ctx.opts.rounds, 3);
  /** In-process timings: the budget of each. */
  const microMs = quick ? 750 : 3000;
  const lookups: Lookups[] = [];
  const sizes: Sizes[] = [];
  const commits: Commit[] = [];
  const reloads: Reload[] = [];
  const verifies: Verify[] = [];
  const problems: string[] = [];

  function start(pub: Publisher, file: string, kind: Kind): Promise<StartedQconfd> {
    return startQconfd({
      file,
      keyFile: ctx.keyFile,
      // The signed daemon refuses anything not signed by the publisher, as a deployment would.
      extraArgs: kind === 'signed' ? ['--trust-key', pub.trustFile] : [],
      readyTimeoutMs: 120_000,
      daemonJs: ctx.current.daemonJs,
    });
  }

  /** Both kinds, the order alternating with `turn`. */
  const order = (turn: number): Kind[] => (turn % 2 === 0 ? KINDS : [...KINDS].reverse());

  /** Point lookups, their bytes, and the client's verification, on documents of each size. */
  async function lookupsAndBytes(pub: Publisher): Promise<void> {
    const all = [1000, 10_000, 100_000];
    const measured = quick ? [1000, 100_000] : all;
    const daemons = new Map<number, Record<Kind, StartedQconfd>>();
    try {
      for (const [i, n] of all.entries()) {
        const doc = genericDoc(n);
        const files: Record<Kind, string> = { unsigned: join(ctx.work, `signed-bench-${n}-u.json`), signed: join(ctx.work, `signed-bench-${n}-s.json`) };
        writeFileSync(files.unsigned, JSON.stringify(doc));
        writeFileSync(files.signed, JSON.stringify(signed(doc, pub)));
        const ds = {} as Record<Kind, StartedQconfd>;
        for (const kind of order(i)) ds[kind] = await start(pub, files[kind], kind);
        daemons.set(n, ds);
        progress(`  ${fmtInt(n)} entries: started unsigned (${fmtInt(ds.unsigned.startMs)} ms) and signed (${fmtInt(ds.signed.startMs)} ms)`);
      }

      // Bytes, and answers for the client to verify: one request at a time to each daemon.
      const trust = pub.trust;
      const sample = quick ? 100 : 300;
      for (const n of all) {
        const ds = daemons.get(n) as Record<Kind, StartedQconfd>;
        const probes = { unsigned: await Qcf1Probe.open(ds.unsigned.port, ctx.key), signed: await Qcf1Probe.open(ds.signed.port, ctx.key) };
        try {
          const fields = ['primary_ip', 'group', 'drained'];
          const ops: Array<[string, (i: number, j: number) => string]> = [['get-entry', (i) => `/nodes/node${i}.example.com`]];
          if (n === 100_000) {
            ops.push(['get-field', (i, j) => `/nodes/node${i}.example.com/${fields[j % fields.length]}`]);
            ops.push(['get-missing', (i) => `/nodes/absent${i}.example.com`]);
          }
          for (const [op, path] of ops) {
            const s: Sizes = { n, op, proof: [], reply: [], unsignedReply: [], signedMember: [] };
            const caps: Captured[] = [];
            for (const [j, i] of sampleIndices(n, sample).entries()) {
              const request: Request = { op: 'get', path: path(i, j) };
              const [u, c] = [await probes.unsigned.ask(request), await probes.signed.ask(request)];
              const want = op === 'get-missing' ? 1 : 0;
              if (c.reply.status !== want || u.reply.status !== want || c.reply.signed === undefined) {
                problems.push(`${fmtInt(n)} entries, ${op} ${request.path}: status ${c.reply.status} signed / ${u.reply.status} unsigned${c.reply.signed === undefined ? ', no signature' : ''}`);
                continue;
              }
              caps.push(c);
              s.proof.push(c.proofBytes);
              s.reply.push(c.datagramBytes);
              s.signedMember.push(c.signedBytes);
              s.unsignedReply.push(u.datagramBytes);
            }
            sizes.push(s);
            progress(`  ${fmtInt(n)} entries, ${op}: proof ${fmtInt(med(s.proof))} B median, ${fmtInt(max(s.proof))} B max; reply ${fmtInt(med(s.reply))} B signed, ${fmtInt(med(s.unsignedReply))} B unsigned`);
            if (caps.length === 0) continue;
            // The client's cost per answer, on these very replies.
            const { value: [cached, fresh], others } = withOthers(() => [timeVerify(caps, trust, true, 200_000, microMs), timeVerify(caps, trust, false, 2000, microMs)]);
            verifies.push({ what: `${fmtInt(n)} entries, ${op}`, cachedUs: cached.us, newRootUs: fresh.us, cachedCpuUs: cached.cpuUs, newRootCpuUs: fresh.cpuUs, calls: cached.calls + fresh.calls, verified: cached.verified + fresh.verified, others });
            progress(`  ${fmtInt(n)} entries, ${op}: verifyAnswer ${fmt(cached.cpuUs, 1)} µs CPU (${fmt(cached.us, 1)} µs wall) with the root cached, ${fmt(fresh.cpuUs, 0)} µs CPU (${fmt(fresh.us, 0)} µs wall) for a new root (${fmtInt(cached.verified + fresh.verified)} of ${fmtInt(cached.calls + fresh.calls)} verified; other processes ${fmt(others, 0)}%)`);
          }
        } finally {
          probes.unsigned.close();
          probes.signed.close();
        }
      }

      // Throughput: each size's two daemons one right after the other, the order alternating.
      for (const n of measured) lookups.push({ n, pairs: [] });
      const bodies = new Map(measured.map((n) => [n, genericBodies('get-entry', n)]));
      let turn = 0;
      for (let round = 1; round <= rounds; round++) {
        for (const l of lookups) {
          const ds = daemons.get(l.n) as Record<Kind, StartedQconfd>;
          const pair = {} as Pair;
          for (const kind of order(turn++)) {
            const job = ctx.qcf1Job(ds[kind], bodies.get(l.n) as string[], { warmupMs: 1000, durationMs: scaleWindowMs, seed: 21 + round });
            if (round === 1) await ctx.warmPass(job);
            pair[kind] = await ctx.measure(`${fmtInt(l.n)} entries, get-entry, ${kind}, round ${round}/${rounds}`, job);
          }
          l.pairs.push(pair);
        }
      }
    } finally {
      await Promise.all([...daemons.values()].flatMap((ds) => Object.values(ds).map((d) => d.stop())));
    }
  }

  /** The commitment built in this process, and the daemon's start → first answer, unsigned and signed. */
  async function commitment(pub: Publisher, what: string, unsignedFile: string, signedFile: string): Promise<void> {
    const text = readFileSync(unsignedFile, 'utf8');
    const bytes = Buffer.byteLength(text);
    await quiet(4000);
    const parse = timeRuns(() => JSON.parse(text), quick ? 2 : 3, 20_000);
    let doc: unknown = unsigned(JSON.parse(text) as Obj);
    const { value: tree, others } = withOthers(() => timeRuns(() => commitmentOf(doc), quick ? 2 : 5, 60_000));
    const wholeValues = hashWholeValues(doc);
    const whole = timeRuns(() => hashWholeValues(doc), quick ? 2 : 3, 30_000);
    doc = undefined;
    // As the daemon seals a loaded document: the signature checked against its trusted key, the
    // tree built in slices of a few milliseconds with the event loop (idle here) between them.
    let signedDoc = JSON.parse(readFileSync(signedFile, 'utf8')) as Obj;
    const seals: number[] = [];
    for (let i = 0; i < (quick ? 1 : 3); i++) {
      const t = performance.now();
      const sealed = await runSliced(sealDocument(signedDoc, signedDoc.serial_no as number, pub.trust, what));
      seals.push(performance.now() - t);
      if (sealed?.signed === undefined) throw new Error(`${what}: not sealed as signed`);
    }
    signedDoc = {};
    const c: Commit = { what, bytes, parseMs: parse.median, treeMs: tree.median, treeRuns: tree.runs, treeCpuMs: tree.cpuMedian, sealMs: med(seals), others, wholeMs: whole.median, wholeValues, startMs: { unsigned: [], signed: [] } };
    progress(`  ${what}: parse ${fmtInt(parse.median)} ms, commitment ${fmtInt(tree.median)} ms, CPU ${fmtInt(tree.cpuMedian)} ms (runs ${tree.runs.map((x) => x.toFixed(0)).join(', ')}; other processes ${fmt(others, 0)}%), sealing in slices ${fmtInt(c.sealMs)} ms`);
    const files: Record<Kind, string> = { unsigned: unsignedFile, signed: signedFile };
    for (let i = 0; i < (quick ? 1 : 3); i++) {
      for (const kind of order(i)) {
        await quiet(2000);
        const d = await start(pub, files[kind], kind);
        c.startMs[kind].push(d.startMs);
        await d.stop();
      }
    }
    progress(`  ${what}: start → first answer ${fmtInt(med(c.startMs.unsigned))} ms unsigned, ${fmtInt(med(c.startMs.signed))} ms signed`);
    commits.push(c);
  }

  /** A daemon under a steady load of pings while its 100,000-entry document is replaced. */
  async function reload(pub: Publisher, kind: Kind, from: string, to: string): Promise<void> {
    const served = join(ctx.work, `signed-reload-${kind}.json`);
    const staged = join(ctx.work, `signed-reload-${kind}.staged`);
    writeFileSync(served, readFileSync(from));
    writeFileSync(staged, readFileSync(to));
    const d = await start(pub, served, kind);
    try {
      prioritise([...d.pids, process.pid]);
      await quiet(4000);
      const durationMs = quick ? 10_000 : 12_000;
      // Few in flight at a steady rate: a gap is the daemon not answering, not the generator's turn.
      const job = ctx.qcf1Job(d, genericBodies('ping', 1), { concurrency: 4, rateLimit: 2000, warmupMs: 1000, durationMs, expectRate: 2000, verifyEvery: 1, seed: 31 });
      let opened: () => void = () => undefined;
      const windowOpen = new Promise<void>((r) => (opened = r));
      const run = ctx.lg.run(job, job.warmupMs + durationMs + 120_000, opened);
      await windowOpen;
      const replacedAt = 1500;
      await sleep(replacedAt);
      renameSync(staged, served);
      const r = await run;
      const newer = r.serials.find((s) => s.serial !== 1);
      const switchedMs = newer ? newer.firstMs - replacedAt : NaN;
      progress(`  reload, ${kind}: longest gap ${fmt(r.maxGapMs, 1)} ms (from ${fmtInt(r.maxGapAtMs)} ms into the window), new serial answered ${fmtInt(switchedMs)} ms after the replacement; other processes ${fmt(r.otherCpuPct, 0)}%`);
      reloads.push({ kind, r, switchedMs });
    } finally {
      await d.stop();
    }
  }

  async function run(): Promise<void> {
    progress('signed: point lookups signed vs unsigned, proof bytes, client verification, commitment vs load, reload gap');
    const pub = newPublisher(ctx.work);
    await lookupsAndBytes(pub);

    // The 100,000-entry document (as written above) and the 10,000-node Ganeti config.
    await commitment(pub, 'generic document, 100,000 entries', join(ctx.work, 'signed-bench-100000-u.json'), join(ctx.work, 'signed-bench-100000-s.json'));
    const g = ganetiConfigFile(ctx.configCache, 10_000);
    const gs = join(ctx.work, 'signed-ganeti-10000.json');
    writeFileSync(gs, JSON.stringify(signed(JSON.parse(readFileSync(g, 'utf8')) as Obj, pub), null, 1));
    await commitment(pub, 'Ganeti config, 10,000 nodes', g, gs);

    // Reload: serial 1 replaced by serial 2, signed and unsigned in turn.
    const next: Record<Kind, string> = { unsigned: join(ctx.work, 'signed-bench-100000-u2.json'), signed: join(ctx.work, 'signed-bench-100000-s2.json') };
    const doc2 = genericDoc(100_000, 2);
    writeFileSync(next.unsigned, JSON.stringify(doc2));
    writeFileSync(next.signed, JSON.stringify(signed(doc2, pub)));
    for (const kind of order(1)) await reload(pub, kind, join(ctx.work, `signed-bench-100000-${kind === 'signed' ? 's' : 'u'}.json`), next[kind]);
  }

  function render(report: Report): void {
    if (lookups.length === 0 && commits.length === 0) return;
    const pct = (r: LoadResult, k: 'p50' | 'p99') => fmt(r.latencyMs[k], 3);
    const lines: string[] = [
      'The same generic documents (N node entries, about 300 bytes each) served unsigned and signed by a publisher',
      '(Ed25519, `shared/signing.ts`); the daemon serving the signed one is given the publisher’s key (`--trust-key`),',
      'so it checks the signature, and every answer carries the signed commitment and its proof. This build only.',
      '',
      '**Point lookups** (QCF1 `get` of a whole entry, uniformly over every entry, 64 in flight): both daemons of a size run',
      `side by side and are measured one right after the other, the order alternating, in ${rounds} rounds after one pass over`,
      'every key. A round whose two windows met different loads from other processes (one quiet, one not) says nothing',
      'about signing and is left out (kept only if every round was so). Queries/s and latencies are the median kept',
      'round’s (the lower of two); the ratios are the medians of the kept rounds’ ratios. "Daemon CPU per answer" is',
      'the daemon’s CPU time over the window divided by its answers: its own cost, whatever share of the two cores it',
      'got. The load generator checks every 128th reply (MAC, body, status); the last column but one counts the signed',
      'replies it checked and accepted (status 0).',
      '',
      '| entries | unsigned q/s | signed q/s | signed / unsigned q/s | daemon CPU µs per answer, unsigned / signed | CPU signed / unsigned | p50 ms unsigned / signed | p99 ms unsigned / signed | sampled signed replies accepted | rounds: q/s ratio (others’ CPU unsigned / signed) |',
      '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
      ...lookups.map((l) => {
        const kept = usable(l);
        const u = median(kept.map((p) => p.unsigned), (r) => r.qps);
        const s = median(kept.map((p) => p.signed), (r) => r.qps);
        const signedRuns = l.pairs.map((p) => p.signed);
        const sampled = signedRuns.reduce((a, r) => a + Object.values(r.statuses).reduce((x, y) => x + y, 0) + r.badReplies, 0);
        const ok = signedRuns.reduce((a, r) => a + (r.statuses['0'] ?? 0), 0);
        const each = l.pairs.map((p) => `${(p.signed.qps / p.unsigned.qps).toFixed(2)} (${fmt(p.unsigned.otherCpuPct, 0)}% / ${fmt(p.signed.otherCpuPct, 0)}%)${kept.includes(p) ? '' : ' left out'}`);
        return `| ${fmtInt(l.n)} | ${fmtInt(u.qps)} | ${fmtInt(s.qps)} | **${ratio(qpsRatio(l), 1)}** | ${fmt(med(kept.map((p) => cpuUs(p.unsigned))), 1)} / ${fmt(med(kept.map((p) => cpuUs(p.signed))), 1)} | ${ratio(cpuRatio(l), 1)} | ${pct(u, 'p50')} / ${pct(s, 'p50')} | ${pct(u, 'p99')} / ${pct(s, 'p99')} | ${fmtInt(ok)} of ${fmtInt(sampled)} | ${each.join(', ')} |`;
      }),
      '',
      `**Bytes of a point lookup's reply** over ${fmtInt(sizes[0]?.proof.length ?? 0)} keys per row (the first, the last, the rest at random), asked one at a time:`,
      'the proof (`proof`), the signed commitment every reply carries (`signed`), and the whole datagram (QCF1 header included).',
      '',
      '| entries | request | proof bytes median / max | `signed` bytes | reply bytes signed, median / max | reply bytes unsigned, median | signed / unsigned reply |',
      '|---:|---|---:|---:|---:|---:|---:|',
      ...sizes.map(
        (s) =>
          `| ${fmtInt(s.n)} | ${s.op} | ${fmtInt(med(s.proof))} / ${fmtInt(max(s.proof))} | ${fmtInt(med(s.signedMember))} | ${fmtInt(med(s.reply))} / ${fmtInt(max(s.reply))} | ${fmtInt(med(s.unsignedReply))} | ${ratio(med(s.reply), med(s.unsignedReply))} |`,
      ),
      '',
      '**Commitment against load time**: the commitment built at once in this process (`CommitmentTree.of`; the median',
      'run’s wall time, of two the faster, and CPU time), and as the daemon seals a loaded document (`sealDocument`: the',
      'signature checked, the tree built in slices of 4 ms by `runSliced`, the event loop idle between them); the document',
      'parsed in this process (`JSON.parse`) for scale; and qconfd started on the same document unsigned and signed,',
      'alternately (spawn → first answer, Node start included; medians). Both documents are served over QCF1 only here.',
      '"Values hashed whole" times that part of the commitment alone (`hashWholeValues`: the JSON text and SHA-256 of',
      'every scalar and small container the commitment hashes whole, one node:crypto call each, and nothing else): a',
      'floor under any construction that commits to each such value by its text.',
      '',
      '| document | MB | JSON.parse ms | commitment ms (runs) | commitment CPU ms | others’ CPU | sealing in slices ms | start → first answer, unsigned ms | signed ms | signed − unsigned ms | commitment / JSON.parse | commitment / unsigned load | values hashed whole | their hashing alone ms | / unsigned load |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
      ...commits.map((c) => {
        const u = med(c.startMs.unsigned);
        const s = med(c.startMs.signed);
        return `| ${c.what} | ${fmt(c.bytes / 1e6, 1)} | ${fmtInt(c.parseMs)} | ${fmtInt(c.treeMs)} (${c.treeRuns.map((x) => x.toFixed(0)).join(', ')}) | ${fmtInt(c.treeCpuMs)} | ${fmt(c.others, 0)}% | ${fmtInt(c.sealMs)} | ${fmtInt(u)} | ${fmtInt(s)} | ${fmtInt(s - u)} | ${fmt((c.treeMs / c.parseMs) * 100, 0)}% | **${fmt((c.treeMs / u) * 100, 0)}%** | ${fmtInt(c.wholeValues)} | ${fmtInt(c.wholeMs)} | ${fmt((c.wholeMs / u) * 100, 0)}% |`;
      }),
      '',
      '**Reload**: qconfd answering pings at a steady 2,000/s (4 in flight, every reply decoded) while its 100,000-entry',
      'document (serial 1) is replaced by a rename with serial 2, 1.5 s into the window; unsigned and signed in turn. The',
      'new document is parsed, and a signed one sealed, in slices while the previous snapshot serves; "longest gap" is the',
      'longest time without any reply in the window (garbage-collection pauses included).',
      '',
      '| document | pings/s | longest gap ms | gap began (ms into window) | p99 ms | max ms | new serial answered (ms after the replacement) | others’ CPU |',
      '|---|---:|---:|---:|---:|---:|---:|---:|',
      ...reloads.map((x) => `| ${x.kind} | ${fmtInt(x.r.qps)} | **${fmt(x.r.maxGapMs, 1)}** | ${fmtInt(x.r.maxGapAtMs)} | ${fmt(x.r.latencyMs.p99, 2)} | ${fmt(x.r.latencyMs.max, 1)} | ${Number.isFinite(x.switchedMs) ? fmtInt(x.switchedMs) : 'not within the window'} | ${fmt(x.r.otherCpuPct, 0)}% |`),
      '',
      '**Client verification** (`verifyAnswer`, in this process) of the signed replies captured above: per answer with the',
      'signed root already checked (`SignatureCache`, as a long-lived client has it), and per answer whose root is new',
      '(the Ed25519 signature checked too, by tweetnacl). The cost is this process’s CPU time over all the calls (its',
      'threads together, the collector’s too: it can exceed the wall time) divided by them; the wall time is the median',
      'batch’s (64 answers, or one with a new root), which other processes stretch when they take the core (their CPU, %',
      'of a core, while these were timed).',
      '',
      '| answers | CPU µs per answer, root cached | wall µs | CPU µs per answer, new root | wall µs | calls verified | others’ CPU |',
      '|---|---:|---:|---:|---:|---:|---:|',
      ...verifies.map((v) => `| ${v.what} | **${fmt(v.cachedCpuUs, 1)}** | ${fmt(v.cachedUs, 1)} | ${fmtInt(v.newRootCpuUs)} | ${fmtInt(v.newRootUs)} | ${fmtInt(v.verified)} of ${fmtInt(v.calls)} | ${fmt(v.others, 0)}% |`),
      '',
      ...(problems.length ? [`Unexpected replies: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? ` (${problems.length} in all)` : ''}.`, ''] : []),
    ];
    report.section('7. Signed documents', ...lines);

    if (lookups.length) {
      report.target(
        'signed documents: point lookups ≥ 0.9× the same document unsigned',
        lookups.map((l) => `${fmtInt(l.n)} entries ${ratio(qpsRatio(l), 1)} (daemon CPU per answer ${ratio(cpuRatio(l), 1)})`).join(', '),
        lookups.every((l) => qpsRatio(l) >= 0.9),
      );
    }
    const big = sizes.find((s) => s.n === 100_000 && s.op === 'get-entry');
    if (big) report.target('signed documents: proof of a point lookup at 100,000 entries ≤ 2 KB', `${fmtInt(med(big.proof))} B median, ${fmtInt(max(big.proof))} B max`, max(big.proof) <= 2048);
    for (const c of commits) {
      const u = med(c.startMs.unsigned);
      report.target(
        `signed documents, ${c.what}: commitment < 25% of the load time`,
        `${fmtInt(c.treeMs)} ms = ${fmt((c.treeMs / u) * 100, 0)}% of ${fmtInt(u)} ms (start → first answer, unsigned), ${fmt((c.treeMs / c.parseMs) * 100, 0)}% of JSON.parse's ${fmtInt(c.parseMs)} ms; its ${fmtInt(c.wholeValues)} values hashed whole alone ${fmtInt(c.wholeMs)} ms = ${fmt((c.wholeMs / u) * 100, 0)}%; other processes ${fmt(c.others, 0)}%`,
        c.treeMs < 0.25 * u,
      );
    }
    const sr = reloads.find((x) => x.kind === 'signed');
    const ur = reloads.find((x) => x.kind === 'unsigned');
    if (sr) report.target('signed 100,000-entry document: longest ping gap during a reload < 100 ms', `${fmt(sr.r.maxGapMs, 1)} ms (unsigned: ${fmt(ur?.r.maxGapMs, 1)} ms)`, sr.r.maxGapMs < 100);
    const worstVerify = verifies.reduce<Verify | undefined>((a, v) => (a === undefined || v.cachedCpuUs > a.cachedCpuUs ? v : a), undefined);
    if (worstVerify) {
      const w = worstVerify;
      report.target(
        'client verification per answer, root cached ≤ 50 µs',
        `${fmt(w.cachedCpuUs, 1)} µs CPU at most (${w.what}; ${fmt(w.cachedUs, 1)} µs wall, other processes ${fmt(w.others, 0)}%); ${fmtInt(w.newRootCpuUs)} µs CPU with a new root`,
        w.cachedCpuUs <= 50,
      );
    }
  }

  return { name: 'signed', run, render };
}
