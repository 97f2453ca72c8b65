// qconf publish --to: atomic replacement of a file replica with a bumped serial, picked up by
// the daemon serving it; and its usage and input errors.
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TestDaemon, runCli, stopAll } from '../../testkit/daemons.js';
import { sampleDoc } from '../support/sample-doc.js';
import { tempDir } from '../../testkit/fixtures.js';

let daemons: TestDaemon[] = [];
afterEach(async () => {
  await stopAll(daemons);
  daemons = [];
});

describe('qconf publish --to', () => {
  it('replaces the served file with a serial above the current one, and the daemons follow', async () => {
    const d = await new TestDaemon({ doc: sampleDoc(7) }).start();
    daemons.push(d);
    const env = { QCONF_PEERS: d.peer, QCONF_KEY_FILE: d.keyFile };
    const src = join(tempDir(), 'new.json');
    writeFileSync(src, JSON.stringify({ ...sampleDoc(1), cluster: { master: 'node2.example.com' } }));
    const pub = await runCli(['publish', src, '--to', d.file]);
    expect(pub.code, pub.stderr).toBe(0);
    expect(pub.stdout.trim()).toBe('8');
    expect(JSON.parse(readFileSync(d.file, 'utf8')).serial_no).toBe(8);
    const w = await runCli(['wait', '--serial', '8', '--timeout', '30000'], env);
    expect(w.code, w.stderr).toBe(0);
    const g = await runCli(['get', '/cluster/master'], env);
    expect(g.stdout.trim()).toBe('node2.example.com');
    // A document whose own serial is higher keeps it.
    writeFileSync(src, JSON.stringify(sampleDoc(40)));
    expect((await runCli(['publish', src, '--to', d.file])).stdout.trim()).toBe('40');
    expect(statSync(d.file).mode & 0o777).toBe(0o644);
  });

  it('creates a missing target from the document serial', async () => {
    const dir = tempDir();
    const src = join(dir, 'doc.json');
    writeFileSync(src, JSON.stringify({ a: 1 }));
    const r = await runCli(['publish', src, '--to', join(dir, 'served.json')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('0');
    expect(JSON.parse(readFileSync(join(dir, 'served.json'), 'utf8'))).toEqual({ a: 1, serial_no: 0 });
  });

  it('names bad input and bad usage', async () => {
    const dir = tempDir();
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"a":');
    const r1 = await runCli(['publish', bad, '--to', join(dir, 'x.json')]);
    expect(r1.code).toBe(4);
    expect(r1.stderr).toMatch(/not valid JSON/);
    writeFileSync(bad, '[1,2]');
    expect((await runCli(['publish', bad, '--to', join(dir, 'x.json')])).code).toBe(4);
    const r2 = await runCli(['publish', join(dir, 'missing.json'), '--to', join(dir, 'x.json')]);
    expect(r2.code).toBe(4);
    expect(r2.stderr).toMatch(/cannot be read/);
    expect((await runCli(['publish', bad])).code).toBe(2);
    expect((await runCli(['publish', bad, '--to', 'a', '--etcd', 'http://127.0.0.1:1'])).code).toBe(2);
    const r3 = await runCli(['publish', bad, '--etcd', 'localhost:2379', '--etcd-prefix', '/p']);
    expect(r3.code).toBe(2);
    expect(r3.stderr).toMatch(/not an http/);
  });
});
