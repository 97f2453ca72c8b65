// The qconf commands over QCF1: get, mget, list, stats, keygen here; ping, wait, watch, publish
// and ganeti in their own modules, loaded only when they run (or for the help text): a `qconf
// get` compiles no more code than it needs, which is most of its start-up time.
import { writeFileSync } from 'node:fs';
import { generateKeyText } from '../../shared/keyring.js';
import { CliExit, EXIT, commonOptions, finish, formatValue, intArg, makeClient, parse, type Command, type Io } from './common.js';

export type { Command };


async function withClient<T>(args: string[], io: Io, extra: Parameters<typeof parse>[1], body: (p: ReturnType<typeof parse>, client: ReturnType<typeof makeClient>) => Promise<T>): Promise<T> {
  const p = parse(args, extra);
  const client = makeClient(p, io);
  try {
    return await body(p, client);
  } finally {
    client.close();
  }
}

function needPositionals(positionals: string[], min: number, max: number, usage: string): void {
  if (positionals.length < min || positionals.length > max) throw new CliExit(EXIT.USAGE, `usage: ${usage}`);
}

const BUILTIN: Record<string, Command> = {
  get: {
    summary: 'print the value at a JSON pointer',
    usage: 'qconf get PATH [options]',
    examples: ['qconf get /cluster/master', 'qconf get /nodes/node1 --json'],
    run: (args, io) =>
      withClient(args, io, {}, async (p, client) => {
        needPositionals(p.positionals, 1, 1, BUILTIN.get.usage);
        const c = commonOptions(p, io);
        const r = await client.get(p.positionals[0], c);
        return finish(r, c, io, (a) => io.out(formatValue(a, io) + '\n'));
      }),
  },
  mget: {
    summary: 'print several values, one JSON line per path (null for a missing one; exit 1)',
    usage: 'qconf mget PATH... [options]',
    examples: ['qconf mget /cluster/master /cluster/name'],
    run: (args, io) =>
      withClient(args, io, {}, async (p, client) => {
        needPositionals(p.positionals, 1, 64, BUILTIN.mget.usage);
        const c = commonOptions(p, io);
        const r = await client.mget(p.positionals, c);
        let missing = false;
        const code = finish(r, c, io, (a) => {
          const entries = a as Array<{ status: number; answer?: unknown; error?: { code: string; message: string } }>;
          entries.forEach((e, i) => {
            if (e.status === 0) return io.out(JSON.stringify(e.answer) + '\n');
            missing = true;
            io.err(`qconf: ${p.positionals[i]}: ${e.error?.code ?? 'error'}: ${e.error?.message ?? ''}\n`);
            io.out('null\n');
          });
        });
        return code === EXIT.OK && missing ? EXIT.NOT_FOUND : code;
      }),
  },
  list: {
    summary: 'print the sorted child keys of an object or array, one per line',
    usage: 'qconf list PATH [--depth N] [options]',
    examples: ['qconf list /nodes', 'qconf list / --depth 2'],
    run: (args, io) =>
      withClient(args, io, { depth: { type: 'string' } }, async (p, client) => {
        needPositionals(p.positionals, 1, 1, BUILTIN.list.usage);
        const c = commonOptions(p, io);
        const depth = typeof p.values.depth === 'string' ? intArg(p.values.depth, 'depth', 1) : 1;
        const r = await client.list(p.positionals[0], depth, c);
        return finish(r, c, io, (a) => {
          for (const k of a as string[]) io.out(k + '\n');
        });
      }),
  },
  stats: {
    summary: "print a daemon's counters",
    usage: 'qconf stats [options]',
    examples: ['qconf stats --peers 127.0.0.1 --coverage 1'],
    run: (args, io) =>
      withClient(args, io, {}, async (p, client) => {
        needPositionals(p.positionals, 0, 0, BUILTIN.stats.usage);
        const c = commonOptions(p, io);
        const r = await client.query({ op: 'stats' }, c);
        return finish(r, c, io, (a) => io.out(JSON.stringify(a, null, 2) + '\n'));
      }),
  },
  keygen: {
    summary: 'write a fresh key (64 hex digits); --out FILE creates FILE with mode 0600 and never overwrites',
    usage: 'qconf keygen [--out FILE]',
    examples: ['qconf keygen --out /etc/qconf/qconf.key'],
    run: async (args, io) => {
      const p = parse(args, { out: { type: 'string' } });
      needPositionals(p.positionals, 0, 0, BUILTIN.keygen.usage);
      const key = generateKeyText() + '\n';
      const out = p.values.out;
      if (typeof out !== 'string') {
        io.out(key);
        return EXIT.OK;
      }
      try {
        writeFileSync(out, key, { mode: 0o600, flag: 'wx' });
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        throw new CliExit(EXIT.FAILURE, `${out}: ${code === 'EEXIST' ? 'already exists; refusing to overwrite a key' : `cannot write (${code})`}`);
      }
      io.err(`qconf: wrote a new key to ${out}\n`);
      return EXIT.OK;
    },
  },
};

/** Every command, in help order, as a loader of its definition. */
export const COMMANDS: Record<string, () => Promise<Command>> = {
  get: async () => BUILTIN.get,
  mget: async () => BUILTIN.mget,
  list: async () => BUILTIN.list,
  ping: async () => (await import('./ping.js')).pingCommand,
  stats: async () => BUILTIN.stats,
  keygen: async () => BUILTIN.keygen,
  wait: async () => (await import('./wait.js')).waitCommand,
  watch: async () => (await import('./wait.js')).watchCommand,
  publish: async () => (await import('./publish.js')).publishCommand,
  ganeti: async () => (await import('./ganeti.js')).ganetiCommand,
};
