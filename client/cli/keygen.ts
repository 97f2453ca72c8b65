// qconf keygen: a fresh key, to stdout or to a new file of mode 0600 (never over an existing one).
import { writeFileSync } from 'node:fs';
import { generateKeyText } from '../../shared/keyring.js';
import { CliExit, stringOf } from './args.js';
import { EXIT, type Command } from './common.js';
import { EXITS, HELP_OPTION } from './spec.js';

export const keygenCommand: Command = {
  spec: {
    name: 'keygen',
    summary: 'write a fresh key (64 hex digits); --out FILE creates FILE with mode 0600 and never overwrites',
    usage: ['[--out FILE]'],
    operands: [],
    positionals: [0, 0],
    options: [{ name: 'out', arg: 'FILE', doc: 'create FILE (mode 0600) instead of printing the key; an existing FILE is left alone' }, HELP_OPTION],
    exits: [{ code: EXIT.OK, when: 'the key was printed or written' }, EXITS.usage, { code: EXIT.FAILURE, when: 'FILE exists already, or cannot be written (its directory missing, no permission)' }],
    examples: ['qconf keygen --out /etc/qconf/qconf.key'],
  },
  run: async (p, io) => {
    const key = generateKeyText() + '\n';
    const out = stringOf(p, 'out');
    if (out === undefined) {
      io.out(key);
      return EXIT.OK;
    }
    try {
      writeFileSync(out, key, { mode: 0o600, flag: 'wx' });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const why = code === 'EEXIST' ? 'already exists; refusing to overwrite a key' : code === 'ENOENT' ? 'its directory does not exist' : `cannot be written (${code})`;
      throw new CliExit(EXIT.FAILURE, `${out}: ${why}`);
    }
    io.err(`qconf: wrote a new key to ${out}\n`);
    return EXIT.OK;
  },
};
