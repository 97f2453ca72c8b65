// `qconf watch PATH -- CMD`: the command runs for the current value and after each change, with
// the value in its environment; one run at a time (changes during a run leave one run queued,
// for the newest value); --debounce folds a burst into one run; a failure is reported and, with
// --exit-on-error, ends the watch (exit 4); stopping the watch stops the run in progress.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TestDaemon, runCli, startDaemons, stopAll } from '../../testkit/daemons.js';
import { KEY_A, tempDir, writeKeyFile } from '../../testkit/fixtures.js';
import { CLI_JS } from '../../testkit/paths.js';
import { spawnTracked, stopProcess } from '../../testkit/processes.js';
import { withMaster } from '../support/sample-doc.js';
import type { ChildProcess } from 'node:child_process';

let daemons: TestDaemon[] = [];
let keyFile: string;
let serial = 1;
const hook = join(tempDir(), 'hook.mjs');

// The command the watches run: logs its start (with the QCONF_WATCH_* it was given) and end;
// with a gate file named, holds until that file exists; exits with argv[4] (default 0).
writeFileSync(
  hook,
  `import { appendFileSync, existsSync } from 'node:fs';
const [log, gate, code] = process.argv.slice(2);
const e = process.env;
const line = (o) => appendFileSync(log, JSON.stringify(o) + '\\n');
line({ ev: 'start', pid: process.pid, path: e.QCONF_WATCH_PATH, serial: Number(e.QCONF_WATCH_SERIAL), exists: e.QCONF_WATCH_EXISTS, value: e.QCONF_WATCH_VALUE });
process.on('SIGTERM', () => { line({ ev: 'term', pid: process.pid }); process.exit(0); });
const done = () => { line({ ev: 'end', pid: process.pid }); process.exit(Number(code ?? 0)); };
if (gate === undefined || gate === '-') done();
else { const t = setInterval(() => { if (existsSync(gate)) { clearInterval(t); done(); } }, 20); }
`,
);

interface Entry {
  ev: 'start' | 'end' | 'term';
  pid: number;
  path?: string;
  serial?: number;
  exists?: string;
  value?: string;
}

function entries(log: string): Entry[] {
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Entry);
}

async function until<T>(get: () => T | undefined | false, what: string, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = get();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A new document on every daemon: the master is `master`, the serial one more. */
function publish(master: string): number {
  serial++;
  for (const d of daemons) d.writeDoc(withMaster(serial, master));
  return serial;
}

interface Watching {
  child: ChildProcess;
  log: string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function watch(path: string, flags: string[], cmd: string[]): Watching {
  const log = join(tempDir(), 'runs.log');
  const args = [CLI_JS, 'watch', path, '--peers', daemons.map((d) => d.peer).join(','), '--key-file', keyFile, ...flags, '--', ...cmd.map((a) => a.replace('LOG', log))];
  const child = spawnTracked(process.execPath, args, { env: { ...process.env, QCONF_PEERS: '', QCONF_KEY_FILE: '' } });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, log, stderr: () => stderr, exited };
}

beforeAll(async () => {
  keyFile = writeKeyFile(tempDir(), [KEY_A]);
  daemons = await startDaemons(3, () => ({ doc: withMaster(serial, 'm1') }));
});

afterAll(async () => {
  await stopAll(daemons);
});

const running: Watching[] = [];
beforeEach(async () => {
  for (const w of running.splice(0)) await stopProcess(w.child, 'SIGKILL');
});

function started(w: Watching): Watching {
  running.push(w);
  return w;
}

describe('qconf watch PATH -- CMD', () => {
  it('runs the command for the current value, then once per change, with the value in its environment', async () => {
    const w = started(watch('/cluster/master', [], [process.execPath, hook, 'LOG']));
    const first = await until(() => entries(w.log).find((e) => e.ev === 'start'), 'the first run');
    expect(first).toMatchObject({ path: '/cluster/master', serial, exists: '1', value: '"m1"' });
    const s = publish('m2');
    const second = await until(() => entries(w.log).filter((e) => e.ev === 'start')[1], 'the run for the change');
    expect(second).toMatchObject({ serial: s, exists: '1', value: '"m2"' });
    await stopProcess(w.child, 'SIGTERM');
    expect(w.stderr()).toBe('');
  });

  it('an absent value: QCONF_WATCH_EXISTS=0 and an empty QCONF_WATCH_VALUE', async () => {
    const w = started(watch('/no/such/key', [], [process.execPath, hook, 'LOG']));
    const first = await until(() => entries(w.log).find((e) => e.ev === 'start'), 'the first run');
    expect(first).toMatchObject({ path: '/no/such/key', exists: '0', value: '' });
  });

  it('one run at a time: changes during a run leave one more run, for the newest value', async () => {
    const gate = join(tempDir(), 'gate');
    const w = started(watch('/cluster/master', [], [process.execPath, hook, 'LOG', gate]));
    await until(() => entries(w.log).find((e) => e.ev === 'start'), 'the first run');
    // Three changes while the first run is held open.
    publish('x1');
    publish('x2');
    const last = publish('x3');
    // Every daemon serves the last one; the watch's held wait is answered at once, give it a moment.
    const served = await runCli(['wait', '--serial', String(last), '--coverage', 'all', '--peers', daemons.map((d) => d.peer).join(','), '--key-file', keyFile]);
    expect(served.code, served.stderr).toBe(0);
    await new Promise((r) => setTimeout(r, 1500));
    expect(entries(w.log).filter((e) => e.ev === 'start')).toHaveLength(1);
    writeFileSync(gate, '');
    const runs = await until(() => {
      const s = entries(w.log).filter((e) => e.ev === 'start');
      return s.length >= 2 && entries(w.log).filter((e) => e.ev === 'end').length >= 2 ? s : undefined;
    }, 'the queued run');
    expect(runs[1]).toMatchObject({ serial: last, value: '"x3"' });
    // Nothing more is queued, and runs never overlapped.
    await new Promise((r) => setTimeout(r, 1000));
    const log = entries(w.log);
    expect(log.filter((e) => e.ev === 'start')).toHaveLength(2);
    expect(log.map((e) => e.ev)).toEqual(['start', 'end', 'start', 'end']);
  });

  it('--debounce folds a burst of changes into one run for the newest value', async () => {
    const w = started(watch('/cluster/master', ['--debounce', '3000'], [process.execPath, hook, 'LOG']));
    await until(() => entries(w.log).find((e) => e.ev === 'end'), 'the first run');
    publish('d1');
    publish('d2');
    const last = publish('d3');
    const second = await until(() => entries(w.log).filter((e) => e.ev === 'start')[1], 'the run after the burst');
    expect(second).toMatchObject({ serial: last, value: '"d3"' });
    await new Promise((r) => setTimeout(r, 3500));
    expect(entries(w.log).filter((e) => e.ev === 'start')).toHaveLength(2);
  });

  it('a failing command is reported on stderr and the watch goes on', async () => {
    const w = started(watch('/cluster/master', [], [process.execPath, hook, 'LOG', '-', '3']));
    await until(() => /exited with 3 \(serial \d+\)/.test(w.stderr()), 'the failure on stderr');
    publish('f1');
    await until(() => entries(w.log).filter((e) => e.ev === 'start')[1], 'a run after the failure');
    expect(w.child.exitCode).toBe(null);
  });

  it('--exit-on-error: the first failure ends the watch with exit 4, naming the failure', async () => {
    const w = started(watch('/cluster/master', ['--exit-on-error'], [process.execPath, hook, 'LOG', '-', '3']));
    expect(await w.exited).toBe(4);
    expect(w.stderr()).toMatch(/^qconf: .*exited with 3 \(serial \d+\); stopping/m);
  });

  it('a command that cannot start is a failure: reported, and exit 4 with --exit-on-error', async () => {
    const w = started(watch('/cluster/master', ['--exit-on-error'], ['/nonexistent/qconf-hook']));
    expect(await w.exited).toBe(4);
    expect(w.stderr()).toMatch(/qconf: \/nonexistent\/qconf-hook: cannot be run \(ENOENT\)/);
  });

  it('SIGTERM to the watch stops the run in progress (SIGTERM to the command) and exits 0', async () => {
    const w = started(watch('/cluster/master', [], [process.execPath, hook, 'LOG', join(tempDir(), 'never')]));
    const first = await until(() => entries(w.log).find((e) => e.ev === 'start'), 'the run');
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
    expect(entries(w.log)).toContainEqual({ ev: 'term', pid: first.pid });
  });

  it('usage: the command options need a command, and -- needs one', async () => {
    const peers = daemons.map((d) => d.peer).join(',');
    for (const args of [['--debounce', '100'], ['--exit-on-error'], ['--']]) {
      const r = await runCli(['watch', '/cluster/master', '--peers', peers, '--key-file', keyFile, ...args]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/^qconf: /);
    }
  });
});
