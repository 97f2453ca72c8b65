// `npm run chaos`: real daemons and clients under injected faults, with the file source and then
// with etcd; the recorded history is checked (checker.ts) and summed up in one last line:
//
//   chaos: N reads, N publishes, N faults, 0 stale, 0 wrong, 0 hung          (exit 0)
//
// or the first violation, with the seed that reproduces the run (exit 1).
//
//   node dist/bench/chaos/main.js [--seconds N] [--seed S] [--daemons N] [--processes N]
//                                 [--phases file,etcd] [--plant BUG] [--history FILE]
//
// --seconds is the whole run's load time (default 120), split 60/40 between the phases.
// --seed fixes every random choice (faults, publishes, calls, relay fates); timing still varies
// from run to run, so a seed reproduces the schedule, not every interleaving. --plant runs with a
// planted bug (stale-daemon, first-reply, drop-watch-event): the run must then fail. --history
// writes each phase's history as JSON.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { seededRandom } from '../../testkit/random.js';
import { check, type Verdict } from './checker.js';
import { runPhase } from './phase.js';
import { PLANTS, type Plant } from './planted.js';

const PHASE_SALT = { file: 0x0f11e, etcd: 0xe7cd0 };

interface Args {
  seconds: number;
  seed: number;
  daemons: number;
  processes: number;
  phases: ('file' | 'etcd')[];
  plant?: Plant;
  history?: string;
}

function usage(message: string): never {
  process.stderr.write(`chaos: ${message}\n`);
  process.exit(2);
}

function whole(name: string, text: string | undefined, dflt: number, min: number, max: number): number {
  if (text === undefined) return dflt;
  if (!/^[0-9]+$/.test(text) || Number(text) < min || Number(text) > max) usage(`--${name} must be a whole number from ${min} to ${max}`);
  return Number(text);
}

function parse(argv: string[]): Args {
  const { values } = parseArgs({
    args: argv,
    options: {
      seconds: { type: 'string' },
      seed: { type: 'string' },
      daemons: { type: 'string' },
      processes: { type: 'string' },
      phases: { type: 'string' },
      plant: { type: 'string' },
      history: { type: 'string' },
    },
  });
  const phases = (values.phases ?? 'file,etcd').split(',').filter((p) => p !== '');
  if (phases.length === 0 || phases.some((p) => p !== 'file' && p !== 'etcd')) usage('--phases is a list of file and etcd');
  if (values.plant !== undefined && !(PLANTS as readonly string[]).includes(values.plant)) usage(`--plant is one of ${PLANTS.join(', ')}`);
  return {
    seconds: whole('seconds', values.seconds, 120, 4, 86_400),
    seed: whole('seed', values.seed, Math.floor(Math.random() * 2 ** 31), 0, 2 ** 31 - 1),
    daemons: whole('daemons', values.daemons, 5, 3, 7),
    processes: whole('processes', values.processes, 3, 1, 16),
    phases: phases as ('file' | 'etcd')[],
    plant: values.plant as Plant | undefined,
    history: values.history,
  };
}

function counts(rec: Record<string, number>): string {
  const parts = Object.entries(rec)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${n}`);
  return parts.length === 0 ? 'none' : parts.join(', ');
}

async function main(): Promise<number> {
  const a = parse(process.argv.slice(2));
  const log = (line: string) => process.stdout.write(line + '\n');
  const share = a.phases.length === 1 ? [a.seconds] : [Math.max(2, Math.round(a.seconds * 0.6)), Math.max(2, a.seconds - Math.round(a.seconds * 0.6))];
  const again = `npm run chaos -- --seconds ${a.seconds} --seed ${a.seed}${a.phases.length === 1 ? ` --phases ${a.phases[0]}` : ''}${a.plant ? ` --plant ${a.plant}` : ''}`;
  log(`chaos: seed ${a.seed}, ${a.seconds} s (${a.phases.map((p, i) => `${p} ${share[i]} s`).join(', ')}), ${a.daemons} daemons, ${a.processes} client processes${a.plant ? `, planted bug: ${a.plant}` : ''}`);
  log(`  reproduce: ${again}`);
  const verdicts: Verdict[] = [];
  const problems: string[] = [];
  const histories: unknown[] = [];
  for (const [i, source] of a.phases.entries()) {
    // Each phase's schedule depends on the seed and the phase alone, so --phases reproduces it.
    const seed = Math.floor(seededRandom(a.seed ^ PHASE_SALT[source])() * 2 ** 31);
    const { recorder, relays, counters } = await runPhase({ source, seconds: share[i], seed, daemons: a.daemons, processes: a.processes, plant: a.plant, log });
    const h = recorder.history;
    histories.push(h);
    const v = check(h, { servedNeverDown: source === 'file' });
    verdicts.push(v);
    problems.push(...recorder.problems.map((p) => `${source} phase: ${p}`));
    log(`  ${source}: ${v.reads} reads (${v.values} answered, ${v.unavailable} without a quorum or met condition), ${v.watchEvents} watch events (${v.watchObligations} values a watch had to see), ${v.publishes} publishes (${v.publishesHeld} held by a majority)`);
    log(`  ${source} faults: ${counts(v.faultCounts)}`);
    log(`  ${source} relays: ${relays.forwarded} datagrams forwarded, ${relays.lost} lost, ${relays.duplicated} duplicated, ${relays.reordered} held back${relays.stale > 0 ? `, ${relays.stale} answered from an older snapshot` : ''}`);
    log(`  ${source} daemons' counters: ${counts(counters)}`);
    log(`  ${source}: ${v.stale} stale, ${v.wrong} wrong, ${v.hung} hung`);
  }
  if (a.history) writeFileSync(a.history, JSON.stringify(histories));
  const sum = (f: (v: Verdict) => number) => verdicts.reduce((s, v) => s + f(v), 0);
  const violations = verdicts.flatMap((v) => v.violations);
  for (const v of violations.slice(0, 10)) log(`  violation (${v.rule}): ${v.message}`);
  if (violations.length > 10) log(`  … and ${violations.length - 10} more`);
  for (const p of problems.slice(0, 10)) log(`  problem: ${p}`);
  const summary = `${sum((v) => v.reads)} reads, ${sum((v) => v.publishes)} publishes, ${sum((v) => v.faults)} faults, ${sum((v) => v.stale)} stale, ${sum((v) => v.wrong)} wrong, ${sum((v) => v.hung)} hung`;
  if (violations.length === 0 && problems.length === 0) {
    log(`chaos: ${summary}`);
    return 0;
  }
  log(`  ${summary}`);
  const first = violations[0] ? `${violations[0].rule}: ${violations[0].message}` : `problem: ${problems[0].split('\n')[0]}`;
  log(`chaos: FAILED with seed ${a.seed} (${again}): ${first}`);
  return 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`chaos: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
