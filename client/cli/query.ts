// qconf get, mget and list: quorum reads of values and of keys.
import type { MgetEntry } from '../types.js';
import { numberOption, pathOperand } from './args.js';
import { EXIT, errorText, finish, formatValue, type Command } from './common.js';
import { queryFlags, withClient } from './connect.js';
import { HELP_OPTION, PATH_OPERAND, QUERY_TIMEOUT_MS, peerOptions, queryExits, type OptionDef } from './spec.js';

const QUERY_OPTIONS: OptionDef[] = [...peerOptions({ timeoutMs: QUERY_TIMEOUT_MS, json: 'print the whole quorum result as JSON', trust: true }), HELP_OPTION];

export const getCommand: Command = {
  spec: {
    name: 'get',
    summary: 'print the value at a JSON pointer (a string raw, anything else as JSON)',
    usage: ['PATH [options]'],
    operands: [PATH_OPERAND],
    positionals: [1, 1],
    options: QUERY_OPTIONS,
    exits: queryExits('a quorum answered; the value is printed', 'a quorum has no value at PATH'),
    examples: ['qconf get /cluster/master', 'qconf get /nodes/node1 --json'],
  },
  run: async (p, io) => {
    const path = pathOperand(p.positionals[0]);
    const f = queryFlags(p);
    return withClient(p, io, async (client) => finish(await client.get(path, f), f.json, io, (a) => io.out(formatValue(a, io) + '\n')));
  },
};

export const mgetCommand: Command = {
  spec: {
    name: 'mget',
    summary: 'print several values, one JSON line per path (null for a missing one)',
    usage: ['PATH... [options]'],
    operands: [['PATH...', 'up to 64 JSON pointers, answered together from one serial']],
    positionals: [1, 64],
    options: QUERY_OPTIONS,
    exits: queryExits('a quorum answered and every path has a value', 'a quorum answered and some path has no value (its line is null, its name on stderr)'),
    examples: ['qconf mget /cluster/master /cluster/name'],
  },
  run: async (p, io) => {
    const paths = p.positionals.map(pathOperand);
    const f = queryFlags(p);
    return withClient(p, io, async (client) => {
      let missing = false;
      let forbidden = false;
      const code = finish(await client.mget(paths, f), f.json, io, (a) => {
        (a as MgetEntry[]).forEach((e, i) => {
          if (e.status === 0) return io.out(JSON.stringify(e.answer) + '\n');
          missing = true;
          // A path outside the key's scope is no missing value: the key may not read it.
          if (e.error?.code === 'forbidden') forbidden = true;
          io.err(`qconf: ${p.positionals[i]}: ${errorText(e.error ?? { code: 'error', message: '' }, io)}\n`);
          io.out('null\n');
        });
      });
      return code !== EXIT.OK ? code : forbidden ? EXIT.FAILURE : missing ? EXIT.NOT_FOUND : code;
    });
  },
};

export const listCommand: Command = {
  spec: {
    name: 'list',
    summary: 'print the sorted child keys of an object or array, one per line',
    usage: ['PATH [--depth N] [options]'],
    operands: [PATH_OPERAND],
    positionals: [1, 1],
    options: [{ name: 'depth', arg: 'N', default: '1', doc: 'list this many levels down (1 to 16); deeper keys print as a/b' }, ...QUERY_OPTIONS],
    exits: queryExits('a quorum answered; the keys are printed', 'a quorum has no value at PATH'),
    examples: ['qconf list /nodes', 'qconf list / --depth 2'],
  },
  run: async (p, io) => {
    const path = pathOperand(p.positionals[0]);
    const depth = numberOption(p, 'depth', 1, 16);
    const f = queryFlags(p);
    return withClient(p, io, async (client) =>
      finish(await client.list(path, depth, f), f.json, io, (a) => {
        for (const k of a as string[]) io.out(k + '\n');
      }),
    );
  },
};
