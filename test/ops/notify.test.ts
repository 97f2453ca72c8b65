// systemd readiness over the real notify protocol: qconfd runs the real systemd-notify, which
// sends its datagram to a stand-in $NOTIFY_SOCKET (test/ops/notify-listener.py) and waits on
// the BARRIER=1 handshake as it would with PID 1.
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ConfdClient } from '../../client/confd-client.js';
import { Keyring } from '../../shared/keyring.js';
import { TestDaemon } from '../../testkit/daemons.js';
import { KEY_A, tempDir, writeAtomic } from '../../testkit/fixtures.js';
import { sampleDoc } from '../support/sample-doc.js';
import { NotifySocket } from './helpers.js';

const clients: ConfdClient[] = [];
const daemons: TestDaemon[] = [];
const sockets: NotifySocket[] = [];

function clientFor(d: TestDaemon): ConfdClient {
  const c = new ConfdClient({ keyring: Keyring.fromStrings([KEY_A]), peers: [d.peer], retransmitMs: 50 });
  clients.push(c);
  return c;
}

async function daemonWithSocket(opts: { doc?: unknown; file?: string; env?: NodeJS.ProcessEnv; args?: string[] } = {}): Promise<{ d: TestDaemon; sock: NotifySocket }> {
  const sock = await new NotifySocket().start();
  sockets.push(sock);
  const d = new TestDaemon({ doc: opts.doc, file: opts.file, args: opts.args, env: { NOTIFY_SOCKET: sock.path, WATCHDOG_USEC: '', WATCHDOG_PID: '', ...opts.env }, waitReady: false });
  daemons.push(d);
  await d.start();
  return { d, sock };
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(daemons.splice(0).map((d) => d.stop('SIGKILL')));
  await Promise.all(sockets.splice(0).map((s) => s.stop()));
});

afterAll(async () => {
  await Promise.all(sockets.map((s) => s.stop()));
});

describe('Type=notify readiness', () => {
  it('sends READY=1 only once the socket is bound and the first snapshot serves', async () => {
    const { d, sock } = await daemonWithSocket({ doc: sampleDoc(7) });
    const ready = await sock.waitFor((m) => m.fields.READY === '1');
    // The first notification is READY=1, with its status in the same datagram.
    expect(sock.notifications[0]).toBe(ready);
    expect(ready.fields.STATUS).toMatch(/^serving serial 7 from file on \[::\]:\d+$|^serving serial 7 from file on 0\.0\.0\.0:\d+$/);
    expect(ready.fields.STATUS).toContain(`:${d.port}`);
    // Right away (no retry loop): the daemon answers from serial 7.
    const r = await clientFor(d).get('/cluster/name', { timeoutMs: 5000 });
    expect(r.timedOut).toBe(false);
    expect(r.status).toBe(0);
    expect(r.serial).toBe(7);
    expect(r.answer).toBe('test.example.com');
    // The start log line (socket bound, snapshot loaded) was written before READY=1 was sent.
    const start = await d.waitForLog((l) => l.event === 'start');
    expect(start.serial).toBe(7);
    expect(Number(start.time)).toBeLessThanOrEqual(ready.at);
  });

  it('uses systemd-notify in blocking mode: every message is followed by the BARRIER=1 handshake', async () => {
    const { sock } = await daemonWithSocket({ doc: sampleDoc(1) });
    await sock.waitFor((m) => m.fields.READY === '1');
    await expect.poll(() => sock.messages.length, { timeout: 30_000 }).toBeGreaterThanOrEqual(2);
    const i = sock.messages.findIndex((m) => m.fields.READY === '1');
    const barrier = sock.messages[i + 1];
    expect(barrier.msg).toBe('BARRIER=1');
    // The pipe's write end travels with it; the listener closes it, as PID 1 does.
    expect(barrier.fds).toBe(1);
  });

  it('with no document yet: READY=1 once the source is watched, with a STATUS saying so; then the serial', async () => {
    const dir = tempDir('qconf-nodoc-');
    const file = join(dir, 'cluster.json');
    const { d, sock } = await daemonWithSocket({ file });
    const ready = await sock.waitFor((m) => m.fields.READY === '1');
    expect(ready.fields.STATUS).toMatch(new RegExp(`^no document yet: watching ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, answering not_ready`));
    const before = await clientFor(d).get('/cluster/name', { timeoutMs: 5000 });
    expect(before.error?.code).toBe('not_ready');
    writeAtomic(file, sampleDoc(3));
    const serving = await sock.waitFor((m) => m.fields.STATUS?.startsWith('serving serial 3') === true);
    expect(serving.fields.READY).toBeUndefined();
    const after = await clientFor(d).get('/cluster/name', { timeoutMs: 5000 });
    expect(after.serial).toBe(3);
  });

  it('updates STATUS when a reload (SIGHUP or a new file) changes the serial', async () => {
    const { d, sock } = await daemonWithSocket({ doc: sampleDoc(1) });
    await sock.waitFor((m) => m.fields.READY === '1');
    d.writeDoc(sampleDoc(2));
    await sock.waitFor((m) => m.fields.STATUS?.startsWith('serving serial 2') === true);
    d.child.kill('SIGHUP');
    await d.waitForLog((l) => l.event === 'reload' && l.trigger === 'sighup' && l.serial === 2);
    const n = sock.notifications.length;
    d.writeDoc(sampleDoc(5));
    await sock.waitFor((m) => m.fields.STATUS?.startsWith('serving serial 5') === true, 30_000, n);
    // A refused document shows in the status until a good one loads.
    d.writeDoc('{"serial_no": 6,');
    const refused = await sock.waitFor((m) => m.fields.STATUS?.includes('refused') === true, 30_000, n);
    expect(refused.fields.STATUS).toMatch(/^serving serial 5 from file on .*; the newest document was refused \(bad_json\)$/);
    d.writeDoc(sampleDoc(6));
    const fixed = await sock.waitFor((m) => m.fields.STATUS?.startsWith('serving serial 6') === true, 30_000, n);
    expect(fixed.fields.STATUS).not.toMatch(/refused/);
  });
});

describe('watchdog', () => {
  it('pings WATCHDOG=1 every WATCHDOG_USEC/2 when the manager asks for it', async () => {
    const { sock } = await daemonWithSocket({ doc: sampleDoc(1), env: { WATCHDOG_USEC: '400000' } });
    const ready = await sock.waitFor((m) => m.fields.READY === '1');
    await expect.poll(() => sock.notifications.filter((m) => m.fields.WATCHDOG === '1').length, { timeout: 30_000, interval: 100 }).toBeGreaterThanOrEqual(4);
    const pings = sock.notifications.filter((m) => m.fields.WATCHDOG === '1');
    // Pings start with readiness, not before it.
    expect(sock.notifications.indexOf(pings[0])).toBeGreaterThan(sock.notifications.indexOf(ready));
  });

  it('sends no pings without WATCHDOG_USEC, or when WATCHDOG_PID names another process', async () => {
    const plain = await daemonWithSocket({ doc: sampleDoc(1) });
    const other = await daemonWithSocket({ doc: sampleDoc(1), env: { WATCHDOG_USEC: '200000', WATCHDOG_PID: '1' } });
    await plain.sock.waitFor((m) => m.fields.READY === '1');
    await other.sock.waitFor((m) => m.fields.READY === '1');
    await new Promise((r) => setTimeout(r, 1500));
    expect(plain.sock.notifications.filter((m) => m.fields.WATCHDOG !== undefined)).toEqual([]);
    expect(other.sock.notifications.filter((m) => m.fields.WATCHDOG !== undefined)).toEqual([]);
  });
});

describe('shutdown', () => {
  it('sends STOPPING=1 on SIGTERM before exiting 0', async () => {
    const { d, sock } = await daemonWithSocket({ doc: sampleDoc(4), env: { WATCHDOG_USEC: '1000000' } });
    await sock.waitFor((m) => m.fields.READY === '1');
    const exit = await d.stop('SIGTERM');
    expect(exit.code).toBe(0);
    // Delivered (barrier answered) before the process exited.
    const stopping = sock.notifications.find((m) => m.fields.STOPPING === '1');
    expect(stopping, JSON.stringify(sock.notifications.map((m) => m.msg))).toBeDefined();
    expect(stopping?.fields.STATUS).toMatch(/^stopping \(SIGTERM\)/);
    const last = sock.notifications.filter((m) => m.fields.WATCHDOG === undefined).at(-1);
    expect(last).toBe(stopping);
    const shutdown = d.logLines().find((l) => l.event === 'shutdown');
    expect(shutdown).toMatchObject({ signal: 'SIGTERM', serial: 4, source: 'file' });
  });
});

describe('outside systemd', () => {
  it('never runs systemd-notify when NOTIFY_SOCKET is unset; runs it with the messages when set', async () => {
    // A stand-in systemd-notify first on PATH records its arguments.
    const bin = tempDir('qconf-fakebin-');
    const record = join(bin, 'calls.log');
    writeFileSync(join(bin, 'systemd-notify'), `#!/bin/sh\nprintf '%s\\n' "$*" >> '${record}'\n`);
    chmodSync(join(bin, 'systemd-notify'), 0o755);
    const path = `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`;

    const off = new TestDaemon({ doc: sampleDoc(1), env: { PATH: path, NOTIFY_SOCKET: '', WATCHDOG_USEC: '200000' } });
    daemons.push(off);
    await off.start();
    await new Promise((r) => setTimeout(r, 1000));
    expect((await off.stop('SIGTERM')).code).toBe(0);
    expect(existsSync(record)).toBe(false);

    const on = new TestDaemon({ doc: sampleDoc(1), env: { PATH: path, NOTIFY_SOCKET: join(bin, 'nowhere.sock'), WATCHDOG_USEC: '', WATCHDOG_PID: '' } });
    daemons.push(on);
    await on.start();
    await expect.poll(() => (existsSync(record) ? readFileSync(record, 'utf8') : ''), { timeout: 30_000 }).toMatch(/^READY=1 STATUS=serving serial 1/);
    expect((await on.stop('SIGTERM')).code).toBe(0);
    expect(readFileSync(record, 'utf8')).toMatch(/\nSTOPPING=1 STATUS=stopping \(SIGTERM\)/);
  });

  it('keeps serving when systemd-notify is missing (logged once)', async () => {
    const bin = tempDir('qconf-emptybin-');
    const d = new TestDaemon({ doc: sampleDoc(1), env: { PATH: bin, NOTIFY_SOCKET: join(bin, 'nowhere.sock'), WATCHDOG_USEC: '200000' } });
    daemons.push(d);
    await d.start();
    const warn = await d.waitForLog((l) => l.event === 'notify_failed' && l.reason === 'ENOENT');
    expect(warn.level).toBe(40);
    await new Promise((r) => setTimeout(r, 600));
    expect(d.logLines().filter((l) => l.event === 'notify_failed')).toHaveLength(1);
    const r = await clientFor(d).ping({ timeoutMs: 5000 });
    expect(r.status).toBe(0);
  });
});
