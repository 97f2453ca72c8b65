// The chaos checker catches real bugs, not only synthetic ones: a short chaos run (real daemons,
// relays and client processes) with a bug planted must fail, naming the rule it broke, the seed,
// and the command that reproduces it. The bugs: a daemon that answers from its previous snapshot
// now and then (played by its relay), a client that accepts the first reply, and a watch that
// drops every third change.
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
  const cases: [string, RegExp][] = [
    ['stale-daemon', /: stale: file phase, .* returned serial \d+; a majority held serial \d+ or newer throughout the read/],
    ['first-reply', /: stale: file phase, .* returned serial \d+; a majority held serial \d+ or newer throughout the read/],
    ['drop-watch-event', /: watch_skip: file phase, .* skipped .* which a reachable quorum held for \d+ ms/],
  ];
  for (const [plant, rule] of cases) {
    it(`--plant ${plant}`, { timeout: 180_000 }, async () => {
      const { code, out } = await chaos(['--seconds', '20', '--seed', '7', '--phases', 'file', '--plant', plant]);
      const last = out.trim().split('\n').at(-1) ?? '';
      expect(code, out).toBe(1);
      expect(last, out).toMatch(/^chaos: FAILED with seed 7 \(npm run chaos -- --seconds 20 --seed 7 --phases file --plant [a-z-]+\): /);
      expect(last, out).toMatch(rule);
    });
  }
});
