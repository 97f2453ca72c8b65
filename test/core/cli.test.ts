// The real qconf CLI as a child process against real daemons: output formats, every command,
// environment fallbacks, and every exit code (0 answer, 1 not found, 2 usage, 3 no quorum,
// 4 other failure).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { QueryResult } from '../../client/types.js';
import { TestDaemon, runCli, startDaemons, stopAll } from '../../testkit/daemons.js';
import { KEY_A, KEY_B, freePort, tempDir, writeKeyFile } from '../../testkit/fixtures.js';
import { sampleDoc } from '../support/sample-doc.js';

let cluster: TestDaemon[] = [];
let peers = '';
let keyFile = '';
const extra: TestDaemon[] = [];

beforeAll(async () => {
  cluster = await startDaemons(3, (i) => ({ doc: sampleDoc(5), nodeName: `cli${i}` }));
  peers = cluster.map((d) => d.peer).join(',');
  keyFile = writeKeyFile(tempDir(), [KEY_A]);
});

afterEach(async () => {
  await stopAll(extra.splice(0));
});

afterAll(async () => {
  await stopAll(cluster);
});

/** The CLI with this cluster's peers and key; `args` come first. */
function qconf(args: string[], env: NodeJS.ProcessEnv = {}) {
  return runCli([...args, '--peers', peers, '--key-file', keyFile, '--timeout', '10000'], env);
}

async function deadPeer(): Promise<string> {
  return `127.0.0.1:${await freePort()}`;
}

/** What `--json` prints: the library's query result. */
type JsonResult = QueryResult;

describe('get', () => {
  it('prints a string answer raw', async () => {
    const r = await qconf(['get', '/cluster/master']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('node1.example.com\n');
    expect(r.stderr).toBe('');
  });

  it('prints objects, arrays and numbers as compact JSON (stdout is not a TTY)', async () => {
    const obj = await qconf(['get', '/nodes/node2.example.com']);
    expect(obj.code).toBe(0);
    expect(obj.stdout).toBe('{"primary_ip":"192.0.2.12","drained":false}\n');
    const arr = await qconf(['get', '/list']);
    expect(arr.stdout).toBe('[10,20,30]\n');
    const num = await qconf(['get', '/a~1b/m~0n']);
    expect(num.stdout).toBe('1\n');
    const bool = await qconf(['get', '/nodes/node1.example.com/drained']);
    expect(bool.stdout).toBe('false\n');
  });

  it('--json prints the whole quorum result', async () => {
    const r = await qconf(['get', '/cluster/master', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    const j = JSON.parse(r.stdout) as JsonResult;
    expect(j.status).toBe(0);
    expect(j.answer).toBe('node1.example.com');
    expect(j.serial).toBe(5);
    expect(j.needed).toBe(2);
    expect(j.sent).toBe(3);
    expect(j.replies).toBeGreaterThanOrEqual(2);
    expect(j.replies).toBeLessThanOrEqual(3);
    expect(j.agreeing).toBe(j.replies);
    expect(j.consistent).toBe(true);
    expect(j.timedOut).toBe(false);
    expect(j.peers).toHaveLength(j.replies);
    for (const p of j.peers) {
      expect(cluster.map((d) => d.peer)).toContain(p.peer);
      expect(p).toMatchObject({ status: 0, serial: 5 });
    }
  });

  it('--json with --coverage all and --strict', async () => {
    const r = await qconf(['get', '/cluster/name', '--json', '--coverage', 'all', '--strict']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as JsonResult;
    expect(j.answer).toBe('test.example.com');
    expect(j.sent).toBe(3);
    expect(j.agreeing).toBeGreaterThanOrEqual(2);
  });

  it('exits 1 for a missing path, also with --json', async () => {
    const r = await qconf(['get', '/nope']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/not_found/);
    const j = await qconf(['get', '/nope', '--json']);
    expect(j.code).toBe(1);
    const parsed = JSON.parse(j.stdout) as JsonResult;
    expect(parsed.status).toBe(1);
    expect(parsed.error?.code).toBe('not_found');
    expect(parsed.timedOut).toBe(false);
  });
});

describe('mget, list, ping, stats', () => {
  it('mget prints one JSON line per path', async () => {
    const r = await qconf(['mget', '/cluster/master', '/list', '/nodes/node1.example.com/primary_ip']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('"node1.example.com"\n[10,20,30]\n"192.0.2.11"\n');
  });

  it('mget prints null for a missing path and exits 1', async () => {
    const r = await qconf(['mget', '/cluster/master', '/nope', '/list']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('"node1.example.com"\nnull\n[10,20,30]\n');
    expect(r.stderr).toMatch(/\/nope/);
    expect(r.stderr).toMatch(/not_found/);
  });

  it('list prints sorted child keys, and --depth descends', async () => {
    const r = await qconf(['list', '/nodes']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('node1.example.com\nnode2.example.com\n');
    const arr = await qconf(['list', '/list']);
    expect(arr.stdout).toBe('0\n1\n2\n');
    const deep = await qconf(['list', '', '--depth', '2']);
    expect(deep.code, deep.stderr).toBe(0);
    expect(deep.stdout.trim().split('\n')).toEqual([
      'a~1b',
      'a~1b/m~0n',
      'cluster',
      'cluster/master',
      'cluster/name',
      'list',
      'list/0',
      'list/1',
      'list/2',
      'nodes',
      'nodes/node1.example.com',
      'nodes/node2.example.com',
      'serial_no',
    ]);
    const three = await qconf(['list', '/nodes', '--depth', '3']);
    expect(three.stdout.trim().split('\n')).toContain('node1.example.com/primary_ip');
  });

  it('list of a scalar is an error reply (exit 4); a missing one is exit 1', async () => {
    const scalar = await qconf(['list', '/cluster/master']);
    expect(scalar.code).toBe(4);
    expect(scalar.stderr).toMatch(/bad_argument/);
    const missing = await qconf(['list', '/nope']);
    expect(missing.code).toBe(1);
  });

  it('ping prints the answer as compact JSON', async () => {
    const r = await qconf(['ping']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    const a = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(['cli0', 'cli1', 'cli2']).toContain(a.node);
    expect(a).toMatchObject({ serial: 5, source: 'file', stale: false });
    expect(typeof a.version).toBe('string');
    expect(typeof a.loadedAt).toBe('number');
    const all = await qconf(['ping', '--json', '--coverage', 'all']);
    expect(all.code).toBe(0);
    const j = JSON.parse(all.stdout) as JsonResult;
    expect(j.sent).toBe(3);
    expect(j.needed).toBe(2);
  });

  it("stats prints a daemon's counters", async () => {
    const r = await qconf(['stats', '--coverage', '1', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const [one] = JSON.parse(r.stdout) as Array<{ stats: { requests: { qcf1: Record<string, number> }; replies: { ok: number }; drops: object; received: number } }>;
    const s = one.stats;
    expect(s.received).toBeGreaterThan(0);
    expect(s.replies.ok).toBeGreaterThan(0);
    expect(s.requests.qcf1.stats).toBeGreaterThanOrEqual(1);
    expect(typeof s.drops).toBe('object');
  });

  it('stats with several peers: one block per daemon, labelled by address and node; --json an array; no false warning', async () => {
    const r = await qconf(['stats']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const headers = r.stdout.split('\n').filter((l) => l.startsWith('== '));
    expect(headers).toHaveLength(3);
    for (const d of cluster) expect(headers.some((h) => h.startsWith(`== ${d.peer} (node ${d.nodeName},`))).toBe(true);
    const j = await qconf(['stats', '--json']);
    expect(j.code, j.stderr).toBe(0);
    expect(j.stderr).toBe('');
    const arr = JSON.parse(j.stdout) as Array<{ peer: string; node: string; answered: boolean; serial: number; stats: { received: number } }>;
    expect(arr.map((e) => e.peer).sort()).toEqual(cluster.map((d) => d.peer).sort());
    expect(arr.map((e) => e.node).sort()).toEqual(['cli0', 'cli1', 'cli2']);
    for (const e of arr) expect(e).toMatchObject({ answered: true, serial: 5, stats: { received: expect.any(Number) } });
  });

  it('stats names a silent daemon and still prints the others (exit 0 with a quorum)', async () => {
    const dead = await deadPeer();
    const r = await runCli(['stats', '--peers', [cluster[0].peer, cluster[1].peer, dead].join(','), '--key-file', keyFile, '--timeout', '1500']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n').filter((l) => l.startsWith('== '))).toHaveLength(2);
    expect(r.stderr).toContain(`no answer from ${dead}`);
  });
});

describe('keygen', () => {
  it('prints a fresh 64-hex key to stdout', async () => {
    const a = await runCli(['keygen']);
    const b = await runCli(['keygen']);
    expect(a.code).toBe(0);
    expect(a.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    expect(b.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    expect(a.stdout).not.toBe(b.stdout);
  });

  it('--out FILE creates the file with mode 0600, refuses to overwrite (exit 4), and the key works', async () => {
    const dir = tempDir();
    const out = join(dir, 'new.key');
    const r = await runCli(['keygen', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    expect(existsSync(out)).toBe(true);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const key = readFileSync(out, 'utf8');
    expect(key).toMatch(/^[0-9a-f]{64}\n$/);

    const again = await runCli(['keygen', '--out', out]);
    expect(again.code).toBe(4);
    expect(again.stderr).toMatch(/already exists/);
    expect(readFileSync(out, 'utf8')).toBe(key);

    // A daemon and the CLI sharing the generated key file talk.
    const d = await new TestDaemon({ doc: sampleDoc(3), keys: [key.trim()] }).start();
    extra.push(d);
    const g = await runCli(['get', '/cluster/master', '--peers', d.peer, '--key-file', out, '--timeout', '10000']);
    expect(g.code, g.stderr).toBe(0);
    expect(g.stdout).toBe('node1.example.com\n');
  });

  it('keygen takes no positional arguments (exit 2)', async () => {
    const r = await runCli(['keygen', 'extra']);
    expect(r.code).toBe(2);
  });
});

describe('environment fallbacks', () => {
  it('reads QCONF_PEERS and QCONF_KEY_FILE', async () => {
    const r = await runCli(['get', '/cluster/master', '--timeout', '10000'], { QCONF_PEERS: peers, QCONF_KEY_FILE: keyFile });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('node1.example.com\n');
  });

  it('accepts a space-separated QCONF_PEERS and QCONF_PORT for peers without a port', async () => {
    const [one] = cluster;
    const spaced = await runCli(['ping', '--timeout', '10000'], { QCONF_PEERS: cluster.map((d) => d.peer).join(' '), QCONF_KEY_FILE: keyFile });
    expect(spaced.code, spaced.stderr).toBe(0);
    const r = await runCli(['get', '/cluster/name', '--timeout', '10000'], { QCONF_PEERS: '127.0.0.1', QCONF_PORT: String(one.port), QCONF_KEY_FILE: keyFile });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('test.example.com\n');
  });

  it('flags win over the environment', async () => {
    const dead = await deadPeer();
    const r = await runCli(['get', '/cluster/master', '--peers', peers, '--key-file', keyFile, '--timeout', '10000'], {
      QCONF_PEERS: dead,
      QCONF_KEY_FILE: '/nonexistent/key',
    });
    expect(r.code, r.stderr).toBe(0);
  });

  it('reads QCONF_TIMEOUT when --timeout is not given (an invalid one is a usage error)', async () => {
    const bad = await runCli(['get', '/cluster/master', '--peers', peers, '--key-file', keyFile], { QCONF_TIMEOUT: 'soon' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/timeout/);
    const dead = await runCli(['get', '/cluster/master', '--peers', await deadPeer(), '--key-file', keyFile], { QCONF_TIMEOUT: '800' }, 30_000);
    expect(dead.code).toBe(4);
    const flagWins = await runCli(['get', '/cluster/master', '--peers', peers, '--key-file', keyFile, '--timeout', '10000'], { QCONF_TIMEOUT: 'soon' });
    expect(flagWins.code).toBe(0);
  });
});

describe('exit codes', () => {
  it('0: an answer', async () => {
    expect((await qconf(['get', '/cluster/name'])).code).toBe(0);
  });

  it('1: not found', async () => {
    expect((await qconf(['get', '/cluster/nope'])).code).toBe(1);
  });

  it('2: unknown command, and no command at all', async () => {
    const r = await runCli(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command/);
    const none = await runCli([]);
    expect(none.code).toBe(2);
    expect(none.stdout).toMatch(/Usage: qconf/);
  });

  it('2: missing or extra positional arguments', async () => {
    const missing = await qconf(['get']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/usage/i);
    expect((await qconf(['get', '/a', '/b'])).code).toBe(2);
    expect((await qconf(['list'])).code).toBe(2);
    expect((await qconf(['mget'])).code).toBe(2);
    expect((await qconf(['ping', 'extra'])).code).toBe(2);
  });

  it('2: bad flags and bad flag values', async () => {
    const bogus = await qconf(['get', '/cluster/master', '--bogus']);
    expect(bogus.code).toBe(2);
    expect(bogus.stderr).toMatch(/bogus/);
    expect((await runCli(['get', '/x', '--peers', peers, '--key-file', keyFile, '--timeout', 'soon'])).code).toBe(2);
    expect((await qconf(['get', '/x', '--coverage', 'many'])).code).toBe(2);
    expect((await qconf(['list', '/', '--depth', '0'])).code).toBe(2);
    expect((await qconf(['list', '/', '--depth', 'deep'])).code).toBe(2);
    expect((await runCli(['get', '/x', '--peers', 'bad host!', '--key-file', keyFile])).code).toBe(2);
    expect((await runCli(['get', '/x', '--peers', '127.0.0.1:99999', '--key-file', keyFile])).code).toBe(2);
  });

  it('2: a coverage larger than the peer list is a usage error', async () => {
    const r = await qconf(['get', '/cluster/master', '--coverage', '4']);
    expect(r.stderr).toMatch(/coverage 4 exceeds/);
    expect(r.code).toBe(2);
  });

  it('2: no peers, and no key file given', async () => {
    const r = await runCli(['get', '/cluster/master', '--key-file', keyFile]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no peers/);
    const nokey = await runCli(['get', '/cluster/master', '--peers', peers]);
    expect(nokey.code).toBe(2);
    expect(nokey.stderr).toMatch(/no key file/);
  });

  it('3: no quorum before the timeout (3 peers, 1 alive, needed 2)', async () => {
    const alive = cluster[0].peer;
    const three = [alive, await deadPeer(), await deadPeer()].join(',');
    const r = await runCli(['get', '/cluster/master', '--peers', three, '--key-file', keyFile, '--timeout', '1500']);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    // Said once (one line, the counts once), naming the silent daemons.
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^qconf: no quorum: 1 of 3 daemons replied; 2 needed \(no answer from [^)]+\)\n$/);
    expect(r.stderr.match(/replied/g)).toHaveLength(1);
    for (const dead of three.split(',').slice(1)) expect(r.stderr).toContain(dead);
    const j = await runCli(['get', '/cluster/master', '--peers', three, '--key-file', keyFile, '--timeout', '1500', '--json']);
    expect(j.code).toBe(3);
    const parsed = JSON.parse(j.stdout) as JsonResult;
    expect(parsed).toMatchObject({ timedOut: true, replies: 1, sent: 3, needed: 2 });
  });

  it('4: missing key file', async () => {
    const r = await runCli(['get', '/cluster/master', '--peers', peers, '--key-file', join(tempDir(), 'absent.key')]);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/does not exist/);
  });

  it('4: group-writable key file; a world-readable one only warns', async () => {
    const dir = tempDir();
    const gw = writeKeyFile(dir, [KEY_A], 'gw.key', 0o620);
    const r = await runCli(['get', '/cluster/master', '--peers', peers, '--key-file', gw, '--timeout', '10000']);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/writable by group/);
    const ow = writeKeyFile(dir, [KEY_A], 'ow.key', 0o602);
    expect((await runCli(['get', '/cluster/master', '--peers', peers, '--key-file', ow, '--timeout', '10000'])).code).toBe(4);
    const wr = writeKeyFile(dir, [KEY_A], 'wr.key', 0o644);
    const warn = await runCli(['get', '/cluster/master', '--peers', peers, '--key-file', wr, '--timeout', '10000']);
    expect(warn.code).toBe(0);
    expect(warn.stderr).toMatch(/world-readable/);
  });

  it('4: no daemon answered at all (dead peers, or a key no daemon knows)', async () => {
    const dead = [await deadPeer(), await deadPeer()].join(',');
    const r = await runCli(['get', '/cluster/master', '--peers', dead, '--key-file', keyFile, '--timeout', '1000']);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/no daemon answered/);
    const other = writeKeyFile(tempDir(), [KEY_B]);
    const wrongKey = await runCli(['get', '/cluster/master', '--peers', peers, '--key-file', other, '--timeout', '1000']);
    expect(wrongKey.code).toBe(4);
    expect(wrongKey.stderr).toMatch(/no daemon answered/);
  });

  it('4: an error reply (a list of a scalar)', async () => {
    const r = await qconf(['list', '/cluster/master']);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/bad_argument/);
    expect(r.stdout).toBe('');
  });
});

describe('--help', () => {
  it('main help exits 0 (--help, -h, help)', async () => {
    for (const flag of ['--help', '-h', 'help']) {
      const r = await runCli([flag]);
      expect(r.code, flag).toBe(0);
      expect(r.stdout).toMatch(/^Usage: qconf COMMAND/);
      expect(r.stdout).toMatch(/Exit codes:/);
    }
  });

  it('every command has --help that exits 0', async () => {
    const main = await runCli(['--help']);
    const section = main.stdout.split('Commands:\n')[1].split('\n\n')[0];
    const commands = section.split('\n').map((l) => l.trim().split(/\s+/)[0]).filter((c) => c !== '');
    expect(commands).toEqual(expect.arrayContaining(['get', 'mget', 'list', 'ping', 'stats', 'keygen']));
    for (const c of commands) {
      const r = await runCli([c, '--help']);
      expect(r.code, c).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^Usage: qconf ${c}`));
      const h = await runCli([c, '-h']);
      expect(h.code, `${c} -h`).toBe(0);
    }
  });
});

describe('paths', () => {
  it('"/" is the whole document, as "" is', async () => {
    const slash = await qconf(['list', '/', '--depth', '2']);
    expect(slash.code, slash.stderr).toBe(0);
    expect(slash.stdout).toBe((await qconf(['list', '', '--depth', '2'])).stdout);
    const whole = await qconf(['get', '/']);
    expect(whole.code, whole.stderr).toBe(0);
    expect(JSON.parse(whole.stdout)).toEqual(sampleDoc(5));
  });

  it('a path without its leading slash is a usage error (exit 2) suggesting the slashed form, for every command', async () => {
    for (const args of [['get', 'cluster/master'], ['mget', '/cluster/name', 'cluster/master'], ['list', 'nodes'], ['wait', 'cluster/master', '--exists'], ['watch', 'cluster/master']]) {
      const r = await qconf(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(/did you mean \/(cluster\/master|nodes)\?/);
      expect(r.stdout).toBe('');
    }
  });
});

describe('messages that say what to do', () => {
  it('an unknown option: one clean line, with "did you mean" when one is close', async () => {
    const r = await qconf(['get', '/cluster/master', '--timout', '5']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("qconf: unknown option --timout for qconf get; did you mean --timeout?\nTry 'qconf get --help'.\n");
    const far = await qconf(['get', '/cluster/master', '--frobnicate']);
    expect(far.code).toBe(2);
    expect(far.stderr).toBe("qconf: unknown option --frobnicate for qconf get\nTry 'qconf get --help'.\n");
    const cmd = await runCli(['gte', '/x']);
    expect(cmd.code).toBe(2);
    expect(cmd.stderr).toMatch(/unknown command "gte"; did you mean get\?/);
  });

  it('--equals with a bare string suggests the quoted form', async () => {
    const r = await qconf(['wait', '/cluster/master', '--equals', 'node2.example.com']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`qconf: --equals: node2.example.com is not JSON; for the string, quote it: --equals '"node2.example.com"'`);
  });

  it('--coverage 0 says what to give instead', async () => {
    const r = await qconf(['get', '/cluster/master', '--coverage', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).not.toMatch(/not a valid number/);
    expect(r.stderr).toMatch(/--coverage: 0 would ask no daemon; give 1 to the number of peers, or all/);
  });

  it('no daemon answered: said once, naming the daemons asked and what to check', async () => {
    const dead = [await deadPeer(), await deadPeer()];
    const r = await runCli(['get', '/cluster/master', '--peers', dead.join(','), '--key-file', keyFile, '--timeout', '1000']);
    expect(r.code).toBe(4);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^qconf: no daemon answered: 0 of 2 daemons replied; 2 needed \(no answer from [^)]+\); are they running, reachable, and using this key\?\n$/);
    for (const d of dead) expect(r.stderr).toContain(d);
  });
});

describe('peers', () => {
  it('two spellings of one address are one peer, with a warning', async () => {
    const [d] = cluster;
    const r = await runCli(['get', '/cluster/master', '--json', '--peers', `${d.peer},localhost:${d.port}`, '--key-file', keyFile, '--timeout', '10000']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe(`qconf: warning: peers ${d.peer} and localhost:${d.port} are the same address; asked once\n`);
    expect(JSON.parse(r.stdout)).toMatchObject({ sent: 1, needed: 1, replies: 1 });
  });

  it('one daemon reached at two addresses is never counted twice toward a quorum', async () => {
    const [d] = cluster;
    const r = await runCli(['get', '/cluster/master', '--json', '--peers', `${d.peer},[::1]:${d.port}`, '--key-file', keyFile, '--timeout', '1500']);
    expect(r.code, r.stderr).toBe(3);
    expect(JSON.parse(r.stdout)).toMatchObject({ sent: 2, needed: 2, replies: 1, kind: 'no_quorum' });
  });

  it('a peer whose name does not resolve is named, and counts as a silent daemon', async () => {
    const list = [cluster[0].peer, cluster[1].peer, 'no-such-host.invalid'].join(',');
    const r = await runCli(['get', '/cluster/master', '--peers', list, '--key-file', keyFile, '--timeout', '10000']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('node1.example.com\n');
    expect(r.stderr).toMatch(/warning: peer no-such-host\.invalid:1814: no-such-host\.invalid does not resolve \(ENOTFOUND\); it counts as a silent daemon/);
    const alone = await runCli(['get', '/cluster/master', '--peers', 'no-such-host.invalid', '--key-file', keyFile, '--timeout', '1000']);
    expect(alone.code).toBe(4);
    expect(alone.stderr).toMatch(/no-such-host\.invalid/);
  });
});

describe('a value too large for a reply', () => {
  it('get exits 4 at once with too_large, not after its timeout', async () => {
    const big: Record<string, number> = {};
    for (let i = 0; i < 70_000; i++) big[`k${i}`] = i;
    const d = await new TestDaemon({ doc: { ...sampleDoc(3), m: big } }).start();
    extra.push(d);
    const t0 = Date.now();
    const r = await runCli(['get', '/m', '--peers', d.peer, '--key-file', keyFile, '--timeout', '60000']);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/too_large/);
    expect(r.stdout).toBe('');
    // A timeout would take 60 s; an answer takes a moment (a generous bound on a loaded machine).
    expect(Date.now() - t0).toBeLessThan(30_000);
    const list = await runCli(['list', '/m', '--peers', d.peer, '--key-file', keyFile, '--timeout', '60000']);
    expect([0, 4]).toContain(list.code);
  });
});
