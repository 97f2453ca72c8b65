// The held-wait registry with a counting answerer: the work of evaluating a wait is done once
// per group and snapshot, however many copies of it arrive, and a steady stream of arrivals
// never keeps a settling run from reaching every group.
import { describe, expect, it } from 'vitest';
import { WaitRegistry, type EncodedReply, type HeldWait, type WaitAnswerer } from '../../daemon/qcf1/waits.js';
import type { WaitSpec } from '../../daemon/qcf1/ops.js';

/** An answerer whose evaluations take `steps` steps each; a spec's wait holds once `version` ≥ its minSerial. */
class CountingAnswerer implements WaitAnswerer {
  version_ = 1;
  evaluations = 0;
  stepsRun = 0;
  constructor(private readonly steps: number) {}
  version(): unknown {
    return this.version_;
  }
  *answer(spec: WaitSpec, timedOut: boolean): Generator<void, EncodedReply | null> {
    this.evaluations++;
    for (let i = 0; i < this.steps; i++) {
      this.stepsRun++;
      yield;
    }
    return timedOut || this.version_ >= (spec.minSerial ?? 0) ? { body: Buffer.from(`v${this.version_}`), status: 0, code: undefined } : null;
  }
  onError(err: unknown): void {
    throw err;
  }
}

function spec(path: string, minSerial: number): WaitSpec {
  return { path, segments: path.split('/').slice(1), minSerial, timeoutMs: 60_000 };
}

function wait(s: WaitSpec, sameAs: string, delivered: string[]): HeldWait {
  return { spec: s, source: '127.0.0.1', keyId: 1, sealed: false, sameAs, deadline: Date.now() + 60_000, deliver: (r) => delivered.push(`${sameAs}:${r.body.toString()}`) };
}

const LIMITS = { total: 10_000, perSource: 10_000, perKey: 10_000 };

async function settled(reg: WaitRegistry): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (reg.settling) {
    if (Date.now() > deadline) throw new Error('the settling run did not end');
    await new Promise((r) => setImmediate(r));
  }
}

describe('held waits: work per group, not per arrival', () => {
  it('retransmitted copies of a wait whose value is being evaluated are held without evaluating it again', async () => {
    // 400 steps: more than a wait may take at arrival, so the settling run evaluates it in slices.
    const a = new CountingAnswerer(400);
    const reg = new WaitRegistry(LIMITS, a);
    const delivered: string[] = [];
    const s = spec('/big', 2);
    expect(reg.arrive(wait(s, 'w0', delivered))).toBe('held');
    expect(reg.settling).toBe(true);
    const before = a.evaluations;
    // Copies of the same wait, and other waits alike, arriving while it is evaluated.
    for (let i = 0; i < 500; i++) expect(reg.arrive(wait(s, `w${i % 50}`, delivered))).toBe('held');
    await settled(reg);
    // One evaluation at the first arrival (abandoned), one by the settling run: none per copy.
    expect(a.evaluations - before).toBeLessThanOrEqual(1);
    expect(reg.size).toBe(50);
    a.version_ = 2;
    reg.changed();
    await settled(reg);
    expect(reg.size).toBe(0);
    expect(delivered.length).toBe(50);
    expect(new Set(delivered).size).toBe(50);
  });

  it('a steady stream of arrivals during a settling run does not keep it from reaching every group', async () => {
    // 40 steps: every new wait is too long to evaluate at arrival and asks for a settling pass.
    const a = new CountingAnswerer(40);
    const reg = new WaitRegistry(LIMITS, a);
    const delivered: string[] = [];
    for (let g = 0; g < 200; g++) reg.arrive(wait(spec(`/k${g}`, 2), `g${g}`, delivered));
    await settled(reg);
    expect(reg.size).toBe(200);
    a.version_ = 2;
    reg.changed();
    // New waits keep arriving (on other paths, not met) while the run goes on.
    let n = 0;
    const stream = setInterval(() => {
      for (let i = 0; i < 5; i++, n++) reg.arrive(wait(spec(`/later${n}`, 99), `l${n}`, delivered));
    }, 0);
    try {
      const deadline = Date.now() + 30_000;
      while (delivered.length < 200 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    } finally {
      clearInterval(stream);
    }
    for (let g = 0; g < 200; g++) expect(delivered).toContain(`g${g}:v2`);
    await settled(reg);
  });
});

describe('held waits: one reply each', () => {
  it('waits ended otherwise while a met group is being delivered get no second reply', async () => {
    const a = new CountingAnswerer(0);
    const reg = new WaitRegistry(LIMITS, a);
    const delivered: string[] = [];
    const s = spec('/k', 2);
    // One group, many members: its delivery is spread over slices.
    for (let i = 0; i < 3000; i++) expect(reg.arrive(wait(s, `w${i}`, delivered))).toBe('held');
    a.version_ = 2;
    reg.changed();
    // Part-way through the delivery, every wait still held is ended (say, its key lost the path).
    let ended = 0;
    while (reg.settling && ended === 0) {
      await new Promise((r) => setImmediate(r));
      if (delivered.length > 0) {
        reg.endWhere(
          () => true,
          () => {
            ended++;
            return { body: Buffer.from('forbidden'), status: 1, code: 'forbidden' };
          },
        );
      }
    }
    await settled(reg);
    expect(ended).toBeGreaterThan(0);
    expect(delivered.length).toBe(3000);
    expect(new Set(delivered.map((d) => d.split(':')[0])).size).toBe(3000);
  });
});
