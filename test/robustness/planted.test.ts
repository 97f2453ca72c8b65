// The chaos checker catches real bugs, not only synthetic ones: a short chaos run (real daemons,
// relays and client processes) with a bug planted must fail, naming the rule it broke, the seed,
// and the command that reproduces it. The bugs: a daemon build that answers from its previous
// snapshot now and then (played by every daemon's relay), a client that accepts the first reply,
// and a watch that drops every third change.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { DIST } from '../../testkit/paths.js';
import { closed, spawnTracked } from '../../testkit/processes.js';

const CHAOS_JS = join(DIST, 'bench/chaos/main.js');

async function chaos(args: string[]): Promise<{ code: number | null; out: string }> {
  const child = spawnTracked(process.execPath, [CHAOS_JS, ...args]);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const { code } = await closed(child);
  return { code, out };
}

describe('chaos runs with a planted bug fail', () => {
  // Each case: the rule the first violation must break, and what ties it to the plant. A read
  // that is too old may be caught as stale against the majority or as going back against the
  // same client's earlier read, whichever ends first: both are the stale category. The planted
  // bugs make reads old or watches miss values, never wrong values or hung calls.
  const cases: [string, RegExp, RegExp | undefined][] = [
    // Every daemon (they run the same build) answers gets and mgets from its previous snapshot
    // now and then: its relays must have done so.
    ['stale-daemon', /: (stale|went_back): file phase, .*: m?get by p\d+\.c\d+ .* returned serial \d+(; a majority held| after the same client's)/, /, [1-9]\d* answered from an older snapshot/],
    // Only the gets of each process's first client take the first reply.
    ['first-reply', /: (stale|went_back): file phase, .*: get by p\d+\.c0 .* returned serial \d+(; a majority held| after the same client's)/, undefined],
    ['drop-watch-event', /: watch_skip: file phase, .* skipped .* which a reachable quorum held for \d+ ms/, undefined],
  ];
  for (const [plant, rule, evidence] of cases) {
    it(`--plant ${plant}`, { timeout: 180_000 }, async () => {
      const { code, out } = await chaos(['--seconds', '20', '--seed', '7', '--phases', 'file', '--plant', plant]);
      const lines = out.trim().split('\n');
      const last = lines.at(-1) ?? '';
      expect(code, out).toBe(1);
      expect(last, out).toMatch(/^chaos: FAILED with seed 7 \(npm run chaos -- --seconds 20 --seed 7 --phases file --plant [a-z-]+\): /);
      expect(last, out).toMatch(rule);
      expect(lines.at(-2), out).toMatch(/^ {2}\d+ reads, \d+ publishes, \d+ faults, [1-9]\d* stale, 0 wrong, 0 hung$/);
      if (evidence) expect(out).toMatch(evidence);
    });
  }
});
