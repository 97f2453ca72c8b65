// Every `qconf` command in the README's shell examples, run as written against a demo cluster:
// three daemons serving the bundled example document (examples/cluster.json) and one serving
// the Ganeti example config, so that the documentation and the behaviour cannot drift apart.
//
// What stands in for the README's world, and nothing else: the cluster's addresses and key for
// `export QCONF_PEERS=… QCONF_KEY_FILE=…` (QCONF_PORT is the first daemon's port, so a bare
// `127.0.0.1` reaches it); a sandbox for /etc/qconf and /var/lib/qconf (the first daemon serves
// /var/lib/qconf/cluster.json); GANETI_ROOTDIR for a Ganeti node's files; and the changes a
// waiting command waits for, made by the test once the command waits. Blocks using etcd are
// left out (they need an etcd cluster at the README's addresses; test/etcd covers publishing to
// etcd), as are lines that run other programs (qconfd, systemctl, …).
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestDaemon, stopAll } from '../../testkit/daemons.js';
import { KEY_A, tempDir, writeAtomic, writeKeyFile } from '../../testkit/fixtures.js';
import { CLI_JS, ROOT } from '../../testkit/paths.js';
import { spawnTracked, stopProcess } from '../../testkit/processes.js';
import { fetchStats } from '../support/raw-client.js';

interface Example {
  /** The README line the block starts at, for messages. */
  at: number;
  line: string;
  /** Assignments earlier in the block (`old=$(qconf get …)`), run before it. */
  before: string[];
}

const INVOKES_QCONF = /(^|[|&;(]\s*|\$\(\s*)qconf\s/;

/** The `qconf` lines of the README's sh blocks, in order. */
function examples(readme: string): Example[] {
  const out: Example[] = [];
  const lines = readme.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== '```sh') continue;
    const at = i + 1;
    const block: string[] = [];
    for (i++; i < lines.length && lines[i].trim() !== '```'; i++) {
      // A trailing backslash continues the command on the next line.
      if (block.length > 0 && block[block.length - 1].endsWith('\\')) block[block.length - 1] = block[block.length - 1].slice(0, -1) + ' ' + lines[i].trim();
      else block.push(lines[i]);
    }
    if (block.some((l) => /--etcd\b/.test(l))) continue;
    const before: string[] = [];
    for (const line of block) {
      if (!INVOKES_QCONF.test(line) || /^\s*export\s/.test(line)) continue;
      out.push({ at, line, before: [...before] });
      if (/^\w+=\$\(/.test(line)) before.push(line);
    }
  }
  return out;
}

let sandbox: string;
let work: string;
let bin: string;
let keyFile: string;
let cluster: TestDaemon[] = [];
let ganeti: TestDaemon;
let ganetiRoot: string;
let doc: Record<string, unknown>;
const children: ChildProcess[] = [];

beforeAll(async () => {
  sandbox = tempDir('qconf-readme-');
  for (const d of ['etc/qconf', 'var/lib/qconf', 'work', 'bin']) mkdirSync(join(sandbox, d), { recursive: true });
  work = join(sandbox, 'work');
  bin = join(sandbox, 'bin');
  keyFile = writeKeyFile(join(sandbox, 'etc/qconf'), [KEY_A], 'qconf.key');
  writeFileSync(join(bin, 'qconf'), `#!/bin/sh\nexec '${process.execPath}' '${CLI_JS}' "$@"\n`);
  chmodSync(join(bin, 'qconf'), 0o755);
  copyFileSync(join(ROOT, 'examples/cluster.json'), join(work, 'cluster.json'));
  doc = JSON.parse(readFileSync(join(ROOT, 'examples/cluster.json'), 'utf8')) as Record<string, unknown>;
  const files = [join(sandbox, 'var/lib/qconf/cluster.json'), join(sandbox, 'node2.json'), join(sandbox, 'node3.json')];
  for (const f of files) writeAtomic(f, doc);
  cluster = await Promise.all(files.map((file, i) => new TestDaemon({ file, nodeName: `node${i + 1}` }).start()));
  ganetiRoot = join(sandbox, 'ganeti');
  const lib = join(ganetiRoot, 'var/lib/ganeti');
  mkdirSync(lib, { recursive: true });
  writeFileSync(join(lib, 'hmac.key'), randomBytes(20).toString('hex') + '\n', { mode: 0o400 });
  writeFileSync(join(lib, 'ssconf_master_candidates_ips'), '127.0.0.1\n');
  ganeti = await new TestDaemon({ file: join(ROOT, 'examples/ganeti/config.data'), args: ['--ganeti-key-file', join(lib, 'hmac.key')] }).start();
});

afterAll(async () => {
  await Promise.all(children.map((c) => stopProcess(c, 'SIGKILL', 1000)));
  await stopAll([...cluster, ganeti]);
});

/** The README's paths, in the sandbox; /etc/qconf is a fresh directory for a line that makes a key there. */
function sandboxed(text: string, freshEtc: boolean): string {
  const etc = freshEtc ? tempDir('qconf-readme-etc-') : join(sandbox, 'etc/qconf');
  return text.replaceAll('/etc/qconf/', `${etc}/`).replaceAll('/var/lib/qconf/', `${join(sandbox, 'var/lib/qconf')}/`);
}

function envFor(line: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${bin}:/usr/bin:/bin`, QCONF_TIMEOUT: '', QCONF_GANETI_KEY_FILE: '', GANETI_ROOTDIR: '' };
  if (/qconf ganeti/.test(line)) return { ...env, QCONF_PEERS: '', QCONF_KEY_FILE: '', QCONF_PORT: String(ganeti.port), GANETI_ROOTDIR: ganetiRoot };
  return { ...env, QCONF_PEERS: cluster.map((d) => d.peer).join(','), QCONF_KEY_FILE: keyFile, QCONF_PORT: String(cluster[0].port) };
}

/** Replace every daemon's document by `change` of the current one, with a newer serial (at least `atLeast`). */
function publishAll(change: (d: Record<string, unknown>) => void, atLeast = 0): void {
  const served = cluster.map((d) => (JSON.parse(readFileSync(d.file, 'utf8')) as { serial_no: number }).serial_no);
  const next = structuredClone(doc);
  change(next);
  next.serial_no = Math.max(atLeast, ...served.map((s) => s + 1));
  doc = next;
  for (const d of cluster) writeAtomic(d.file, next);
}

/** Set (or, with `undefined`, delete) the value at a JSON pointer of plain keys. */
function setAt(d: Record<string, unknown>, pointer: string, value: unknown): void {
  const keys = pointer.split('/').slice(1);
  let o = d;
  for (const k of keys.slice(0, -1)) o = (o[k] ??= {}) as Record<string, unknown>;
  if (value === undefined) delete o[keys[keys.length - 1]];
  else o[keys[keys.length - 1]] = value;
}

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The change a waiting example waits for, made once it waits (a held wait at a quorum). */
function unblocker(line: string): ((waiting: () => Promise<boolean>) => Promise<void>) | undefined {
  let m: RegExpExecArray | null;
  if ((m = /qconf wait --serial (\d+)/.exec(line))) {
    const n = Number(m[1]);
    return async () => publishAll(() => undefined, n);
  }
  if ((m = /qconf wait (\S+) --equals (\S+)/.exec(line))) {
    const [path, json] = [m[1], m[2].replace(/^'|'$/g, '')];
    return async () => publishAll((d) => setAt(d, path, JSON.parse(json)));
  }
  if ((m = /qconf wait (\S+) --absent/.exec(line))) {
    const path = m[1];
    return async () => publishAll((d) => setAt(d, path, undefined));
  }
  if ((m = /qconf wait (\S+) --exists/.exec(line))) {
    const path = m[1];
    return async () => publishAll((d) => setAt(d, path, {}));
  }
  if ((m = /qconf (?:wait (\S+) --changed|watch (\S+))/.exec(line))) {
    const path = m[1] ?? m[2];
    // Changed only once the command holds its waits: a change before would be its start.
    return async (waiting) => {
      await until(waiting, 'the example to wait');
      publishAll((d) => setAt(d, path, `changed-${randomBytes(3).toString('hex')}`));
    };
  }
  return undefined;
}

describe("the README's qconf examples, run as written", () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const all = examples(readme);

  it('finds the examples of every section that has them', () => {
    const text = all.map((e) => e.line).join('\n');
    for (const cmd of ['get', 'mget', 'list', 'ping', 'stats', 'wait', 'watch', 'publish', 'keygen', 'ganeti']) expect(text).toMatch(new RegExp(`qconf ${cmd}\\b`));
  });

  for (const ex of all) {
    it(`README line ${ex.at}: ${ex.line.trim()}`, async () => {
      const fresh = /qconf keygen --out/.test(ex.line);
      const script = ['set -o pipefail', ...ex.before, ex.line].map((l) => sandboxed(l, fresh)).join('\n');
      const child = spawnTracked('bash', ['-c', script], { cwd: work, env: envFor(ex.line) });
      children.push(child);
      let out = '';
      let err = '';
      child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
      let exited = false;
      const done = new Promise<number | null>((resolve) =>
        child.once('close', (code) => {
          exited = true;
          resolve(code);
        }),
      );
      const unblock = unblocker(ex.line);
      if (unblock) {
        const base = await Promise.all(cluster.map(async (d) => (await fetchStats(d.port)).heldWaits));
        await unblock(async () => exited || (await Promise.all(cluster.map(async (d, i) => (await fetchStats(d.port)).heldWaits > base[i]))).filter(Boolean).length >= 2);
      }
      // `qconf watch … -- CMD` runs until stopped: stopped once CMD ran for the change.
      if (/qconf watch .* -- /.test(ex.line)) {
        await until(() => exited || /changed-/.test(out), 'a run of the command for the change', 60_000);
        if (!exited) await stopProcess(child, 'SIGTERM');
        expect(out, err).toMatch(/changed-\w+"? at serial \d+/);
        return;
      }
      // A loop over `qconf watch` goes on for as long as its input: stopped once it printed a change.
      if (/qconf watch .*while read/.test(ex.line)) {
        await until(() => exited || out.split('\n').filter((l) => l.startsWith('now: ')).length >= 2, 'a change printed by the loop', 60_000);
        if (!exited) await stopProcess(child, 'SIGTERM');
        expect(out, err).toMatch(/^now: \{"serial":\d+,"exists":true,"value":"changed-/m);
        return;
      }
      const code = await Promise.race([done, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 90_000))]);
      expect(code, `README line ${ex.at}: ${ex.line}\nstdout: ${out}\nstderr: ${err}`).toBe(0);
    });
  }
});
