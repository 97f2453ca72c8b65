// `npm run demo` (or `node dist/examples/demo.js` in the installed package): three qconfd
// daemons on loopback with a key made for the run, a quorum read through the library and the
// same read with the qconf command, a stale replica losing to the newest serial, a change
// propagating (timed from the publish to the quorum's answer), then a clean stop.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import dgram from 'node:dgram';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfdClient } from '../client/confd-client.js';
import { generateKeyText, loadKeyring } from '../shared/keyring.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const root = join(here, '..', '..');
const daemonJs = join(root, 'dist', 'daemon', 'main.js');
const cliJs = join(root, 'dist', 'client', 'cli', 'main.js');
const exampleDoc = join(root, 'examples', 'cluster.json');
/** The daemons reload the first change of a file at once, and further ones at most this often. */
const RELOAD_THROTTLE_MS = 250;

const say = (s: string) => process.stdout.write(s + '\n');
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket({ type: 'udp6', ipv6Only: false });
    s.once('error', reject);
    s.bind(0, '::', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

interface Node {
  name: string;
  port: number;
  file: string;
  child: ChildProcess;
}

function publish(file: string, doc: unknown): void {
  writeFileSync(file + '.tmp', JSON.stringify(doc, null, 2));
  renameSync(file + '.tmp', file);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'qconf-demo-'));
  // A key for this run only (the package ships none): what `qconf keygen --out FILE` writes.
  const keyFile = join(dir, 'demo.key');
  writeFileSync(keyFile, generateKeyText() + '\n', { mode: 0o600 });
  const base = JSON.parse(readFileSync(exampleDoc, 'utf8')) as Record<string, unknown> & { serial_no: number; cluster: Record<string, unknown> };
  const nodes: Node[] = [];
  const stopAll = async () => {
    await Promise.all(
      nodes.map(
        (n) =>
          new Promise<void>((resolve) => {
            if (n.child.exitCode !== null) return resolve();
            n.child.once('exit', () => resolve());
            n.child.kill('SIGTERM');
          }),
      ),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('SIGINT', () => void stopAll().then(() => process.exit(130)));

  try {
    say('== Starting three qconfd daemons on loopback');
    for (const name of ['node1', 'node2', 'node3']) {
      const file = join(dir, `${name}.json`);
      publish(file, base);
      const port = await freePort();
      const child = spawn(process.execPath, [daemonJs, '--file', file, '--key-file', keyFile, '--port', String(port), '--bind', '127.0.0.1', '--node-name', name, '--log-level', 'warn'], {
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      nodes.push({ name, port, file, child });
      say(`   ${name}: 127.0.0.1:${port}`);
    }
    const peers = nodes.map((n) => `127.0.0.1:${n.port}`);
    const { keyring } = loadKeyring(keyFile);
    const client = new ConfdClient({ keyring, peers });
    try {
      for (let i = 0; i < 100; i++) {
        const r = await client.ping({ coverage: -1, timeoutMs: 1000, strict: true });
        if (!r.timedOut && r.replies === 3) break;
      }

      say("\n== A quorum read with the library: client.get('/cluster/master')");
      let r = await client.get('/cluster/master');
      say(`   answer ${JSON.stringify(r.answer)} at serial ${r.serial}: ${r.replies} of ${r.sent} daemons replied, ${r.needed} needed, ${r.agreeing} agree, consistent ${r.consistent}`);

      say('\n== The same read with the command line: qconf get /cluster/master');
      const cli = spawnSync(process.execPath, [cliJs, 'get', '/cluster/master'], { env: { ...process.env, QCONF_PEERS: peers.join(','), QCONF_KEY_FILE: keyFile }, encoding: 'utf8' });
      say(`   ${cli.stdout.trim() || cli.stderr.trim()} (exit ${cli.status})`);

      say('\n== node3 falls behind: node1 and node2 get serial 2 (a new master), node3 keeps serial 1');
      const v2 = { ...base, serial_no: base.serial_no + 1, cluster: { ...base.cluster, master: 'node2.example.com' } };
      publish(nodes[0].file, v2);
      publish(nodes[1].file, v2);
      const v2At = Date.now();
      await waitSerial(client, v2.serial_no, 2);
      r = await client.get('/cluster/master', { coverage: -1, all: true });
      for (const p of r.peers) say(`   ${p.node} answered serial ${p.serial}`);
      say(`   the newest serial wins: ${JSON.stringify(r.answer)} (serial ${r.serial}, ${r.agreeing} agreeing, consistent ${r.consistent})`);

      say('\n== A change propagates: serial 3 published to every node; a held wait returns once a quorum serves it');
      say(`   library: client.waitFor({ minSerial: 3 }) (the command line: qconf wait --serial 3)`);
      // node1 and node2 loaded serial 2 a moment ago: a change within RELOAD_THROTTLE_MS of that
      // would be timed by the throttle, not by the propagation. Publish after it.
      await delay(Math.max(0, v2At + 2 * RELOAD_THROTTLE_MS - Date.now()));
      const v3 = { ...v2, serial_no: v2.serial_no + 1, cluster: { ...v2.cluster, master_ip: '192.0.2.20' } };
      const waiting = client.waitFor({ minSerial: v3.serial_no }, { coverage: -1, timeoutMs: 10_000 });
      const started = performance.now();
      for (const n of nodes) publish(n.file, v3);
      const w = await waiting;
      say(`   met=${w.met} ${(performance.now() - started).toFixed(1)} ms after the files were replaced (${w.replies} daemons reported, ${w.needed} needed)`);
      await waitSerial(client, v3.serial_no, 3);
      r = await client.get('/cluster', { coverage: -1, strict: true, all: true });
      say(`   all ${r.replies} daemons serve serial ${r.serial}: ${JSON.stringify(r.answer)}`);
    } finally {
      client.close();
    }
  } finally {
    say('\n== Stopping the daemons');
    await stopAll();
    say('   done');
  }
}

/** Poll until `count` daemons report serial ≥ `serial` (the wait op does this without polling). */
async function waitSerial(client: ConfdClient, serial: number, count: number): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const r = await client.ping({ coverage: -1, timeoutMs: 1000, all: true });
    if (r.peers.filter((p) => p.serial >= serial).length >= count) return;
    await delay(25);
  }
  throw new Error(`serial ${serial} did not reach ${count} daemons`);
}

main().catch((e: unknown) => {
  process.stderr.write(`demo failed: ${(e as Error).message}\n`);
  process.exitCode = 1;
});
