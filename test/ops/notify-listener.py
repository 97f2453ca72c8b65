#!/usr/bin/python3
# A stand-in for systemd's notification socket, for the tests: an AF_UNIX SOCK_DGRAM socket
# bound at argv[1]. Every datagram is printed on stdout as one JSON line
# {"msg": text, "fds": n, "pid": sender pid or null}. File descriptors passed with SCM_RIGHTS
# (sd_notify_barrier's BARRIER=1) are closed at once, which is how PID 1 answers a barrier.
# "LISTENING" is printed once the socket is bound. Stops on SIGTERM or when stdin closes.
import array
import json
import os
import select
import signal
import socket
import sys

path = sys.argv[1]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
sock.bind(path)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print("LISTENING", flush=True)

fd_size = array.array("i").itemsize
ancillary = socket.CMSG_SPACE(16 * fd_size) + socket.CMSG_SPACE(3 * 4)
while True:
    ready, _, _ = select.select([sock, sys.stdin], [], [])
    if sys.stdin in ready and not sys.stdin.buffer.read1(4096):
        break
    if sock not in ready:
        continue
    data, anc, _flags, _addr = sock.recvmsg(65536, ancillary)
    fds = []
    pid = None
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            a = array.array("i")
            a.frombytes(payload[: len(payload) - (len(payload) % fd_size)])
            fds.extend(a)
        elif level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = int.from_bytes(payload[0:4], sys.byteorder)
    for fd in fds:
        os.close(fd)
    print(json.dumps({"msg": data.decode("utf-8", "replace"), "fds": len(fds), "pid": pid}), flush=True)
