// The fuzz driver against a real daemon: what it counts as a reply to unauthenticated input must
// be one. A plj0 mutation that only upper-cases a letter of the MAC leaves the request valid
// (Ganeti compares MACs without regard to case, and so does qconfd): the daemon rightly answers
// it, and the driver must not count that answer against the daemon.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import type { Case, Protocol } from '../../bench/fuzz/cases.js';
import { Driver } from '../../bench/fuzz/driver.js';
import { Plj0Fuzz } from '../../bench/fuzz/plj0.js';
import { ReplayPool } from '../../bench/fuzz/replay-pool.js';
import { TestDaemon } from '../../testkit/daemons.js';
import { KEY_A } from '../../testkit/fixtures.js';
import { GANETI_EXAMPLE_CONFIG } from '../../testkit/paths.js';
import { ganetiExampleKey } from '../../testkit/ganeti-key.js';
import { seededRandom } from '../../testkit/random.js';

/** A request the daemon must answer, its MAC's first hex letter upper-cased: still valid. */
function upperCasedMac(fuzz: Plj0Fuzz): Case {
  for (;;) {
    const c = fuzz.hostile();
    const b = Buffer.from(c.bytes);
    const from = b.lastIndexOf('"hmac":"') + 8;
    for (let i = from; i < from + 40; i++) {
      if (b[i] >= 0x61 && b[i] <= 0x66) {
        b[i] -= 0x20;
        return { category: 'mutated MAC case', bytes: b, expect: 'unknown' };
      }
    }
  }
}

describe('fuzz driver', () => {
  let daemon: TestDaemon;
  beforeAll(async () => {
    daemon = await new TestDaemon({ file: GANETI_EXAMPLE_CONFIG, keys: [KEY_A], advertise: false, args: ['--ganeti-key-file', ganetiExampleKey()] }).start();
  });
  afterAll(async () => {
    await daemon?.stop('SIGKILL');
  });

  it('does not count a reply to a mutation that left the request valid as a reply to unauthenticated input', async () => {
    const pool = new ReplayPool();
    const fuzz = new Plj0Fuzz(seededRandom(3), readFileSync(ganetiExampleKey()), Buffer.from('another key\n'), pool);
    const still: Protocol = { name: 'plj0', next: () => upperCasedMac(fuzz), readReply: (d) => fuzz.readReply(d) };
    const driver = new Driver(still, daemon.port, pool);
    await driver.open();
    try {
      const r = await driver.run(50, 500);
      // Give the daemon's answers to the last ones time to come in: they are counted as they do.
      const end = Date.now() + 10_000;
      while (r.unjudgedReplies < 50 && Date.now() < end) await new Promise((res) => setTimeout(res, 50));
      expect(r.unauthReplies, r.examples.join('\n')).toBe(0);
      // The daemon did answer them: they were valid requests, not junk.
      expect(r.unjudgedReplies).toBe(50);
      expect(r.badReplies, r.examples.join('\n')).toBe(0);
    } finally {
      driver.close();
    }
  });
});
