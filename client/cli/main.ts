#!/usr/bin/env node
// qconf: the command line client. Exit codes are documented in COMMON_HELP.
import { QconfError } from '../../shared/errors.js';
import { CliExit, COMMON_HELP, EXIT, type Io } from './common.js';
import { COMMANDS, type Command } from './commands.js';

async function mainHelp(): Promise<string> {
  const lines = ['Usage: qconf COMMAND [arguments] [options]', '', 'Commands:'];
  for (const [name, load] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(8)} ${(await load()).summary}`);
  lines.push(
    '',
    "Run 'qconf COMMAND --help' for a command's arguments and examples.",
    'Bash completion: completions/qconf in the package (README, "Run as a service").',
    '',
    COMMON_HELP,
  );
  return lines.join('\n') + '\n';
}

function commandHelp(name: string, c: Command): string {
  return [`Usage: ${c.usage}`, '', c.summary, '', 'Examples:', ...c.examples.map((e) => '  ' + e), '', COMMON_HELP].join('\n') + '\n';
}

export async function run(argv: string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(await mainHelp());
    return name === undefined ? EXIT.USAGE : EXIT.OK;
  }
  if (name === '--version') {
    // Loaded here: every module a `qconf get` imports costs it start-up time.
    const { VERSION } = await import('../../shared/version.js');
    io.out(VERSION + '\n');
    return EXIT.OK;
  }
  const load = Object.prototype.hasOwnProperty.call(COMMANDS, name) ? COMMANDS[name] : undefined;
  const cmd = load ? await load() : undefined;
  if (!cmd) {
    io.err(`qconf: unknown command ${JSON.stringify(name)}\nTry 'qconf --help'.\n`);
    return EXIT.USAGE;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(commandHelp(name, cmd));
    return EXIT.OK;
  }
  try {
    return await cmd.run(rest, io);
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
