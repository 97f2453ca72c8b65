// qconf publish --to: atomic replacement of file replicas with one serial above what they hold
// and what the daemons serve, picked up by the daemons serving them; its usage and input
// errors, which publish nothing and leave no temporary file.
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TestDaemon, runCli, stopAll } from '../../testkit/daemons.js';
import { sampleDoc } from '../support/sample-doc.js';
import { tempDir, writeAtomic } from '../../testkit/fixtures.js';
import { CLI_JS } from '../../testkit/paths.js';
import { spawnTracked } from '../../testkit/processes.js';

let daemons: TestDaemon[] = [];
afterEach(async () => {
  await stopAll(daemons);
  daemons = [];
});

async function daemon(doc: object): Promise<TestDaemon> {
  const d = await new TestDaemon({ doc }).start();
  daemons.push(d);
  return d;
}

/** The environment a script on that daemon's node has. */
const envOf = (d: TestDaemon) => ({ QCONF_PEERS: d.peer, QCONF_KEY_FILE: d.keyFile });

function source(doc: object): string {
  const src = join(tempDir(), 'new.json');
  writeFileSync(src, JSON.stringify(doc));
  return src;
}

/** `qconf publish` with its document on standard input. */
function publishStdin(text: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawnTracked(process.execPath, [CLI_JS, 'publish', '-', ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, QCONF_PEERS: '', QCONF_KEY_FILE: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
    child.stdin?.end(text);
  });
}

describe('qconf publish --to', () => {
  it('replaces the served file with a serial above the current one, and the daemons follow', async () => {
    const d = await daemon(sampleDoc(7));
    const src = source({ ...sampleDoc(1), cluster: { master: 'node2.example.com' } });
    const pub = await runCli(['publish', src, '--to', d.file], envOf(d));
    expect(pub.code, pub.stderr).toBe(0);
    expect(pub.stdout.trim()).toBe('8');
    expect(JSON.parse(readFileSync(d.file, 'utf8')).serial_no).toBe(8);
    const w = await runCli(['wait', '--serial', '8', '--timeout', '30000'], envOf(d));
    expect(w.code, w.stderr).toBe(0);
    const g = await runCli(['get', '/cluster/master'], envOf(d));
    expect(g.stdout.trim()).toBe('node2.example.com');
    // A document whose own serial is higher keeps it.
    writeFileSync(src, JSON.stringify(sampleDoc(40)));
    expect((await runCli(['publish', src, '--to', d.file], envOf(d))).stdout.trim()).toBe('40');
    expect(statSync(d.file).mode & 0o777).toBe(0o644);
  });

  it('publishes above what the daemon serves, when the file holds an older (refused) serial', async () => {
    const d = await daemon(sampleDoc(20));
    // An older document lands in the file: the daemon refuses it and keeps serving 20.
    const from = d.output.length;
    writeAtomic(d.file, sampleDoc(5));
    await d.waitForLog((l) => l.event === 'refused' && l.reason === 'serial_backwards', 30_000, from);
    const src = source({ ...sampleDoc(1), cluster: { master: 'node9.example.com' } });
    const pub = await runCli(['publish', src, '--to', d.file], envOf(d));
    expect(pub.code, pub.stderr).toBe(0);
    const serial = Number(pub.stdout.trim());
    expect(serial).toBe(21);
    // The README's recipe: once the wait for that serial succeeds, the new content is served.
    const w = await runCli(['wait', '--serial', String(serial), '--timeout', '30000'], envOf(d));
    expect(w.code, w.stderr).toBe(0);
    expect((await runCli(['get', '/cluster/master'], envOf(d))).stdout).toBe('node9.example.com\n');
  });

  it('fails, saying why, when no daemon can say what it serves (--offline publishes without asking)', async () => {
    const dir = tempDir();
    const target = join(dir, 'served.json');
    const src = source({ a: 1 });
    const d = await daemon(sampleDoc(3));
    await d.stop('SIGKILL');
    const r = await runCli(['publish', src, '--to', target, '--timeout', '1000'], envOf(d));
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/no daemon answered .* to say which serial it serves.*--offline/);
    expect(readdirSync(dir)).toEqual([]);
    const nokey = await runCli(['publish', src, '--to', target]);
    expect(nokey.code).toBe(2);
    expect(nokey.stderr).toMatch(/--key-file .*--offline/);
    const off = await runCli(['publish', src, '--to', target, '--offline']);
    expect(off.code, off.stderr).toBe(0);
    expect(off.stdout.trim()).toBe('0');
    expect(JSON.parse(readFileSync(target, 'utf8'))).toEqual({ a: 1, serial_no: 0 });
  });

  it('several --to targets get one serial, above every one of them', async () => {
    const dir = tempDir();
    const targets = ['a', 'b', 'c'].map((n) => join(dir, `${n}.json`));
    writeFileSync(targets[0], JSON.stringify({ serial_no: 4 }));
    writeFileSync(targets[1], JSON.stringify({ serial_no: 9 }));
    const src = source({ x: 1, serial_no: 2 });
    const r = await runCli(['publish', src, ...targets.flatMap((t) => ['--to', t]), '--offline']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('10\n');
    for (const t of targets) expect(JSON.parse(readFileSync(t, 'utf8'))).toEqual({ x: 1, serial_no: 10 });
  });

  it('"-" reads the document from standard input', async () => {
    const target = join(tempDir(), 'served.json');
    const r = await publishStdin(JSON.stringify({ from: 'stdin', serial_no: 3 }), ['--to', target, '--offline']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('3\n');
    expect(JSON.parse(readFileSync(target, 'utf8'))).toEqual({ from: 'stdin', serial_no: 3 });
  });

  it('a target that is a directory, or in a missing directory, fails plainly and leaves no file behind', async () => {
    const dir = tempDir();
    const src = source(sampleDoc(1));
    const isDir = await runCli(['publish', src, '--to', dir, '--offline']);
    expect(isDir.code).toBe(4);
    expect(isDir.stderr).toBe(`qconf: --to ${dir}: is a directory; give the file to replace, e.g. ${dir}/cluster.json\n`);
    const missing = join(dir, 'nope', 'cluster.json');
    const noDir = await runCli(['publish', src, '--to', missing, '--offline']);
    expect(noDir.code).toBe(4);
    expect(noDir.stderr).toBe(`qconf: --to ${missing}: the directory ${join(dir, 'nope')} does not exist\n`);
    // One bad target among good ones: nothing is written anywhere.
    const good = join(dir, 'good.json');
    expect((await runCli(['publish', src, '--to', good, '--to', missing, '--offline'])).code).toBe(4);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a serial_no that is not a whole number is refused, not published as 0', async () => {
    const dir = tempDir();
    const target = join(dir, 'served.json');
    for (const bad of ['"5"', '5.5', '-1', 'null', '{"n":5}']) {
      const src = join(dir, 'src.txt');
      writeFileSync(src, `{"a":1,"serial_no":${bad}}`);
      const r = await runCli(['publish', src, '--to', target, '--offline']);
      expect(r.code, bad).toBe(4);
      expect(r.stderr, bad).toMatch(/serial_no must be a whole number/);
    }
    expect(readdirSync(dir)).toEqual(['src.txt']);
  });

  it('names bad input and bad usage', async () => {
    const dir = tempDir();
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"a":');
    const r1 = await runCli(['publish', bad, '--to', join(dir, 'x.json'), '--offline']);
    expect(r1.code).toBe(4);
    expect(r1.stderr).toMatch(/not valid JSON/);
    writeFileSync(bad, '[1,2]');
    expect((await runCli(['publish', bad, '--to', join(dir, 'x.json'), '--offline'])).code).toBe(4);
    const r2 = await runCli(['publish', join(dir, 'missing.json'), '--to', join(dir, 'x.json'), '--offline']);
    expect(r2.code).toBe(4);
    expect(r2.stderr).toMatch(/cannot be read/);
    expect((await runCli(['publish', bad])).code).toBe(2);
    expect((await runCli(['publish', bad, '--to', 'a', '--etcd', 'http://127.0.0.1:1'])).code).toBe(2);
    expect((await runCli(['publish', bad, '--etcd', 'http://127.0.0.1:1', '--etcd-prefix', '/p', '--offline'])).code).toBe(2);
    const r3 = await runCli(['publish', bad, '--etcd', 'localhost:2379', '--etcd-prefix', '/p']);
    expect(r3.code).toBe(2);
    expect(r3.stderr).toMatch(/not an http/);
  });
});
