#!/usr/bin/env node
// qconf: the command line client. Each command's operands, options and exit codes are in its
// table (spec.ts), from which its help is made.
import { QconfError } from '../../shared/errors.js';
import { CliExit, closest, parseArgs } from './args.js';
import { COMMANDS, allSpecs } from './commands.js';
import { EXIT, type Io } from './common.js';

export async function run(argv: string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const { mainHelp } = await import('./help.js');
    io.out(mainHelp(await allSpecs()));
    return name === undefined ? EXIT.USAGE : EXIT.OK;
  }
  if (name === '--version') {
    // Loaded here: every module a `qconf get` imports costs it start-up time.
    const { VERSION } = await import('../../shared/version.js');
    io.out(VERSION + '\n');
    return EXIT.OK;
  }
  const load = Object.prototype.hasOwnProperty.call(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!load) {
    const near = closest(name, Object.keys(COMMANDS));
    io.err(`qconf: unknown command ${JSON.stringify(name)}${near ? `; did you mean ${near}?` : ''}\nTry 'qconf --help'.\n`);
    return EXIT.USAGE;
  }
  const cmd = await load();
  const end = rest.indexOf('--');
  const flags = end < 0 ? rest : rest.slice(0, end);
  if (flags.includes('--help') || flags.includes('-h')) {
    const { commandHelp } = await import('./help.js');
    io.out(commandHelp(cmd.spec));
    return EXIT.OK;
  }
  try {
    return await cmd.run(parseArgs(rest, cmd.spec, io.env), io);
  } catch (e) {
    // The library reports bad arguments (e.g. a coverage above the peer count) as usage errors.
    const exit = e instanceof CliExit ? e : e instanceof QconfError && e.code === 'usage' ? new CliExit(EXIT.USAGE, e.message) : undefined;
    if (exit) {
      io.err(`qconf: ${exit.message}\n`);
      if (exit.exitCode === EXIT.USAGE) io.err(`Try 'qconf ${name} --help'.\n`);
      return exit.exitCode;
    }
    io.err(`qconf: ${(e as Error).message}\n`);
    return EXIT.FAILURE;
  }
}

// A closed stdout (`qconf watch PATH | head -1`) ends the command quietly, as any Unix filter.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

const io: Io = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  env: process.env,
  isTty: process.stdout.isTTY === true,
};

run(process.argv.slice(2), io).then((code) => {
  process.exitCode = code;
});
