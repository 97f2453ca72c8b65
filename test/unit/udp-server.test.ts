// The UDP edge's sends on real loopback sockets: replies arrive, failed sends are counted (one
// send in 32 is checked, then every send while they fail), close waits for queued replies, and
// the replies of one turn of the event loop leave together, in order, before any slice of long
// work.
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { runSliced } from '../../daemon/slices.js';
import { Stats } from '../../daemon/stats.js';
import { UdpServer, magicOf } from '../../daemon/udp-server.js';

const servers: UdpServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function echoServer(stats: Stats): Promise<{ server: UdpServer; port: number }> {
  const server = new UdpServer(stats, () => undefined);
  servers.push(server);
  server.route({ magic: magicOf('ECHO'), maxBytes: 1024, handler: (msg, rinfo) => server.send(Buffer.from(msg), rinfo) });
  const a = await server.listen(0, '127.0.0.1');
  return { server, port: a.port };
}

describe('UdpServer sends', () => {
  it('answers every request, checked or not', async () => {
    const stats = new Stats();
    const { port } = await echoServer(stats);
    const client = dgram.createSocket('udp4');
    await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
    const got = new Set<number>();
    const all = new Promise<void>((resolve) => {
      client.on('message', (m) => {
        got.add(m.readUInt32BE(4));
        if (got.size === 200) resolve();
      });
    });
    for (let i = 0; i < 200; i++) {
      const b = Buffer.alloc(8);
      b.write('ECHO', 0, 'latin1');
      b.writeUInt32BE(i, 4);
      client.send(b, port, '127.0.0.1');
      if (i % 20 === 19) await new Promise((r) => setTimeout(r, 5));
    }
    await all;
    client.close();
    expect(got.size).toBe(200);
    expect(stats.sendErrors).toBe(0);
  });

  it('counts failed sends: the first checked one, then every one', async () => {
    const stats = new Stats();
    const { server } = await echoServer(stats);
    // An IPv6 destination on an IPv4 socket: every sendmsg fails at once.
    const to = { address: '::1', port: 9, family: 'IPv6' as const, size: 0 };
    // One send per turn of the event loop, as replies go out (one per datagram handled).
    for (let i = 0; i < 200; i++) {
      server.send(Buffer.from('x'), to);
      await new Promise((r) => setImmediate(r));
    }
    await new Promise((r) => setTimeout(r, 50));
    // Sends before the first checked one (at most 31) go unseen; from it on, all are counted.
    expect(stats.sendErrors).toBeGreaterThanOrEqual(200 - 31);
    expect(stats.sendErrors).toBeLessThanOrEqual(200);
  });
});

describe('UdpServer: replies leave at the end of the turn', () => {
  async function receiver(): Promise<{ sock: dgram.Socket; port: number; got: string[] }> {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const got: string[] = [];
    sock.on('message', (m) => got.push(m.toString()));
    return { sock, port: sock.address().port, got };
  }
  const until = async (cond: () => boolean) => {
    for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  };

  it('queued in one turn, sent after it, in order; a send refused at once is counted and the rest still go', async () => {
    const stats = new Stats();
    const errors: Error[] = [];
    const server = new UdpServer(stats, (e) => errors.push(e));
    servers.push(server);
    await server.listen(0, '127.0.0.1');
    const r = await receiver();
    const to = { address: '127.0.0.1', port: r.port, family: 'IPv4' as const, size: 0 };
    server.send(Buffer.from('one'), to);
    // Port 0: dgram refuses it before anything is sent.
    server.send(Buffer.from('refused'), { ...to, port: 0 });
    server.send(Buffer.from('two'), to);
    // Still in this turn: queued, nothing tried yet.
    expect(stats.sendErrors).toBe(0);
    await new Promise((res) => setImmediate(res));
    expect(stats.sendErrors).toBe(1);
    expect(errors).toHaveLength(1);
    await until(() => r.got.length === 2);
    r.sock.close();
    expect(r.got).toEqual(['one', 'two']);
  });

  it('a queued reply waits for at most 16 more datagrams of its turn (a flood that gets no reply included)', async () => {
    const errors: Error[] = [];
    const server = new UdpServer(new Stats(), (e) => errors.push(e));
    servers.push(server);
    // The first datagram gets a reply (refused when sent: onError tells when); the others none.
    const seen: number[] = [];
    server.route({
      magic: magicOf('ECHO'),
      maxBytes: 64,
      handler: () => {
        if (seen.length === 0) server.send(Buffer.from('refused'), { address: '127.0.0.1', port: 0, family: 'IPv4', size: 0 });
        seen.push(errors.length);
      },
    });
    const { port } = await server.listen(0, '127.0.0.1');
    const client = dgram.createSocket('udp4');
    await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
    // Sent in one burst: they wait in the socket together and are read in one turn.
    const sent = Array.from({ length: 20 }, () => new Promise<void>((r) => client.send(Buffer.from('ECHO'), port, '127.0.0.1', () => r())));
    await Promise.all(sent);
    await until(() => seen.length === 20);
    client.close();
    // The reply had left when the 17th datagram was handled (read in the same turn, it would
    // otherwise wait for the turn's end; in an earlier turn, it left at that turn's end).
    expect(seen[16]).toBe(1);
  });

  it("a slice of long work sends the turn's replies first", async () => {
    const errors: Error[] = [];
    const server = new UdpServer(new Stats(), (e) => errors.push(e));
    servers.push(server);
    await server.listen(0, '127.0.0.1');
    // A reply refused when sent: onError tells when the queue was sent.
    server.send(Buffer.from('refused'), { address: '127.0.0.1', port: 0, family: 'IPv4', size: 0 });
    let seenBySlice = -1;
    function* work(): Generator<void, void> {
      seenBySlice = errors.length;
      yield;
    }
    // runSliced starts its first slice at once, before this turn ends.
    await runSliced(work());
    expect(seenBySlice).toBe(1);
  });
});
