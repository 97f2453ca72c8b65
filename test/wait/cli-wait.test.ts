// `qconf wait` and `qconf watch` as real child processes against real qconfd daemons on
// loopback: met only once a quorum (2 of 3) holds the condition, the printed value, and the
// exit codes (0 met, 1 timeout first, 2 usage, 3 no quorum, 4 nobody answered).
import type { ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { TestDaemon, runCli, stopAll } from '../../testkit/daemons.js';
import { CLI_JS } from '../../testkit/paths.js';
import { KEY_A, freePort, tempDir, writeKeyFile } from '../../testkit/fixtures.js';
import { sampleDoc, withMaster } from '../support/sample-doc.js';
import { trackEach } from '../support/tracked.js';
import { until, within } from '../support/until.js';
import { spawnTracked, stopProcess } from '../../testkit/processes.js';
import { fetchStats } from '../support/raw-client.js';

const MARGIN_MS = 1000;
const SOON_MS = 5000;

const owned = trackEach();
const serve = (docs: unknown[]) => owned.serve(docs, 'c');

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function publish(d: TestDaemon, document: Record<string, unknown>): Promise<void> {
  const from = d.output.length;
  d.writeDoc(document);
  const serial = document.serial_no as number;
  await d.waitForLog((l) => l.event === 'reload' && typeof l.serial === 'number' && l.serial >= serial, 30_000, from);
}

async function waitCounts(ds: TestDaemon[]): Promise<number[]> {
  return Promise.all(ds.map(async (d) => (await fetchStats(d.port)).requests.qcf1.wait ?? 0));
}

/** Common flags for the daemons of a test. */
function flags(ds: TestDaemon[], extraPeers: string[] = []): string[] {
  return ['--peers', [...ds.map((d) => d.peer), ...extraPeers].join(','), '--key-file', ds[0].keyFile];
}

interface Running {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: boolean;
  exitAt: number;
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

/** Start the real CLI in the background (stdout/stderr collected; killed in afterEach). */
function startCli(args: string[]): Running {
  return start(process.execPath, [CLI_JS, ...args]);
}

/** Start a command in the background, with no QCONF_* settings of its own. */
function start(cmd: string, args: string[]): Running {
  const child = spawnTracked(cmd, args, { env: { ...process.env, QCONF_PEERS: '', QCONF_KEY_FILE: '', QCONF_TIMEOUT: '' } });
  owned.children.push(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const r: Running = {
    child,
    stdout: () => out,
    stderr: () => err,
    exited: false,
    exitAt: 0,
    done: new Promise((resolve) => {
      child.once('close', (code) => {
        r.exited = true;
        r.exitAt = Date.now();
        resolve({ code, stdout: out, stderr: err });
      });
    }),
  };
  return r;
}

/**
 * Run `qconf wait ...` until its waits are held by all 3 daemons, change 1 daemon (still
 * running well after), then the second (exits 0 soon after).
 */
async function minorityThenQuorum(ds: TestDaemon[], args: string[], next: Record<string, unknown>): Promise<{ stdout: string; stderr: string }> {
  const base = await waitCounts(ds);
  const cli = startCli(['wait', ...args, ...flags(ds), '--timeout', '90000']);
  await until(async () => cli.exited || (await waitCounts(ds)).every((c, i) => c > base[i]), 'the CLI’s wait requests at every daemon', 30_000, 25);
  expect(cli.exited, `exited before any change: ${cli.stderr()}`).toBe(false);
  await publish(ds[0], next);
  await sleep(MARGIN_MS);
  expect(cli.exited, `qconf wait exited after a change on 1 of 3 daemons: ${cli.stdout()} ${cli.stderr()}`).toBe(false);
  const t0 = Date.now();
  await publish(ds[1], next);
  const r = await within(cli.done, SOON_MS + 30_000, 'qconf wait');
  expect(r.code, r.stderr).toBe(0);
  expect(cli.exitAt - t0, 'exited long after the quorum changed').toBeLessThan(SOON_MS);
  return r;
}

describe('qconf wait is met once a quorum holds the condition, and not before', () => {
  it('--changed prints the new value', async () => {
    const ds = await serve([0, 1, 2].map(() => withMaster(1, 'node1.example.com')));
    const r = await minorityThenQuorum(ds, ['/cluster/master', '--changed'], withMaster(2, 'node2.example.com'));
    expect(r.stdout).toBe('node2.example.com\n');
  });

  it('--serial N prints the serial', async () => {
    const ds = await serve([0, 1, 2].map(() => sampleDoc(1)));
    const r = await minorityThenQuorum(ds, ['--serial', '3'], sampleDoc(3));
    expect(r.stdout).toBe('3\n');
  });

  it('--equals JSON prints the value as JSON', async () => {
    const ds = await serve([0, 1, 2].map(() => sampleDoc(1)));
    const want = { primary_ip: '192.0.2.12', drained: true };
    const r = await minorityThenQuorum(
      ds,
      ['/nodes/node2.example.com', '--equals', JSON.stringify({ drained: true, primary_ip: '192.0.2.12' })],
      sampleDoc(2, { nodes: { 'node2.example.com': want } }),
    );
    expect(JSON.parse(r.stdout)).toEqual(want);
  });

  it('--exists prints the value that appeared', async () => {
    const ds = await serve([0, 1, 2].map(() => sampleDoc(1)));
    const r = await minorityThenQuorum(ds, ['/flags/ready', '--exists'], sampleDoc(2, { flags: { ready: 'yes' } }));
    expect(r.stdout).toBe('yes\n');
  });

  it('--absent exits 0 once the value is gone, printing nothing', async () => {
    const ds = await serve([0, 1, 2].map(() => sampleDoc(1, { locks: { upgrade: 'node1' } })));
    const r = await minorityThenQuorum(ds, ['/locks/upgrade', '--absent'], sampleDoc(2, { locks: {} }));
    expect(r.stdout).toBe('');
  });

  it('--serial N --json prints the whole result', async () => {
    const ds = await serve([0, 1, 2].map(() => sampleDoc(1)));
    const r = await minorityThenQuorum(ds, ['--serial', '2', '--json'], sampleDoc(2));
    const j = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(j.met).toBe(true);
    expect(j.serial).toBe(2);
    expect(j.needed).toBe(2);
  });

  it('exits 0 at once when the condition already holds', async () => {
    const ds = await serve([0, 1, 2].map(() => sampleDoc(4)));
    const t0 = Date.now();
    const r = await runCli(['wait', '--serial', '4', ...flags(ds), '--timeout', '30000']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('4\n');
    const e = await runCli(['wait', '/cluster/master', '--equals', '"node1.example.com"', ...flags(ds), '--timeout', '30000']);
    expect(e.code, e.stderr).toBe(0);
    expect(e.stdout).toBe('node1.example.com\n');
    expect(Date.now() - t0).toBeLessThan(20_000);
  });
});

describe('qconf wait: timeouts and exit codes', () => {
  const exit1Cases: Array<[string, string[]]> = [
    ['--equals (answered at once, then held)', ['/cluster/master', '--equals', '"nobody"']],
    ['--serial (held from the start)', ['--serial', '99']],
    ['--changed (held from the start)', ['/cluster/master', '--changed']],
    ['--exists (held from the start)', ['/nope', '--exists']],
  ];
  it.each(exit1Cases)('exit 1 when the timeout passes first, all daemons up: %s', async (_name, args) => {
    const ds = await serve([0, 1, 2].map(() => sampleDoc(1)));
    const t0 = Date.now();
    const r = await runCli(['wait', ...args, ...flags(ds), '--timeout', '1500']);
    const elapsed = Date.now() - t0;
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/timed out/);
    expect(elapsed).toBeGreaterThanOrEqual(1400);
    expect(elapsed).toBeLessThan(20_000);
  });

  const exit3Cases: Array<[string, string[]]> = [
    ['--equals', ['/cluster/master', '--equals', '"nobody"']],
    ['--serial', ['--serial', '99']],
    ['--changed', ['/cluster/master', '--changed']],
  ];
  it.each(exit3Cases)('exit 3 when no quorum can be reached (3 peers, 2 dead): %s', async (_name, args) => {
    const ds = await serve([sampleDoc(1)]);
    const dead = [`127.0.0.1:${await freePort()}`, `127.0.0.1:${await freePort()}`];
    const r = await runCli(['wait', ...args, ...flags(ds, dead), '--timeout', '2000']);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/quorum/);
  });

  it('exit 4 when no daemon answers at all', async () => {
    const ds = await serve([sampleDoc(1)]);
    const keyFile = ds[0].keyFile;
    const dead = [`127.0.0.1:${await freePort()}`, `127.0.0.1:${await freePort()}`, `127.0.0.1:${await freePort()}`];
    const r = await runCli(['wait', '/cluster/master', '--equals', '"x"', '--peers', dead.join(','), '--key-file', keyFile, '--timeout', '1500']);
    expect(r.code, r.stderr).toBe(4);
  });

  const usageCases: Array<[string, string[]]> = [
    ['no condition', ['/cluster/master']],
    ['two conditions', ['/cluster/master', '--changed', '--exists']],
    ['--serial and --equals', ['--serial', '3', '--equals', '1']],
    ['bad --equals JSON', ['/cluster/master', '--equals', '{nope']],
    ['--changed without PATH', ['--changed']],
    ['two paths', ['/a', '/b', '--absent']],
    ['--serial not a number', ['--serial', 'abc']],
    ['--serial with two paths', ['--serial', '3', '/a', '/b']],
    ['unknown flag', ['/a', '--changed', '--bogus']],
  ];
  it.each(usageCases)('exit 2 on a usage error: %s', async (_name, args) => {
    const ds = await serve([sampleDoc(1)]);
    const t0 = Date.now();
    const r = await runCli(['wait', ...args, ...flags(ds), '--timeout', '30000']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.length).toBeGreaterThan(0);
    // A usage error is reported before anything is waited for.
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect((await fetchStats(ds[0].port)).requests.qcf1.wait ?? 0).toBe(0);
  });
});

describe('qconf watch', () => {
  it('prints one line per change, in serial order, and exits 0 on SIGTERM', async () => {
    const ds = await serve([0, 1, 2].map(() => withMaster(1, 'm1')));
    const cli = startCli(['watch', '/cluster/master', ...flags(ds)]);
    const lines = () =>
      cli
        .stdout()
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as { serial: number; exists: boolean; value?: unknown });
    for (let serial = 2; serial <= 4; serial++) {
      await until(() => cli.exited || lines().length >= serial - 1, `watch line for serial ${serial - 1}`, 30_000, 25);
      expect(cli.exited, cli.stderr()).toBe(false);
      await Promise.all(ds.map((d) => publish(d, withMaster(serial, `m${serial}`))));
    }
    await until(() => cli.exited || lines().length >= 4, 'watch line for serial 4', 30_000, 25);
    // A change of another path prints nothing.
    await Promise.all(ds.map((d) => publish(d, sampleDoc(5, { cluster: { name: 'other', master: 'm4' } }))));
    await sleep(MARGIN_MS);
    cli.child.kill('SIGTERM');
    const r = await within(cli.done, 15_000, 'qconf watch after SIGTERM');
    expect(r.code, r.stderr).toBe(0);
    expect(lines()).toEqual([
      { serial: 1, exists: true, value: 'm1' },
      { serial: 2, exists: true, value: 'm2' },
      { serial: 3, exists: true, value: 'm3' },
      { serial: 4, exists: true, value: 'm4' },
    ]);
  });

  it('--timeout is how long it goes on without a quorum: exit 4 when no daemon ever answered', async () => {
    const dead = await Promise.all([freePort(), freePort(), freePort()]);
    const keyFile = writeKeyFile(tempDir(), [KEY_A]);
    const t0 = Date.now();
    const r = await runCli(['watch', '/cluster/master', '--peers', dead.map((p) => `127.0.0.1:${p}`).join(','), '--key-file', keyFile, '--timeout', '1500'], {}, 20_000);
    expect(Date.now() - t0, 'qconf watch lingered after its --timeout').toBeLessThan(10_000);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/no quorum/);
  });
});

describe('qconf watch reports what it cannot see', () => {
  it('with two of three peers dead: the lost quorum on stderr while it runs, then exit 3 after --timeout', async () => {
    const ds = await serve([withMaster(1, 'm1')]);
    const dead = [`127.0.0.1:${await freePort()}`, `127.0.0.1:${await freePort()}`];
    const cli = startCli(['watch', '/cluster/master', ...flags(ds, dead), '--timeout', '9000']);
    await until(() => cli.exited || /no quorum/.test(cli.stderr()), 'the lost quorum reported on stderr');
    expect(cli.exited, `exited before --timeout: ${cli.stderr()}`).toBe(false);
    const r = await within(cli.done, 60_000, 'qconf watch without a quorum');
    expect(r.code, r.stderr).toBe(3);
    expect(r.stdout).toBe('');
    // Reported as it goes on (more than once before giving up), not only at the end.
    expect(r.stderr.match(/qconf: no quorum for \d+ s \(2 daemons needed\)/g)?.length ?? 0).toBeGreaterThanOrEqual(2);
    expect(r.stderr).toMatch(/no quorum for \d+ s; giving up\n$/);
  });

  it('reports the quorum lost and back on stderr, and goes on printing changes', async () => {
    const ds = await serve([0, 1, 2].map(() => withMaster(1, 'm1')));
    const cli = startCli(['watch', '/cluster/master', ...flags(ds), '--timeout', '60000']);
    await until(() => cli.exited || cli.stdout().includes('"m1"'), 'the first line');
    for (const d of ds.slice(1)) d.child.kill('SIGSTOP');
    try {
      await until(() => cli.exited || /no quorum/.test(cli.stderr()), 'the lost quorum reported', 60_000);
    } finally {
      for (const d of ds.slice(1)) d.child.kill('SIGCONT');
    }
    await until(() => cli.exited || /quorum back/.test(cli.stderr()), 'the quorum reported back', 60_000);
    await Promise.all(ds.map((d) => publish(d, withMaster(2, 'm2'))));
    await until(() => cli.exited || cli.stdout().includes('"m2"'), 'the change after the quorum came back');
    expect(cli.exited, cli.stderr()).toBe(false);
    cli.child.kill('SIGTERM');
    const r = await within(cli.done, 15_000, 'qconf watch after SIGTERM');
    expect(r.code, r.stderr).toBe(0);
  });

  it('`qconf watch PATH | head -1` ends quietly at the next change (exit 0, nothing on stderr)', async () => {
    const ds = await serve([0, 1, 2].map(() => withMaster(1, 'm1')));
    const watch = [process.execPath, CLI_JS, 'watch', '/cluster/master', ...flags(ds)].map((a) => `'${a}'`).join(' ');
    const pipeline = start('bash', ['-c', `set -o pipefail; ${watch} | head -1`]);
    await until(() => pipeline.exited || pipeline.stdout().includes('"m1"'), 'the first line through head');
    // head has exited; the watch learns it when it writes the next change.
    await Promise.all(ds.map((d) => publish(d, withMaster(2, 'm2'))));
    const r = await within(pipeline.done, 30_000, 'the pipeline after the next change');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('{"serial":1,"exists":true,"value":"m1"}\n');
  });
});

describe('qconf wait when the cluster goes away', () => {
  it('all daemons stopped 1 s into `qconf wait --serial 999 --timeout 30000`: exit 3, not a timeout', async () => {
    const ds = await serve([0, 1, 2].map(() => sampleDoc(1)));
    const base = await waitCounts(ds);
    const cli = startCli(['wait', '--serial', '999', ...flags(ds), '--timeout', '30000']);
    await until(async () => cli.exited || (await waitCounts(ds)).every((c, i) => c > base[i]), 'the wait held by every daemon');
    await sleep(1000);
    await stopAll(ds);
    const r = await within(cli.done, 90_000, 'qconf wait');
    expect(r.code, r.stderr).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^qconf: no quorum: /);
    expect(r.stderr).not.toMatch(/timed out/);
  });
});
