// What a run on real processes needs around them: keys and key files, temp dirs removed at
// exit, documents replaced atomically as publishers must, and free ports.
import dgram from 'node:dgram';
import { chmodSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The key of protocol.md's test vectors (64 ASCII bytes). */
export const KEY_A = '0123456789abcdef'.repeat(4);
export const KEY_B = 'fedcba9876543210'.repeat(4);

const dirs: string[] = [];
let hooked = false;

/** A new temp dir, removed by removeTempDirs() and at the latest when this process exits. */
export function tempDir(prefix = 'qconf-test-'): string {
  // The hook is installed with the first dir, not at import: importing has no effect.
  if (!hooked) {
    hooked = true;
    process.once('exit', removeTempDirs);
  }
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

/** Remove every temp dir made so far (a test worker may end without an 'exit' event). */
export function removeTempDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** A key file as qconfd reads it: one key a line, the first signs. */
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

/**
 * A UDP port free a moment ago. By default free on both IPv4 and IPv6 (a daemon binds
 * dual-stack `::` unless told otherwise); '127.0.0.1' asks IPv4 loopback only, for a daemon
 * bound there. Another process may still take it before it is bound: callers that can, retry.
 */
export async function freePort(host: '::' | '127.0.0.1' = '::'): Promise<number> {
  // The kernel may hand the same free port to two calls in a row: never give one out twice.
  for (;;) {
    const port = await anyFreePort(host);
    if (handedOut.has(port)) continue;
    if (handedOut.size >= 8192) handedOut.clear();
    handedOut.add(port);
    return port;
  }
}

const handedOut = new Set<number>();

function anyFreePort(host: '::' | '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = host === '::' ? dgram.createSocket({ type: 'udp6', ipv6Only: false }) : dgram.createSocket('udp4');
    s.once('error', reject);
    s.bind(0, host, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * `count` distinct TCP ports free on `host`: all bound at once (so they differ), then released
 * for the server that is to listen there.
 */
export async function freeTcpPorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Server>((resolve, reject) => {
          const s = createServer();
          s.unref();
          s.once('error', reject);
          s.listen({ host, port: 0, exclusive: true }, () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => {
    const a = s.address();
    if (a === null || typeof a === 'string') throw new Error('unexpected server address');
    return a.port;
  });
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return ports;
}
