// The ceiling for a Node UDP daemon on this machine: a bare node:dgram echo server, the same
// socket options as qconfd's (4 MB buffers, udp4 on 127.0.0.1), replying to each datagram with
// its own bytes. Prints its port on stdout, then serves until killed.
//
// node dist/bench/echo-server.js [--port N]
import dgram from 'node:dgram';

const i = process.argv.indexOf('--port');
const port = i >= 0 ? Number(process.argv[i + 1]) : 0;
const sock = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
sock.on('message', (msg, rinfo) => {
  sock.send(msg, rinfo.port, rinfo.address);
});
sock.bind(port, '127.0.0.1', () => {
  process.stdout.write(`${sock.address().port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
