// qconfd --check: exit 0 with a summary on good input; each kind of problem named, exit 1;
// usage errors exit 2. It runs as ExecStartPre= in the units, so it must never start serving.
import dgram from 'node:dgram';
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { KEY_A, KEY_B, freePort, tempDir, writeAtomic, writeKeyFile } from '../../testkit/fixtures.js';
import { ganetiExampleKey } from '../../testkit/ganeti-key.js';
import { sampleDoc } from '../support/sample-doc.js';
import { runQconfd, type Run } from './helpers.js';

let dir: string;
let key: string;
let doc: string;
let port: number;

beforeAll(async () => {
  dir = tempDir('qconf-check-');
  key = writeKeyFile(dir, [KEY_A, KEY_B]);
  doc = join(dir, 'cluster.json');
  writeAtomic(doc, sampleDoc(42));
  port = await freePort();
});

function check(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return runQconfd(['--check', ...args], env);
}

function problems(r: Run): string[] {
  return r.stderr.split('\n').filter((l) => l.startsWith('  problem: ')).map((l) => l.slice('  problem: '.length));
}

describe('qconfd --check on good input', () => {
  it('exits 0 with a summary of what it checked, and does not serve', async () => {
    const r = await check(['--file', doc, '--key-file', key, '--port', String(port), '--node-name', 'n1']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^qconfd --check: ok$/m);
    expect(r.stdout).toContain(`ok: options: port ${port}, bind :: (dual-stack), node n1, log level info, metrics off`);
    expect(r.stdout).toMatch(new RegExp(`ok: key file ${key}: 2 keys, signing key id [0-9a-f]{8}, also verifying [0-9a-f]{8}; mode 0600`));
    expect(r.stdout).toContain(`ok: document ${doc}: serial 42, `);
    // Key material never appears.
    expect(r.stdout + r.stderr).not.toContain(KEY_A);
    expect(r.stdout + r.stderr).not.toContain(KEY_B);
  });

  it('reads the same QCONFD_* variables as the daemon, and says so', async () => {
    const r = await check([], { QCONFD_FILE: doc, QCONFD_KEY_FILE: key, QCONFD_PORT: String(port), QCONFD_METRICS_LISTEN: '9814', QCONFD_LOG_LEVEL: 'warn' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`key file ${key} (from QCONFD_KEY_FILE)`);
    expect(r.stdout).toContain('log level warn, metrics http://127.0.0.1:9814/metrics');
  });

  it('a document that does not exist yet is a warning, not a problem (the daemon waits for it)', async () => {
    const r = await check(['--file', join(dir, 'later.json'), '--key-file', key, '--port', String(port)]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/warning: document .*later\.json does not exist yet: qconfd will start, answer not_ready/);
    expect(r.stdout).toMatch(/^qconfd --check: ok \(1 warning\)$/m);
  });

  it('warns about a world-readable key file and a port in use, still exit 0', async () => {
    const readable = writeKeyFile(tempDir('qconf-check-'), [KEY_A], 'k', 0o644);
    const busy = dgram.createSocket({ type: 'udp6', ipv6Only: false });
    const busyPort = await new Promise<number>((resolve) => busy.bind(0, '::', () => resolve(busy.address().port)));
    try {
      const r = await check(['--file', doc, '--key-file', readable, '--port', String(busyPort)]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/warning: key file .* is world-readable \(mode 644\)/);
      expect(r.stdout).toMatch(new RegExp(`warning: :: UDP port ${busyPort} is in use now, by pid ${process.pid} \\(`));
    } finally {
      busy.close();
    }
  });
});

describe('qconfd --check names each problem and exits 1', () => {
  it('names the variable when a bad value comes from the environment', async () => {
    const r = await check(['--file', doc, '--key-file', key], { QCONFD_PORT: 'eighty', QCONFD_METRICS_LISTEN: 'nowhere:1' });
    expect(r.code).toBe(1);
    // A bad value is a problem, never an "ok" line showing its default.
    expect(r.stdout).toContain('ok: options: bind :: (dual-stack), node ');
    expect(r.stdout).not.toMatch(/ok: .*port 1814/);
    expect(r.stdout).not.toMatch(/ok: .*metrics/);
    expect(problems(r)).toEqual([
      '--port (from QCONFD_PORT): "eighty" is not a whole number',
      '--metrics-listen (from QCONFD_METRICS_LISTEN): "nowhere" is not an IPv4 address (write IPv6 as [ADDR]:PORT)',
    ]);
  });

  const cases: Array<[string, () => string[], RegExp]> = [
    ['no key file given', () => ['--file', doc], /^--key-file is required \(or QCONFD_KEY_FILE\); create one with: qconf keygen --out /],
    ['a missing key file', () => ['--file', doc, '--key-file', join(dir, 'nope.key')], /key file .*nope\.key: does not exist/],
    [
      'a group-writable key file',
      () => ['--file', doc, '--key-file', writeKeyFile(tempDir('qconf-check-'), [KEY_A], 'k', 0o660)],
      /key file .*: writable by group \(mode 660\); run chmod 600/,
    ],
    [
      'a key file writable by group and others',
      () => ['--file', doc, '--key-file', writeKeyFile(tempDir('qconf-check-'), [KEY_A], 'k', 0o666)],
      /key file .*: writable by group and others \(mode 666\); run chmod 600/,
    ],
    [
      'a world-writable key file',
      () => ['--file', doc, '--key-file', writeKeyFile(tempDir('qconf-check-'), [KEY_A], 'k', 0o602)],
      /key file .*: writable by others \(mode 602\)/,
    ],
    ['a key too short', () => ['--file', doc, '--key-file', writeKeyFile(tempDir('qconf-check-'), ['short'])], /key on line 1 is 5 bytes; at least 16 are required/],
    ['a key file with no key', () => ['--file', doc, '--key-file', writeKeyFile(tempDir('qconf-check-'), ['# only a comment'])], /holds no key/],
    ['a key file that is a directory', () => ['--file', doc, '--key-file', dir], /key file .*: not a regular file/],
    [
      'a document that is not JSON',
      () => {
        const p = join(tempDir('qconf-check-'), 'c.json');
        writeFileSync(p, '{"serial_no": 1,');
        return ['--file', p, '--key-file', key];
      },
      /document .*c\.json: not valid JSON/,
    ],
    [
      'a document without serial_no',
      () => {
        const p = join(tempDir('qconf-check-'), 'c.json');
        writeFileSync(p, '{"cluster": {}}');
        return ['--file', p, '--key-file', key];
      },
      /document .*c\.json: no top-level serial_no/,
    ],
    [
      'a document with a bad serial_no',
      () => {
        const p = join(tempDir('qconf-check-'), 'c.json');
        writeFileSync(p, '{"serial_no": -3}');
        return ['--file', p, '--key-file', key];
      },
      /serial_no is not a non-negative integer/,
    ],
    [
      'a document that is not an object',
      () => {
        const p = join(tempDir('qconf-check-'), 'c.json');
        writeFileSync(p, '[1, 2]');
        return ['--file', p, '--key-file', key];
      },
      /the document is not a JSON object/,
    ],
    [
      'a document path that is a directory',
      () => {
        const p = join(tempDir('qconf-check-'), 'sub');
        mkdirSync(p);
        return ['--file', p, '--key-file', key];
      },
      /document .*sub: not a regular file/,
    ],
    [
      'a FIFO at the document path (refused at once, not waited on)',
      () => {
        const p = join(tempDir('qconf-check-'), 'c.json');
        execFileSync('mkfifo', [p]);
        return ['--file', p, '--key-file', key];
      },
      /document .*c\.json: not a regular file \(a FIFO\)/,
    ],
    [
      'a document path that is a symlink to /dev/zero',
      () => {
        const p = join(tempDir('qconf-check-'), 'c.json');
        symlinkSync('/dev/zero', p);
        return ['--file', p, '--key-file', key];
      },
      /document .*c\.json: not a regular file \(a character device\)/,
    ],
    [
      'a document larger than --max-document-bytes',
      () => ['--file', doc, '--key-file', key, '--max-document-bytes', '100'],
      /document .*cluster\.json: larger than 100 bytes \(--max-document-bytes\)/,
    ],
    [
      'a document nested deeper than 512 levels',
      () => {
        const p = join(tempDir('qconf-check-'), 'c.json');
        writeFileSync(p, `{"serial_no": 1, "deep": ${'['.repeat(600)}${']'.repeat(600)}}`);
        return ['--file', p, '--key-file', key];
      },
      /document .*c\.json: nested deeper than 512 levels/,
    ],
    ['a bad --max-document-bytes', () => ['--file', doc, '--key-file', key, '--max-document-bytes', '0'], /^--max-document-bytes: 0 is out of range \(1 to 4294967295\)/],
    ['a port out of range', () => ['--file', doc, '--key-file', key, '--port', '70000'], /^--port: 70000 is out of range \(0 to 65535\)/],
    ['a port that is not a number', () => ['--file', doc, '--key-file', key, '--port', 'http'], /^--port: "http" is not a whole number/],
    ['a bind address that is not an IP', () => ['--file', doc, '--key-file', key, '--bind', 'example.com'], /^--bind: "example.com" is not an IP address/],
    ['an unknown log level', () => ['--file', doc, '--key-file', key, '--log-level', 'loud'], /^--log-level: unknown level "loud"/],
    ['a bad --max-skew', () => ['--file', doc, '--key-file', key, '--max-skew', '0'], /^--max-skew: 0 is out of range/],
    ['a bad --metrics-listen', () => ['--file', doc, '--key-file', key, '--metrics-listen', 'localhost:x'], /^--metrics-listen: "localhost" is not an IPv4 address/],
    ['an IPv6 --metrics-listen without brackets', () => ['--file', doc, '--key-file', key, '--metrics-listen', '::1:9814'], /^--metrics-listen: "::1:9814" is not PORT, ADDR:PORT or \[ADDR\]:PORT/],
    ['a missing Ganeti key file', () => ['--file', doc, '--key-file', key, '--ganeti-key-file', join(dir, 'hmac.key')], /key file .*hmac\.key: does not exist/],
    [
      'a document that is not a Ganeti config, with --ganeti-key-file',
      () => ['--file', doc, '--key-file', key, '--ganeti-key-file', ganetiExampleKey()],
      /document .*: not usable as a Ganeti config\.data/,
    ],
  ];

  for (const [what, args, expected] of cases) {
    it(what, async () => {
      const a = args();
      const r = await check([...a, ...(a.includes('--port') ? [] : ['--port', String(port)])]);
      expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(1);
      const p = problems(r);
      expect(p.length, r.stderr).toBeGreaterThanOrEqual(1);
      expect(p.some((l) => expected.test(l)), `${expected} in:\n${p.join('\n')}`).toBe(true);
      expect(r.stderr).toMatch(/^qconfd --check: \d+ problems?$/m);
    });
  }

  it('lists every problem at once, not just the first', async () => {
    const badKey = writeKeyFile(tempDir('qconf-check-'), [KEY_A], 'k', 0o666);
    const badDoc = join(tempDir('qconf-check-'), 'c.json');
    writeFileSync(badDoc, 'not json');
    const r = await check(['--file', badDoc, '--key-file', badKey, '--port', '99999', '--log-level', 'loud']);
    expect(r.code).toBe(1);
    const p = problems(r);
    expect(p).toHaveLength(4);
    expect(p.join('\n')).toMatch(/--log-level/);
    expect(p.join('\n')).toMatch(/--port/);
    expect(p.join('\n')).toMatch(/writable by/);
    expect(p.join('\n')).toMatch(/not valid JSON/);
    expect(r.stderr).toMatch(/^qconfd --check: 4 problems$/m);
  });
});

describe('qconfd usage errors', () => {
  it('an unknown flag exits 2, with or without --check', async () => {
    const a = await check(['--file', doc, '--key-file', key, '--frobnicate']);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/unknown option --frobnicate/);
    const b = await runQconfd(['--frobnicate']);
    expect(b.code).toBe(2);
  });

  it('usage errors in qconfd\'s words: did you mean, a missing value, a value for a switch, an operand', async () => {
    for (const [args, message] of [
      [['--prot', '1814'], /^qconfd: unknown option --prot; did you mean --port\?$/m],
      [['--file'], /^qconfd: --file needs a value: --file PATH$/m],
      [['--check=yes'], /^qconfd: --check takes no value$/m],
      [['cluster.json'], /^qconfd: unexpected operand cluster\.json: qconfd takes options only \(the document is --file PATH\)$/m],
    ] as const) {
      const r = await runQconfd([...args]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toMatch(/Try 'qconfd --help'/);
    }
  });

  it('without a key file, the daemon says how to make one (as --check does)', async () => {
    const r = await runQconfd(['--file', doc, '--port', String(port)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('qconfd: --key-file is required (or QCONFD_KEY_FILE); create one with: qconf keygen --out /etc/qconf/qconf.key');
  });

  it('a port in use stops the start before anything is served, naming the port and its holder', async () => {
    const busy = dgram.createSocket({ type: 'udp6', ipv6Only: false });
    const busyPort = await new Promise<number>((resolve) => busy.bind(0, '::', () => resolve(busy.address().port)));
    try {
      const r = await runQconfd(['--file', doc, '--key-file', key, '--port', String(busyPort)]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`qconfd: UDP port ${busyPort} on :: is in use by pid ${process.pid} (`);
      const events = r.stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      // Bound first: no document loaded (or logged as served) before the port failed.
      expect(events.map((e) => e.event)).toEqual(['start_failed']);
      expect(events[0]).toMatchObject({ code: 'bind', reason: 'EADDRINUSE' });
    } finally {
      busy.close();
    }
  });

  it('without --check, bad values stop the daemon before it starts, exit 2, each named', async () => {
    const r = await runQconfd(['--file', doc, '--key-file', key, '--port', 'x', '--max-waits', '2000000']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--port: "x" is not a whole number/);
    expect(r.stderr).toMatch(/--max-waits: 2000000 is out of range/);
  });
});
