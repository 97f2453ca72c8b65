// Every silence case of ganeti-confd-protocol.md §5, sent to a live qconfd in Ganeti mode:
// no reply, the drop counted under its reason (read with a signed QCF1 `stats` query), the
// daemon never crashes; a replayed rsalt is dropped and counted (Ganeti answers replays).
import { createHmac, randomUUID } from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GANETI_EXAMPLE_CONFIG } from '../../testkit/paths.js';
import { ganetiExampleKey } from '../../testkit/ganeti-key.js';
import { ConfdClient } from '../../client/confd-client.js';
import { Keyring } from '../../shared/keyring.js';
import { TestDaemon } from '../../testkit/daemons.js';
import { KEY_A, tempDir } from '../../testkit/fixtures.js';
import { PingWatch } from '../support/liveness.js';
import { confdQuery, decodeConfdReply } from '../../testkit/ganeti/plj0-client.js';

const KEY = fs.readFileSync(ganetiExampleKey());

const now = () => String(Math.floor(Date.now() / 1000));
const mac = (key: Buffer, salt: string, msg: string) => createHmac('sha1', key).update(salt + msg, 'utf8').digest('hex');
const outer = (o: Record<string, unknown>) => Buffer.from('plj0' + JSON.stringify(o), 'latin1');
const signedMsg = (msg: string, salt = now(), key = KEY) => outer({ msg, salt, hmac: mac(key, salt, msg) });
const ping = (rsalt = randomUUID()) => `{"protocol":1,"type":0,"rsalt":"${rsalt}"}`;

/** [name, datagram, drop reason it must be counted under] */
function silenceCases(): Array<[string, Buffer, string]> {
  const good = signedMsg(ping()).toString('latin1', 4);
  return [
    ['empty datagram', Buffer.alloc(0), 'too_short'],
    ['wrong magic PLJ0', Buffer.from('PLJ0' + good), 'bad_magic'],
    ['wrong magic plj1', Buffer.from('plj1' + good), 'bad_magic'],
    ['longer than the request limit', Buffer.concat([Buffer.from('plj0'), Buffer.alloc(9000, 0x20)]), 'too_long'],
    ['outer not JSON', Buffer.from('plj0{nope'), 'plj0_bad_outer_json'],
    ['outer not an object', Buffer.from('plj0[1,2]'), 'plj0_bad_envelope'],
    ['outer leading whitespace', Buffer.from('plj0 ' + good, 'latin1'), 'plj0_bad_outer_json'],
    ['outer trailing garbage', Buffer.from('plj0' + good + '}', 'latin1'), 'plj0_bad_outer_json'],
    ['outer missing member', outer({ msg: ping(), salt: now() }), 'plj0_bad_envelope'],
    ['outer extra member', outer({ msg: ping(), salt: now(), hmac: mac(KEY, now(), ping()), key_selector: 'k' }), 'plj0_bad_envelope'],
    ['outer non-string member', outer({ msg: ping(), salt: Number(now()), hmac: 'x' }), 'plj0_bad_envelope'],
    ['bad MAC', outer({ msg: ping(), salt: now(), hmac: 'f'.repeat(40) }), 'plj0_bad_mac'],
    ['MAC without the key newline', signedMsg(ping(), now(), KEY.subarray(0, KEY.length - 1)), 'plj0_bad_mac'],
    ['timestamp unparsable', signedMsg(ping(), '12ab'), 'plj0_bad_timestamp'],
    ['timestamp trailing space', signedMsg(ping(), now() + ' '), 'plj0_bad_timestamp'],
    ['timestamp 400 s old', signedMsg(ping(), String(Number(now()) - 400)), 'plj0_skew'],
    ['timestamp 400 s ahead', signedMsg(ping(), String(Number(now()) + 400)), 'plj0_skew'],
    ['inner not JSON', signedMsg('{"protocol":1,'), 'plj0_bad_inner_json'],
    ['inner not an object', signedMsg('"ping"'), 'plj0_bad_request'],
    ['inner extra key', signedMsg(`{"protocol":1,"type":0,"rsalt":"${randomUUID()}","x":1}`), 'plj0_bad_request'],
    ['protocol missing', signedMsg(`{"type":0,"rsalt":"${randomUUID()}"}`), 'plj0_bad_request'],
    ['type out of range', signedMsg(`{"protocol":1,"type":12,"rsalt":"${randomUUID()}"}`), 'plj0_bad_type'],
    ['type a string', signedMsg(`{"protocol":1,"type":"0","rsalt":"${randomUUID()}"}`), 'plj0_bad_type'],
    ['rsalt missing', signedMsg('{"protocol":1,"type":0}'), 'plj0_bad_rsalt'],
    ['rsalt a number', signedMsg('{"protocol":1,"type":0,"rsalt":7}'), 'plj0_bad_rsalt'],
    ['query a number', signedMsg(`{"protocol":1,"type":1,"query":5,"rsalt":"${randomUUID()}"}`), 'plj0_bad_query'],
    ['query a list', signedMsg(`{"protocol":1,"type":1,"query":[],"rsalt":"${randomUUID()}"}`), 'plj0_bad_query'],
    ['dict query unknown key', signedMsg(`{"protocol":1,"type":2,"query":{"9":"x"},"rsalt":"${randomUUID()}"}`), 'plj0_bad_query'],
    ['dict query bad field code', signedMsg(`{"protocol":1,"type":3,"query":{"3":[3]},"rsalt":"${randomUUID()}"}`), 'plj0_bad_query'],
  ];
}

describe('bad input to qconfd in Ganeti mode', () => {
  let daemon: TestDaemon;
  let sock: dgram.Socket;
  const replies: Buffer[] = [];

  beforeAll(async () => {
    const dir = tempDir('qconf-ganeti-bad-');
    const keyPath = path.join(dir, 'hmac.key');
    fs.writeFileSync(keyPath, KEY, { mode: 0o600 });
    daemon = await new TestDaemon({ doc: JSON.parse(fs.readFileSync(GANETI_EXAMPLE_CONFIG, 'utf8')), args: ['--ganeti-key-file', keyPath] }).start();
    sock = dgram.createSocket('udp4');
    sock.on('message', (m) => replies.push(m));
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  });

  afterAll(async () => {
    sock?.close();
    await daemon?.stop();
  });

  async function drops(): Promise<Record<string, number>> {
    const client = new ConfdClient({ keyring: Keyring.fromStrings([KEY_A]), peers: [daemon.peer] });
    try {
      const r = await client.query<{ drops: Record<string, number> }>({ op: 'stats' }, { timeoutMs: 5000 });
      expect(r.status, JSON.stringify(r)).toBe(0);
      return r.answer?.drops ?? {};
    } finally {
      client.close();
    }
  }

  const send = (b: Buffer) => new Promise<void>((r) => sock.send(b, daemon.port, '127.0.0.1', () => r()));
  const settle = () => new Promise((r) => setTimeout(r, 400));

  it('stays silent on every §5 case and counts each drop by reason', async () => {
    const before = await drops();
    const cases = silenceCases();
    replies.length = 0;
    for (const [, bytes] of cases) await send(bytes);
    await settle();
    expect(replies.map((r) => r.toString('latin1').slice(0, 120))).toEqual([]);
    const after = await drops();
    const want: Record<string, number> = {};
    for (const [, , reason] of cases) want[reason] = (want[reason] ?? 0) + 1;
    for (const [reason, n] of Object.entries(want)) {
      expect(`${reason}: ${(after[reason] ?? 0) - (before[reason] ?? 0)}`).toBe(`${reason}: ${n}`);
    }
    expect(daemon.child.exitCode).toBeNull();
  });

  it('answers a well-formed request whose query has the wrong shape (status 1, not silence)', async () => {
    replies.length = 0;
    const rsalt = randomUUID();
    await send(signedMsg(`{"protocol":1,"type":1,"rsalt":"${rsalt}"}`));
    await settle();
    const r = replies.map((b) => decodeConfdReply(KEY, b)).find((x) => x?.salt === rsalt);
    expect(r).toMatchObject({ status: 1, answer: 'Invalid query type EmptyQuery', serial: 0 });
  });

  it('answers requests between 4096 and 8192 bytes (a leniency)', async () => {
    replies.length = 0;
    const rsalt = 'r' + 'x'.repeat(5000);
    await send(signedMsg(ping(rsalt)));
    await settle();
    expect(replies.map((b) => decodeConfdReply(KEY, b)).find((x) => x?.salt === rsalt)).toMatchObject({ status: 0, answer: 3000000 });
  });

  it('drops a replayed rsalt (same datagram, or another request under the same rsalt and timestamp) and counts it', async () => {
    const before = await drops();
    replies.length = 0;
    const rsalt = randomUUID();
    const ts = now();
    const first = signedMsg(ping(rsalt), ts);
    await send(first);
    await send(first);
    await send(signedMsg(`{"protocol":1,"type":3,"rsalt":"${rsalt}"}`, ts));
    await settle();
    expect(replies.filter((b) => decodeConfdReply(KEY, b)?.salt === rsalt)).toHaveLength(1);
    const after = await drops();
    expect((after.replay ?? 0) - (before.replay ?? 0)).toBe(2);
  });

  it('survives random and mutated datagrams without a reply or a crash', async () => {
    // The base datagram is answered first, so a mutation that still verifies (a MAC digit's
    // case) is a replay of its rsalt and must be dropped too.
    const base = signedMsg(ping());
    await send(base);
    await settle();
    replies.length = 0;
    const samples = fc.sample(
      fc.oneof(
        fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.concat([Buffer.from('plj0'), Buffer.from(b)])),
        fc.tuple(fc.nat(base.length - 5), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
          const b = Buffer.from(base);
          b[4 + i] ^= x;
          return b;
        }),
      ),
      { numRuns: 400, seed: 42 },
    );
    for (const s of samples) await send(s);
    await settle();
    expect(replies).toEqual([]);
    expect(daemon.child.exitCode).toBeNull();
    // Still serving.
    const rsalt = randomUUID();
    await send(signedMsg(ping(rsalt)));
    await settle();
    expect(replies.map((b) => decodeConfdReply(KEY, b)).find((x) => x?.salt === rsalt)).toMatchObject({ status: 0 });
  });
});

describe('qconfd in Ganeti mode without a loadable Ganeti config', () => {
  let daemon: TestDaemon | undefined;
  afterAll(async () => {
    await daemon?.stop();
  });

  async function askUntil(port: number, type: number, pred: (r: { status: number; answer: unknown; serial: number }) => boolean) {
    const deadline = Date.now() + 15_000;
    let last: unknown;
    while (Date.now() < deadline) {
      try {
        const r = await confdQuery({ port, hmacKey: KEY, type, timeoutMs: 500 });
        last = r;
        if (pred(r)) return r;
      } catch (e) {
        last = e;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`no matching answer; last: ${JSON.stringify(last)}`);
  }

  it('answers every request with a status-1 text before any good load, then keeps the last good config', async () => {
    const dir = tempDir('qconf-ganeti-noload-');
    const keyPath = path.join(dir, 'hmac.key');
    fs.writeFileSync(keyPath, KEY, { mode: 0o600 });
    daemon = await new TestDaemon({ doc: { serial_no: 1, not: 'ganeti' }, args: ['--ganeti-key-file', keyPath] }).start();
    const r0 = await askUntil(daemon.port, 0, () => true);
    expect(r0).toMatchObject({ status: 1, serial: 0, answer: expect.stringContaining('Cannot load configuration from') });
    const good = JSON.parse(fs.readFileSync(GANETI_EXAMPLE_CONFIG, 'utf8'));
    daemon.writeDoc(good);
    await askUntil(daemon.port, 0, (r) => r.status === 0 && r.answer === 3000000);
    // A document that is JSON but not a valid Ganeti config: the last good view keeps serving.
    daemon.writeDoc({ ...good, serial_no: good.serial_no + 1, cluster: { ...good.cluster, ssh_key_type: undefined, extra_key: 1 } });
    const client = new ConfdClient({ keyring: Keyring.fromStrings([KEY_A]), peers: [daemon.peer] });
    try {
      const deadline = Date.now() + 15_000;
      for (;;) {
        const s = await client.query<{ refusalReasons: Record<string, number> }>({ op: 'stats' }, { timeoutMs: 2000 });
        if ((s.answer?.refusalReasons.ganeti_config ?? 0) >= 2) break;
        if (Date.now() > deadline) throw new Error(`the invalid Ganeti config was never seen: ${JSON.stringify(s.answer)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      client.close();
    }
    const r3 = await confdQuery({ port: daemon.port, hmacKey: KEY, type: 3 });
    expect(r3).toMatchObject({ status: 0, answer: 'node1.example.com', serial: good.cluster.serial_no });
  }, 60_000);
});

describe('numbers with huge exponents in plj0 requests', () => {
  let daemon: TestDaemon | undefined;
  let watch: PingWatch | undefined;
  let sock: dgram.Socket | undefined;
  afterAll(async () => {
    await watch?.stop();
    sock?.close();
    await daemon?.stop();
  });

  it('get their normal answer or drop, while other clients are answered within 300 ms throughout', async () => {
    const dir = tempDir('qconf-ganeti-numbers-');
    const keyPath = path.join(dir, 'hmac.key');
    fs.writeFileSync(keyPath, KEY, { mode: 0o600 });
    const config = JSON.parse(fs.readFileSync(GANETI_EXAMPLE_CONFIG, 'utf8'));
    daemon = await new TestDaemon({ doc: config, args: ['--ganeti-key-file', keyPath] }).start();
    const replies: Buffer[] = [];
    const s = dgram.createSocket('udp4');
    sock = s;
    s.on('message', (m) => replies.push(m));
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    const send = (b: Buffer) => new Promise<void>((r) => s.send(b, (daemon as TestDaemon).port, '127.0.0.1', () => r()));

    // Values that round to 0 (or 2): each once spelled out as a string of up to a billion zeros.
    const tiny = ['1e-500000000', '-1e-999999999', '0.' + '0'.repeat(380) + '1', '1e-536870000', '7e-' + '9'.repeat(300)];
    const requests: Array<{ rsalt: string; msg: string; want?: object }> = [];
    for (let round = 0; round < 3; round++) {
      for (const t of tiny) {
        let rsalt = randomUUID();
        // The type rounds to 0: a ping.
        requests.push({ rsalt, msg: `{"protocol":1,"type":${t},"rsalt":"${rsalt}"}`, want: { status: 0, answer: 3000000, serial: 0 } });
        rsalt = randomUUID();
        // Field codes round to 0 (the name), 1.5 to 2 (the primary IP).
        requests.push({
          rsalt,
          msg: `{"protocol":1,"type":3,"query":{"3":[${t},${t},${t},1.5e0]},"rsalt":"${rsalt}"}`,
          want: { status: 0, answer: ['node1.example.com', 'node1.example.com', 'node1.example.com', '192.0.2.82'], serial: config.cluster.serial_no },
        });
      }
      // Far too large: dropped as a bad type, at once.
      for (const t of ['1e999999999', '1e' + '9'.repeat(300)]) {
        const rsalt = randomUUID();
        requests.push({ rsalt, msg: `{"protocol":1,"type":${t},"rsalt":"${rsalt}"}` });
      }
    }
    watch = new PingWatch(daemon.port, { ganetiKey: KEY });
    // The watch has answers before the hostile requests start, and between them.
    while (watch.samples.length < 4) await new Promise((r) => setTimeout(r, 20));
    for (const r of requests) {
      await send(signedMsg(r.msg));
      await new Promise((res) => setTimeout(res, 20));
    }
    const expected = requests.filter((r) => r.want !== undefined);
    const deadline = Date.now() + 30_000;
    const got = () => new Set(replies.map((b) => decodeConfdReply(KEY, b)?.salt));
    while (expected.some((r) => !got().has(r.rsalt)) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
    const settled = watch.samples.length;
    while (watch.samples.length < settled + 4) await new Promise((res) => setTimeout(res, 20));
    const samples = await watch.stop();
    watch = undefined;

    expect(samples.length).toBeGreaterThan(10);
    expect(samples.filter((x) => x.ms > 300), JSON.stringify(samples.map((x) => Math.round(x.ms)))).toEqual([]);
    const byRsalt = new Map(replies.map((b) => decodeConfdReply(KEY, b)).filter((x) => x !== undefined).map((x) => [x.salt, x]));
    for (const r of expected) expect(byRsalt.get(r.rsalt), r.msg.slice(0, 80)).toMatchObject(r.want as object);
    for (const r of requests.filter((x) => x.want === undefined)) expect(byRsalt.has(r.rsalt)).toBe(false);
    expect(daemon.child.exitCode).toBeNull();
  }, 120_000);
});
