// Section 6 of `npm run bench`, the client side: quorum queries from this process to 5 local
// daemons (idle and under load), and the wall time of `qconf get` against `node -e 0`.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfdClient } from '../../client/confd-client.js';
import { Keyring } from '../../shared/keyring.js';
import { CLI_JS } from '../../testkit/paths.js';
import { fmt, fmtInt, progress, ratio } from '../lib/format.js';
import { percentiles, type Percentiles } from '../lib/load-job.js';
import { genericBodies, genericDoc } from '../lib/mixes.js';
import type { Report } from '../lib/report.js';
import { quiet, type RunContext, type Section } from '../lib/run-context.js';
import type { Target } from '../lib/targets.js';

interface ClientResult {
  idle: Percentiles;
  loaded: Percentiles;
  loadQps: number;
  cliMs: number;
  nodeMs: number;
  cliRuns: number[];
  nodeRuns: number[];
}

async function timeQueries(client: ConfdClient, n: number): Promise<Percentiles> {
  const lat = new Float64Array(n);
  let k = 0;
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const r = await client.get(`/nodes/node${i % 1000}.example.com/primary_ip`, { timeoutMs: 2000 });
    if (!r.timedOut && r.status === 0) lat[k++] = performance.now() - t;
  }
  return percentiles(lat, k);
}

/** Wall time of a command, start to exit, in ms. */
async function wall(cmd: string, args: string[]): Promise<number> {
  const t = performance.now();
  await new Promise<void>((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr?.on('data', (b: Buffer) => (err += b.toString()));
    const k = setTimeout(() => c.kill('SIGKILL'), 10_000);
    c.on('exit', (code) => {
      clearTimeout(k);
      if (code === 0) resolve();
      else reject(new Error(`${cmd} ${args.join(' ')}: exit ${code}: ${err}`));
    });
  });
  return performance.now() - t;
}

export function clientSection(ctx: RunContext): Section {
  const { quick } = ctx.opts;
  let result: ClientResult | undefined;

  async function run(): Promise<void> {
    progress('client: quorum queries to 5 daemons, idle and under load; qconf get wall time');
    const file = join(ctx.work, 'client-doc.json');
    writeFileSync(file, JSON.stringify(genericDoc(1000)));
    const daemons = await Promise.all(Array.from({ length: 5 }, () => ctx.qconfd(file, { ganeti: false })));
    const peers = daemons.map((d) => `127.0.0.1:${d.port}`);
    const client = new ConfdClient({ keyring: Keyring.fromStrings([ctx.key]), peers });
    try {
      const n = quick ? 500 : 3000;
      // Warm-up: the daemons and this process compile their hot code, the caches fill.
      await timeQueries(client, quick ? 1500 : 3000);
      // Idle means idle: the machine's other work (the previous section's daemons exiting) first.
      await quiet(10_000);
      const idle = await timeQueries(client, n);
      progress(`  idle: p50 ${fmt(idle.p50, 3)} ms, p99 ${fmt(idle.p99, 3)} ms`);
      // Under load: the generator drives all five daemons meanwhile.
      const all = daemons.flatMap((d) => d.pids);
      const job = ctx.qcf1Job({ port: 0 } as Target, genericBodies('get-field', 1000), { targets: peers.map((p) => ({ host: '127.0.0.1', port: Number(p.split(':')[1]) })), pids: all, concurrency: 40, warmupMs: 500, durationMs: quick ? 3000 : 6000 });
      const bg = ctx.lg.run(job);
      await sleep(700);
      const loaded = await timeQueries(client, Math.floor(n / 3));
      const r = await bg;
      progress(`  under load (${fmtInt(r.qps)} q/s on the five): p50 ${fmt(loaded.p50, 3)} ms, p99 ${fmt(loaded.p99, 3)} ms`);
      // qconf get against node -e 0, alternating.
      const runs = quick ? 8 : 20;
      const cli: number[] = [];
      const nodeRuns: number[] = [];
      const cliArgs = [CLI_JS, 'get', '/cluster/master', '--peers', peers.join(','), '--key-file', ctx.keyFile];
      await wall(process.execPath, cliArgs);
      await wall(process.execPath, ['-e', '0']);
      for (let i = 0; i < runs; i++) {
        cli.push(await wall(process.execPath, cliArgs));
        nodeRuns.push(await wall(process.execPath, ['-e', '0']));
      }
      const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
      result = { idle, loaded, loadQps: r.qps, cliMs: med(cli), nodeMs: med(nodeRuns), cliRuns: cli, nodeRuns };
      progress(`  qconf get ${fmt(med(cli), 1)} ms, node -e 0 ${fmt(med(nodeRuns), 1)} ms (medians of ${runs})`);
    } finally {
      client.close();
      await Promise.all(daemons.map((d) => d.stop()));
    }
  }

  function render(report: Report): void {
    const c = result;
    if (!c) return;
    report.section(
      '6. Client side',
      '`client.get()` from this process to 5 qconfd daemons on loopback (coverage 5, a quorum of 3), one query at a',
      `time; under load, the generator keeps 40 requests in flight across the five (${fmtInt(c.loadQps)} q/s) meanwhile.`,
      '',
      '| | p50 ms | p90 ms | p99 ms | max ms |',
      '|---|---:|---:|---:|---:|',
      `| idle | ${fmt(c.idle.p50, 3)} | ${fmt(c.idle.p90, 3)} | ${fmt(c.idle.p99, 3)} | ${fmt(c.idle.max, 2)} |`,
      `| under load | ${fmt(c.loaded.p50, 3)} | ${fmt(c.loaded.p90, 3)} | ${fmt(c.loaded.p99, 3)} | ${fmt(c.loaded.max, 2)} |`,
      '',
      `\`qconf get\` (a new process: start, query 5 daemons, print, exit) against \`node -e 0\`, alternating, ${c.cliRuns.length} runs each:`,
      `median **${fmt(c.cliMs, 1)} ms** vs ${fmt(c.nodeMs, 1)} ms = **${ratio(c.cliMs, c.nodeMs)}** (runs: qconf ${c.cliRuns.map((x) => x.toFixed(0)).join(', ')}; node ${c.nodeRuns.map((x) => x.toFixed(0)).join(', ')}).`,
      '',
    );
    report.target('quorum query to 5 local daemons, idle: p50 ≤ 0.3 ms, p99 ≤ 1 ms', `p50 ${fmt(c.idle.p50, 3)} ms, p99 ${fmt(c.idle.p99, 3)} ms`, c.idle.p50 <= 0.3 && c.idle.p99 <= 1);
    report.target('qconf get wall ≤ 1.5× node -e 0', ratio(c.cliMs, c.nodeMs), c.cliMs <= 1.5 * c.nodeMs);
  }

  return { name: 'client', run, render };
}
