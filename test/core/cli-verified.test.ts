// Verified answers from the command line, on real daemons: a publisher's key made with qconf
// keygen --signing, documents signed by qconf publish --sign-key and qconf sign, daemons given
// the public key, and qconf commands given --trust-key: insiders' forgeries are never printed
// (exit 3, or 4 when every answer was forged, naming the daemons), --state-file refuses a
// rollback to an older signed document, and an expired signature is refused.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { valueHash } from '../../shared/commitment.js';
import { loadSigningKey, signDocument } from '../../shared/signing.js';
import { TestDaemon, runCli, stopAll } from '../../testkit/daemons.js';
import { KEY_A, tempDir } from '../../testkit/fixtures.js';
import { InsiderRelay, insiderBefore, type Rewrite } from '../support/insider.js';
import { runQconfd } from '../ops/helpers.js';

let daemons: TestDaemon[] = [];
let relays: InsiderRelay[] = [];

afterEach(async () => {
  await Promise.all(relays.splice(0).map((r) => r.close()));
  await stopAll(daemons.splice(0));
});

const commit = (v: unknown) => valueHash(v).hash;

function doc(serial: number, master: string): Record<string, unknown> {
  return { serial_no: serial, cluster: { master, name: 'c1' }, nodes: { n1: { ip: '192.0.2.1' }, n2: { ip: '192.0.2.2' } } };
}

/** A publisher's key pair made by qconf keygen --signing. */
async function publisherKey(): Promise<{ key: string; pub: string }> {
  const key = join(tempDir(), 'publisher.key');
  const r = await runCli(['keygen', '--signing', '--out', key]);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr).toMatch(/signing key \(id [0-9a-f]{8}\)/);
  return { key, pub: `${key}.pub` };
}

/** Three daemons trusting `pub`, serving `first` signed with `key`. */
async function cluster(key: string, pub: string, first: Record<string, unknown>): Promise<TestDaemon[]> {
  const signed = signDocument(first, loadSigningKey(key), commit);
  const ds = await Promise.all([0, 1, 2].map(() => new TestDaemon({ doc: signed, args: ['--trust-key', pub] }).start()));
  daemons.push(...ds);
  return ds;
}

const insider = (d: TestDaemon, rewrite: Rewrite): Promise<InsiderRelay> => insiderBefore(d, KEY_A, rewrite, relays);

const evilMaster: Rewrite = (b, q) => (q?.op === 'get' && b.status === 0 ? { ...b, answer: 'evil.example.com' } : b);

function flags(peers: string[], d: TestDaemon, pub?: string): string[] {
  return ['--peers', peers.join(','), '--key-file', d.keyFile, '--coverage', 'all', ...(pub ? ['--trust-key', pub] : [])];
}

describe('qconf with --trust-key', () => {
  it('publish --sign-key signs every replica; get prints only verified values, and names the daemons whose answers were forged', async () => {
    const { key, pub } = await publisherKey();
    const ds = await cluster(key, pub, doc(1, 'm1'));
    const to = ds.flatMap((d) => ['--to', d.file]);
    const file = join(tempDir(), 'next.json');
    writeFileSync(file, JSON.stringify(doc(0, 'm2')));
    const p = await runCli(['publish', file, ...to, '--peers', ds.map((d) => d.peer).join(','), '--key-file', ds[0].keyFile, '--sign-key', key]);
    expect(p.code, p.stderr).toBe(0);
    const serial = Number(p.stdout.trim());
    expect(serial).toBeGreaterThan(1);
    for (const d of ds) expect(JSON.parse(readFileSync(d.file, 'utf8')).qconf_signature.serial).toBe(serial);
    const w = await runCli(['wait', '--serial', String(serial), ...flags(ds.map((d) => d.peer), ds[0], pub), '--timeout', '30000']);
    expect(w.code, w.stderr).toBe(0);

    // All honest: verified.
    const ok = await runCli(['get', '/cluster/master', ...flags(ds.map((d) => d.peer), ds[0], pub), '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    const result = JSON.parse(ok.stdout);
    expect(result).toMatchObject({ answer: 'm2', verified: true, forged: 0, serial });

    // One insider of three: the verified answer, the forgery named in --json.
    const one = await insider(ds[2], evilMaster);
    const a = await runCli(['get', '/cluster/master', ...flags([ds[0].peer, ds[1].peer, one.peer], ds[0], pub), '--json']);
    expect(a.code, a.stderr).toBe(0);
    const ra = JSON.parse(a.stdout);
    expect(ra.answer).toBe('m2');
    expect(ra.verified).toBe(true);
    // The command ends at its quorum: the insider's reply is judged only when it came first.
    if (ra.forged > 0) expect(ra.peers.find((x: { forged?: string }) => x.forged)?.peer).toBe(one.peer);

    // Two insiders: no verified quorum, exit 3, the forgeries named, no value printed.
    const two = await insider(ds[1], evilMaster);
    const b = await runCli(['get', '/cluster/master', ...flags([ds[0].peer, two.peer, one.peer], ds[0], pub)]);
    expect(b.code, b.stderr).toBe(3);
    expect(b.stdout).toBe('');
    expect(b.stderr).toContain(one.peer);
    expect(b.stderr).toContain(two.peer);
    expect(b.stderr).toMatch(/failed verification/);

    // Every answer forged: exit 4.
    const three = await insider(ds[0], evilMaster);
    const c = await runCli(['get', '/cluster/master', ...flags([three.peer, two.peer, one.peer], ds[0], pub)]);
    expect(c.code, c.stderr).toBe(4);
    expect(c.stdout).toBe('');
    expect(c.stderr).toMatch(/^qconf: no verified answer: .*failed verification/);

    // Without --trust-key the insiders' value is printed: the threat is real.
    const d = await runCli(['get', '/cluster/master', ...flags([three.peer, two.peer, one.peer], ds[0])]);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toBe('evil.example.com\n');
  });

  it('--state-file: a later run refuses a cluster rolled back to an older signed document', async () => {
    const { key, pub } = await publisherKey();
    const signer = loadSigningKey(key);
    const old = signDocument(doc(5, 'old'), signer, commit);
    const ds = await cluster(key, pub, doc(7, 'new'));
    const state = join(tempDir(), 'state');
    const peers = ds.map((d) => d.peer);
    const first = await runCli(['get', '/cluster/master', ...flags(peers, ds[0], pub), '--state-file', state]);
    expect(first.code, first.stderr).toBe(0);
    expect(readFileSync(state, 'utf8').trim()).toBe('7');
    // The daemons restarted on the older (validly signed) document.
    await stopAll(ds);
    const back = await Promise.all([0, 1, 2].map(() => new TestDaemon({ doc: old, args: ['--trust-key', pub] }).start()));
    daemons.push(...back);
    const fresh = await runCli(['get', '/cluster/master', ...flags(back.map((d) => d.peer), back[0], pub)]);
    expect(fresh.stdout).toBe('old\n');
    const later = await runCli(['get', '/cluster/master', ...flags(back.map((d) => d.peer), back[0], pub), '--state-file', state, '--timeout', '2000']);
    expect(later.code, later.stderr).toBe(3);
    expect(later.stdout).toBe('');
    expect(readFileSync(state, 'utf8').trim()).toBe('7');
    // A state file that is no file (a FIFO nobody writes, a device), or holds no serial: refused at once.
    const fifo = join(tempDir(), 'fifo');
    execFileSync('mkfifo', [fifo]);
    const big = join(tempDir(), 'big');
    writeFileSync(big, '9999999999999999\n');
    for (const [file, why] of [[fifo, /not a regular file/], ['/dev/zero', /not a regular file/], [big, /holds no serial/]] as const) {
      const r = await runCli(['get', '/cluster/master', ...flags(back.map((d) => d.peer), back[0], pub), '--state-file', file], {}, 20_000);
      expect(r.code, r.stderr).toBe(4);
      expect(r.stderr).toMatch(why);
    }
    // --state-file means nothing without trusted keys.
    const bare = await runCli(['get', '/cluster/master', ...flags(back.map((d) => d.peer), back[0]), '--state-file', state]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(/--state-file needs --trust-key/);
  });

  it('an answer under an expired signature is refused (exit 4), and daemons refuse to load one', async () => {
    const { key, pub } = await publisherKey();
    const ds = await cluster(key, pub, doc(1, 'm1'));
    const file = join(tempDir(), 'short.json');
    writeFileSync(file, JSON.stringify(doc(2, 'brief')));
    const signed = await runCli(['sign', file, '--sign-key', key, '--valid-for', '3s', '--out', file]);
    expect(signed.code, signed.stderr).toBe(0);
    for (const d of ds) d.writeDoc(JSON.parse(readFileSync(file, 'utf8')));
    const w = await runCli(['wait', '--serial', '2', ...flags(ds.map((d) => d.peer), ds[0], pub), '--timeout', '30000']);
    expect(w.code, w.stderr).toBe(0);
    // Once expired, answers under it are refused.
    const expires = JSON.parse(readFileSync(file, 'utf8')).qconf_signature.expires as number;
    await new Promise((r) => setTimeout(r, Math.max(0, expires - Date.now()) + 200));
    const late = await runCli(['get', '/cluster/master', ...flags(ds.map((d) => d.peer), ds[0], pub)]);
    expect(late.code, late.stderr).toBe(4);
    expect(late.stderr).toMatch(/expired/);
    // The daemons, serving it still (nothing newer came), say so.
    const said = Date.now() + 10_000;
    while (!ds.every((d) => d.output.includes('"event":"signature_expired"')) && Date.now() < said) await new Promise((r) => setTimeout(r, 100));
    for (const d of ds) expect(d.output).toContain('"event":"signature_expired"');
    // A daemon started on it refuses it (nothing to serve: not_ready).
    const d = new TestDaemon({ doc: JSON.parse(readFileSync(file, 'utf8')), args: ['--trust-key', pub], waitReady: false });
    daemons.push(await d.start());
    const until = Date.now() + 20_000;
    while (!/signature expired/.test(d.output) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    expect(d.output).toMatch(/"reason":"signature"/);
  });
});

describe('qconf sign, publish of a signed document, keygen --signing', () => {
  it('a document signed by qconf sign is published as it is when its serial is high enough, and refused when not', async () => {
    const { key, pub } = await publisherKey();
    const ds = await cluster(key, pub, doc(3, 'm3'));
    const peers = ds.map((d) => d.peer).join(',');
    const file = join(tempDir(), 'signed.json');
    writeFileSync(file, JSON.stringify(doc(0, 'low')));
    expect((await runCli(['sign', file, '--sign-key', key, '--serial', '2', '--out', file])).code).toBe(0);
    const low = await runCli(['publish', file, '--to', ds[0].file, '--peers', peers, '--key-file', ds[0].keyFile]);
    expect(low.code).toBe(4);
    expect(low.stderr).toMatch(/signed for serial 2.*sign it again/);
    expect((await runCli(['sign', file, '--sign-key', key, '--serial', '9', '--out', file])).code).toBe(0);
    const high = await runCli(['publish', file, ...ds.flatMap((d) => ['--to', d.file]), '--peers', peers, '--key-file', ds[0].keyFile]);
    expect(high.code, high.stderr).toBe(0);
    expect(high.stdout.trim()).toBe('9');
    const w = await runCli(['wait', '--serial', '9', ...flags(ds.map((d) => d.peer), ds[0], pub), '--timeout', '30000']);
    expect(w.code, w.stderr).toBe(0);
    const g = await runCli(['get', '/cluster/master', ...flags(ds.map((d) => d.peer), ds[0], pub)]);
    expect(g.stdout).toBe('low\n');
  });

  it('keygen --signing writes FILE (0600) and FILE.pub, never over an existing one; key-id names both; a signing key is no shared key', async () => {
    const { key, pub } = await publisherKey();
    expect(statSync(key).mode & 0o777).toBe(0o600);
    expect(existsSync(pub)).toBe(true);
    const again = await runCli(['keygen', '--signing', '--out', key]);
    expect(again.code).toBe(4);
    expect(again.stderr).toMatch(/already exists/);
    const ids = await runCli(['key-id', key, pub]);
    expect(ids.code, ids.stderr).toBe(0);
    const [a, b] = ids.stdout.trim().split('\n');
    expect(a.split(' ')[0]).toBe(b.split(' ')[0]);
    expect(a).toMatch(/ signing /);
    expect(b).toMatch(/ public /);
    const wrong = await runCli(['get', '/x', '--peers', '127.0.0.1', '--key-file', key]);
    expect(wrong.code).toBe(4);
    expect(wrong.stderr).toMatch(/is a signing key/);
    const noOut = await runCli(['keygen', '--signing']);
    expect(noOut.code).toBe(2);
  });
});

describe('signing at the edges', () => {
  it('refuses a public key file as the signing key, a signature valid for over 100 years, and a FIFO or device as --out', async () => {
    const { key, pub } = await publisherKey();
    const dir = tempDir();
    const docFile = join(dir, 'doc.json');
    writeFileSync(docFile, JSON.stringify(doc(3, 'm')));
    const asPub = await runCli(['sign', docFile, '--sign-key', pub]);
    expect(asPub.code).toBe(4);
    expect(asPub.stderr).toMatch(/is a public key file/);
    const long = await runCli(['sign', docFile, '--sign-key', key, '--valid-for', '99999999d']);
    expect(long.code).toBe(2);
    expect(long.stderr).toMatch(/--valid-for: .*100 years/);
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const toFifo = await runCli(['sign', docFile, '--sign-key', key, '--out', fifo], {}, 20_000);
    expect(toFifo.code).toBe(4);
    expect(toFifo.stderr).toMatch(/is a FIFO/);
    expect(statSync(fifo).isFIFO()).toBe(true);
    const pubFifo = await runCli(['publish', docFile, '--to', fifo, '--sign-key', key, '--offline'], {}, 20_000);
    expect(pubFifo.code).toBe(4);
    expect(statSync(fifo).isFIFO()).toBe(true);
    // An existing file keeps its mode.
    const out = join(dir, 'signed.json');
    writeFileSync(out, '', { mode: 0o600 });
    expect((await runCli(['sign', docFile, '--sign-key', key, '--out', out])).code).toBe(0);
    expect(statSync(out).mode & 0o777).toBe(0o600);
  });

  it('qconfd --check with --trust-key checks the signature as a start would: a tampered document, a signing key given as the trust file', async () => {
    const { key, pub } = await publisherKey();
    const dir = tempDir();
    const keyFile = join(dir, 'hmac.key');
    writeFileSync(keyFile, `${KEY_A}\n`, { mode: 0o600 });
    const good = join(dir, 'good.json');
    writeFileSync(good, JSON.stringify(signDocument(doc(3, 'm'), loadSigningKey(key), commit)));
    const tampered = join(dir, 'tampered.json');
    writeFileSync(tampered, JSON.stringify({ ...(JSON.parse(readFileSync(good, 'utf8')) as Record<string, unknown>), extra: 1 }));
    const run = (file: string, trust: string) => runQconfd(['--check', '--file', file, '--key-file', keyFile, '--trust-key', trust, '--port', '0']);
    const ok = await run(good, pub);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/signed by [0-9a-f]{8}, serial 3/);
    const bad = await run(tampered, pub);
    expect(bad.code).toBe(1);
    expect(bad.stdout + bad.stderr).toMatch(/does not verify/);
    const secret = await run(good, key);
    expect(secret.code).toBe(1);
    expect(secret.stdout + secret.stderr).toMatch(/is a signing key/);
  });
});
