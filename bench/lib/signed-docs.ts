// Signed documents for the benchmarks: a publisher's key and trust file, documents signed with
// it, their commitment made in this process (timed), and a one-at-a-time QCF1 probe that keeps
// each reply's datagram and its body as the client sees it (proof sizes, answers to verify).
import dgram, { type Socket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Qcf1ClientProtocol } from '../../client/protocol.js';
import type { Reply, Request } from '../../client/types.js';
import { CommitmentTree } from '../../daemon/commitment-tree.js';
import { Keyring } from '../../shared/keyring.js';
import { smallCounts, wholeHash } from '../../shared/commitment.js';
import { packBody } from '../../shared/msgpack-encode.js';
import { generateSigningKey, loadTrustKeys, signDocument, signingKeyText, type SigningKey, type TrustKeys } from '../../shared/signing.js';

/** The commitment of `doc`, built at once (the daemon builds the same in slices). */
export function commitmentOf(doc: unknown): CommitmentTree {
  return CommitmentTree.of(doc);
}

/**
 * What the commitment's values hashed whole cost alone: the JSON text and SHA-256 of each scalar
 * and small container the tree has as a leaf's value (the same ones CommitmentTree hashes), and
 * nothing else — no leaves, nodes, counting or sorting. A floor under this construction's time.
 * Returns how many values it hashed.
 */
export function hashWholeValues(v: unknown): number {
  if (v === null || typeof v !== 'object' || smallCounts(v) !== undefined) {
    wholeHash(v);
    return 1;
  }
  let n = 0;
  for (const child of Array.isArray(v) ? v : Object.values(v)) n += hashWholeValues(child);
  return n;
}

/** A publisher: its signing key, the trust file (its public key) daemons are given, and the same keys as a client holds them. */
export interface Publisher {
  key: SigningKey;
  trustFile: string;
  trust: TrustKeys;
}

export function newPublisher(dir: string): Publisher {
  const key = generateSigningKey();
  const trustFile = join(dir, 'publisher.pub');
  writeFileSync(trustFile, signingKeyText(key).public, { mode: 0o644 });
  return { key, trustFile, trust: loadTrustKeys(trustFile) };
}

/**
 * `doc` signed by the publisher for its own serial_no. The commitment is the daemon's tree (the
 * same root as shared/commitment.ts's valueHash, which the unit tests check, and much faster).
 */
export function signed(doc: Record<string, unknown>, p: Publisher): Record<string, unknown> {
  return signDocument(doc, p.key, (v) => commitmentOf(v).root);
}

/** This process's CPU time (ms) since `from` (process.cpuUsage()). */
export const cpuSince = (from: NodeJS.CpuUsage): number => {
  const c = process.cpuUsage(from);
  return (c.user + c.system) / 1000;
};

/**
 * `n` timed calls of `fn` (ms), bounded by `maxMs`: the median wall time and the runs in order,
 * and the median CPU time of this process (what the work costs, however the cores were shared).
 */
export function timeRuns(fn: () => void, n: number, maxMs: number): { median: number; runs: number[]; cpuMedian: number } {
  const runs: number[] = [];
  const cpu: number[] = [];
  const end = performance.now() + maxMs;
  for (let i = 0; i < n && (i === 0 || performance.now() < end); i++) {
    const c = process.cpuUsage();
    const t = performance.now();
    fn();
    runs.push(performance.now() - t);
    cpu.push(cpuSince(c));
  }
  const mid = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
  return { median: mid(runs), runs, cpuMedian: mid(cpu) };
}

/** A reply as received: the datagram's size, the body's parts' sizes, and the reply as the client normalises it. */
export interface Captured {
  request: Request;
  reply: Reply;
  datagramBytes: number;
  /** The `proof` member's MessagePack bytes (0 without one). */
  proofBytes: number;
  /** The `signed` member's MessagePack bytes (0 without one). */
  signedBytes: number;
}

/** A decoded member encoded again: the bytes it took in the reply (the encoder writes one form). */
const packedSize = (v: unknown): number => (v === undefined || v === null || typeof v !== 'object' ? 0 : packBody(v).length);

/**
 * QCF1 requests to one daemon on loopback, one at a time, each reply kept whole. The address is
 * validated first (the daemon's cookie), so replies larger than the requests come back as they are.
 */
export class Qcf1Probe {
  private readonly protocol: Qcf1ClientProtocol;
  private cookie: Uint8Array | undefined;

  private constructor(
    private readonly sock: Socket,
    private readonly port: number,
    key: string,
  ) {
    const keyring = Keyring.fromStrings([key]);
    this.protocol = new Qcf1ClientProtocol(() => keyring);
  }

  static async open(port: number, key: string): Promise<Qcf1Probe> {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', () => resolve()));
    return new Qcf1Probe(sock, port, key);
  }

  async ask(request: Request, timeoutMs = 2000): Promise<Captured> {
    // A `retry` is the daemon asking for its cookie: sent again with it (a few times at most).
    for (let attempt = 0; attempt < 4; attempt++) {
      const got = await this.once(request, timeoutMs);
      if (got.reply.error?.code === 'retry' && got.reply.cookie !== undefined) {
        this.cookie = got.reply.cookie;
        continue;
      }
      return got;
    }
    throw new Error(`127.0.0.1:${this.port} kept asking for its cookie`);
  }

  private once(request: Request, timeoutMs: number): Promise<Captured> {
    const salt = this.protocol.newSalt();
    const datagram = this.protocol.encode(request, salt, { to: `127.0.0.1:${this.port}`, cookie: this.cookie, padTo: 256 });
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.sock.off('message', onMessage);
        reject(new Error(`no reply from 127.0.0.1:${this.port} to ${JSON.stringify(request)} within ${timeoutMs} ms`));
      }, timeoutMs);
      const onMessage = (msg: Buffer): void => {
        const d = this.protocol.decode(msg);
        if (d === undefined || d.salt !== salt) return;
        clearTimeout(t);
        this.sock.off('message', onMessage);
        resolve({ request, reply: d.reply, datagramBytes: msg.length, proofBytes: packedSize(d.reply.proof), signedBytes: packedSize(d.reply.signed) });
      };
      this.sock.on('message', onMessage);
      this.sock.send(datagram, this.port, '127.0.0.1');
    });
  }

  close(): void {
    this.sock.close();
  }
}
