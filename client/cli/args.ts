// Reading a command line against its command's table (spec.ts): flags, then their variables,
// then their defaults; and the values every command checks the same way (numbers, coverage,
// JSON pointers). Every mistake is a usage error (exit 2) that says what to type instead.
import { closest } from '../../shared/closest-name.js';
import { EXIT, type CommandSpec, type OptionDef } from './spec.js';

export { closest };

/** A command's failure: the exit code it ends with, and the message for stderr. */
export class CliExit extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}

export function usageError(message: string): CliExit {
  return new CliExit(EXIT.USAGE, message);
}

export type Source = 'flag' | 'env' | 'default';

export interface Parsed {
  /** Each option's value: the flag's, else its variable's, else its default (or undefined). */
  values: Record<string, string | boolean | string[] | undefined>;
  /** Where each value came from (absent: nowhere). */
  from: Record<string, Source>;
  positionals: string[];
  /** The words after `--`, for a command whose table has `trailing` (else they are operands). */
  trailing?: string[];
}

function unknownOption(arg: string, spec: CommandSpec): CliExit {
  const word = arg.replace(/^-+/, '').split('=')[0];
  const near = closest(word, spec.options.map((o) => o.name));
  return usageError(`unknown option ${arg.split('=')[0]} for qconf ${spec.name}${near ? `; did you mean --${near}?` : ''}`);
}

function usageLines(spec: CommandSpec): string {
  return `usage: ${spec.usage.map((u) => `qconf ${spec.name} ${u}`).join('\n       ')}`;
}

/** Parse `args` by `spec`; `env` supplies the options' variables. */
export function parseArgs(args: readonly string[], spec: CommandSpec, env: NodeJS.ProcessEnv): Parsed {
  const byName = new Map<string, OptionDef>();
  for (const o of spec.options) {
    byName.set(o.name, o);
    if (o.short) byName.set(o.short, o);
  }
  const given: Record<string, string | boolean | string[]> = {};
  const positionals: string[] = [];
  let trailing: string[] | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--') {
      if (spec.trailing) trailing = args.slice(i + 1);
      else positionals.push(...args.slice(i + 1));
      break;
    }
    // A lone "-" is an operand (standard input, for publish).
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    const long = arg.startsWith('--');
    const eq = arg.indexOf('=');
    const name = long ? arg.slice(2, eq < 0 ? undefined : eq) : arg.slice(1);
    const def = long ? byName.get(name) : name.length === 1 ? byName.get(name) : undefined;
    if (def === undefined || (long && def.name !== name)) throw unknownOption(arg, spec);
    let value: string | boolean = true;
    if (def.arg === undefined) {
      if (eq >= 0) throw usageError(`--${def.name} takes no value (${arg})`);
    } else if (eq >= 0) {
      value = arg.slice(eq + 1);
    } else {
      if (i + 1 >= args.length) throw usageError(`--${def.name} needs a value: --${def.name} ${def.arg}`);
      value = args[++i];
    }
    if (def.multiple) given[def.name] = [...((given[def.name] as string[] | undefined) ?? []), value as string];
    else given[def.name] = value;
  }
  const values: Parsed['values'] = {};
  const from: Record<string, Source> = {};
  for (const o of spec.options) {
    const env1 = o.env ? env[o.env] : undefined;
    if (given[o.name] !== undefined) [values[o.name], from[o.name]] = [given[o.name], 'flag'];
    else if (env1 !== undefined && env1 !== '') [values[o.name], from[o.name]] = [o.multiple ? [env1] : env1, 'env'];
    else if (o.default !== undefined) [values[o.name], from[o.name]] = [o.multiple ? [o.default] : o.default, 'default'];
  }
  const [min, max] = spec.positionals;
  if (positionals.length < min || positionals.length > max) {
    const what = positionals.length < min ? 'missing operand' : `unexpected operand ${JSON.stringify(positionals[max])}`;
    throw usageError(`${what}\n${usageLines(spec)}`);
  }
  if (trailing !== undefined && trailing.length === 0) throw usageError(`nothing to run after --\n${usageLines(spec)}`);
  return trailing === undefined ? { values, from, positionals } : { values, from, positionals, trailing };
}

/** How an option is named in a message: its flag, and its variable when the value came from there. */
export function optionName(p: Parsed, name: string, spec?: CommandSpec): string {
  const env = spec?.options.find((o) => o.name === name)?.env;
  return p.from[name] === 'env' && env ? `--${name} (from ${env})` : `--${name}`;
}

/** A string option's value (undefined when not given and without a default). */
export function stringOf(p: Parsed, name: string): string | undefined {
  const v = p.values[name];
  return typeof v === 'string' ? v : Array.isArray(v) ? v[v.length - 1] : undefined;
}

/** A whole number from `text` within [min, max], or a usage error naming the option. */
export function wholeNumber(text: string, label: string, min: number, max = Number.MAX_SAFE_INTEGER, unit = ''): number {
  const range = max === Number.MAX_SAFE_INTEGER ? `${min} or more` : `${min} to ${max}`;
  if (!/^[0-9]+$/.test(text)) throw usageError(`${label}: ${JSON.stringify(text)} is not a whole number${unit}; give ${range}`);
  const n = Number(text);
  if (n < min || n > max) throw usageError(`${label}: ${n} is out of range; give ${range}${unit}`);
  return n;
}

/** A numeric option with a value (its default, at least), as a number. */
export function numberOption(p: Parsed, name: string, min: number, max?: number, unit = ''): number {
  return wholeNumber(stringOf(p, name) as string, optionName(p, name), min, max, unit);
}

const DURATION_UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration option (a whole number with s, m, h or d: 90s, 12h, 30d), in milliseconds. */
export function durationOption(p: Parsed, name: string): number {
  const text = stringOf(p, name) as string;
  const m = /^([0-9]{1,9})([smhd])$/.exec(text);
  if (!m || Number(m[1]) === 0) throw usageError(`${optionName(p, name)}: ${JSON.stringify(text)} is not a duration; give a whole number above 0 with s, m, h or d (90s, 12h, 30d)`);
  return Number(m[1]) * DURATION_UNITS[m[2]];
}

/** --coverage: undefined (the default), -1 (all), or how many daemons to ask. */
export function coverageOption(p: Parsed): number | undefined {
  const v = stringOf(p, 'coverage');
  if (v === undefined) return undefined;
  if (v === 'all') return -1;
  if (v === '0') throw usageError('--coverage: 0 would ask no daemon; give 1 to the number of peers, or all');
  if (!/^[0-9]+$/.test(v)) throw usageError(`--coverage: ${JSON.stringify(v)} is neither a number of daemons (1 to the number of peers) nor all`);
  return Number(v);
}

/**
 * A JSON pointer operand, as the daemons take it: "/" and "" are the whole document; any other
 * must start with "/" (a path without it is a usage error suggesting the slashed form).
 */
export function pathOperand(text: string): string {
  if (text === '/' || text === '') return '';
  if (text.startsWith('/')) return text;
  throw usageError(`path ${JSON.stringify(text)} does not start with "/"; JSON pointers do: did you mean /${text}?`);
}
