// `npm run bench`: qconfd measured side by side with its references, in one run, on this
// machine. Writes bench/RESULTS.md and the charts bench/*.svg; progress goes to stderr.
//
//   node dist/bench/run.js [--quick] [--only SECTIONS] [--seconds S] [--rounds N]
//                          [--daemon-js PATH] [--baseline-js PATH] [--out FILE]
//
// Sections (all by default; --only takes a comma-separated list), one module each in sections/:
//   throughput  echo ceiling, qconfd over QCF1, qconfd over plj0 and the real ganeti-confd on
//               the same Ganeti config and query mix, interleaved in rounds
//   generic     point lookups and other ops on documents of 1k, 10k and 100k entries
//   ganeti      every plj0 request type on Ganeti configs of 3, 1,000 and 10,000 nodes, qconfd
//               and ganeti-confd, with load time and RSS
//   reload      the longest gap in replies while the largest documents are replaced
//   client      quorum queries to 5 daemons (idle, under load) and `qconf get` wall time
//   mirror      client.mirror() reads per second (and datagrams per read), publish → visible
//   scoped      --access-file: scoped against full-access point lookups, and a key's p99
//               latency while a rate-limited key floods
//   signed      signed documents against the same unsigned: point lookups, proof bytes, the
//               commitment's build time against the load time, a reload's gap, client checks
//   sealed      QCF1 point lookups sealed against the same in clear, on one daemon, alternating
//   cluster     100 daemons on 127.0.0.1–127.0.0.100 fed by one etcd: publish → served by a
//               client's quorum and by all, 30 killed at once, memory (fewer if memory is short)
// --quick runs every section briefly (about two minutes): fewer rounds, shorter windows,
// ganeti-confd on the 3-node config only. --daemon-js measures another qconfd build instead of
// this one. --baseline-js PATH (another build's dist/daemon/main.js) measures that build beside
// this one in the same run: every qconfd figure of throughput, generic, ganeti (load time and
// RSS) and reload, interleaved round by round, reported side by side with their ratio.
//
// Every load is bounded in count and time, all traffic is on 127.0.0.1, and every child is
// killed at the end, also on error or interrupt.
import { execFileSync } from 'node:child_process';
import { existsSync, realpathSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DAEMON_JS, ROOT } from '../testkit/paths.js';
import { installCleanup, killAll } from './lib/children.js';
import { load, machine, progress } from './lib/format.js';
import { BENCH_DIR } from './lib/paths.js';
import { Report } from './lib/report.js';
import { RunContext, quiet, type RunOptions, type Section } from './lib/run-context.js';
import { clientSection } from './sections/client.js';
import { clusterSection } from './sections/cluster.js';
import { ganetiSection } from './sections/ganeti.js';
import { mirrorSection } from './sections/mirror.js';
import { genericSection } from './sections/generic.js';
import { reloadSection } from './sections/reload.js';
import { scopedSection } from './sections/scoped.js';
import { signedSection } from './sections/signed.js';
import { sealedSection } from './sections/sealed.js';
import { throughputSection } from './sections/throughput.js';

const SECTIONS = ['throughput', 'generic', 'ganeti', 'reload', 'client', 'mirror', 'scoped', 'signed', 'sealed', 'cluster'];

interface Args extends RunOptions {
  sections: Set<string>;
  out: string;
}

function parseOptions(args: string[]): Args {
  const { values } = parseArgs({
    args,
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      seconds: { type: 'string' },
      rounds: { type: 'string' },
      'daemon-js': { type: 'string' },
      'baseline-js': { type: 'string' },
      out: { type: 'string' },
    },
  });
  const quick = values.quick === true;
  const sections = new Set((values.only ?? SECTIONS.join(',')).split(',').map((s) => s.trim()));
  const unknown = [...sections].filter((s) => !SECTIONS.includes(s));
  if (unknown.length > 0) throw new Error(`--only: unknown section(s) ${unknown.join(', ')} (known: ${SECTIONS.join(', ')})`);
  const out = values.out ?? join(BENCH_DIR, 'RESULTS.md');
  return {
    quick,
    sections,
    rounds: Number(values.rounds ?? (quick ? 1 : 3)),
    windowMs: Number(values.seconds ?? (quick ? 2 : 4)) * 1000,
    scaleWindowMs: quick ? 1500 : 2500,
    daemonJs: values['daemon-js'] ?? DAEMON_JS,
    baselineJs: values['baseline-js'] === undefined ? undefined : resolve(values['baseline-js']),
    out,
    // Charts go beside the report that links them.
    chartDir: dirname(out),
  };
}

/** The commit a build's checkout is at (its dist/daemon/main.js three levels down), if it is a git checkout. */
function commitOf(daemonJs: string): string {
  try {
    const dir = join(dirname(daemonJs), '..', '..');
    const rev = execFileSync('git', ['-C', dir, 'describe', '--always', '--dirty'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return `commit ${rev}`;
  } catch {
    return 'commit unknown';
  }
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  // A bound on the whole run, so that nothing outlives it: a few minutes a section (twice with a baseline).
  installCleanup('bench', (opts.quick ? 5 : 15) * 60_000 * opts.sections.size * (opts.baselineJs ? 2 : 1));
  process.env.QCONF_GANETI_CACHE ??= join(ROOT, '.cache', 'ganeti');
  const started = Date.now();
  progress(`qconf bench${opts.quick ? ' (quick)' : ''}: ${machine()}; sections ${[...opts.sections].join(', ')}`);
  for (const js of [opts.daemonJs, opts.baselineJs]) if (js !== undefined && !existsSync(js)) throw new Error(`${js} is missing: run npm run build`);
  const ctx = new RunContext(opts);
  try {
    await quiet(15_000);
    const sections: Section[] = [throughputSection(ctx), genericSection(ctx), ganetiSection(ctx), reloadSection(ctx), clientSection(ctx), mirrorSection(ctx), scopedSection(ctx), signedSection(ctx), sealedSection(ctx), clusterSection(ctx)].filter((s) => opts.sections.has(s.name));
    const failed: string[] = [];
    for (const s of sections) {
      try {
        await s.run();
      } catch (e) {
        failed.push(`${s.name}: ${(e as Error).message.split('\n')[0]}`);
        progress(`${s.name} failed: ${(e as Error).stack ?? e}`);
      }
    }
    const report = new Report(opts.chartDir);
    for (const s of sections) s.render(report);
    const text = report.render(
      [
        '# qconf benchmark results',
        '',
        `Measured ${new Date().toISOString()} by \`npm run bench${opts.quick ? ' -- --quick' : ''}\` (bench/run.ts) in ${((Date.now() - started) / 60_000).toFixed(1)} min.`,
        '',
        `Machine: ${machine()}; load average at the end ${load()}. The load generator runs on the same machine, so`,
        'every daemon shares the two cores with it; all figures are from one run and compared only within it.',
        '',
        ...(ctx.baseline
          ? [`This build (${commitOf(opts.daemonJs)}) is measured beside a baseline build (${commitOf(ctx.baseline.daemonJs)}, given by --baseline-js) in the same run.`, '']
          : []),
      ],
      [
        ...(failed.length ? ['Sections that failed: ' + failed.join('; '), ''] : []),
        ...(ctx.noisyRuns.length ? [`Windows disturbed by other processes even when measured again: ${ctx.noisyRuns.join('; ')}.`, ''] : []),
      ],
    );
    writeFileSync(opts.out, text);
    process.stdout.write(text);
    progress(`written ${opts.out}`);
  } finally {
    ctx.close();
  }
}

// Run only as the program (node dist/bench/run.js): importing this module does nothing.
if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    () => {
      killAll();
      process.exit(0);
    },
    (e: unknown) => {
      progress(`bench: ${(e as Error).stack ?? String(e)}`);
      killAll();
      process.exit(1);
    },
  );
}
