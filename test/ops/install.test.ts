// `npm pack` → `npm install -g` into a temporary prefix, pino beside it: qconfd and qconf land on
// the PATH and work together; the unit files and bash completion ship in the package; completion
// works against the installed programs; `qconf ping --json` reports every daemon for monitoring.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestDaemon, runCli } from '../../testkit/daemons.js';
import { KEY_A, freePort, tempDir, writeAtomic, writeKeyFile } from '../../testkit/fixtures.js';
import { ROOT } from '../../testkit/paths.js';
import { sampleDoc } from '../support/sample-doc.js';
import { spawnTracked, stopProcess } from '../../testkit/processes.js';
import { runCommand, type Run } from './helpers.js';

const NPM = join(process.execPath, '..', 'npm');

let prefix: string;
let pkgDir: string;
/** What the tarball holds, as `npm pack` lists it. */
let packed: string[];
let PATH: string;

function installed(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return runCommand(join(prefix, 'bin', cmd), args, { PATH, ...env });
}

beforeAll(async () => {
  const out = tempDir('qconf-pack-');
  // --ignore-scripts: no prepack rebuild while other suites run the built daemon.
  const pack = await runCommand(existsSync(NPM) ? NPM : 'npm', ['pack', '--ignore-scripts', '--pack-destination', out, '--json'], {}, 180_000, ROOT);
  expect(pack.code, pack.stderr).toBe(0);
  const [info] = JSON.parse(pack.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  const tarball = join(out, info.filename);
  packed = info.files.map((f) => f.path);
  prefix = join(out, 'prefix');
  // As the README installs a daemon: pino (an optional peer dependency) beside qconf.
  const pino = `pino@${(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { peerDependencies: Record<string, string> }).peerDependencies.pino}`;
  const inst = await runCommand(
    existsSync(NPM) ? NPM : 'npm',
    ['install', '-g', '--prefix', prefix, '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', tarball, pino],
    {},
    300_000,
    out,
  );
  expect(inst.code, inst.stderr).toBe(0);
  pkgDir = join(prefix, 'lib', 'node_modules', 'qconf');
  PATH = `${join(prefix, 'bin')}:${join(process.execPath, '..')}:/usr/bin:/bin`;
}, 600_000);

describe('npm pack and install', () => {
  it('puts qconfd and qconf on the PATH', async () => {
    expect(readdirSync(join(prefix, 'bin')).sort()).toEqual(['pino', 'qconf', 'qconfd']);
    const v1 = await runCommand('qconfd', ['--version'], { PATH });
    const v2 = await runCommand('qconf', ['--version'], { PATH });
    expect(v1.code).toBe(0);
    expect(v2.code).toBe(0);
    expect(v1.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect(v2.stdout.trim()).toBe(v1.stdout.trim());
    expect((await installed('qconfd', ['--help'])).stdout).toMatch(/--metrics-listen ADDR:PORT/);
  });

  it('ships the unit files, the defaults file, the sysusers file and bash completion', () => {
    for (const f of ['systemd/qconfd.service', 'systemd/qconfd-ganeti.service', 'systemd/qconfd.default', 'systemd/qconfd.sysusers', 'completions/qconf', 'completions/qconfd', 'README.md']) {
      expect(existsSync(join(pkgDir, f)), f).toBe(true);
    }
    // Not the sources or the tests.
    expect(existsSync(join(pkgDir, 'test'))).toBe(false);
    expect(existsSync(join(pkgDir, 'daemon'))).toBe(false);
    expect(existsSync(join(pkgDir, 'dist/test'))).toBe(false);
    expect(existsSync(join(pkgDir, 'dist/bench'))).toBe(false);
  });

  it('ships no key, no source map, a LICENSE, and the demo built', () => {
    expect(packed.filter((f) => /\.key$|\.pem$/.test(f))).toEqual([]);
    expect(packed.filter((f) => f.endsWith('.map'))).toEqual([]);
    expect(packed).toEqual(expect.arrayContaining(['LICENSE', 'dist/examples/demo.js', 'examples/cluster.json']));
    expect(readFileSync(join(pkgDir, 'LICENSE'), 'utf8')).toMatch(/^BSD 2-Clause License\n\nCopyright \(c\) the qconf authors\n/);
    expect(JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')).license).toBe('BSD-2-Clause');
  });

  it('the demo runs from the installed package, with a key it makes for the run', async () => {
    const r = await runCommand(process.execPath, [join(pkgDir, 'dist/examples/demo.js')], { PATH }, 120_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/qconf get \/cluster\/master\n {3}node1\.example\.com \(exit 0\)/);
    expect(r.stdout).toMatch(/met=true [0-9.]+ ms after the files were replaced/);
    expect(r.stdout).toMatch(/done\n$/);
  });

  it('the installed daemon and CLI work together', async () => {
    const dir = tempDir('qconf-inst-');
    const key = writeKeyFile(dir, [KEY_A]);
    const doc = join(dir, 'cluster.json');
    writeAtomic(doc, sampleDoc(9));
    const port = await freePort();
    const check = await installed('qconfd', ['--check', '--file', doc, '--key-file', key, '--port', String(port)]);
    expect(check.code, check.stderr).toBe(0);
    const child = spawnTracked(join(prefix, 'bin', 'qconfd'), ['--file', doc, '--key-file', key, '--port', String(port), '--bind', '127.0.0.1'], { env: { PATH } });
    try {
      let r: Run = { code: null, stdout: '', stderr: '' };
      for (let i = 0; i < 60; i++) {
        r = await installed('qconf', ['get', '/cluster/name', '--peers', `127.0.0.1:${port}`, '--key-file', key, '--timeout', '1000']);
        if (r.code === 0) break;
      }
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe('test.example.com\n');
      // Its first line (`#!/usr/bin/env -S ...`) gave node the daemon's flag and malloc's tunable.
      const pid = child.pid as number;
      expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).toContain('--max-semi-space-size=4');
      expect(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')).toContain('GLIBC_TUNABLES=glibc.malloc.hugetlb=1');
    } finally {
      await stopProcess(child, 'SIGTERM');
    }
  });

  it('bash completion completes commands, options and flags from the installed programs', async () => {
    const script = [
      `. '${join(pkgDir, 'completions/qconfd')}'`,
      't() { COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMPREPLY=(); if [[ $1 == qconfd ]]; then _qconfd; else _qconf; fi; echo "${COMPREPLY[*]}"; }',
      't qconf ""',
      't qconf p',
      't qconf ping --j',
      't qconf wait --ser',
      't qconfd --met',
      't qconfd --log-level de',
      't qconf get --coverage a',
    ].join('\n');
    const r = await runCommand('bash', ['--norc', '-c', script], { PATH });
    expect(r.code, r.stderr).toBe(0);
    const [all, p, json, serial, metrics, level, coverage] = r.stdout.split('\n');
    expect(all.split(' ')).toEqual(expect.arrayContaining(['get', 'mget', 'list', 'ping', 'stats', 'keygen', 'wait', 'watch', '--help']));
    expect(p.split(' ').sort()).toEqual(expect.arrayContaining(['ping']));
    expect(json).toBe('--json');
    expect(serial).toBe('--serial');
    expect(metrics).toBe('--metrics-listen');
    expect(level).toBe('debug');
    expect(coverage).toBe('all');
  });
});

describe('qconf ping --json for monitoring', () => {
  const daemons: TestDaemon[] = [];
  let keyFile: string;

  beforeAll(async () => {
    for (let i = 0; i < 3; i++) daemons.push(await new TestDaemon({ doc: sampleDoc(5), nodeName: `mon${i}` }).start());
    keyFile = daemons[0].keyFile;
  });

  afterAll(async () => {
    await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
  });

  const ping = (peers: string[], extra: string[] = []) => runCli(['ping', '--json', '--timeout', '3000', ...extra], { QCONF_PEERS: peers.join(','), QCONF_KEY_FILE: keyFile });

  it('reports every daemon, healthy when all answer ready with one serial', async () => {
    const r = await ping(daemons.map((d) => d.peer));
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { healthy: boolean; sent: number; needed: number; replies: number; daemons: Array<Record<string, unknown>> };
    expect(j).toMatchObject({ healthy: true, sent: 3, needed: 2, replies: 3 });
    expect(j.daemons).toHaveLength(3);
    for (const d of j.daemons) {
      expect(d).toMatchObject({ answered: true, serial: 5, ready: true, stale: false, source: 'file' });
      expect(typeof d.rttMs).toBe('number');
      expect(typeof d.version).toBe('string');
    }
    expect(new Set(j.daemons.map((d) => d.node))).toEqual(new Set(['mon0', 'mon1', 'mon2']));
  });

  it('names a silent daemon; exit 0 while a quorum answers, 3 without one, 4 when none does', async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    const r = await ping([daemons[0].peer, daemons[1].peer, dead]);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { healthy: boolean; daemons: Array<{ peer: string; answered: boolean }> };
    expect(j.healthy).toBe(false);
    expect(j.daemons.find((d) => d.peer === dead)).toEqual({ peer: dead, answered: false });
    expect(j.daemons.filter((d) => d.answered)).toHaveLength(2);

    const dead2 = `127.0.0.1:${await freePort()}`;
    const noQuorum = await ping([daemons[0].peer, dead, dead2]);
    expect(noQuorum.code).toBe(3);
    expect((JSON.parse(noQuorum.stdout) as { healthy: boolean }).healthy).toBe(false);
    const none = await ping([dead, dead2]);
    expect(none.code).toBe(4);
  });

  it('marks a daemon that is not ready yet', async () => {
    const empty = await new TestDaemon({ file: join(tempDir('qconf-mon-'), 'absent.json'), nodeName: 'mon-empty' }).start();
    try {
      const r = await ping([daemons[0].peer, daemons[1].peer, empty.peer]);
      const j = JSON.parse(r.stdout) as { healthy: boolean; daemons: Array<{ node?: string; ready?: boolean; serial?: number }> };
      expect(j.healthy).toBe(false);
      expect(j.daemons.find((d) => d.node === 'mon-empty')).toMatchObject({ ready: false, serial: 0 });
    } finally {
      await empty.stop('SIGKILL');
    }
  });
});

describe('qconf help', () => {
  it('every command has help with examples, and ping --help shows the monitoring use', async () => {
    const main = await runCli(['--help']);
    const commands = main.stdout.split('Commands:\n')[1].split('\n\n')[0].split('\n').map((l) => l.trim().split(/\s+/)[0]);
    for (const c of commands) {
      const h = await runCli([c, '--help']);
      expect(h.code, c).toBe(0);
      expect(h.stdout, c).toMatch(/\nExamples:\n {2}.*qconf /);
    }
    expect((await runCli(['ping', '--help'])).stdout).toMatch(/qconf ping --json .*jq -e '\.healthy'/);
    expect(main.stdout).toMatch(/completion/i);
  });
});
