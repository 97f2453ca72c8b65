// Who holds a UDP port, as far as this host tells (Linux: the sockets in /proc/net/udp{,6}, and
// the processes whose descriptors name them): for a message that says what to stop.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

/** Socket inodes bound to UDP `port`, on any address. */
function socketInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const table of ['/proc/net/udp', '/proc/net/udp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 9 && f[1].endsWith(hex)) inodes.add(f[9]);
    }
  }
  return inodes;
}

/**
 * "pid 1234 (node /usr/bin/qconfd)" for the process holding UDP `port`; "another process" when
 * the port is bound but its holder is hidden (another user's); undefined when nothing tells.
 */
export function udpPortHolder(port: number): string | undefined {
  const inodes = socketInodes(port);
  if (inodes.size === 0) return undefined;
  let pids: string[] = [];
  try {
    pids = readdirSync('/proc').filter((p) => /^[0-9]+$/.test(p) && Number(p) !== process.pid);
  } catch {
    return 'another process';
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (!m || !inodes.has(m[1])) continue;
      let name = '?';
      try {
        name = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, 2).join(' ').trim().slice(0, 100);
      } catch {
        /* gone */
      }
      return `pid ${pid} (${name})`;
    }
  }
  return 'another process';
}
