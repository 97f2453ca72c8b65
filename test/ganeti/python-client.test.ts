// Interop, both directions: the REAL Ganeti Python ConfdClient (Counting → Filter → Store, as
// burnin wires it) gets the same answers from three qconfd daemons as from ganeti-confd; and
// qconf's own client (the `qconf ganeti` CLI as a child process, and ConfdClient with
// Plj0ClientProtocol) queries a real ganeti-confd. Fails (never skips) without Ganeti.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GANETI_EXAMPLE_CONFIG } from '../../testkit/paths.js';
import { ganetiExampleKey } from '../../testkit/ganeti-key.js';
import { ConfdClient } from '../../client/confd-client.js';
import { Plj0ClientProtocol, plj0Request } from '../../client/ganeti-protocol.js';
import { Keyring } from '../../shared/keyring.js';
import { TestDaemon, runCli } from '../../testkit/daemons.js';
import { freePort, tempDir } from '../../testkit/fixtures.js';
import { FETCH_HINT, ganetiAvailable, startGanetiConfd, type GanetiConfd } from '../../testkit/ganeti/confd.js';
import { confdQuery } from '../../testkit/ganeti/plj0-client.js';
import { runGanetiPythonClient } from '../support/ganeti-python.js';

const hmacKey = fs.readFileSync(ganetiExampleKey());
const doc = JSON.parse(fs.readFileSync(GANETI_EXAMPLE_CONFIG, 'utf8')) as Record<string, any>;
const masterUuid = doc.cluster.master_node as string;
const masterName = doc.nodes[masterUuid].name as string;
const someInstance = Object.values(doc.instances as Record<string, any>)[0].name as string;

function requireGaneti(): void {
  if (!ganetiAvailable()) throw new Error(`Ganeti 3.0 is not available: ${FETCH_HINT}`);
}

// Every request through the real client library; prints one JSON line with all upcalls.
const PYTHON_QUERIES = `
import json, os, sys
from ganeti import constants
from ganeti.confd import client as confd_client

store = confd_client.StoreResultCallback()
filt = confd_client.ConfdFilterCallback(store)
counting = confd_client.ConfdCountingCallback(filt)
with open(os.environ["CONFD_KEY_FILE"]) as f:
  key = f.read()
client = confd_client.ConfdClient(key, json.loads(os.environ["CONFD_PEERS"]), counting,
                                  port=int(os.environ["CONFD_PORT"]))
out = []
for t, q in json.loads(os.environ["CONFD_REQUESTS"]):
  req = confd_client.ConfdClientRequest(type=t, query=q)
  counting.RegisterQuery(req.rsalt)
  client.SendRequest(req, async_=False)
  timed_out, sent, rcvd = client.WaitForReply(req.rsalt, timeout=5)
  found, up = store.GetResponse(req.rsalt)
  r = up.server_reply if found else None
  out.append({"timed_out": timed_out, "sent": sent,
              "consistent": filt.consistent.get(req.rsalt),
              "reply": None if r is None else {"status": r.status, "answer": r.answer, "serial": r.serial}})
print(json.dumps(out))
`;

const REQUESTS: Array<[number, unknown]> = [
  [0, null],
  [1, masterName],
  [1, masterUuid],
  [1, 'node2'],
  [1, 'nope'],
  [1, null],
  [2, { '1': '192.0.2.1' }],
  [2, { '2': ['a', 'b'] }],
  [3, null],
  [3, { '3': [0, 1, 2] }],
  [4, null],
  [5, null],
  [6, null],
  [6, 'br974'],
  [7, masterName],
  [7, 'nope'],
  [9, someInstance],
  [10, '/cluster/cluster_name'],
  [10, `/nodes/${masterUuid}`],
  [10, '/cluster/'],
  [11, null],
];

interface PyResult {
  timed_out: boolean;
  sent: number;
  consistent: boolean | null;
  reply: { status: number; answer: unknown; serial: number } | null;
}

async function python(peers: string[], port: number, keyFile: string): Promise<PyResult[]> {
  const r = await runGanetiPythonClient(PYTHON_QUERIES, {
    CONFD_PEERS: JSON.stringify(peers),
    CONFD_PORT: String(port),
    CONFD_KEY_FILE: keyFile,
    CONFD_REQUESTS: JSON.stringify(REQUESTS),
  });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as PyResult[];
}

describe('interop with the real Ganeti clients and daemon', () => {
  let real: GanetiConfd | undefined;
  let ours: TestDaemon[] = [];
  let port = 0;
  const dir = tempDir('qconf-ganeti-py-');
  const keyFile = path.join(dir, 'hmac.key');
  fs.writeFileSync(keyFile, hmacKey, { mode: 0o600 });
  const hosts = ['127.0.0.1', '127.0.0.2', '127.0.0.3'];

  beforeAll(async () => {
    if (!ganetiAvailable()) return;
    real = await startGanetiConfd({ config: GANETI_EXAMPLE_CONFIG, hmacKey });
    // The Python client uses one port for all peers: three daemons on three loopback addresses.
    port = await freePort();
    ours = hosts.map((h) => new TestDaemon({ doc, port, waitReady: false, args: ['--ganeti-key-file', keyFile, '--bind', h] }));
    await Promise.all(ours.map((d) => d.start()));
    const deadline = Date.now() + 30_000;
    for (const h of hosts) {
      for (;;) {
        try {
          await confdQuery({ port, hmacKey, type: 0, host: h, timeoutMs: 300 });
          break;
        } catch (e) {
          if (Date.now() > deadline) throw new Error(`qconfd on ${h}:${port} not ready: ${(e as Error).message}\n${ours.map((d) => d.output).join('\n')}`);
        }
      }
    }
  }, 120_000);

  afterAll(async () => {
    await Promise.all([real?.stop(), ...ours.map((d) => d.stop())]);
  });

  it('the Python ConfdClient gets the same answers from 3 qconfd daemons as from ganeti-confd', async () => {
    requireGaneti();
    const reference = await python(['127.0.0.1'], (real as GanetiConfd).port, keyFile);
    const fromOurs = await python(hosts, port, keyFile);
    expect(reference.every((r) => !r.timed_out && r.reply !== null)).toBe(true);
    for (let i = 0; i < REQUESTS.length; i++) {
      expect({ request: REQUESTS[i], ...fromOurs[i] }).toEqual({ request: REQUESTS[i], ...reference[i], sent: 3, consistent: true });
    }
  }, 120_000);

  it('ConfdClient with Plj0ClientProtocol queries a real ganeti-confd', async () => {
    requireGaneti();
    const client = new ConfdClient({
      keyring: Keyring.fromStrings(['0'.repeat(16)]),
      peers: [`127.0.0.1:${(real as GanetiConfd).port}`],
      protocol: new Plj0ClientProtocol(hmacKey),
    });
    try {
      for (const [type, query] of REQUESTS) {
        const ref = await confdQuery({ port: (real as GanetiConfd).port, hmacKey, type, query: query ?? undefined });
        const r = await client.query(plj0Request(type, query as string | null), { timeoutMs: 5000 });
        expect({ type, query, status: r.status, serial: r.serial, answer: r.answer }).toEqual({ type, query, status: ref.status, serial: ref.serial, answer: ref.answer });
        expect(r.timedOut, JSON.stringify({ type, query, r })).toBe(false);
      }
    } finally {
      client.close();
    }
  }, 60_000);

  it('the qconf ganeti CLI queries a real ganeti-confd and three qconfd daemons', async () => {
    requireGaneti();
    const realPeers = `127.0.0.1:${(real as GanetiConfd).port}`;
    const ourPeers = hosts.map((h) => `${h}:${port}`).join(',');
    for (const peers of [realPeers, ourPeers]) {
      const base = ['--peers', peers, '--key-file', keyFile, '--timeout', '5000'];
      let r = await runCli(['ganeti', 'cluster-master', ...base]);
      expect([r.code, r.stdout], r.stderr).toEqual([0, `${masterName}\n`]);
      r = await runCli(['ganeti', '3', '--fields', 'name,ip,mnode_pip', ...base]);
      expect([r.code, JSON.parse(r.stdout)], r.stderr).toEqual([0, [masterName, doc.cluster.master_ip, doc.nodes[masterUuid].primary_ip]]);
      r = await runCli(['ganeti', 'node-role', masterName, '--json', ...base]);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ status: 0, answer: 0, serial: doc.cluster.serial_no, timedOut: false });
      r = await runCli(['ganeti', 'config-query', '/cluster/cluster_name', ...base]);
      expect([r.code, r.stdout], r.stderr).toEqual([0, `${doc.cluster.cluster_name}\n`]);
      r = await runCli(['ganeti', 'node-role', 'nope', ...base]);
      expect([r.code, r.stderr]).toEqual([1, expect.stringContaining('Node name nope not found')]);
      r = await runCli(['ganeti', 'node-drbd', ...base]);
      expect([r.code, r.stderr]).toEqual([4, expect.stringContaining('Invalid query type EmptyQuery')]);
      r = await runCli(['ganeti', 'node-pip-by-instance-ip', '--ips', '192.0.2.1,192.0.2.2', ...base]);
      expect([r.code, JSON.parse(r.stdout)], r.stderr).toEqual([0, [[1, 0, 0], [1, 0, 0]]]);
    }
    const bad = await runCli(['ganeti', 'no-such-type', '--peers', realPeers, '--key-file', keyFile]);
    expect(bad.code).toBe(2);
  }, 120_000);
});
