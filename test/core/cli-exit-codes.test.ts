// Every exit code each qconf command documents (its table, its help, the README's table), driven
// for real: one case per command and code, on real daemons (a cluster of three, dead peers, a
// daemon answering Ganeti's protocol). A code documented without a case here fails, and so does
// a README whose table is not the commands' own.
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allSpecs } from '../../client/cli/commands.js';
import { exitCodeTable } from '../../client/cli/help.js';
import { generateSigningKey, signingKeyText } from '../../shared/signing.js';
import { TestDaemon, runCli, startDaemons, stopAll, type CliResult } from '../../testkit/daemons.js';
import { KEY_A, freePort, tempDir, writeKeyFile } from '../../testkit/fixtures.js';
import { CLI_JS, ROOT } from '../../testkit/paths.js';
import { sampleDoc } from '../support/sample-doc.js';
import { spawnTracked, stopProcess } from '../../testkit/processes.js';

let cluster: TestDaemon[] = [];
let ganeti: TestDaemon;
let keyFile: string;
let hmacKey: string;
let dead: string[] = [];
let signKey: string;

beforeAll(async () => {
  cluster = await startDaemons(3, (i) => ({ doc: sampleDoc(5), nodeName: `x${i}` }));
  keyFile = writeKeyFile(tempDir(), [KEY_A]);
  const dir = tempDir();
  hmacKey = join(dir, 'hmac.key');
  writeFileSync(hmacKey, randomBytes(20).toString('hex') + '\n', { mode: 0o600 });
  ganeti = await new TestDaemon({ file: join(ROOT, 'examples/ganeti/config.data'), args: ['--ganeti-key-file', hmacKey] }).start();
  dead = await Promise.all([0, 1, 2].map(async () => `127.0.0.1:${await freePort()}`));
  signKey = join(tempDir(), 'publisher.key');
  writeFileSync(signKey, signingKeyText(generateSigningKey()).secret, { mode: 0o600 });
});

afterAll(async () => {
  await stopAll([...cluster, ganeti]);
});

const peers = () => cluster.map((d) => d.peer).join(',');
/** One daemon of three alive: no quorum. */
const oneOfThree = () => [cluster[0].peer, dead[0], dead[1]].join(',');
const none = () => dead.join(',');

/** qconf with the cluster's key, the given peers, and a timeout. */
function q(args: string[], list: string, timeout = '10000'): Promise<CliResult> {
  return runCli([...args, '--peers', list, '--key-file', keyFile, '--timeout', timeout]);
}

function ganetiQ(args: string[], list: string, timeout = '10000'): Promise<CliResult> {
  return runCli(['ganeti', ...args, '--peers', list, '--port', String(ganeti.port), '--key-file', hmacKey, '--timeout', timeout]);
}

/** `qconf watch` until its first line, then SIGTERM. */
async function watchThenStop(): Promise<CliResult> {
  const child = spawnTracked(process.execPath, [CLI_JS, 'watch', '/cluster/master', '--peers', peers(), '--key-file', keyFile], { env: { ...process.env, QCONF_PEERS: '', QCONF_KEY_FILE: '' } });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const closed = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  try {
    const deadline = Date.now() + 30_000;
    while (!stdout.includes('\n') && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    child.kill('SIGTERM');
    return { code: await closed, stdout, stderr };
  } finally {
    await stopProcess(child, 'SIGKILL', 1000);
  }
}

function publishSource(doc: string): string {
  const dir = tempDir();
  const src = join(dir, 'doc.json');
  writeFileSync(src, doc);
  return src;
}

/** One way to get each documented exit code of each command. */
const CASES: Record<string, Record<number, () => Promise<CliResult>>> = {
  get: {
    0: () => q(['get', '/cluster/master'], peers()),
    1: () => q(['get', '/nope'], peers()),
    2: () => q(['get'], peers()),
    3: () => q(['get', '/cluster/master'], oneOfThree(), '1500'),
    4: () => q(['get', '/cluster/master'], none(), '1000'),
  },
  mget: {
    0: () => q(['mget', '/cluster/master', '/cluster/name'], peers()),
    1: () => q(['mget', '/cluster/master', '/nope'], peers()),
    2: () => q(['mget', '/cluster/master', 'cluster/name'], peers()),
    3: () => q(['mget', '/cluster/master'], oneOfThree(), '1500'),
    4: () => q(['mget', '/cluster/master'], none(), '1000'),
  },
  list: {
    0: () => q(['list', '/nodes'], peers()),
    1: () => q(['list', '/nope'], peers()),
    2: () => q(['list', '/', '--depth', '0'], peers()),
    3: () => q(['list', '/'], oneOfThree(), '1500'),
    4: () => q(['list', '/cluster/master'], peers()),
  },
  ping: {
    0: () => q(['ping'], peers()),
    2: () => q(['ping', 'extra'], peers()),
    3: () => q(['ping', '--json'], oneOfThree(), '1500'),
    4: () => q(['ping'], none(), '1000'),
  },
  stats: {
    0: () => q(['stats'], peers()),
    2: () => q(['stats', '--coverage', 'many'], peers()),
    3: () => q(['stats'], oneOfThree(), '1500'),
    4: () => q(['stats'], none(), '1000'),
  },
  keygen: {
    0: () => runCli(['keygen']),
    2: () => runCli(['keygen', 'extra']),
    4: () => runCli(['keygen', '--out', keyFile]),
  },
  'key-id': {
    0: () => runCli(['key-id', keyFile, signKey]),
    2: () => runCli(['key-id']),
    4: () => runCli(['key-id', join(tempDir(), 'none.key')]),
  },
  wait: {
    0: () => q(['wait', '--serial', '5'], peers()),
    1: () => q(['wait', '/cluster/master', '--equals', '"nobody"'], peers(), '1500'),
    2: () => q(['wait', '/cluster/master', '--equals', 'nobody'], peers()),
    3: () => q(['wait', '--serial', '99'], oneOfThree(), '2000'),
    4: () => q(['wait', '--serial', '99'], none(), '1500'),
  },
  watch: {
    0: watchThenStop,
    2: () => q(['watch'], peers()),
    3: () => q(['watch', '/cluster/master'], oneOfThree(), '3000'),
    4: () => q(['watch', '/cluster/master'], none(), '1500'),
  },
  publish: {
    0: () => runCli(['publish', publishSource('{"a":1}'), '--to', join(tempDir(), 'c.json'), '--offline']),
    2: () => runCli(['publish', publishSource('{"a":1}')]),
    4: () => runCli(['publish', publishSource('{"a":1,"serial_no":"5"}'), '--to', join(tempDir(), 'c.json'), '--offline']),
  },
  sign: {
    0: () => runCli(['sign', publishSource('{"a":1,"serial_no":2}'), '--sign-key', signKey]),
    2: () => runCli(['sign', publishSource('{"a":1,"serial_no":2}')]),
    4: () => runCli(['sign', publishSource('{"a":1,"serial_no":"2"}'), '--sign-key', signKey]),
  },
  ganeti: {
    0: () => ganetiQ(['cluster-master'], '127.0.0.1'),
    1: () => ganetiQ(['node-role', 'no-such-node.example.com'], '127.0.0.1'),
    2: () => ganetiQ(['no-such-type'], '127.0.0.1'),
    3: () => ganetiQ(['cluster-master'], `127.0.0.1,${dead[0]},${dead[1]}`, '1500'),
    4: () => ganetiQ(['cluster-master'], dead[2], '1000'),
  },
};

describe('every documented exit code, on real daemons', () => {
  it('every code a command documents has a case here, and no other', async () => {
    const specs = await allSpecs();
    const documented = Object.fromEntries(specs.map((s) => [s.name, s.exits.map((e) => e.code)]));
    const driven = Object.fromEntries(Object.entries(CASES).map(([name, codes]) => [name, Object.keys(codes).map(Number)]));
    expect(driven).toEqual(documented);
  });

  it("the README's exit-code table is the commands' own", async () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const table = exitCodeTable(await allSpecs());
    expect(readme.includes(table), `README.md should hold this table (client/cli/help.ts, exitCodeTable):\n${table}`).toBe(true);
  });

  for (const [command, codes] of Object.entries(CASES)) {
    for (const [code, run] of Object.entries(codes)) {
      it(`${command}: exit ${code}`, async () => {
        const r = await run();
        expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(Number(code));
        // Every failure says why on stderr; usage errors say how to get help.
        if (Number(code) !== 0) expect(r.stderr).toMatch(/^qconf: /m);
        if (Number(code) === 2) expect(r.stderr).toMatch(/Try 'qconf .*--help'/);
      });
    }
  }
});
