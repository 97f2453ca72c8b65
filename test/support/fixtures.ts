// Files for tests: temp dirs, key files, documents written atomically, free ports.
import dgram from 'node:dgram';
import { mkdtempSync, renameSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const DAEMON_JS = join(ROOT, 'dist/daemon/main.js');
export const CLI_JS = join(ROOT, 'dist/client/cli/main.js');

/** The key of protocol.md's test vectors (64 ASCII bytes). */
export const KEY_A = '0123456789abcdef'.repeat(4);
export const KEY_B = 'fedcba9876543210'.repeat(4);

const dirs: string[] = [];
process.on('exit', () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

export function tempDir(prefix = 'qconf-test-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

export function writeKeyFile(dir: string, keys: string[], name = 'qconf.key', mode = 0o600): string {
  const p = join(dir, name);
  writeFileSync(p, keys.join('\n') + '\n', { mode });
  chmodSync(p, mode);
  return p;
}

let seq = 0;
/** Replace a file atomically (write a temp file, then rename over), as publishers must. */
export function writeAtomic(path: string, content: string | object): void {
  const tmp = `${path}.tmp-${process.pid}-${seq++}`;
  writeFileSync(tmp, typeof content === 'string' ? content : JSON.stringify(content));
  renameSync(tmp, path);
}

/** A UDP port free on both IPv4 and IPv6 (the daemon binds dual-stack `::` by default). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket({ type: 'udp6', ipv6Only: false });
    s.once('error', reject);
    s.bind(0, '::', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export function sampleDoc(serial: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    serial_no: serial,
    cluster: { name: 'test.example.com', master: 'node1.example.com' },
    nodes: {
      'node1.example.com': { primary_ip: '192.0.2.11', drained: false },
      'node2.example.com': { primary_ip: '192.0.2.12', drained: false },
    },
    'a/b': { 'm~n': 1 },
    list: [10, 20, 30],
    ...extra,
  };
}
