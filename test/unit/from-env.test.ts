// ConfdClient.fromEnv: configured as qconf is (QCONF_PEERS, QCONF_KEY_FILE, QCONF_PORT,
// QCONF_TRUST_KEY), each overridable; what is missing or wrong is a QconfError naming the
// variable; a key file others can read is reported through the logger (never its contents), or
// as a process warning when there is no logger.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfdClient } from '../../client/confd-client.js';
import { generateSigningKey, signingKeyText } from '../../shared/signing.js';
import { KEY_A, tempDir, writeKeyFile } from '../../testkit/fixtures.js';

const clients: ConfdClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

function fromEnv(env: NodeJS.ProcessEnv, opts: Parameters<typeof ConfdClient.fromEnv>[0] = {}): ConfdClient {
  const c = ConfdClient.fromEnv({ ...opts, env });
  clients.push(c);
  return c;
}

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
}

describe('ConfdClient.fromEnv', () => {
  it('reads the peers, the key file and the default port from the variables qconf reads', () => {
    const keyFile = writeKeyFile(tempDir(), [KEY_A]);
    const c = fromEnv({ QCONF_PEERS: '127.0.0.1, 127.0.0.2:2000', QCONF_KEY_FILE: keyFile, QCONF_PORT: '1999' });
    expect(c.peerList.map((p) => p.label)).toEqual(['127.0.0.1:1999', '127.0.0.2:2000']);
  });

  it('options win over the variables', () => {
    const keyFile = writeKeyFile(tempDir(), [KEY_A]);
    const c = fromEnv({ QCONF_PEERS: '127.0.0.9', QCONF_KEY_FILE: keyFile }, { peers: ['127.0.0.1:1814'] });
    expect(c.peerList.map((p) => p.label)).toEqual(['127.0.0.1:1814']);
  });

  it('what is missing or wrong is a QconfError naming it', () => {
    const keyFile = writeKeyFile(tempDir(), [KEY_A]);
    expect(codeOf(() => fromEnv({ QCONF_KEY_FILE: keyFile }))).toBe('usage');
    expect(codeOf(() => fromEnv({ QCONF_PEERS: '127.0.0.1' }))).toBe('usage');
    expect(codeOf(() => fromEnv({ QCONF_PEERS: '127.0.0.1', QCONF_KEY_FILE: keyFile, QCONF_PORT: '70000' }))).toBe('usage');
    expect(codeOf(() => fromEnv({ QCONF_PEERS: '127.0.0.1', QCONF_KEY_FILE: join(tempDir(), 'missing.key') }))).toBe('key_file');
    expect(() => fromEnv({ QCONF_PEERS: '127.0.0.1', QCONF_KEY_FILE: keyFile, QCONF_PORT: 'x' })).toThrow(/QCONF_PORT/);
  });

  it('QCONF_TRUST_KEY makes every answer one that must be verified; a signing key is refused as the shared key', () => {
    const dir = tempDir();
    const keyFile = writeKeyFile(dir, [KEY_A]);
    const signing = signingKeyText(generateSigningKey());
    writeFileSync(join(dir, 'pub'), signing.public);
    const c = fromEnv({ QCONF_PEERS: '127.0.0.1', QCONF_KEY_FILE: keyFile, QCONF_TRUST_KEY: join(dir, 'pub') });
    expect(c).toBeInstanceOf(ConfdClient);
    writeFileSync(join(dir, 'secret'), signing.secret, { mode: 0o600 });
    expect(codeOf(() => fromEnv({ QCONF_PEERS: '127.0.0.1', QCONF_KEY_FILE: join(dir, 'secret') }))).toBe('key_file');
  });

  it('a key file others can read: a warning through the logger, naming the file and not the key', () => {
    const keyFile = writeKeyFile(tempDir(), [KEY_A], 'qconf.key', 0o644);
    const warned: Array<[object, string | undefined]> = [];
    fromEnv({ QCONF_PEERS: '127.0.0.1', QCONF_KEY_FILE: keyFile }, { logger: { warn: (o, m) => warned.push([o, m]) } });
    expect(warned).toHaveLength(1);
    expect(warned[0][0]).toEqual({ event: 'key_file_warning', keyFile });
    expect(warned[0][1]).toContain(keyFile);
    expect(JSON.stringify(warned)).not.toContain(KEY_A);
  });

  it('without a logger, a process warning (code QCONF_KEY_FILE)', async () => {
    const keyFile = writeKeyFile(tempDir(), [KEY_A], 'qconf.key', 0o644);
    const seen: Error[] = [];
    const on = (w: Error) => seen.push(w);
    process.on('warning', on);
    try {
      fromEnv({ QCONF_PEERS: '127.0.0.1', QCONF_KEY_FILE: keyFile });
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off('warning', on);
    }
    expect(seen.map((w) => (w as Error & { code?: string }).code)).toContain('QCONF_KEY_FILE');
    expect(seen.map((w) => w.message).join('\n')).not.toContain(KEY_A);
  });
});
