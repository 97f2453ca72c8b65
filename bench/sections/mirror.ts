// Section 7 of `npm run bench`, the agent's view: `client.mirror()` against 3 local daemons —
// synchronous reads per second and the datagrams they cost (none: the daemons' request counters
// before and after), and how soon a published change is visible in the mirror.
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfdClient } from '../../client/confd-client.js';
import type { Mirror, MirrorChange } from '../../client/mirror.js';
import { Keyring } from '../../shared/keyring.js';
import { fmt, fmtInt, progress } from '../lib/format.js';
import { percentiles, type Percentiles } from '../lib/load-job.js';
import { genericDoc } from '../lib/mixes.js';
import type { Report } from '../lib/report.js';
import { quiet, type RunContext, type Section } from '../lib/run-context.js';

interface Reads {
  what: string;
  perSecond: number;
  reads: number;
  datagrams: number;
}

interface Visible {
  what: string;
  ms: Percentiles;
  runs: number[];
  /** A plain held wait for the same serial, from the same publish. */
  wait: Percentiles;
}

interface MirrorResult {
  reads: Reads[];
  visible: Visible[];
}

const NODES = 1000;

/** Reads of `paths` in turn for `ms`, in batches (the clock is read once a batch). */
function readFor(m: Mirror, paths: string[], ms: number): { reads: number; seconds: number } {
  let reads = 0;
  let sink = 0;
  const t0 = performance.now();
  const end = t0 + ms;
  while (performance.now() < end) {
    for (let i = 0; i < 10_000; i++) if (m.get(paths[(reads + i) % paths.length]) !== undefined) sink++;
    reads += 10_000;
  }
  if (sink !== reads) throw new Error(`mirror reads: ${reads - sink} of ${reads} found nothing`);
  return { reads, seconds: (performance.now() - t0) / 1000 };
}

type Doc = ReturnType<typeof genericDoc>;

/** Three daemons serving one file with a `nodes`-node document, a client, and a publisher. */
async function cluster(ctx: RunContext, nodes: number) {
  const file = join(ctx.work, `mirror-${nodes}.json`);
  let serial = 1;
  writeFileSync(file, JSON.stringify(genericDoc(nodes, serial)));
  const daemons = await Promise.all(Array.from({ length: 3 }, () => ctx.qconfd(file, { ganeti: false })));
  const keyring = Keyring.fromStrings([ctx.key]);
  const client = new ConfdClient({ keyring, peers: daemons.map((d) => `127.0.0.1:${d.port}`) });
  return {
    client,
    /** A new document (written beside, renamed over: as qconf publish does), changed by `change`; its serial. */
    publish(change: (d: Doc) => void): number {
      const doc = genericDoc(nodes, ++serial);
      change(doc);
      writeFileSync(file + '.tmp', JSON.stringify(doc));
      renameSync(file + '.tmp', file);
      return serial;
    },
    /** The QCF1 requests the three daemons have answered (each asked for its own counters). */
    async requests(): Promise<number> {
      let total = 0;
      for (const d of daemons) {
        const one = new ConfdClient({ keyring, peers: [`127.0.0.1:${d.port}`] });
        try {
          const s = await one.stats({ timeoutMs: 3000 });
          if (s.kind !== 'ok') throw new Error(`stats of 127.0.0.1:${d.port}: ${s.error.message}`);
          const byOp = (s.answer.requests as { qcf1?: Record<string, number> } | undefined)?.qcf1 ?? {};
          for (const n of Object.values(byOp)) total += n;
        } finally {
          one.close();
        }
      }
      return total;
    },
    async stop(): Promise<void> {
      client.close();
      await Promise.all(daemons.map((d) => d.stop()));
    },
  };
}

const nodeOf = (d: Doc, name: string) => (d.nodes as Record<string, Record<string, unknown>>)[name];

export function mirrorSection(ctx: RunContext): Section {
  const { quick } = ctx.opts;
  let result: MirrorResult | undefined;
  const publishes = quick ? 10 : 20;

  /**
   * Publishes `change` one at a time until `m` announces each; beside it, a plain held wait for
   * the serial (the daemons' own reload and answer: the reference the mirror adds to).
   */
  async function visibleIn(c: Awaited<ReturnType<typeof cluster>>, m: Mirror, what: string, change: (d: Doc, i: number) => void): Promise<Visible> {
    const runs: number[] = [];
    const waits: number[] = [];
    for (let i = 0; i < publishes; i++) {
      // Further apart than the daemons' reload rate limit (250 ms), as separate changes are.
      await sleep(400);
      let target = Infinity;
      let seenAt = 0;
      const onChange = (e: MirrorChange) => {
        if (e.serial >= target && seenAt === 0) seenAt = performance.now();
      };
      m.on('change', onChange);
      const t0 = performance.now();
      target = c.publish((d) => change(d, i));
      const w = await c.client.waitFor({ minSerial: target }, { timeoutMs: 10_000 });
      const waited = performance.now() - t0;
      const end = Date.now() + 10_000;
      while (seenAt === 0 && Date.now() < end) await sleep(1);
      m.off('change', onChange as (e: never) => void);
      if (!w.met || seenAt === 0) throw new Error(`${what}: serial ${target} not ${w.met ? 'visible in the mirror' : 'served by a quorum'} within 10 s`);
      runs.push(seenAt - t0);
      waits.push(waited);
    }
    const v = { what, ms: percentiles(Float64Array.from(runs), runs.length), runs, wait: percentiles(Float64Array.from(waits), waits.length) };
    progress(`  publish → visible, ${what}: median ${fmt(v.ms.p50, 1)} ms, p99 ${fmt(v.ms.p99, 1)} ms; a held wait for the serial: median ${fmt(v.wait.p50, 1)} ms (${publishes} publishes)`);
    return v;
  }

  async function run(): Promise<void> {
    progress('mirror: client.mirror() reads per second and datagrams per read; a publish → visible in the mirror');
    const visible: Visible[] = [];
    const reads: Reads[] = [];
    const small = await cluster(ctx, 100);
    try {
      const node = await small.client.mirror('/nodes/node7.example.com');
      visible.push(await visibleIn(small, node, '100 nodes, a mirror of one node, its field changed', (d, i) => (nodeOf(d, 'node7.example.com').drained = i % 2 === 1)));
      node.close();
    } finally {
      await small.stop();
    }
    const c = await cluster(ctx, NODES);
    try {
      const node = await c.client.mirror('/nodes/node7.example.com');
      const whole = await c.client.mirror('');
      const seconds = quick ? 2 : 5;
      const nodePaths = ['/primary_ip', '/group', '/drained', '/ndparams/ssh_port', '/tags'];
      const wholePaths = Array.from({ length: NODES }, (_, i) => `/nodes/node${(i * 7919) % NODES}.example.com/primary_ip`);
      for (const [what, m, paths] of [
        ['one node (5 fields)', node, nodePaths],
        [`whole document (${fmtInt(NODES)} nodes, a field of each)`, whole, wholePaths],
      ] as const) {
        readFor(m, [...paths], 300); // warm-up: the engine compiles the read path
        await quiet(5000);
        const before = await c.requests();
        const r = readFor(m, [...paths], seconds * 1000);
        const datagrams = (await c.requests()) - before;
        reads.push({ what, perSecond: r.reads / r.seconds, reads: r.reads, datagrams });
        progress(`  reads, ${what}: ${fmtInt(r.reads / r.seconds)}/s; ${fmtInt(datagrams)} requests reached the daemons during ${fmtInt(r.reads)} reads (the stats queries themselves included)`);
      }
      visible.push(await visibleIn(c, node, `${fmtInt(NODES)} nodes, a mirror of one node, its field changed`, (d, i) => (nodeOf(d, 'node7.example.com').drained = i % 2 === 1)));
      visible.push(await visibleIn(c, whole, `${fmtInt(NODES)} nodes, a mirror of the whole document (read in parts), one field changed`, (d, i) => (nodeOf(d, `node${(i * 37) % NODES}.example.com`).group = `moved${i}`)));
      node.close();
      whole.close();
      result = { reads, visible };
    } finally {
      await c.stop();
    }
  }

  function render(report: Report): void {
    const r = result;
    if (!r) return;
    report.section(
      '7. Mirror (the agent library)',
      '`client.mirror(prefix)` on 3 qconfd daemons on loopback: synchronous `mirror.get(path)` calls in one process (paths taken in',
      'turn) on a document of 1,000 nodes, and the requests that reached the daemons meanwhile (their `stats` counters before and',
      'after, the stats queries included); then new documents written (one file the three daemons serve, renamed over) until the',
      'mirror announces their serial, beside a plain held wait for the same serial (`waitFor({minSerial})`: the daemons noticing the',
      'file, loading it and answering — the part that is not the mirror\'s).',
      '',
      '| mirror | reads/s | reads | requests to the daemons meanwhile |',
      '|---|---:|---:|---:|',
      ...r.reads.map((x) => `| ${x.what} | ${fmtInt(x.perSecond)} | ${fmtInt(x.reads)} | ${fmtInt(x.datagrams)} |`),
      '',
      '| publish → visible | mirror median ms | mirror p99 ms | held wait median ms | mirror runs (ms) |',
      '|---|---:|---:|---:|---|',
      ...r.visible.map((v) => `| ${v.what} | ${fmt(v.ms.p50, 1)} | ${fmt(v.ms.p99, 1)} | ${fmt(v.wait.p50, 1)} | ${v.runs.map((x) => x.toFixed(0)).join(', ')} |`),
      '',
    );
    const slowest = Math.min(...r.reads.map((x) => x.perSecond));
    report.target('mirror.get ≥ 1,000,000 reads/s in one process, no datagram per read', `${fmtInt(slowest)}/s (slowest mirror); ${r.reads.map((x) => fmtInt(x.datagrams)).join(' and ')} requests during ${r.reads.map((x) => fmtInt(x.reads)).join(' and ')} reads`, slowest >= 1_000_000 && r.reads.every((x) => x.datagrams < 20));
    const agent = r.visible[0];
    report.target('a published change visible in the mirror: median ≤ 20 ms (3 local daemons; a 100-node document, a mirror of one node)', `${fmt(agent.ms.p50, 1)} ms (held wait alone ${fmt(agent.wait.p50, 1)} ms)`, agent.ms.p50 <= 20);
  }

  return { name: 'mirror', run, render };
}
