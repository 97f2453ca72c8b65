// SIGHUP under load: a new document and a rotated key file are picked up without dropping a
// query. Logs carry event/serial/source/reason, follow --log-level, and never hold a secret.
import { chmodSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfdClient } from '../../client/confd-client.js';
import { Keyring } from '../../shared/keyring.js';
import { TestDaemon } from '../../testkit/daemons.js';
import { KEY_A, KEY_B, tempDir } from '../../testkit/fixtures.js';
import { sampleDoc } from '../support/sample-doc.js';

const SECRET = 'hunter2-s3cr3t-value';
const clients: ConfdClient[] = [];
const daemons: TestDaemon[] = [];

function client(d: TestDaemon, keys: string[]): ConfdClient {
  const c = new ConfdClient({ keyring: Keyring.fromStrings(keys), peers: [d.peer], retransmitMs: 100 });
  clients.push(c);
  return c;
}

/** Replace a key file the way an operator should: write a temporary file, rename it over. */
function rotateKeyFile(path: string, keys: string[], mode = 0o600): void {
  const tmp = `${path}.new`;
  writeFileSync(tmp, keys.join('\n') + '\n', { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

interface Load {
  stop: () => Promise<{ answered: number; failed: string[]; serials: Set<number> }>;
}

/** Clients querying back to back until stopped; every query must be answered. */
function startLoad(c: ConfdClient, workers = 4, path = '/cluster/name'): Load {
  let running = true;
  let answered = 0;
  const failed: string[] = [];
  const serials = new Set<number>();
  const loops = Array.from({ length: workers }, async () => {
    while (running) {
      let r;
      try {
        r = await c.get(path, { timeoutMs: 10_000 });
      } catch (e) {
        failed.push(String(e));
        return;
      }
      if (r.timedOut || r.status !== 0) failed.push(JSON.stringify({ status: r.status, error: r.error, replies: r.replies }));
      else {
        answered++;
        serials.add(r.serial);
      }
    }
  });
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return { answered, failed, serials };
    },
  };
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(daemons.splice(0).map((d) => d.stop('SIGKILL')));
});

describe('SIGHUP', () => {
  it('picks up a new document and a rotated key file without dropping a query', async () => {
    const d = new TestDaemon({ doc: sampleDoc(1, { secret: SECRET }), keys: [KEY_A] });
    daemons.push(d);
    await d.start();
    const oldClient = client(d, [KEY_A]);
    const newClient = client(d, [KEY_B]);
    const before = (await oldClient.query({ op: 'stats' }, { timeoutMs: 10_000 })).answer as { drops: Record<string, number> };

    const load = startLoad(oldClient, 4, '/secret');
    await new Promise((r) => setTimeout(r, 300));

    // 1. Add the new key (it signs first, the old one still verifies), publish serial 2, SIGHUP.
    rotateKeyFile(d.keyFile, [KEY_B, KEY_A]);
    d.writeDoc(sampleDoc(2, { secret: SECRET }));
    const from = d.output.length;
    d.child.kill('SIGHUP');
    const keys = await d.waitForLog((l) => l.event === 'keys_reloaded', 30_000, from);
    expect(keys).toMatchObject({ source: 'key_file', trigger: 'sighup', keys: 2 });
    expect(keys.keyIds).toHaveLength(2);
    // The directory watch may see the new document first; either way serial 2 loads once.
    await d.waitForLog((l) => l.event === 'reload' && l.serial === 2, 30_000, from);
    await new Promise((r) => setTimeout(r, 300));
    // SIGHUP reloads even when nothing changed (a forced reload, logged with its trigger).
    const again = d.output.length;
    d.child.kill('SIGHUP');
    await d.waitForLog((l) => l.event === 'reload' && l.trigger === 'sighup' && l.serial === 2, 30_000, again);

    // Clients holding only the new key are answered now, from serial 2.
    const fresh = await newClient.get('/cluster/name', { timeoutMs: 10_000 });
    expect(fresh.timedOut).toBe(false);
    expect(fresh.serial).toBe(2);

    const result = await load.stop();
    expect(result.failed).toEqual([]);
    expect(result.answered).toBeGreaterThan(20);
    expect(result.serials).toEqual(new Set([1, 2]));
    // Not one of the old clients' datagrams was dropped by the daemon.
    const after = (await oldClient.query({ op: 'stats' }, { timeoutMs: 10_000 })).answer as { drops: Record<string, number>; keyReloads: number; reloads: number };
    expect(after.drops).toEqual(before.drops);
    expect(after.keyReloads).toBe(2);

    // 2. Retire the old key: its clients are refused (silently), the new key keeps working.
    rotateKeyFile(d.keyFile, [KEY_B]);
    d.child.kill('SIGHUP');
    await d.waitForLog((l) => l.event === 'keys_reloaded' && l.keys === 1, 30_000, from);
    const gone = await oldClient.get('/cluster/name', { timeoutMs: 1500 });
    expect(gone.timedOut).toBe(true);
    expect(gone.replies).toBe(0);
    const still = await newClient.query({ op: 'stats' }, { timeoutMs: 10_000 });
    expect((still.answer as { drops: Record<string, number> }).drops.unknown_key).toBeGreaterThanOrEqual(1);
  });

  it('keeps the old keys, and serving, when the new key file is refused', async () => {
    const d = new TestDaemon({ doc: sampleDoc(1), keys: [KEY_A] });
    daemons.push(d);
    await d.start();
    const c = client(d, [KEY_A]);
    const load = startLoad(c, 2);
    rotateKeyFile(d.keyFile, [KEY_B], 0o666); // group- and world-writable: refused
    const from = d.output.length;
    d.child.kill('SIGHUP');
    const refused = await d.waitForLog((l) => l.event === 'refused' && l.source === 'key_file', 30_000, from);
    expect(refused).toMatchObject({ reason: 'key_file', serial: 1, trigger: 'sighup', level: 50 });
    expect(String(refused.msg)).toMatch(/old keys kept: key file .* writable by group/);
    await new Promise((r) => setTimeout(r, 300));
    const result = await load.stop();
    expect(result.failed).toEqual([]);
    const s = (await c.query({ op: 'stats' }, { timeoutMs: 10_000 })).answer as { refusalReasons: Record<string, number>; keyReloads: number };
    expect(s.refusalReasons.key_file).toBe(1);
    expect(s.keyReloads).toBe(0);
  });
});

describe('logs', () => {
  it('carry event, serial, source and reason, and never a key or a document value', async () => {
    const dir = tempDir('qconf-logs-');
    const file = join(dir, 'cluster.json');
    const d = new TestDaemon({ file, keys: [KEY_A] });
    writeFileSync(file, JSON.stringify(sampleDoc(1, { secret: SECRET })));
    daemons.push(d);
    await d.start(); // at --log-level debug (TestDaemon's default)
    const c = client(d, [KEY_A]);
    expect((await c.get('/secret', { timeoutMs: 10_000 })).answer).toBe(SECRET);
    // A broken document whose JSON error would quote the text around it.
    writeFileSync(join(dir, 'tmp'), `${SECRET}`);
    renameSync(join(dir, 'tmp'), file);
    const refused = await d.waitForLog((l) => l.event === 'refused' && l.reason === 'bad_json');
    // `serial` is the refused document's (unknown here), `servingSerial` the one still served.
    expect(refused).toMatchObject({ source: 'file', serial: null, servingSerial: 1 });
    writeFileSync(join(dir, 'tmp'), JSON.stringify({ serial_no: 0, secret: SECRET }));
    renameSync(join(dir, 'tmp'), file);
    const older = await d.waitForLog((l) => l.event === 'refused' && l.reason === 'serial_backwards');
    expect(older).toMatchObject({ source: 'file', serial: 0, servingSerial: 1 });
    d.child.kill('SIGHUP');
    await d.waitForLog((l) => l.event === 'keys_reloaded');
    await c.get('/nope', { timeoutMs: 10_000 });
    const exit = await d.stop('SIGTERM');
    expect(exit.code).toBe(0);

    const lines = d.logLines();
    const events = new Map(lines.map((l) => [l.event, l]));
    expect(events.get('start')).toMatchObject({ serial: 1, source: 'file' });
    expect(events.get('reload')).toMatchObject({ serial: 1, source: 'file', trigger: 'start' });
    expect(events.get('keys_reloaded')).toMatchObject({ source: 'key_file', serial: 1 });
    expect(events.get('shutdown')).toMatchObject({ serial: 1, source: 'file', signal: 'SIGTERM' });
    for (const l of lines) expect(l.event, JSON.stringify(l)).toBeDefined();
    for (const l of lines.filter((x) => x.event === 'refused')) expect(l).toHaveProperty('reason');
    // Nothing secret, at debug level.
    expect(d.output).not.toContain(SECRET);
    expect(d.output).not.toContain(SECRET.slice(0, 8));
    expect(d.output).not.toContain(KEY_A);
    expect(d.output).not.toContain(KEY_A.slice(0, 16));
  });

  it('follow --log-level', async () => {
    const quiet = new TestDaemon({ doc: sampleDoc(1), args: ['--log-level', 'warn'] });
    daemons.push(quiet);
    await quiet.start();
    quiet.writeDoc('{' as unknown as object);
    await quiet.waitForLog((l) => l.event === 'refused');
    const levels = new Set(quiet.logLines().map((l) => l.level));
    expect([...levels].every((x) => Number(x) >= 40)).toBe(true);
    expect(quiet.logLines().some((l) => l.event === 'start')).toBe(false);
  });
});
