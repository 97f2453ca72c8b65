// Checks the harness against the REAL Ganeti 3.0 confd daemon and Python client. Fails (never
// skips) when Ganeti has not been fetched: run `bash test/ganeti/fetch-ganeti.sh` as root.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GANETI_EXAMPLE_CONFIG } from '../../testkit/paths.js';
import { ganetiExampleKey } from '../../testkit/ganeti-key.js';
import { FETCH_HINT, ganetiAvailable, ganetiPaths, startGanetiConfd, type GanetiConfd } from '../../testkit/ganeti/confd.js';
import { confdQuery } from '../../testkit/ganeti/plj0-client.js';
import { runGanetiPythonClient } from '../support/ganeti-python.js';
import { formatGanetiConfig, upgradeGanetiConfig } from './upgrade-config.js';


interface ConfigDoc {
  version: number;
  cluster: { master_node: string; serial_no: number };
  nodes: Record<string, { name: string }>;
}

const hmacKey = fs.readFileSync(ganetiExampleKey());

// CLUSTER_MASTER through the real client, wired like Ganeti's burnin does:
// Counting -> Filter -> Store, then ReceiveReply until every registered query is answered.
const PYTHON_CLUSTER_MASTER = `
import json, os, sys, time
from ganeti import constants, utils
from ganeti.confd import client as confd_client

store = confd_client.StoreResultCallback()
counting = confd_client.ConfdCountingCallback(confd_client.ConfdFilterCallback(store))
client = confd_client.ConfdClient(utils.ReadFile(os.environ["CONFD_KEY_FILE"]), ["127.0.0.1"],
                                  counting, port=int(os.environ["CONFD_PORT"]))
req = confd_client.ConfdClientRequest(type=constants.CONFD_REQ_CLUSTER_MASTER)
counting.RegisterQuery(req.rsalt)
client.SendRequest(req, async_=False)
deadline = time.time() + 10
while not counting.AllAnswered():
  if time.time() > deadline:
    sys.exit("no reply from confd")
  client.ReceiveReply()
found, up = store.GetResponse(req.rsalt)
assert found and up.type == confd_client.UPCALL_REPLY, (found, up)
r = up.server_reply
print(json.dumps({"status": r.status, "answer": r.answer, "serial": r.serial,
                  "server_ip": up.server_ip}))
`;

describe('Ganeti 3.0 fetch and examples', () => {
  it('has Ganeti fetched', () => {
    expect(ganetiAvailable(), `Ganeti 3.0 not found under ${ganetiPaths().root}: ${FETCH_HINT}`).toBe(true);
  });

  it('ships examples/ganeti as the upgraded testsuite 2.16 config; the tests make a Ganeti-style key', () => {
    expect(hmacKey.toString('latin1')).toMatch(/^[0-9a-f]{40}\n$/);
    const source = path.join(ganetiPaths().testData, 'cluster_config_2.16.json');
    expect(fs.existsSync(source), `${source} missing: ${FETCH_HINT}`).toBe(true);
    const upgraded = formatGanetiConfig(upgradeGanetiConfig(JSON.parse(fs.readFileSync(source, 'utf8'))));
    // Regenerate with: QCONF_UPDATE_EXAMPLES=1 npx vitest run test/ganeti
    if (process.env['QCONF_UPDATE_EXAMPLES'] === '1') fs.writeFileSync(GANETI_EXAMPLE_CONFIG, upgraded);
    expect(fs.readFileSync(GANETI_EXAMPLE_CONFIG, 'utf8')).toBe(upgraded);
  });
});

// A separate block so that its daemon starts after the examples check (which may regenerate
// examples/ganeti/config.data).
describe('Ganeti 3.0 reference harness', () => {
  let confd: GanetiConfd | undefined;
  let config: ConfigDoc;
  let masterName: string;

  beforeAll(async () => {
    config = JSON.parse(fs.readFileSync(GANETI_EXAMPLE_CONFIG, 'utf8')) as ConfigDoc;
    masterName = config.nodes[config.cluster.master_node]!.name;
    if (ganetiAvailable()) confd = await startGanetiConfd({ config: GANETI_EXAMPLE_CONFIG, hmacKey });
  });

  afterAll(async () => {
    await confd?.stop();
  });

  function daemon(): GanetiConfd {
    if (confd === undefined) throw new Error(`Ganeti 3.0 is not available: ${FETCH_HINT}`);
    return confd;
  }

  it('answers a plj0 PING with the config version', async () => {
    const { port } = daemon();
    const reply = await confdQuery({ port, hmacKey, type: 0 });
    expect(reply).toMatchObject({ status: 0, answer: 3000000, serial: 0 });
    expect(config.version).toBe(3000000);
  });

  it('answers CLUSTER_MASTER (type 3) with the master node name', async () => {
    const { port } = daemon();
    const reply = await confdQuery({ port, hmacKey, type: 3 });
    expect(reply).toMatchObject({ status: 0, answer: masterName, serial: config.cluster.serial_no });
  });

  it('serves the real Python ConfdClient', async () => {
    const { port, rootDir } = daemon();
    const result = await runGanetiPythonClient(PYTHON_CLUSTER_MASTER, {
      CONFD_PORT: String(port),
      CONFD_KEY_FILE: path.join(rootDir, 'var/lib/ganeti/hmac.key'),
    });
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      status: 0,
      answer: masterName,
      serial: config.cluster.serial_no,
      server_ip: '127.0.0.1',
    });
  });

  it('reports why the daemon rejects a config (the raw 2.16 testsuite config)', async () => {
    const raw = path.join(ganetiPaths().testData, 'cluster_config_2.16.json');
    await expect(startGanetiConfd({ config: raw, hmacKey })).rejects.toThrow(/did not load its config.*ssh_key_type/s);
  });

  it('can start a daemon without a config, and stop() kills it and cleans up', async () => {
    const broken = await startGanetiConfd({ config: undefined, hmacKey, requireConfigLoaded: false });
    try {
      // Spec section 5: with no loaded config every request gets a status-1 text answer.
      const reply = await confdQuery({ port: broken.port, hmacKey, type: 0 });
      expect(reply.status).toBe(1);
      expect(reply.answer).toEqual(expect.stringContaining('config.data'));
    } finally {
      await broken.stop();
    }
    expect(() => process.kill(broken.pid, 0)).toThrow();
    expect(fs.existsSync(broken.rootDir)).toBe(false);
  });
});
