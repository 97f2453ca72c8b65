// `npm run fuzz`: a live daemon (serving Ganeti's example config over QCF1 and plj0) gets, per
// protocol, random bytes, mutated frames, refused and replayed requests, and correctly signed
// requests with hostile bodies (cases.ts, qcf1.ts, plj0.ts). It ends with one line:
//
//   fuzz: N datagrams, 0 replies to unauthenticated input, 0 authenticated requests unanswered, 0 crashes, RSS +X MB
//
// and exits 0, or non-zero when any count is not 0 (or a reply is malformed, or one answers a
// request the protocol drops), naming examples with their bytes.
//
//   node dist/bench/fuzz/main.js [--datagrams N] [--seed S] [--protocols qcf1,plj0] [--rate R]
//
// --datagrams per protocol (default 1,000,000); --rate caps datagrams a second (default 10,000).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfdClient } from '../../client/confd-client.js';
import { Keyring, makeKey } from '../../shared/keyring.js';
import { TestDaemon } from '../../testkit/daemons.js';
import { KEY_A, KEY_B } from '../../testkit/fixtures.js';
import { GANETI_EXAMPLE_CONFIG } from '../../testkit/paths.js';
import { ganetiExampleKey } from '../../testkit/ganeti-key.js';
import { rssMB } from '../../testkit/proc-stats.js';
import { seededRandom } from '../../testkit/random.js';
import type { Protocol } from './cases.js';
import { Driver, type DriverResult } from './driver.js';
import { Plj0Fuzz } from './plj0.js';
import { MAX_WAIT_MS, Qcf1Fuzz } from './qcf1.js';
import { ReplayPool } from './replay-pool.js';

/** Log events that are defects whatever the input. */
const DEFECT_EVENTS = new Set(['internal_error', 'fatal']);

function usage(message: string): never {
  process.stderr.write(`fuzz: ${message}\n`);
  process.exit(2);
}

function parse(argv: string[]): { datagrams: number; seed: number; protocols: ('qcf1' | 'plj0')[]; rate: number } {
  const { values } = parseArgs({ args: argv, options: { datagrams: { type: 'string' }, seed: { type: 'string' }, protocols: { type: 'string' }, rate: { type: 'string' } } });
  const num = (name: string, text: string | undefined, dflt: number, min: number, max: number) => {
    if (text === undefined) return dflt;
    const n = Number(text.replace(/_/g, ''));
    if (!Number.isInteger(n) || n < min || n > max) usage(`--${name} must be a whole number from ${min} to ${max}`);
    return n;
  };
  const protocols = (values.protocols ?? 'qcf1,plj0').split(',').filter((p) => p !== '');
  if (protocols.length === 0 || protocols.some((p) => p !== 'qcf1' && p !== 'plj0')) usage('--protocols is a list of qcf1 and plj0');
  return {
    datagrams: num('datagrams', values.datagrams, 1_000_000, 1, 100_000_000),
    seed: num('seed', values.seed, Math.floor(Math.random() * 2 ** 31), 0, 2 ** 31 - 1),
    protocols: protocols as ('qcf1' | 'plj0')[],
    rate: num('rate', values.rate, 10_000, 100, 1_000_000),
  };
}

function summary(r: DriverResult): string {
  const outcomes: Record<string, number> = {};
  for (const c of r.byCategory.values()) for (const [k, n] of Object.entries(c.outcomes)) outcomes[k] = (outcomes[k] ?? 0) + n;
  return Object.entries(outcomes)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
}

async function main(): Promise<number> {
  const a = parse(process.argv.slice(2));
  const log = (line: string) => process.stdout.write(line + '\n');
  log(`fuzz: seed ${a.seed}, ${a.datagrams} datagrams per protocol (${a.protocols.join(', ')}), at most ${a.rate} a second`);
  log(`  reproduce: npm run fuzz -- --datagrams ${a.datagrams} --seed ${a.seed}`);
  const daemon = new TestDaemon({
    file: GANETI_EXAMPLE_CONFIG,
    keys: [KEY_A],
    advertise: false,
    logLevel: 'info',
    nodeName: 'fuzzed',
    args: ['--ganeti-key-file', ganetiExampleKey(), '--max-wait', String(MAX_WAIT_MS)],
  });
  let crashes = 0;
  const crashNotes: string[] = [];
  try {
    await daemon.start();
    const pid = daemon.child.pid as number;
    daemon.child.once('exit', (code, signal) => {
      crashes++;
      crashNotes.push(`the daemon exited (${signal ?? `status ${code}`}):\n${daemon.output.slice(-3000)}`);
    });
    const rssBefore = rssMB(pid).rss;
    const rand = seededRandom(a.seed);
    const totals = { sent: 0, unauth: 0, unanswered: 0, malformed: 0, bad: 0 };
    const examples: string[] = [];
    for (const name of a.protocols) {
      const pool = new ReplayPool();
      const sub = seededRandom(Math.floor(rand() * 2 ** 31));
      const p: Protocol =
        name === 'qcf1'
          ? new Qcf1Fuzz(sub, makeKey(Buffer.from(KEY_A, 'utf8')), makeKey(Buffer.from(KEY_B, 'utf8')), daemon.port, pool)
          : new Plj0Fuzz(sub, readFileSync(ganetiExampleKey()), Buffer.from('not the cluster key\n'), pool);
      const driver = new Driver(p, daemon.port, pool);
      await driver.open();
      const started = Date.now();
      let shown = 0;
      const r = await driver.run(a.datagrams, a.rate, (sent) => {
        if (sent - shown < a.datagrams / 10) return;
        shown = sent;
        log(`  ${name}: ${sent} sent, ${Math.round(rssMB(pid).rss)} MB resident`);
      });
      driver.close();
      const secs = (Date.now() - started) / 1000;
      log(`  ${name}: ${r.sent} datagrams in ${secs.toFixed(0)} s; replies: ${summary(r)}`);
      log(`  ${name}: ${r.unauthReplies} replies to unauthenticated input, ${r.unanswered} unanswered, ${r.malformedReplies} replies to requests the protocol drops, ${r.badReplies} malformed or repeated replies${r.unjudgedReplies ? `, ${r.unjudgedReplies} replies to mutations that left a request valid` : ''}${r.resent ? `, ${r.resent} answered only when sent again` : ''}${r.late ? `, ${r.late} answered late` : ''}`);
      const cats = [...r.byCategory.entries()].sort((x, y) => y[1].sent - x[1].sent).map(([k, c]) => `${k} ${c.sent}`);
      log(`  ${name} categories: ${cats.join(', ')}`);
      if (r.stuck) {
        crashes++;
        crashNotes.push(`${name}: the daemon stopped answering`);
      }
      totals.sent += r.sent;
      totals.unauth += r.unauthReplies;
      totals.unanswered += r.unanswered;
      totals.malformed += r.malformedReplies;
      totals.bad += r.badReplies;
      examples.push(...r.examples);
      if (daemon.child.exitCode !== null || daemon.child.signalCode !== null) break;
    }
    // Still serving, and nothing it logged or counted says a handler failed.
    if (daemon.child.exitCode === null && daemon.child.signalCode === null) {
      const client = new ConfdClient({ keyring: Keyring.fromStrings([KEY_A]), peers: [daemon.peer] });
      try {
        const s = await client.requestOne(client.peerList[0], { op: 'stats' }, { timeoutMs: 5000 }).reply;
        const stats = s?.status === 0 ? (s.answer as { internalErrors?: number; drops?: Record<string, number> }) : undefined;
        if (!stats) {
          crashes++;
          crashNotes.push('the daemon does not answer stats after the fuzzing');
        } else if ((stats.internalErrors ?? 0) + (stats.drops?.internal ?? 0) > 0) {
          crashes += (stats.internalErrors ?? 0) + (stats.drops?.internal ?? 0);
          crashNotes.push(`the daemon counted internal errors: ${JSON.stringify({ internalErrors: stats.internalErrors, internal: stats.drops?.internal })}`);
        }
        log(`  daemon drops: ${JSON.stringify(stats?.drops ?? {})}`);
      } finally {
        client.close();
      }
    }
    for (const l of daemon.logLines()) {
      if (!DEFECT_EVENTS.has(String(l.event))) continue;
      crashes++;
      crashNotes.push(`the daemon logged ${String(l.event)}: ${JSON.stringify(l).slice(0, 500)}`);
    }
    const rss = rssMB(pid);
    const growth = rss.rss - rssBefore;
    for (const e of examples) log(`  example: ${e}`);
    for (const c of crashNotes.slice(0, 5)) log(`  crash: ${c}`);
    if (totals.malformed > 0 || totals.bad > 0) log(`  also failed: ${totals.malformed} replies to requests the protocol drops, ${totals.bad} malformed or repeated replies`);
    log(`  daemon RSS ${rssBefore.toFixed(0)} → ${Number.isNaN(rss.rss) ? '?' : rss.rss.toFixed(0)} MB (peak ${Number.isNaN(rss.hwm) ? '?' : rss.hwm.toFixed(0)} MB)`);
    const line = `fuzz: ${totals.sent} datagrams, ${totals.unauth} replies to unauthenticated input, ${totals.unanswered} authenticated requests unanswered, ${crashes} crashes, RSS ${growth >= 0 ? '+' : ''}${Number.isNaN(growth) ? '?' : growth.toFixed(0)} MB`;
    log(line);
    return totals.unauth + totals.unanswered + crashes + totals.malformed + totals.bad === 0 ? 0 : 1;
  } finally {
    await daemon.stop('SIGKILL');
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`fuzz: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
