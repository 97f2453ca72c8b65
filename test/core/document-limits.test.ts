// What may be a document, on real daemons: a regular file (a symlink to one is fine) of at most
// --max-document-bytes, nested at most 512 levels. A FIFO, a device or an oversized or too deep
// document is refused quickly with its reason (logged and counted), the last good document keeps
// serving (or the daemon answers not_ready), later good documents load, SIGTERM still exits 0,
// memory stays bounded, and other clients keep being answered within 300 ms while a large
// document is parsed. The etcd replica's copy on disk is read the same way.
import { execFileSync } from 'node:child_process';
import { readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfdClient } from '../../client/confd-client.js';
import { TestDaemon, type DaemonOptions } from '../../testkit/daemons.js';
import { tempDir, writeAtomic } from '../../testkit/fixtures.js';
import { sampleDoc } from '../support/sample-doc.js';
import { PingWatch } from '../support/liveness.js';
import { trackAll } from '../support/tracked.js';
import { fetchStats } from '../support/raw-client.js';

const Q = { timeoutMs: 15_000 };
const LOG_DEADLINE = 30_000;
/** Far above what a daemon holding a small document needs, far below what /dev/zero gives. */
const RSS_BOUND = 300 * 1024 * 1024;

const owned = trackAll();
const startDaemon = (opts: DaemonOptions) => owned.daemon(opts);
const clientFor = (d: TestDaemon) => owned.client([d.peer], { retransmitMs: 250 });

function watch(d: TestDaemon): PingWatch {
  const w = new PingWatch(d.port);
  owned.watches.push(w);
  return w;
}

async function waitSamples(w: PingWatch, n: number): Promise<void> {
  const target = w.samples.length + n;
  const deadline = Date.now() + 60_000;
  while (w.samples.length < target && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

/** A FIFO made at a temporary path and renamed over `path` (as a publisher replaces a file). */
function fifoOver(path: string): void {
  const tmp = `${path}.fifo-${process.pid}`;
  execFileSync('mkfifo', [tmp]);
  renameSync(tmp, path);
}

function symlinkOver(path: string, target: string): void {
  const tmp = `${path}.link-${process.pid}`;
  symlinkSync(target, tmp);
  renameSync(tmp, path);
}

/** The daemon's resident memory, from /proc (setpriv execs it: the child's pid is the daemon's). */
function rssBytes(d: TestDaemon): number {
  let status = '';
  try {
    status = readFileSync(`/proc/${d.child.pid}/status`, 'utf8');
  } catch {
    return 0; // exited
  }
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  return m ? Number(m[1]) * 1024 : 0;
}

async function waitServing(c: ConfdClient, serial: number): Promise<void> {
  const end = Date.now() + LOG_DEADLINE;
  while (Date.now() < end) {
    const r = await c.ping({ timeoutMs: 2000 });
    if (!r.timedOut && r.serial === serial) return;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(`not serving serial ${serial}`);
}

/** Apply `change`; expect a refusal with `reason`, counted, while serial `serving` keeps serving. */
async function expectRefused(d: TestDaemon, c: ConfdClient, reason: string, serving: number, change: () => void): Promise<Record<string, unknown>> {
  const before = await fetchStats(d.port);
  const mark = d.output.length;
  change();
  const line = await d.waitForLog((l) => l.event === 'refused' && l.reason === reason, LOG_DEADLINE, mark);
  expect(line.servingSerial).toBe(serving === 0 ? null : serving);
  const after = await fetchStats(d.port);
  expect(after.refusalReasons[reason] ?? 0).toBeGreaterThan(before.refusalReasons[reason] ?? 0);
  const g = await c.get('/cluster/master', Q);
  if (serving === 0) expect(g.error?.code).toBe('not_ready');
  else expect({ status: g.status, serial: g.serial }).toEqual({ status: 0, serial: serving });
  expect(d.child.exitCode).toBeNull();
  return line;
}

async function expectReload(d: TestDaemon, c: ConfdClient, serial: number, change: () => void): Promise<void> {
  const mark = d.output.length;
  change();
  await d.waitForLog((l) => l.event === 'reload' && l.serial === serial, LOG_DEADLINE, mark);
  await waitServing(c, serial);
}

async function expectCleanStop(d: TestDaemon): Promise<void> {
  // SIGKILL only after 10 s: an exit code 0 means the daemon stopped by itself.
  expect(await d.stop('SIGTERM')).toEqual({ code: 0, signal: null });
}

describe('FIFOs', () => {
  it('a FIFO replacing the document is refused (not_regular_file), reloads do not hang on it, later documents load, SIGTERM exits 0', async () => {
    const d = await startDaemon({ doc: sampleDoc(10) });
    const c = clientFor(d);
    await waitServing(c, 10);
    const line = await expectRefused(d, c, 'not_regular_file', 10, () => fifoOver(d.file));
    expect(String(line.msg)).toMatch(/not a regular file \(a FIFO\)/);
    // Forced reloads while the FIFO is there: each refused in turn, none left waiting on it.
    for (let i = 0; i < 3; i++) {
      const mark = d.output.length;
      d.child.kill('SIGHUP');
      await d.waitForLog((l) => l.event === 'refused' && l.reason === 'not_regular_file' && l.trigger === 'sighup', LOG_DEADLINE, mark);
    }
    await expectReload(d, c, 11, () => d.writeDoc(sampleDoc(11)));
    fifoOver(d.file);
    await d.waitForLog((l) => l.event === 'refused' && l.reason === 'not_regular_file' && l.servingSerial === 11, LOG_DEADLINE);
    await expectCleanStop(d);
  });

  it('a FIFO at the path at start: not ready, then the document that replaces it loads', async () => {
    const dir = tempDir('qconf-fifo-');
    const file = join(dir, 'config.json');
    execFileSync('mkfifo', [file]);
    const d = await startDaemon({ file });
    const c = clientFor(d);
    await d.waitForLog((l) => l.event === 'refused' && l.reason === 'not_regular_file', LOG_DEADLINE);
    expect((await c.get('/cluster/master', Q)).error?.code).toBe('not_ready');
    await expectReload(d, c, 5, () => writeAtomic(file, sampleDoc(5)));
    expect((await c.get('/cluster/master', Q)).answer).toBe('node1.example.com');
    await expectCleanStop(d);
  });
});

describe('devices and symlinks', () => {
  it('a symlink to /dev/zero (or another character device) is refused quickly, with memory bounded', async () => {
    const d = await startDaemon({ doc: sampleDoc(20) });
    const c = clientFor(d);
    await waitServing(c, 20);
    let most = rssBytes(d);
    const sampler = setInterval(() => {
      most = Math.max(most, rssBytes(d));
      // Past the bound the test has failed: stop the daemon before it takes the machine's memory.
      if (most >= RSS_BOUND) d.child.kill('SIGKILL');
    }, 20);
    try {
      for (const dev of ['/dev/zero', '/dev/urandom']) {
        const line = await expectRefused(d, c, 'not_regular_file', 20, () => symlinkOver(d.file, dev));
        expect(String(line.msg)).toMatch(/not a regular file \(a character device\)/);
        // A forced reload meanwhile: refused again, just as quickly.
        const mark = d.output.length;
        d.child.kill('SIGHUP');
        await d.waitForLog((l) => l.event === 'refused' && l.trigger === 'sighup', LOG_DEADLINE, mark);
        most = Math.max(most, rssBytes(d));
        expect(most, `RSS ${Math.round(most / 1048576)} MB`).toBeLessThan(RSS_BOUND);
      }
    } finally {
      clearInterval(sampler);
    }
    // A symlink to a regular file is a document like any other.
    const real = join(tempDir('qconf-real-'), 'config.json');
    writeAtomic(real, sampleDoc(21));
    await expectReload(d, c, 21, () => symlinkOver(d.file, real));
    await expectCleanStop(d);
  });
});

describe('--max-document-bytes', () => {
  it('a document larger than the limit is refused (too_large); the last good one keeps serving', async () => {
    const d = await startDaemon({ doc: sampleDoc(30), args: ['--max-document-bytes', '4096'] });
    const c = clientFor(d);
    await waitServing(c, 30);
    const line = await expectRefused(d, c, 'too_large', 30, () => d.writeDoc(sampleDoc(31, { pad: 'x'.repeat(5000) })));
    expect(String(line.msg)).toMatch(/larger than 4096 bytes \(--max-document-bytes\)/);
    await expectReload(d, c, 32, () => d.writeDoc(sampleDoc(32, { pad: 'x'.repeat(1000) })));
    await expectCleanStop(d);
  });

  it('a bad value stops the daemon before it starts, naming the flag (exit 2)', async () => {
    for (const [args, env, msg] of [
      [['--max-document-bytes', '0'], {}, /--max-document-bytes: 0 is out of range \(1 to 4294967295\)/],
      [['--max-document-bytes', '1G'], {}, /--max-document-bytes: "1G" is not a whole number/],
      [[], { QCONFD_MAX_DOCUMENT_BYTES: '-5' }, /--max-document-bytes \(from QCONFD_MAX_DOCUMENT_BYTES\): "-5" is not a whole number/],
    ] as const) {
      const d = new TestDaemon({ doc: sampleDoc(1), args: [...args], env: { ...env }, waitReady: false });
      owned.daemons.push(d);
      await d.start();
      const res = await d.exited;
      expect(res.code, d.output).toBe(2);
      expect(d.output).toMatch(msg);
    }
  });
});

describe('nesting depth', () => {
  const nest = (n: number, inner = '0') => '['.repeat(n) + inner + ']'.repeat(n);
  /** A document of `levels` levels (the top-level object is one) and at least `minBytes` bytes. */
  const deepDoc = (serial: number, levels: number, minBytes = 0) => {
    // Every level is larger than the parser hands to JSON.parse whole: the padding is innermost.
    const pad = minBytes > 0 ? Array.from({ length: Math.ceil(minBytes / 1000) }, () => `"${'p'.repeat(990)}"`).join(',') : '0';
    return `{"serial_no":${serial},"cluster":{"master":"node1.example.com"},"deep":${nest(levels - 1, pad)}}`;
  };

  it(`refuses documents nested deeper than 512 levels (too_deep), small and large, and keeps 512`, async () => {
    const d = await startDaemon({ doc: sampleDoc(40) });
    const c = clientFor(d);
    await waitServing(c, 40);
    const w = watch(d);
    const small = await expectRefused(d, c, 'too_deep', 40, () => writeAtomic(d.file, deepDoc(41, 513)));
    expect(String(small.msg)).toMatch(/nested deeper than 512 levels/);
    await expectRefused(d, c, 'too_deep', 40, () => writeAtomic(d.file, deepDoc(42, 513, 3_000_000)));
    // A million levels, in a document parsed at once (under 2 MB) and in one parsed in slices:
    // refused without parsing them all.
    await expectRefused(d, c, 'too_deep', 40, () => writeAtomic(d.file, `{"serial_no":43,"deep":${nest(1_000_000)}}`));
    await expectRefused(d, c, 'too_deep', 40, () => writeAtomic(d.file, `{"serial_no":43,"deep":${nest(1_100_000)}}`));
    await expectReload(d, c, 44, () => writeAtomic(d.file, deepDoc(44, 512)));
    expect((await c.get('/cluster/master', Q)).answer).toBe('node1.example.com');
    // The deepest document allowed is served whole, and listed (every recursive walk holds).
    const whole = await c.get('', Q);
    expect(whole.status).toBe(0);
    expect(whole.answer).toEqual(JSON.parse(deepDoc(44, 512)));
    expect((await c.list('/deep/0/0', 16, Q)).status).toBe(0);
    await waitSamples(w, 4);
    const samples = await w.stop();
    expect(samples.filter((s) => s.ms > 300), JSON.stringify(samples.map((s) => Math.round(s.ms)))).toEqual([]);
  });

  it('a large document nested 500 levels deep loads while other clients are answered within 300 ms', async () => {
    const d = await startDaemon({ doc: sampleDoc(50) });
    const c = clientFor(d);
    await waitServing(c, 50);
    const w = watch(d);
    await waitSamples(w, 4);
    // 500 levels, each over 2 MB: once scanned to its end at every level, without a yield.
    await expectReload(d, c, 51, () => writeAtomic(d.file, deepDoc(51, 500, 2_200_000)));
    await expectReload(d, c, 52, () => writeAtomic(d.file, deepDoc(52, 500, 2_200_000)));
    await waitSamples(w, 4);
    const samples = await w.stop();
    expect(samples.length).toBeGreaterThan(8);
    expect(samples.filter((s) => s.ms > 300), JSON.stringify(samples.map((s) => Math.round(s.ms)))).toEqual([]);
    expect((await c.get('/cluster/master', Q)).answer).toBe('node1.example.com');
  });
});

describe("the etcd replica's copy on disk", () => {
  it('a FIFO or a device in place of the cache file is not read: the daemon starts, not ready', async () => {
    for (const make of [(p: string) => execFileSync('mkfifo', [p]), (p: string) => symlinkSync('/dev/zero', p)]) {
      const cacheDir = tempDir('qconf-cache-');
      make(join(cacheDir, 'etcd-replica.json'));
      // No etcd answers there: only the cache could serve.
      const d = await startDaemon({ noFile: true, args: ['--etcd', 'http://127.0.0.1:9', '--etcd-prefix', '/qconf/x', '--cache-dir', cacheDir] });
      const c = clientFor(d);
      const g = await c.get('/cluster/master', Q);
      expect(g.error?.code).toBe('not_ready');
      expect(rssBytes(d)).toBeLessThan(RSS_BOUND);
      await expectCleanStop(d);
    }
  });
});

describe('a document rewritten in place', () => {
  it('is refused at the limit too (same file, new size)', async () => {
    const d = await startDaemon({ doc: sampleDoc(60), args: ['--max-document-bytes', '100000'] });
    const c = clientFor(d);
    await waitServing(c, 60);
    await expectRefused(d, c, 'too_large', 60, () => writeFileSync(d.file, JSON.stringify(sampleDoc(61, { pad: 'y'.repeat(200_000) }))));
  });
});
