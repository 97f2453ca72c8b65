// Benchmark: how soon does a waiter learn of a new document? Three qconfd daemons on loopback
// serve temp files; each run publishes serial N by atomic replacement (write a temp file, then
// rename it over the served file, on all three) and measures the time from the rename to:
//   - the exit of a `qconf wait --serial N` process started (its waits held) before the rename;
//   - the return of an in-process `client.waitFor({minSerial: N})` (library, no process exit);
//   - the detection by a client polling every 100 ms and every 1 s (quorum `get` of /serial_no
//     until 2 of 3 daemons report serial >= N, as `wait --serial` requires).
// Prints median and p99 per method and writes bench/results/wait-latency.md.
//
// Build and run: npm run build && node dist/bench/wait-latency.js [--runs N] [--poll-1s-runs N]
import { randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { ConfdClient } from '../client/confd-client.js';
import { Keyring } from '../shared/keyring.js';
import { TestDaemon } from '../testkit/daemons.js';
import { tempDir } from '../testkit/fixtures.js';
import { CLI_JS } from '../testkit/paths.js';
import { installCleanup, spawnChild } from './lib/children.js';
import { load, machine } from './lib/format.js';
import { RESULTS_DIR } from './lib/paths.js';

const RESULTS_MD = join(RESULTS_DIR, 'wait-latency.md');

const DAEMONS = 3;
/** The file source's reload rate limit is 250 ms: runs are spaced wider so none is delayed by it. */
const MIN_GAP_MS = 400;
/** Whole benchmark, hard bound. */
const OVERALL_MS = 6 * 60_000;
/** One run, hard bound (spawn + hold + publish + exit). */
const RUN_MS = 30_000;

const { values: argv } = parseArgs({
  options: {
    runs: { type: 'string', default: '30' },
    'poll-1s-runs': { type: 'string', default: '20' },
  },
});
const RUNS = Math.max(1, Math.min(500, Number(argv.runs)));
const POLL_1S_RUNS = Math.max(1, Math.min(100, Number(argv['poll-1s-runs'])));

const startedAt = Date.now();
/** The CLI's key file and the staged documents; removed at exit (a testkit temp dir, as the daemons' are). */
let workDir = '';

function overDeadline(): boolean {
  return Date.now() - startedAt > OVERALL_MS;
}

function docOf(serial: number): string {
  return JSON.stringify({
    serial_no: serial,
    cluster: { name: 'bench.example.com', master: 'node1.example.com' },
    nodes: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`node${i}.example.com`, { primary_ip: `192.0.2.${i + 10}`, drained: false }])),
  });
}

/**
 * Logging at info (debug would log every request), bound to loopback, no other address
 * advertised, and spawned as the bench spawns what it measures (children.ts: in its session).
 */
function startDaemon(i: number, key: string): Promise<TestDaemon> {
  return new TestDaemon({ doc: docOf(1), keys: [key], nodeName: `bench${i}`, logLevel: 'info', advertise: false, args: ['--bind', '127.0.0.1'], spawn: spawnChild }).start();
}

/** `wait` requests each daemon has received (its stats counter). */
async function waitCounts(client: ConfdClient): Promise<number[]> {
  return Promise.all(
    client.peerList.map(async (peer) => {
      const r = await client.requestOne(peer, { op: 'stats' }, { timeoutMs: 3000, retransmitMs: 100 }).reply;
      const answer = r?.answer as { requests?: { qcf1?: Record<string, number> } } | undefined;
      return answer?.requests?.qcf1?.wait ?? 0;
    }),
  );
}

/** Resolve once every daemon has received a wait request beyond `base` (the waiter is held). */
async function untilHeld(client: ConfdClient, base: number[], bail: () => boolean): Promise<void> {
  const end = Date.now() + 10_000;
  while (Date.now() < end && !bail()) {
    const now = await waitCounts(client);
    if (now.every((c, i) => c > base[i])) return;
    await sleep(5);
  }
  if (!bail()) throw new Error('the waiter’s requests were not seen by every daemon within 10 s');
}

let serial = 1;
let lastPublish = 0;
const staging = () => join(workDir, 'staging');

/** Stage the next document for every daemon (outside the watched directories). */
function stage(daemons: TestDaemon[], n: number): string[] {
  return daemons.map((_, i) => {
    const tmp = join(staging(), `d${i}-${n}.json`);
    writeFileSync(tmp, docOf(n));
    return tmp;
  });
}

/** Rename the staged files over the served ones; returns the time just before the first rename. */
function publish(daemons: TestDaemon[], tmps: string[]): number {
  const t0 = performance.now();
  daemons.forEach((d, i) => renameSync(tmps[i], d.file));
  lastPublish = Date.now();
  return t0;
}

async function gap(): Promise<void> {
  const wait = lastPublish + MIN_GAP_MS - Date.now();
  if (wait > 0) await sleep(wait);
}

/** Wall-clock (Date.now) times at which each daemon logged serving `n`. */
function reloadTimes(daemons: TestDaemon[], n: number): number[] {
  const out: number[] = [];
  for (const d of daemons) {
    for (const line of d.output.split('\n')) {
      if (!line.includes('"reload"')) continue;
      try {
        const o = JSON.parse(line) as { event?: string; serial?: number; time?: number };
        if (o.event === 'reload' && o.serial === n && typeof o.time === 'number') {
          out.push(o.time);
          break;
        }
      } catch {
        /* partial */
      }
    }
  }
  return out.sort((a, b) => a - b);
}

interface Sample {
  ms: number;
  /** Rename → the 2nd daemon's reload log (the quorum has the document), when known. */
  reloadMs?: number;
}

function quorumReload(daemons: TestDaemon[], n: number, wallAtRename: number): number | undefined {
  const t = reloadTimes(daemons, n);
  return t.length >= 2 ? t[1] - wallAtRename : undefined;
}

async function runCli(daemons: TestDaemon[], client: ConfdClient, keyFile: string): Promise<Sample> {
  await gap();
  const n = ++serial;
  const base = await waitCounts(client);
  const peers = daemons.map((d) => `127.0.0.1:${d.port}`).join(',');
  const child = spawnChild(process.execPath, [CLI_JS, 'wait', '--serial', String(n), '--peers', peers, '--key-file', keyFile, '--timeout', String(RUN_MS)]);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  let exitAt = 0;
  child.once('exit', () => (exitAt = performance.now()));
  // 'close' comes after the output is flushed; the time is taken at 'exit'.
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const kill = setTimeout(() => child.kill('SIGKILL'), RUN_MS + 5000);
  try {
    await untilHeld(client, base, () => exitAt !== 0);
    if (exitAt !== 0) {
      const code = await exited;
      throw new Error(`qconf wait exited before the publish: code ${code}, stdout ${JSON.stringify(stdout)}, stderr ${stderr}`);
    }
    const tmps = stage(daemons, n);
    const wall = Date.now();
    const t0 = publish(daemons, tmps);
    const code = await exited;
    if (code !== 0 || stdout.trim() !== String(n)) throw new Error(`qconf wait --serial ${n}: exit ${code}, stdout ${JSON.stringify(stdout)}, stderr ${stderr}`);
    return { ms: exitAt - t0, reloadMs: quorumReload(daemons, n, wall) };
  } finally {
    clearTimeout(kill);
  }
}

async function runLibrary(daemons: TestDaemon[], client: ConfdClient): Promise<Sample> {
  await gap();
  const n = ++serial;
  const base = await waitCounts(client);
  let doneAt = 0;
  const w = client.waitFor({ minSerial: n }, { timeoutMs: RUN_MS }).then((r) => {
    doneAt = performance.now();
    return r;
  });
  await untilHeld(client, base, () => doneAt !== 0);
  const tmps = stage(daemons, n);
  const wall = Date.now();
  const t0 = publish(daemons, tmps);
  const r = await w;
  if (!r.met || r.serial < n) throw new Error(`waitFor minSerial ${n}: ${JSON.stringify(r)}`);
  return { ms: doneAt - t0, reloadMs: quorumReload(daemons, n, wall) };
}

/** One poll: every daemon's serial of /serial_no; detected when 2 of 3 serve >= n. */
async function pollOnce(client: ConfdClient, n: number): Promise<boolean> {
  const r = await client.get('/serial_no', { coverage: -1, all: true, timeoutMs: 1000 });
  return r.peers.filter((p) => p.status === 0 && p.serial >= n).length >= 2;
}

async function runPolling(daemons: TestDaemon[], client: ConfdClient, intervalMs: number): Promise<Sample> {
  await gap();
  const n = ++serial;
  let t0 = -1;
  let detectedAt = 0;
  let stop = false;
  // The poller keeps a fixed schedule (no drift); the rename lands at a random phase of it.
  const poller = (async () => {
    const start = performance.now();
    for (let k = 0; !stop; k++) {
      const due = start + k * intervalMs;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      if (stop) return;
      // Serial n cannot be served before the rename, so any poll that sees it detects it.
      const seen = await pollOnce(client, n);
      if (seen) {
        detectedAt = performance.now();
        return;
      }
      if (performance.now() - start > RUN_MS) return;
    }
  })();
  await sleep(intervalMs + Math.random() * intervalMs);
  const tmps = stage(daemons, n);
  const wall = Date.now();
  t0 = publish(daemons, tmps);
  await poller;
  stop = true;
  if (detectedAt === 0) throw new Error(`poller (${intervalMs} ms) did not see serial ${n}`);
  return { ms: detectedAt - t0, reloadMs: quorumReload(daemons, n, wall) };
}

function quantile(sorted: number[], q: number): number {
  // Nearest rank: with n samples, p99 is the largest sample once n < 100.
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

interface Summary {
  method: string;
  n: number;
  median: number;
  p99: number;
  min: number;
  max: number;
  reloadMedian: number | undefined;
}

function summarize(method: string, samples: Sample[]): Summary {
  const s = samples.map((x) => x.ms).sort((a, b) => a - b);
  const r = samples
    .map((x) => x.reloadMs)
    .filter((x): x is number => x !== undefined)
    .sort((a, b) => a - b);
  return {
    method,
    n: s.length,
    median: quantile(s, 0.5),
    p99: quantile(s, 0.99),
    min: s[0],
    max: s[s.length - 1],
    reloadMedian: r.length > 0 ? quantile(r, 0.5) : undefined,
  };
}

const f = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? '–' : x.toFixed(1));

/** Failed runs per method (reported, never silently dropped); more than MAX_FAILURES aborts. */
const failures: Record<string, string[]> = {};
const MAX_FAILURES = 3;

async function collect(name: string, runs: number, one: () => Promise<Sample>): Promise<Sample[]> {
  const out: Sample[] = [];
  for (let i = 0; i < runs && !overDeadline(); i++) {
    try {
      out.push(await one());
    } catch (e) {
      const list = (failures[name] ??= []);
      list.push((e as Error).message.split('\n')[0]);
      process.stderr.write(`\n${name}: run ${i + 1} failed: ${(e as Error).message}\n`);
      if (list.length > MAX_FAILURES) throw new Error(`${name}: more than ${MAX_FAILURES} failed runs`);
      continue;
    }
    process.stderr.write(`\r${name}: ${i + 1}/${runs} (last ${out[out.length - 1].ms.toFixed(1)} ms)   `);
  }
  process.stderr.write('\n');
  if (out.length === 0) throw new Error(`${name}: no successful run`);
  return out;
}

async function main(): Promise<void> {
  workDir = tempDir('qconf-bench-wait-');
  mkdirSync(staging());
  const key = randomBytes(32).toString('hex');
  const keyFile = join(workDir, 'qconf.key');
  writeFileSync(keyFile, key + '\n', { mode: 0o600 });
  // Each is ready once it answers a ping.
  const daemons = await Promise.all(Array.from({ length: DAEMONS }, (_, i) => startDaemon(i, key)));
  const client = new ConfdClient({ keyring: Keyring.fromStrings([key]), peers: daemons.map((d) => `127.0.0.1:${d.port}`) });
  const results: Summary[] = [];
  try {
    // Warm up once each (file cache, JIT of the daemons' reload path).
    await runCli(daemons, client, keyFile);
    await runLibrary(daemons, client);

    const cli = await collect('qconf wait --serial (CLI exit)', RUNS, () => runCli(daemons, client, keyFile));
    const lib = await collect('client.waitFor (library)', RUNS, () => runLibrary(daemons, client));
    const p100 = await collect('polling every 100 ms', RUNS, () => runPolling(daemons, client, 100));
    const p1s = await collect('polling every 1 s', POLL_1S_RUNS, () => runPolling(daemons, client, 1000));
    results.push(
      summarize('`qconf wait --serial N` (CLI, rename → process exit)', cli),
      summarize('`client.waitFor({minSerial})` (library, rename → resolve)', lib),
      summarize('poll every 100 ms (library `get`, rename → detection)', p100),
      summarize('poll every 1 s (library `get`, rename → detection)', p1s),
    );
  } finally {
    client.close();
    await Promise.all(daemons.map((d) => d.stop()));
  }

  const [cli, , p100, p1s] = results;
  const lines = [
    '# wait latency: held `wait` vs polling',
    '',
    `Measured ${new Date().toISOString()} by \`node dist/bench/wait-latency.js\` (bench/wait-latency.ts).`,
    `Machine: ${machine()}, load average ${load()} at the end.`,
    '',
    `Setup: ${DAEMONS} qconfd daemons on loopback, each serving its own temp file (file source, directory watch).`,
    'Each run publishes serial N to all three files by atomic replacement (the new documents are written',
    'to a staging directory first, then renamed over the served files) and times from just before the first',
    'rename. A waiter needs 2 of 3 daemons at serial ≥ N. The CLI was started, and its `wait` requests were',
    'seen by every daemon (stats counter), before the rename; its time ends at the process exit as the',
    'benchmark observes it. Pollers run on a fixed schedule and the rename lands at a random phase.',
    '',
    '| method | runs | median ms | p99 ms | min ms | max ms | rename → quorum reloaded, median ms |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...results.map((r) => `| ${r.method} | ${r.n} | ${f(r.median)} | ${f(r.p99)} | ${f(r.min)} | ${f(r.max)} | ${f(r.reloadMedian)} |`),
    '',
    `Ratio of medians: polling every 100 ms / CLI wait = ${(p100.median / cli.median).toFixed(1)}×; polling every 1 s / CLI wait = ${(p1s.median / cli.median).toFixed(1)}×.`,
    '',
    `Target: CLI median under 50 ms from rename to exit — ${cli.median < 50 ? 'met' : 'NOT met'} (${f(cli.median)} ms).`,
    '',
    ...(Object.keys(failures).length > 0
      ? ['Failed runs (left out of the figures):', ...Object.entries(failures).map(([k, v]) => `- ${k}: ${v.length} — ${v.join('; ')}`), '']
      : ['No run failed.', '']),
    'p99 is nearest-rank: with fewer than 100 runs it is the largest sample. The last column is read from',
    "the daemons' `reload` log lines (their wall clock, ms resolution): the second daemon to serve N, i.e. when",
    'a quorum could first answer; the rest of each time is the reply, the quorum, and (CLI) process exit.',
    '',
  ];
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(RESULTS_MD, lines.join('\n'));
  process.stdout.write(lines.join('\n') + `\nwritten to ${RESULTS_MD}\n`);
}

installCleanup('wait-latency', OVERALL_MS + 60_000);

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`wait-latency: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
