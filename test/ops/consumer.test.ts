// The package as a TypeScript program that depends on it sees it: `npm pack`, then the consumer
// package (test/consumer/) installed in an empty directory with the tarball as its `qconf`
// dependency. Its install holds qconf and tweetnacl alone (the daemon's peers stay out, and the
// installed qconfd says which to add); CommonJS requires it; its agent compiles with
// `tsc --strict` against the tarball's declarations, a type error in it fails that compile, and
// it runs against three real daemons: fromEnv, typed results narrowed by kind, parse, an aborted
// get, a mirror, await using.
import type { ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestDaemon, startDaemons, stopAll } from '../../testkit/daemons.js';
import { KEY_A, tempDir, writeAtomic, writeKeyFile } from '../../testkit/fixtures.js';
import { ROOT } from '../../testkit/paths.js';
import { spawnTracked, stopProcess } from '../../testkit/processes.js';
import { sampleDoc, withMaster } from '../support/sample-doc.js';
import { runCommand } from './helpers.js';

const NPM = existsSync(join(process.execPath, '..', 'npm')) ? join(process.execPath, '..', 'npm') : 'npm';
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const CONSUMER = join(ROOT, 'test', 'consumer');
/** The agent's line that reads a result's answer only once its kind is `ok`. */
const NARROWED = "const master: string = cluster.kind === 'ok' ? cluster.answer.master : 'unknown';";

let dir: string;

/** A copy of the consumer package, with the packed tarball as `qconf.tgz`, installed. */
beforeAll(async () => {
  const out = tempDir('qconf-consumer-pack-');
  // --ignore-scripts: dist/ is this run's build (no prepack rebuild while other suites use it).
  const pack = await runCommand(NPM, ['pack', '--ignore-scripts', '--pack-destination', out, '--json'], {}, 180_000, ROOT);
  expect(pack.code, pack.stderr).toBe(0);
  const [info] = JSON.parse(pack.stdout) as Array<{ filename: string }>;
  dir = tempDir('qconf-consumer-');
  for (const f of ['package.json', 'tsconfig.json', 'agent.ts']) copyFileSync(join(CONSUMER, f), join(dir, f));
  copyFileSync(join(out, info.filename), join(dir, 'qconf.tgz'));
  // The tarball is local; its one dependency and the consumer's @types/node come from npm's
  // cache when they are there (npm ci put them there).
  const inst = await runCommand(NPM, ['install', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund'], {}, 300_000, dir);
  expect(inst.code, inst.stderr).toBe(0);
}, 600_000);

function tsc(args: string[]) {
  return runCommand(process.execPath, [TSC, '-p', dir, ...args], {}, 120_000, dir);
}

describe('the packed library, installed by a program that uses it', () => {
  it('installs qconf and tweetnacl alone: none of the daemon’s peer packages', async () => {
    const ls = await runCommand(NPM, ['ls', '--omit=dev', '--all', '--parseable'], {}, 60_000, dir);
    expect(ls.code, ls.stderr).toBe(0);
    const installed = ls.stdout.trim().split('\n').slice(1).map((p) => p.slice(join(dir, 'node_modules').length + 1));
    expect(installed.sort()).toEqual(['qconf', 'tweetnacl']);
    for (const peer of ['pino', 'etcd3', 'prom-client']) expect(existsSync(join(dir, 'node_modules', peer)), peer).toBe(false);
    expect(readdirSync(join(dir, 'node_modules', 'qconf', 'dist'))).toEqual(expect.arrayContaining(['client', 'daemon', 'shared']));
  });

  it('its qconfd, started without pino, names the package to install and exits 1', async () => {
    const d = tempDir('qconf-consumer-daemon-');
    const key = writeKeyFile(d, [KEY_A]);
    const doc = join(d, 'cluster.json');
    writeAtomic(doc, sampleDoc(1));
    const r = await runCommand(process.execPath, [join(dir, 'node_modules', 'qconf', 'dist', 'daemon', 'main.js'), '--file', doc, '--key-file', key], {}, 60_000, dir);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/needs the package pino, which is not installed: npm install pino@'\^\d+\.\d+\.\d+' next to qconf/);
  });

  it('a CommonJS program requires it (engines names the Node versions whose require loads ES modules)', async () => {
    const pkg = JSON.parse(readFileSync(join(dir, 'node_modules', 'qconf', 'package.json'), 'utf8')) as { engines: { node: string } };
    expect(pkg.engines.node).toBe('^20.19.0 || >=22.12.0');
    const script = "const q = require('qconf'); const c = q.ConfdClient.fromEnv({ env: { QCONF_PEERS: '127.0.0.1:9' }, keyring: q.Keyring.fromStrings(['k'.repeat(32)]) }); c.close(); console.log(typeof q.ConfdClient, q.DEFAULT_PORT, q.neededReplies(3));";
    const r = await runCommand(process.execPath, ['-e', script], {}, 60_000, dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('function 1814 2\n');
  });

  it('the agent compiles with tsc --strict against the tarball’s declarations', async () => {
    const r = await tsc(['--strict', '--noEmit']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });

  it('a type error in the agent fails that compile (an answer read without narrowing the result)', async () => {
    const source = readFileSync(join(dir, 'agent.ts'), 'utf8');
    expect(source).toContain(NARROWED);
    const broken = join(dir, 'broken');
    writeFileSync(join(dir, 'broken.ts'), source.replace(NARROWED, 'const master: string = cluster.answer.master;'));
    writeFileSync(join(dir, 'tsconfig.broken.json'), JSON.stringify({ extends: './tsconfig.json', files: ['broken.ts'], compilerOptions: { outDir: broken } }));
    const r = await runCommand(process.execPath, [TSC, '-p', join(dir, 'tsconfig.broken.json'), '--strict', '--noEmit'], {}, 120_000, dir);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toMatch(/broken\.ts\(\d+,\d+\): error TS18046: 'cluster\.answer' is of type 'unknown'/);
  });

  describe('the agent against three daemons', () => {
    let daemons: TestDaemon[] = [];
    let agent: ChildProcess | undefined;

    afterAll(async () => {
      if (agent) await stopProcess(agent, 'SIGKILL');
      await stopAll(daemons.splice(0));
    });

    it('reads, narrows, parses, aborts, mirrors, and follows a change of master', async () => {
      const built = await tsc([]);
      expect(built.code, built.stdout + built.stderr).toBe(0);
      daemons = await startDaemons(3, () => ({ doc: sampleDoc(1) }));
      const env = { PATH: process.env.PATH, QCONF_PEERS: daemons.map((d) => d.peer).join(','), QCONF_KEY_FILE: daemons[0].keyFile };
      const child = spawnTracked(process.execPath, [join(dir, 'out', 'agent.js')], { cwd: dir, env });
      agent = child;
      let stdout = '';
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      await new Promise<void>((resolve, reject) => {
        child.stdout?.on('data', (d: Buffer) => {
          stdout += d.toString();
          if (stdout.includes('READY\n')) resolve();
        });
        void exited.then((code) => reject(new Error(`the agent exited (${code}) before READY:\n${stdout}${stderr}`)));
      });
      for (const d of daemons) d.writeDoc(withMaster(2, 'node2.example.com'));
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([
        exited,
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`the agent saw no change in 30 s:\n${stdout}${stderr}`)), 30_000))),
      ]).finally(() => clearTimeout(timer));
      expect(code, stderr).toBe(0);
      expect(stdout.trim().split('\n')).toEqual([
        'fromEnv without peers: usage',
        'get /cluster: ok test.example.com master=node1.example.com serial=1 consistent=true',
        'master: node1.example.com',
        'get /nowhere: not_found not_found',
        'get /list as a cluster: error invalid_answer',
        'abort: the agent gave up',
        'mirror: serial=1 master=node1.example.com name=test.example.com',
        'READY',
        'change: serial=2 paths=/master master=node2.example.com',
      ]);
    });
  });
});
