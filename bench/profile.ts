// Where does qconfd spend its time under load? Starts qconfd under `node --cpu-prof`, drives it
// with the load generator (QCF1 or plj0, the side-by-side mix, or one plj0 request type on a
// generated config), stops it (the profile is written at exit), and prints the top of the
// profile by self time. Writes bench/results/profile-<name>.md.
//
// node dist/bench/profile.js [--proto qcf1|plj0] [--seal] [--type N] [--nodes N] [--seconds S] [--name NAME] [--daemon-js PATH]
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { GANETI_EXAMPLE_CONFIG } from '../testkit/paths.js';
import { ganetiExampleKey } from '../testkit/ganeti-key.js';
import { installCleanup, killAll } from './lib/children.js';
import { profileTable, summarizeProfile } from './lib/cpuprofile.js';
import { machine, progress } from './lib/format.js';
import type { Job } from './lib/load-job.js';
import { ganetiConfigFile, ganetiFacts, headlinePlj0, headlineQcf1, plj0Templates } from './lib/mixes.js';
import { RESULTS_DIR } from './lib/paths.js';
import { LoadGen, startQconfd } from './lib/targets.js';

const { values: argv } = parseArgs({
  options: {
    proto: { type: 'string', default: 'qcf1' },
    seal: { type: 'boolean', default: false },
    type: { type: 'string' },
    nodes: { type: 'string' },
    seconds: { type: 'string', default: '6' },
    name: { type: 'string' },
    concurrency: { type: 'string', default: '64' },
    'daemon-js': { type: 'string' },
  },
});

installCleanup('profile', 10 * 60_000);

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'qconf-bench-prof-'));
  const keyFile = join(work, 'qconf.key');
  const key = 'b'.repeat(64);
  writeFileSync(keyFile, key + '\n', { mode: 0o600 });
  const gkeyFile = join(work, 'hmac.key');
  writeFileSync(gkeyFile, readFileSync(ganetiExampleKey()), { mode: 0o600 });
  const config = argv.nodes ? ganetiConfigFile(join(tmpdir(), 'qconf-bench-configs'), Number(argv.nodes)) : GANETI_EXAMPLE_CONFIG;
  const facts = ganetiFacts(config);
  const profDir = join(work, 'prof');
  const proto = argv.proto === 'plj0' ? 'plj0' : 'qcf1';
  const type = argv.type === undefined ? undefined : Number(argv.type);
  const name = argv.name ?? `${proto}${argv.seal ? '-sealed' : ''}${type === undefined ? '' : `-type${type}`}${argv.nodes ? `-${argv.nodes}nodes` : ''}`;
  progress(`profile ${name}: starting qconfd under --cpu-prof on ${config}`);
  const d = await startQconfd({ file: config, keyFile, ganetiKeyFile: gkeyFile, nodeArgs: ['--cpu-prof', '--cpu-prof-dir', profDir], daemonJs: argv['daemon-js'] });
  const lg = new LoadGen();
  const seconds = Number(argv.seconds);
  const job: Job = {
    kind: proto,
    targets: [{ host: '127.0.0.1', port: d.port }],
    concurrency: Number(argv.concurrency),
    warmupMs: 1000,
    durationMs: seconds * 1000,
    maxRequests: 3_000_000,
    expectRate: proto === 'qcf1' ? 90_000 : 60_000,
    timeoutMs: 1000,
    verifyEvery: 256,
    pids: d.pids,
    seed: 3,
  };
  if (proto === 'qcf1') {
    job.key = key;
    job.bodies = headlineQcf1(facts);
    job.seal = argv.seal;
  } else {
    job.plj0Key = readFileSync(ganetiExampleKey()).toString('base64');
    job.plj0 = type === undefined ? headlinePlj0(facts) : plj0Templates(type, facts);
  }
  const r = await lg.run(job);
  lg.close();
  await d.stop();
  await sleep(200);
  const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error('no profile written');
  const s = summarizeProfile(join(profDir, file), 25);
  const lines = [
    `# qconfd CPU profile: ${name}`,
    '',
    `${new Date().toISOString()}, ${machine()}.${argv['daemon-js'] ? ' Daemon: another build (--daemon-js).' : ''}`,
    `Load: ${proto}${job.seal ? ' sealed' : ''}, ${job.concurrency} in flight, ${seconds} s after 1 s warm-up, config ${config.includes('examples') ? 'examples/ganeti/config.data' : `generated, ${argv.nodes} nodes`}` +
      `${type === undefined ? ', the side-by-side mix' : `, request type ${type}`}.`,
    `Throughput under the profiler: ${Math.round(r.qps).toLocaleString('en-US')} queries/s (daemon CPU ${r.daemonCpuPct.toFixed(0)}%, load generator ${r.loadgenCpuPct.toFixed(0)}%, other processes ${r.otherCpuPct.toFixed(0)}%); replies sampled ${JSON.stringify(r.statuses)}.`,
    '',
    ...profileTable(s),
    '',
  ];
  mkdirSync(RESULTS_DIR, { recursive: true });
  const out = join(RESULTS_DIR, `profile-${name}.md`);
  writeFileSync(out, lines.join('\n'));
  process.stdout.write(lines.join('\n') + `\nwritten to ${out}\n`);
  rmSync(work, { recursive: true, force: true });
}

main().then(
  () => {
    killAll();
    process.exit(0);
  },
  (e: unknown) => {
    process.stderr.write(`profile: ${(e as Error).stack ?? String(e)}\n`);
    killAll();
    process.exit(1);
  },
);
