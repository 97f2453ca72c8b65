// The file replica source of a real qconfd (design.md, "Replica sources"): bad documents are
// refused (the last good snapshot keeps serving, the refusal is logged and counted), good ones
// are picked up by the directory watch, after in-place rewrites and on SIGHUP; a daemon started
// without a file is not ready until one appears; rapid rewrites end on the last; SIGTERM is clean.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, rmSync, rmdirSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfdClient } from '../../client/confd-client.js';
import { TestDaemon, type DaemonOptions } from '../../testkit/daemons.js';
import { tempDir, writeAtomic } from '../../testkit/fixtures.js';
import { sampleDoc } from '../support/sample-doc.js';
import { fetchStats } from '../support/raw-client.js';
import { trackAll } from '../support/tracked.js';

const Q = { timeoutMs: 15_000 };
const LOG_DEADLINE = 30_000;

const owned = trackAll();
const startDaemon = (opts: DaemonOptions) => owned.daemon(opts);
const clientFor = (d: TestDaemon) => owned.client([d.peer], { retransmitMs: 250 });

type Line = Record<string, unknown>;

/** Wait for a `reload` log line of `serial` written after output offset `from`. */
function waitReload(d: TestDaemon, serial: number, from: number, pred: (l: Line) => boolean = () => true): Promise<Line> {
  return d.waitForLog((l) => l.event === 'reload' && l.serial === serial && pred(l), LOG_DEADLINE, from);
}

/** Poll with queries (not sleeps) until the daemon serves `serial`. */
async function waitServing(c: ConfdClient, serial: number, deadlineMs = LOG_DEADLINE): Promise<void> {
  const end = Date.now() + deadlineMs;
  let last: unknown;
  while (Date.now() < end) {
    const r = await c.ping({ timeoutMs: 2000 });
    last = r.answer;
    if (!r.timedOut && r.serial === serial) return;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(`daemon not serving serial ${serial} within ${deadlineMs} ms; last ping ${JSON.stringify(last)}`);
}

function expectAlive(d: TestDaemon): void {
  expect(d.child.exitCode, d.output.slice(-3000)).toBeNull();
  expect(d.child.signalCode).toBeNull();
  const fatal = d.logLines().filter((l) => (l.level as number) >= 60 || /uncaught|unhandled/i.test(String(l.msg ?? '')));
  expect(fatal).toEqual([]);
}

describe('refused documents keep the last good snapshot serving', () => {
  let d: TestDaemon;
  let c: ConfdClient;
  const GOOD = 10;

  beforeAll(async () => {
    d = await startDaemon({ doc: sampleDoc(GOOD), nodeName: 'reload-a' });
    c = clientFor(d);
    await waitServing(c, GOOD);
  });
  afterEach(() => expectAlive(d));

  async function expectStillServing(): Promise<void> {
    const g = await c.get('/cluster/master', Q);
    expect(g.timedOut).toBe(false);
    expect(g.status).toBe(0);
    expect(g.serial).toBe(GOOD);
    expect(g.answer).toBe('node1.example.com');
    const p = await c.ping(Q);
    expect(p.answer).toMatchObject({ serial: GOOD, source: 'file', stale: false });
  }

  /** Apply `change` to the file; expect a refusal logged with `reason` and counted. */
  async function expectRefused(reason: string, change: () => void): Promise<void> {
    const before = await fetchStats(d.port);
    const mark = d.output.length;
    change();
    const line = await d.waitForLog((l) => l.event === 'refused' && l.reason === reason, LOG_DEADLINE, mark);
    expect(line.servingSerial).toBe(GOOD);
    expect(typeof line.msg).toBe('string');
    const after = await fetchStats(d.port);
    expect(after.refusals).toBeGreaterThan(before.refusals);
    expect(after.refusalReasons[reason] ?? 0).toBeGreaterThan(before.refusalReasons[reason] ?? 0);
    expect(after.reloads).toBe(before.reloads);
    await expectStillServing();
    // No reload line sneaked in.
    expect(d.logLines().filter((l) => l.event === 'reload' && l.serial !== GOOD)).toEqual([]);
  }

  const text = (t: string) => () => writeAtomic(d.file, t);
  const bigDoc = (serial: number) => sampleDoc(serial, { cluster: { name: 'changed', master: 'node9.example.com' } });

  it('refuses truncated JSON', async () => {
    await expectRefused('bad_json', text(JSON.stringify(bigDoc(GOOD + 1)).slice(0, 60)));
  });

  it('refuses invalid JSON and an empty file', async () => {
    await expectRefused('bad_json', text('{serial_no: 11, cluster: {}}'));
    await expectRefused('bad_json', text(''));
  });

  it('refuses a document that is not an object', async () => {
    await expectRefused('not_object', text('[{"serial_no": 11}]'));
    await expectRefused('not_object', text('"serial_no"'));
    await expectRefused('not_object', text('null'));
    await expectRefused('not_object', text('11'));
  });

  it('refuses a document without serial_no', async () => {
    const { serial_no: _drop, ...rest } = bigDoc(GOOD + 1);
    await expectRefused('bad_serial', text(JSON.stringify(rest)));
  });

  it('refuses a serial that is not a non-negative integer', async () => {
    for (const s of [11.5, '11', -1, null, true, 2 ** 53, [11]]) {
      await expectRefused('bad_serial', text(JSON.stringify({ ...bigDoc(GOOD + 1), serial_no: s })));
    }
  });

  it('refuses a serial going backwards', async () => {
    await expectRefused('serial_backwards', () => d.writeDoc(bigDoc(GOOD - 1)));
    await expectRefused('serial_backwards', () => d.writeDoc(bigDoc(0)));
  });

  it('refuses a deleted file', async () => {
    await expectRefused('unreadable', () => unlinkSync(d.file));
  });

  it('refuses a directory in place of the file', async () => {
    await expectRefused('not_regular_file', () => mkdirSync(d.file));
    rmdirSync(d.file);
  });

  it('an in-place rewrite with bad content is refused too', async () => {
    await expectRefused('bad_json', () => writeFileSync(d.file, '{"serial_no": 12, "cluster": '));
  });

  it('then picks up a good document with a higher serial (watch, atomic rename-over)', async () => {
    const mark = d.output.length;
    d.writeDoc(bigDoc(GOOD + 1));
    const line = await waitReload(d, GOOD + 1, mark);
    expect(['watch', 'poll']).toContain(line.trigger);
    expect(line.previousSerial).toBe(GOOD);
    const g = await c.get('/cluster/master', Q);
    expect(g.serial).toBe(GOOD + 1);
    expect(g.answer).toBe('node9.example.com');
    const s = await fetchStats(d.port);
    expect(s.reloads).toBeGreaterThanOrEqual(2);
  });
});

describe('picking up changes', () => {
  let d: TestDaemon;
  let c: ConfdClient;
  beforeAll(async () => {
    d = await startDaemon({ doc: sampleDoc(1), nodeName: 'reload-b' });
    c = clientFor(d);
  });
  afterEach(() => expectAlive(d));

  it('an atomic rename-over is seen by the watch', async () => {
    const mark = d.output.length;
    d.writeDoc(sampleDoc(2, { list: [1] }));
    const line = await waitReload(d, 2, mark);
    expect(['watch', 'poll']).toContain(line.trigger);
    await waitServing(c, 2);
    expect((await c.get('/list', Q)).answer).toEqual([1]);
  });

  it('an in-place rewrite (same inode) is seen by the watch', async () => {
    const mark = d.output.length;
    writeFileSync(d.file, JSON.stringify(sampleDoc(3, { list: [1, 2, 3, 4] })));
    // A watch event during the write may show a half-written file (refused); the final content
    // must be picked up all the same.
    const line = await waitReload(d, 3, mark);
    expect(['watch', 'poll']).toContain(line.trigger);
    await waitServing(c, 3);
    expect((await c.get('/list', Q)).answer).toEqual([1, 2, 3, 4]);
  });

  it('an in-place rewrite of the same size is seen', async () => {
    const mark = d.output.length;
    // Same length as serial 3's document: only the content (and mtime) differ.
    writeFileSync(d.file, JSON.stringify(sampleDoc(4, { list: [5, 6, 7, 8] })));
    await waitReload(d, 4, mark);
    expect((await c.get('/list', Q)).answer).toEqual([5, 6, 7, 8]);
  });

  it('two rapid rewrites end serving the last one', async () => {
    const mark = d.output.length;
    d.writeDoc(sampleDoc(5, { list: ['five'] }));
    d.writeDoc(sampleDoc(6, { list: ['six'] }));
    await waitReload(d, 6, mark);
    await waitServing(c, 6);
    // It stays there: ask a few times over the next rate-limit periods.
    for (let i = 0; i < 5; i++) {
      const g = await c.get('/list', Q);
      expect(g.serial).toBe(6);
      expect(g.answer).toEqual(['six']);
      await new Promise((r) => setTimeout(r, 150));
    }
  });

  it('a rewrite right after a reload (inside the rate limit) is picked up by the trailing reload', async () => {
    let mark = d.output.length;
    d.writeDoc(sampleDoc(7, { list: ['seven'] }));
    await waitReload(d, 7, mark);
    mark = d.output.length;
    // Within a few ms of the reload: the rate limit defers this one, it must not be lost.
    d.writeDoc(sampleDoc(8, { list: ['eight'] }));
    await waitReload(d, 8, mark);
    await waitServing(c, 8);
    expect((await c.get('/list', Q)).answer).toEqual(['eight']);
  });

  it('three rapid in-place rewrites end serving the last one', async () => {
    const mark = d.output.length;
    for (const s of [9, 10, 11]) writeFileSync(d.file, JSON.stringify(sampleDoc(s, { list: [s] })));
    await waitReload(d, 11, mark);
    await waitServing(c, 11);
    expect((await c.get('/list', Q)).answer).toEqual([11]);
  });

  it('SIGHUP reloads', async () => {
    const mark = d.output.length;
    d.child.kill('SIGHUP');
    const line = await waitReload(d, 11, mark, (l) => l.trigger === 'sighup');
    expect(line.serial).toBe(11);
    await d.waitForLog((l) => l.event === 'keys_reloaded', LOG_DEADLINE, mark);
  });
});

describe('SIGHUP picks up a change the watch cannot see', () => {
  it('a file behind a symlink, replaced in its own directory, is loaded on SIGHUP', async () => {
    const realDir = tempDir('qconf-real-');
    const real = join(realDir, 'config.json');
    writeAtomic(real, sampleDoc(20));
    const linkDir = tempDir('qconf-link-');
    const link = join(linkDir, 'config.json');
    symlinkSync(real, link);
    const d = await startDaemon({ file: link, nodeName: 'reload-hup' });
    const c = clientFor(d);
    await waitServing(c, 20);
    // The watched directory is the symlink's; the change happens elsewhere.
    writeAtomic(real, sampleDoc(21, { cluster: { name: 'hup', master: 'node-hup' } }));
    const mark = d.output.length;
    d.child.kill('SIGHUP');
    await waitReload(d, 21, mark, (l) => l.trigger === 'sighup');
    const g = await c.get('/cluster/master', Q);
    expect(g.serial).toBe(21);
    expect(g.answer).toBe('node-hup');
    expectAlive(d);
  });
});

describe('starting without a document', () => {
  it('starts not ready, answers ping with serial 0, get with not_ready, and loads the file when it appears', async () => {
    const d = await startDaemon({ nodeName: 'reload-empty' }); // no doc: no file
    const c = clientFor(d);
    await d.waitForLog((l) => l.event === 'refused' && l.reason === 'unreadable', LOG_DEADLINE);
    const p = await c.ping(Q);
    expect(p.timedOut).toBe(false);
    expect(p.status).toBe(0);
    expect(p.serial).toBe(0);
    expect(p.answer).toMatchObject({ node: 'reload-empty', serial: 0 });
    for (const q of [c.get('/cluster/master', Q), c.get('', Q), c.list('', 1, Q), c.mget(['/list'], Q)]) {
      const r = await q;
      expect(r.timedOut).toBe(false);
      expect(r.status).toBe(1);
      expect(r.error?.code).toBe('not_ready');
      expect(r.serial).toBe(0);
    }
    const s0 = await fetchStats(d.port);
    expect(s0.refusals).toBeGreaterThanOrEqual(1);

    const mark = d.output.length;
    d.writeDoc(sampleDoc(3));
    const line = await waitReload(d, 3, mark);
    expect(line.previousSerial).toBeNull();
    await waitServing(c, 3);
    const g = await c.get('/cluster/master', Q);
    expect(g.status).toBe(0);
    expect(g.answer).toBe('node1.example.com');
    expect((await c.ping(Q)).answer).toMatchObject({ serial: 3, source: 'file' });
    expectAlive(d);
  });

  it('starts not ready on an invalid file, and loads it once fixed', async () => {
    const dir = tempDir('qconf-bad-');
    const file = join(dir, 'config.json');
    writeAtomic(file, '{"serial_no": 4, "cluster": {');
    const d = await startDaemon({ file, nodeName: 'reload-bad' });
    const c = clientFor(d);
    await d.waitForLog((l) => l.event === 'refused' && l.reason === 'bad_json', LOG_DEADLINE);
    const r = await c.get('/cluster', Q);
    expect(r.status).toBe(1);
    expect(r.error?.code).toBe('not_ready');
    const mark = d.output.length;
    writeAtomic(file, sampleDoc(4));
    await waitReload(d, 4, mark);
    expect((await c.get('/cluster/name', Q)).answer).toBe('test.example.com');
    expectAlive(d);
  });

  it('a file deleted and then re-created is loaded again', async () => {
    const d = await startDaemon({ doc: sampleDoc(30), nodeName: 'reload-del' });
    const c = clientFor(d);
    let mark = d.output.length;
    rmSync(d.file);
    await d.waitForLog((l) => l.event === 'refused' && l.reason === 'unreadable', LOG_DEADLINE, mark);
    expect((await c.get('/list/0', Q)).answer).toBe(10);
    mark = d.output.length;
    d.writeDoc(sampleDoc(31, { list: [31] }));
    await waitReload(d, 31, mark);
    expect((await c.get('/list/0', Q)).answer).toBe(31);
    expectAlive(d);
  });
});

describe('shutdown', () => {
  it('SIGTERM: exit code 0 and a shutdown log line', async () => {
    const d = await startDaemon({ doc: sampleDoc(50), nodeName: 'reload-term' });
    const c = clientFor(d);
    await waitServing(c, 50);
    expectAlive(d);
    const res = await d.stop('SIGTERM');
    expect(res).toEqual({ code: 0, signal: null });
    const line = await d.waitForLog((l) => l.event === 'shutdown', 10_000);
    expect(line).toMatchObject({ signal: 'SIGTERM', serial: 50 });
  });

  it('SIGTERM while requests are in flight and a reload is pending still exits 0', async () => {
    const d = await startDaemon({ doc: sampleDoc(60), nodeName: 'reload-term2' });
    const c = clientFor(d);
    await waitServing(c, 60);
    const inflight = Array.from({ length: 20 }, (_, i) => c.get(`/list/${i % 3}`, { timeoutMs: 3000 }));
    d.writeDoc(sampleDoc(61));
    const res = await d.stop('SIGTERM');
    expect(res.code).toBe(0);
    await Promise.all(inflight);
    await d.waitForLog((l) => l.event === 'shutdown', 10_000);
  });
});
