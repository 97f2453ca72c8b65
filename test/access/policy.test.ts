// The access file on real daemons: reloaded on SIGHUP and on change, a refused file keeping the
// last good policy (logged, counted), `qconfd --check` naming the fault, a start refused; the
// CLI's exit and message for an out-of-scope path; verified answers (no proofs for a scoped key,
// and a client demanding them does not accept its answers); per-key metrics.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfdClient } from '../../client/confd-client.js';
import { valueHash } from '../../shared/commitment.js';
import { Keyring, makeKey } from '../../shared/keyring.js';
import { TrustKeys, generateSigningKey, signDocument, type SigningKey } from '../../shared/signing.js';
import { TestDaemon, runCli } from '../../testkit/daemons.js';
import { KEY_A, KEY_B, tempDir, writeAtomic, writeKeyFile } from '../../testkit/fixtures.js';
import { DAEMON_JS } from '../../testkit/paths.js';
import { spawnTracked, stopProcess } from '../../testkit/processes.js';
import { RawClient, decodeReply, fetchStats, request } from '../support/raw-client.js';

const A = makeKey(Buffer.from(KEY_A)).idHex;
const B = makeKey(Buffer.from(KEY_B)).idHex;
const DOC = { serial_no: 4, public: { motd: 'hello' }, services: { web: { port: 80 }, webmail: { port: 143 } }, secret: 'pw' };
const daemons: TestDaemon[] = [];
const dir = tempDir('qconf-access-');
const keyFileB = writeKeyFile(dir, [KEY_B], 'b.key');

afterAll(async () => {
  await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
});

function accessFile(name: string, content: unknown): string {
  const p = join(dir, name);
  writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content));
  return p;
}

async function start(access: string, o: { doc?: unknown; args?: string[] } = {}): Promise<TestDaemon> {
  const d = new TestDaemon({ doc: o.doc ?? DOC, keys: [KEY_A, KEY_B], logLevel: 'info', args: ['--access-file', access, ...(o.args ?? [])] });
  daemons.push(d);
  return d.start();
}

async function get(d: TestDaemon, path: string, key = KEY_B): Promise<Record<string, unknown>> {
  const c = await RawClient.open(d.port);
  try {
    return (await c.query({ op: 'get', path }, { key })).body;
  } finally {
    c.close();
  }
}

const code = (b: Record<string, unknown>) => (b.error as { code?: string } | undefined)?.code;

describe('reloading the access file', () => {
  let d: TestDaemon;
  let file: string;
  beforeAll(async () => {
    file = accessFile('reload.json', { default: { paths: ['*'] }, keys: { [B]: { paths: ['/public'] } } });
    d = await start(file);
  });

  it('applies a changed file without a signal', async () => {
    expect(code(await get(d, '/services/web'))).toBe('forbidden');
    const from = d.output.length;
    writeAtomic(file, { default: { paths: ['*'] }, keys: { [B]: { paths: ['/public', '/services/web'] } } });
    await d.waitForLog((l) => l.event === 'access_reloaded' && l.trigger === 'change', 30_000, from);
    expect((await get(d, '/services/web')).answer).toEqual({ port: 80 });
    expect(code(await get(d, '/services/webmail'))).toBe('forbidden');
  });

  it('applies it on SIGHUP', async () => {
    const from = d.output.length;
    d.child.kill('SIGHUP');
    await d.waitForLog((l) => l.event === 'access_reloaded' && l.trigger === 'sighup', 30_000, from);
    expect((await get(d, '/services/web')).answer).toEqual({ port: 80 });
  });

  it('a held wait ends when its key\'s scope changes: asked again in a scope that still holds its path, forbidden in one that does not', async () => {
    let from = d.output.length;
    writeAtomic(file, { default: { paths: ['*'] }, keys: { [B]: { paths: ['/public', '/services/web'] } } });
    await d.waitForLog((l) => l.event === 'access_reloaded' && l.trigger === 'change', 30_000, from);
    const c = new ConfdClient({ keyring: Keyring.fromStrings([KEY_B]), peers: [d.peer] });
    try {
      const held = async (n: number) => {
        const end = Date.now() + 30_000;
        while ((await fetchStats(d.port)).heldWaits !== n) {
          if (Date.now() > end) throw new Error(`never ${n} held waits`);
          await new Promise((r) => setTimeout(r, 20));
        }
      };
      // Wait replies the daemon has sent (of any status).
      const waitReplies = async () => Object.values((await fetchStats(d.port)).answered.qcf1?.wait ?? {}).reduce((a, b) => a + b, 0);
      let outcome: string | undefined;
      const waiting = c
        .waitFor({ path: '/services/web', equals: { port: 81 } }, { timeoutMs: 120_000 })
        .then((r) => (outcome = r.kind === 'error' ? r.error.code : r.kind))
        .catch((e: unknown) => (outcome = String(e)));
      await held(1);
      let replies = await waitReplies();
      // A wider scope: the wait is answered in it at once (not met), and the client holds it again.
      from = d.output.length;
      writeAtomic(file, { default: { paths: ['*'] }, keys: { [B]: { paths: ['/public', '/services/web', '/secret'] } } });
      await d.waitForLog((l) => l.event === 'access_reloaded' && l.trigger === 'change', 30_000, from);
      // Answered at the reload (its hold would have lasted --max-wait, 30 s).
      expect(await waitReplies()).toBeGreaterThan(replies);
      await held(1);
      expect(outcome).toBeUndefined();
      replies = await waitReplies();
      // A scope without the path: forbidden now, not when the hold would have ended.
      from = d.output.length;
      writeAtomic(file, { default: { paths: ['*'] }, keys: { [B]: { paths: ['/public', '/services/web'] } } });
      await d.waitForLog((l) => l.event === 'access_reloaded' && l.trigger === 'change', 30_000, from);
      await held(1);
      replies = await waitReplies();
      from = d.output.length;
      writeAtomic(file, { default: { paths: ['*'] }, keys: { [B]: { paths: ['/public'] } } });
      await d.waitForLog((l) => l.event === 'access_reloaded' && l.trigger === 'change', 30_000, from);
      expect(await waitReplies()).toBeGreaterThan(replies);
      await waiting;
      expect(outcome).toBe('forbidden');
    } finally {
      c.close();
      writeAtomic(file, { default: { paths: ['*'] }, keys: { [B]: { paths: ['/public', '/services/web'] } } });
      await d.waitForLog((l) => l.event === 'access_reloaded', 30_000, d.output.length - 1).catch(() => undefined);
    }
  });

  it('refuses an invalid file as a whole: the last good policy stays, the refusal logged and counted', async () => {
    const before = await fetchStats(d.port);
    const from = d.output.length;
    writeAtomic(file, { default: { paths: ['*'] }, keys: { [B]: { paths: ['/public', 'secret'] } } });
    const line = await d.waitForLog((l) => l.event === 'refused' && l.reason === 'access_file', 30_000, from);
    expect(line.msg).toMatch(new RegExp(`keys\\.${B}\\.paths\\[1\\]: "secret" is not a JSON pointer`));
    expect(line.level).toBe(50);
    const after = await fetchStats(d.port);
    expect((after.refusalReasons.access_file ?? 0) - (before.refusalReasons.access_file ?? 0)).toBeGreaterThanOrEqual(1);
    expect((await get(d, '/services/web')).answer).toEqual({ port: 80 });
    expect(code(await get(d, '/secret'))).toBe('forbidden');
    // Put right, it applies again.
    const again = d.output.length;
    writeAtomic(file, { default: { paths: ['*'] }, keys: { [B]: { paths: ['/secret'] } } });
    await d.waitForLog((l) => l.event === 'access_reloaded', 30_000, again);
    expect((await get(d, '/secret')).answer).toBe('pw');
  });
});

describe('qconfd --check and the start', () => {
  it('--check validates the access file, naming the member at fault', async () => {
    const good = accessFile('good.json', { default: { paths: ['/public'] }, keys: { [A]: { paths: ['*'] }, [B]: { paths: ['*'], ops: ['ping', 'stats'], rate: 5 } } });
    const ok = await runDaemon(['--check', '--access-file', good]);
    expect(ok.code, ok.out).toBe(0);
    expect(ok.out).toMatch(new RegExp(`access file ${good}: 2 keys named, 3 distinct scopes`));
    expect(ok.out).toMatch(new RegExp(`${B}: paths \\*; ops ping,stats; rate 5/s`));
    const bad = accessFile('bad.json', { keys: { [B]: { paths: ['*'], rate: 0 } } });
    const r = await runDaemon(['--check', '--access-file', bad]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(new RegExp(`problem: access file ${bad}: keys\\.${B}\\.rate: must be a positive number`));
  });

  it('a start with an invalid access file stops, saying why', async () => {
    const bad = accessFile('bad-start.json', { keys: { B: { paths: ['*'] } } });
    const r = await runDaemon(['--access-file', bad]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/keys\."B": is not a key id/);
  });
});

/** qconfd run to its exit (for --check and refused starts), with a key file and a document. */
async function runDaemon(args: string[]): Promise<{ code: number | null; out: string }> {
  const keyFile = writeKeyFile(dir, [KEY_A, KEY_B], 'both.key');
  const doc = join(dir, 'doc.json');
  writeAtomic(doc, DOC);
  const child = spawnTracked(process.execPath, [DAEMON_JS, '--key-file', keyFile, '--file', doc, '--port', '0', ...args]);
  let out = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  const c = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 30_000))]);
  if (c === 'hung') await stopProcess(child, 'SIGKILL');
  return { code: c === 'hung' ? null : c, out };
}

describe('the command line', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await start(accessFile('cli.json', { default: { paths: ['/public', '/services/web'] } }));
  });

  it('get outside the scope: exit 4 naming the key and the path; inside: the value; an ancestor: the part in scope', async () => {
    const env = { QCONF_PEERS: d.peer, QCONF_KEY_FILE: keyFileB };
    const out = await runCli(['get', '/services/webmail'], env);
    expect(out.code).toBe(4);
    expect(out.stderr).toContain(`forbidden: key ${B}`);
    expect(out.stderr).toContain('"/services/webmail"');
    // Absent or present, outside is forbidden alike.
    const absent = await runCli(['get', '/nothing'], env);
    expect(absent.code).toBe(4);
    expect(absent.stderr.replace('/nothing', '/services/webmail')).toBe(out.stderr);
    expect((await runCli(['get', '/services/web/port'], env)).stdout).toBe('80\n');
    expect(JSON.parse((await runCli(['get', '/'], env)).stdout)).toEqual({ public: { motd: 'hello' }, services: { web: { port: 80 } } });
    expect((await runCli(['list', '/', '--depth', '2'], env)).stdout).toBe('public\npublic/motd\nservices\nservices/web\n');
    const m = await runCli(['mget', '/public/motd', '/secret'], env);
    expect(m.code).toBe(4);
    expect(m.stdout).toBe('"hello"\nnull\n');
    expect(m.stderr).toContain(`/secret: forbidden: key ${B}`);
    // A wait or a watch of a path outside the scope ends at once: no answer would differ later.
    for (const args of [['wait', '/secret', '--exists'], ['wait', '/secret', '--changed'], ['watch', '/secret']]) {
      const w = await runCli([...args, '--timeout', '20000'], env);
      expect(w.code, args.join(' ')).toBe(4);
      expect(w.stderr).toContain(`forbidden: key ${B}: "/secret"`);
    }
    // stats needs the op (or full access): it tells of every key's traffic.
    const s = await runCli(['stats', '--json'], env);
    expect(s.code, s.stdout + s.stderr).toBe(4);
    expect(s.stdout + s.stderr).toContain('forbidden');
  });
});

describe('a key that must seal ("seal": true)', () => {
  it('is refused in clear with seal_required (nothing from the document) and answered sealed; other keys are not bound', async () => {
    const d = await start(accessFile('seal.json', { default: { paths: ['*'] }, keys: { [B]: { paths: ['/services/web'], seal: true } } }));
    const env = { QCONF_PEERS: d.peer, QCONF_KEY_FILE: keyFileB };
    const clear = await runCli(['get', '/services/web/port'], env);
    expect(clear.code).toBe(4);
    expect(clear.stderr).toMatch(/seal_required/);
    expect(clear.stdout).toBe('');
    const raw = await get(d, '/services/web/port');
    expect(code(raw)).toBe('seal_required');
    expect(raw.serial).toBe(0);
    expect(raw.answer).toBeUndefined();
    const sealed = await runCli(['get', '/services/web/port', '--seal'], env);
    expect(sealed.code, sealed.stderr).toBe(0);
    expect(sealed.stdout).toBe('80\n');
    // The scope still holds when sealed.
    expect((await runCli(['get', '/secret', '--seal'], env)).code).toBe(4);
    // Key A (the default, no seal) is answered in clear.
    expect((await get(d, '/secret', KEY_A)).answer).toBe('pw');
  });
});

describe('a key that must seal: nothing of the document in clear, in any reply', () => {
  it('over its rate, or asked to prove its address, it is told so with serial 0', async () => {
    const d = await start(accessFile('seal-rate.json', { default: { paths: ['*'] }, keys: { [B]: { paths: ['/services/web'], seal: true, rate: 1 } } }));
    const c = await RawClient.open(d.port);
    try {
      const key = makeKey(Buffer.from(KEY_B));
      const replies: Array<Record<string, unknown>> = [];
      // Small requests (no padding): a reply larger than one is `retry`, for an unvalidated address.
      for (const padTo of [0, 0, 0, 1200, 1200, 1200]) {
        const r = await c.exchange(request({ op: 'get', path: '/services/web' }, { key, to: d.peer, padTo }), 2000, [KEY_B]);
        if (r) replies.push(r.body);
      }
      expect(replies.length).toBeGreaterThan(0);
      for (const b of replies) {
        expect(['seal_required', 'busy', 'retry']).toContain(code(b));
        expect(b.serial, JSON.stringify(b)).toBe(0);
      }
    } finally {
      c.close();
    }
  });

  it('a wait held in clear ends, with seal_required, when its key is made to seal; no later value reaches it in clear', async () => {
    const file = accessFile('seal-later.json', { default: { paths: ['*'] }, keys: { [B]: { paths: ['/services/web'] } } });
    const d = await start(file);
    const c = await RawClient.open(d.port);
    try {
      const key = makeKey(Buffer.from(KEY_B));
      const first = await c.query({ op: 'get', path: '/services/web' }, { key: KEY_B });
      const waitBody = { op: 'wait', path: '/services/web', etag: first.body.etag, timeoutMs: 60_000 };
      // A wait is held only for a validated address: the first asks to prove it (a cookie).
      const asked = await c.exchange(request(waitBody, { key, to: d.peer }), 5000, [KEY_B]);
      expect(code(asked?.body ?? {})).toBe('retry');
      const wait = request({ ...waitBody, cookie: asked?.body.cookie }, { key, to: d.peer });
      const salt = wait.subarray(20, 36);
      await c.send(wait);
      const end = Date.now() + 30_000;
      while ((await fetchStats(d.port)).heldWaits !== 1) {
        if (Date.now() > end) throw new Error(`the wait was not held: ${JSON.stringify((await c.collect(10)).map((m) => decodeReply(m, [KEY_B]).body))}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      const from = d.output.length;
      writeAtomic(file, { default: { paths: ['*'] }, keys: { [B]: { paths: ['/services/web'], seal: true } } });
      await d.waitForLog((l) => l.event === 'access_reloaded', 30_000, from);
      d.writeDoc({ ...DOC, serial_no: 5, services: { web: { port: 'NEW-IN-CLEAR' } } });
      const got = await c.collect(1500);
      const toWait = got.filter((m) => m.subarray(20, 36).equals(salt));
      expect(toWait.length).toBe(1);
      expect(toWait[0].includes(Buffer.from('NEW-IN-CLEAR'))).toBe(false);
      const body = decodeReply(toWait[0], [KEY_B]).body;
      expect(code(body)).toBe('seal_required');
      expect(body.serial).toBe(0);
    } finally {
      c.close();
    }
  });
});

describe('a key\'s rate', () => {
  it('is not spent by copies of its requests sent to another daemon (dropped there for their destination)', async () => {
    const d = await start(accessFile('rate-copies.json', { default: { paths: ['*'] }, keys: { [B]: { paths: ['*'], rate: 5 } } }));
    const c = await RawClient.open(d.port);
    try {
      const key = makeKey(Buffer.from(KEY_B));
      // 20 copies of requests meant for another daemon: dropped, and no token taken.
      for (let i = 0; i < 20; i++) await c.send(request({ op: 'get', path: '/public/motd' }, { key, to: '127.0.0.1:9' }));
      await c.collect(300);
      // The key's own burst (5) is still whole.
      let ok = 0;
      for (let i = 0; i < 5; i++) {
        const r = await c.exchange(request({ op: 'get', path: '/public/motd' }, { key, to: d.peer }), 3000, [KEY_B]);
        if (r?.body.status === 0) ok++;
      }
      expect(ok).toBe(5);
      expect((await fetchStats(d.port)).drops.wrong_destination).toBeGreaterThanOrEqual(20);
    } finally {
      c.close();
    }
  });
});

describe('verified answers and scoped keys', () => {
  let d: TestDaemon;
  let publisher: SigningKey;
  beforeAll(async () => {
    publisher = generateSigningKey();
    const pub = join(dir, 'publisher.pub');
    writeFileSync(pub, Buffer.from(publisher.bytes).toString('hex') + '\n');
    const signed = signDocument({ ...DOC }, publisher, (v) => valueHash(v).hash);
    d = await start(accessFile('verified.json', { default: { paths: ['/public'] }, keys: { [A]: { paths: ['*'] } } }), { doc: signed, args: ['--trust-key', pub] });
  });

  it('a scoped key gets no proof nor signature; a full-access key gets both', async () => {
    const c = await RawClient.open(d.port);
    try {
      for (const req of [{ op: 'get', path: '/public/motd' }, { op: 'get', path: '' }, { op: 'list', path: '' }, { op: 'mget', paths: ['/public', '/nothing'] }, { op: 'ping' }, { op: 'wait', path: '/public', minSerial: 0 }]) {
        const scoped = (await c.query(req, { key: KEY_B })).body;
        expect(scoped.proof, JSON.stringify(req)).toBeUndefined();
        expect(scoped.signed, JSON.stringify(req)).toBeUndefined();
        expect(JSON.stringify(scoped.answer ?? null)).not.toMatch(/"proof"/);
      }
      const full = (await c.query({ op: 'get', path: '/public/motd' }, { key: KEY_A })).body;
      expect(full.proof).toBeDefined();
      expect(full.signed).toBeDefined();
    } finally {
      c.close();
    }
  });

  it('a client that demands verified answers does not accept a scoped key\'s', async () => {
    const trust = TrustKeys.fromHex([Buffer.from(publisher.bytes).toString('hex')]);
    const scoped = new ConfdClient({ keyring: Keyring.fromStrings([KEY_B]), peers: [d.peer], trustKeys: trust });
    const full = new ConfdClient({ keyring: Keyring.fromStrings([KEY_A]), peers: [d.peer], trustKeys: trust });
    try {
      const r = await scoped.get('/public/motd', { timeoutMs: 1500 });
      expect(r.kind).not.toBe('ok');
      expect(r.verified).toBe(false);
      expect(r.forged).toBe(1);
      const f = await full.get('/public/motd', { timeoutMs: 3000 });
      expect(f.kind).toBe('ok');
      expect(f.verified).toBe(true);
    } finally {
      scoped.close();
      full.close();
    }
    const pub = join(dir, 'publisher.pub');
    const cli = await runCli(['get', '/public/motd', '--trust-key', pub, '--timeout', '1500'], { QCONF_PEERS: d.peer, QCONF_KEY_FILE: keyFileB });
    expect(cli.code).toBe(4);
    expect(cli.stdout).toBe('');
  });
});

describe('per-key metrics', () => {
  it('are labelled by the key ids of the access file and "default", nothing else', async () => {
    const d = await start(accessFile('metrics.json', { default: { paths: ['/public'] }, keys: { [A]: { paths: ['*'] } } }), { args: ['--metrics-listen', '127.0.0.1:0'] });
    const m = await d.waitForLog((l) => l.event === 'metrics_listen');
    expect(code(await get(d, '/secret'))).toBe('forbidden');
    const text = await (await fetch(`http://127.0.0.1:${m.port as number}/metrics`)).text();
    const labels = new Set([...text.matchAll(/^qconfd_key_requests_total\{key="([^"]+)"\}/gm)].map((x) => x[1]));
    expect([...labels].sort()).toEqual([A, 'default'].sort());
    expect(text).toMatch(/^qconfd_key_forbidden_total\{key="default"\} 1$/m);
    expect(text).toMatch(/^qconfd_key_replies_total\{key="default",status="error"\} 1$/m);
    expect(text).toMatch(/^qconfd_key_rate_limited_total\{key="default"\} 0$/m);
    expect(text).toMatch(/^qconfd_access_reloads_total 1$/m);
  });
});
