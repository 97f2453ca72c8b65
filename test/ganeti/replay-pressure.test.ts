// plj0's replay memory (Ganeti's ±300 s window, `--replay-capacity` salts) under a key holder's
// flood of far-stamped requests: a live qconfd in Ganeti mode keeps answering requests stamped
// with the present while the flood is refused (counted as replay_overflow).
import { createHmac, randomUUID } from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GANETI_EXAMPLE_CONFIG } from '../../testkit/paths.js';
import { ganetiExampleKey } from '../../testkit/ganeti-key.js';
import { TestDaemon } from '../../testkit/daemons.js';
import { tempDir } from '../../testkit/fixtures.js';
import { httpGet } from '../ops/helpers.js';
import { until } from '../support/until.js';
import { decodeConfdReply } from '../../testkit/ganeti/plj0-client.js';

const KEY = fs.readFileSync(ganetiExampleKey());

const mac = (salt: string, msg: string) => createHmac('sha1', KEY).update(salt + msg, 'utf8').digest('hex');
/** A signed plj0 ping under `rsalt`, stamped `ts` (Unix seconds). */
function ping(rsalt: string, ts: number): Buffer {
  const msg = `{"protocol":1,"type":0,"rsalt":"${rsalt}"}`;
  const salt = String(ts);
  return Buffer.from('plj0' + JSON.stringify({ msg, salt, hmac: mac(salt, msg) }), 'latin1');
}
const nowSec = () => Math.floor(Date.now() / 1000);

const daemons: TestDaemon[] = [];
const sockets: dgram.Socket[] = [];
afterAll(async () => {
  for (const s of sockets) s.close();
  await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
});

async function socket(onMessage: (m: Buffer) => void): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  sockets.push(s);
  s.on('message', onMessage);
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  return s;
}

async function metricsText(url: string): Promise<string> {
  const r = await httpGet(url);
  expect(r.status).toBe(200);
  return r.body;
}
const received = (text: string) => Number(/^qconfd_datagrams_received_total (\S+)$/m.exec(text)?.[1] ?? NaN);
const drops = (text: string, reason: string) => Number(new RegExp(`^qconfd_drops_total\\{reason="${reason}"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);

describe('plj0 replay memory under a far-stamped flood (--replay-capacity 1024)', () => {
  it('1,100 pings stamped now + 299 s do not lock out current-time requests', async () => {
    const dir = tempDir('qconf-ganeti-replay-');
    const keyPath = path.join(dir, 'hmac.key');
    fs.writeFileSync(keyPath, KEY, { mode: 0o600 });
    const d = new TestDaemon({
      doc: JSON.parse(fs.readFileSync(GANETI_EXAMPLE_CONFIG, 'utf8')),
      args: ['--ganeti-key-file', keyPath, '--replay-capacity', '1024', '--metrics-listen', '127.0.0.1:0'],
    });
    daemons.push(d);
    await d.start();
    const metrics = `http://127.0.0.1:${(await d.waitForLog((l) => l.event === 'metrics_listen')).port as number}/metrics`;
    const send = (s: dgram.Socket, b: Buffer) => new Promise<void>((r) => s.send(b, d.port, '127.0.0.1', () => r()));

    // The flood, from its own socket; the daemon counts every datagram before we go on.
    const flooder = await socket(() => undefined);
    const before = await metricsText(metrics);
    const ts = nowSec() + 299;
    for (let i = 0; i < 1100; i++) {
      await send(flooder, ping(randomUUID(), ts));
      if (i % 25 === 24) await new Promise((r) => setTimeout(r, 4));
    }
    await until(async () => received(await metricsText(metrics)) >= received(before) + 1100, 'the flood to be received', 30_000, 50);

    // Current-time pings from another socket for 5 s: every one answered.
    const replies = new Map<string, (v: unknown) => void>();
    const client = await socket((m) => {
      const r = decodeConfdReply(KEY, m);
      if (r) replies.get(r.salt)?.(r);
    });
    const end = Date.now() + 5000;
    let n = 0;
    while (Date.now() < end) {
      const rsalt = randomUUID();
      const answered = new Promise<unknown>((resolve) => {
        replies.set(rsalt, resolve);
        setTimeout(() => resolve(undefined), 5000);
      });
      await send(client, ping(rsalt, nowSec()));
      const r = (await answered) as { status: number; answer: unknown } | undefined;
      expect(r, `current-time plj0 ping #${n + 1} was not answered`).toBeDefined();
      expect(r?.status).toBe(0);
      n++;
      await new Promise((res) => setTimeout(res, 100));
    }
    expect(n).toBeGreaterThan(10);
    // The flood beyond what the memory lets far-stamped requests hold was refused.
    expect(drops(await metricsText(metrics), 'replay_overflow') - drops(before, 'replay_overflow')).toBeGreaterThan(0);
  });
});
