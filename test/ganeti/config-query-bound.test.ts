// Type 10 (config query) answers are bounded before they are made: a pointer at a large part of
// a large config (the instances, the nodes, the disks), spelled a new way each time so no
// reply cache can help (Ganeti's pointer parser ignores what follows a bad escape), is refused as
// too large without re-serializing that part, and other clients keep being answered.
import { createHmac, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TestDaemon } from '../../testkit/daemons.js';
import { tempDir } from '../../testkit/fixtures.js';
import { probeLiveness } from '../support/liveness.js';
import { cpuMs } from '../../testkit/proc-stats.js';
import { RawClient } from '../support/raw-client.js';
import { generateGanetiConfig } from '../../testkit/ganeti/generate-config.js';
import { decodeConfdReply } from '../../testkit/ganeti/plj0-client.js';

const KEY = Buffer.from('config-query-bound-test-key\n');
const daemons: TestDaemon[] = [];
afterAll(async () => {
  await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
});

function configQuery(path: string): Buffer {
  const msg = JSON.stringify({ protocol: 1, type: 10, query: path, rsalt: randomUUID() });
  const salt = String(Math.floor(Date.now() / 1000));
  const hmac = createHmac('sha1', KEY).update(salt + msg, 'utf8').digest('hex');
  return Buffer.from('plj0' + JSON.stringify({ msg, salt, hmac }), 'latin1');
}

describe('type 10 on a large config', () => {
  it('refuses pointers at large parts at once (no re-serialization), answers small ones, and stays responsive', async () => {
    const dir = tempDir();
    const file = join(dir, 'config.data');
    writeFileSync(file, JSON.stringify(generateGanetiConfig({ nodes: 1000, instancesPerNode: 5, links: 2, seed: 5, candidatePool: 10 })));
    const keyFile = join(dir, 'hmac.key');
    writeFileSync(keyFile, KEY, { mode: 0o600 });
    const d = new TestDaemon({ file, args: ['--ganeti-key-file', keyFile] });
    daemons.push(d);
    await d.start();
    const c = await RawClient.open(d.port);
    const probe = await probeLiveness(d.port);
    const cpu0 = cpuMs(d.child.pid as number);
    let refused = 0;
    try {
      for (let i = 0; i < 150; i++) {
        for (const path of ['/instances', '/nodes', '/disks'].map((b) => `${b}~x${i}`)) {
          const q = configQuery(path);
          await c.send(q);
          const raw = await c.recv(10_000);
          expect(raw, `no reply to ${path}`).toBeDefined();
          const r = decodeConfdReply(KEY, raw as Buffer);
          expect(r?.status).toBe(1);
          expect(String(r?.answer), path).toMatch(/the limit is 61440/);
          refused++;
        }
      }
      const q = configQuery('/cluster/cluster_name');
      await c.send(q);
      const r = decodeConfdReply(KEY, (await c.recv(10_000)) as Buffer);
      expect(r?.status).toBe(0);
      expect(typeof r?.answer).toBe('string');
    } finally {
      c.close();
    }
    const cpu = cpuMs(d.child.pid as number) - cpu0;
    const live = await probe.stop();
    expect(refused).toBe(450);
    // Re-serializing the instances of this config takes tens of milliseconds; refusing takes none.
    expect(cpu / refused, `daemon CPU per refused query, ms`).toBeLessThan(5);
    expect(live.lost, JSON.stringify(live)).toBe(0);
    expect(live.maxMs, JSON.stringify(live)).toBeLessThan(300);
  });
});
