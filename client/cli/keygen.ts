// qconf keygen: a fresh shared key (to stdout, or a new file of mode 0600), or with --signing a
// publisher's signing key and its public key (FILE and FILE.pub); never over an existing file.
// The new key's id goes to stderr. qconf key-id: the ids of the keys in key files.
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { generateKeyText, makeKey, parseKeyText } from '../../shared/keyring.js';
import { SIGNING_KEY_HEADER, TrustKeys, generateSigningKey, loadSigningKey, signingKeyText } from '../../shared/signing.js';
import { CliExit, stringOf, usageError } from './args.js';
import { EXIT, type Command } from './common.js';
import { EXITS, HELP_OPTION } from './spec.js';

/** Create `path` with `text` (mode `mode`), never replacing a file; a failure names why. */
function createFile(path: string, text: string, mode: number): void {
  try {
    writeFileSync(path, text, { mode, flag: 'wx' });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'EEXIST' ? 'already exists; refusing to overwrite a key' : code === 'ENOENT' ? 'its directory does not exist' : `cannot be written (${code})`;
    throw new CliExit(EXIT.FAILURE, `${path}: ${why}`);
  }
}

export const keygenCommand: Command = {
  spec: {
    name: 'keygen',
    summary: 'write a fresh shared key (64 hex digits), or with --signing a signing key and its public key; --out FILE creates FILE with mode 0600 and never overwrites; the key id goes to stderr',
    usage: ['[--out FILE]', '--signing --out FILE'],
    operands: [],
    positionals: [0, 0],
    options: [
      { name: 'out', arg: 'FILE', doc: 'create FILE (mode 0600) instead of printing the key; an existing FILE is left alone' },
      { name: 'signing', doc: "make a publisher's Ed25519 signing key: FILE (secret, mode 0600) and FILE.pub (its public key, for --trust-key)" },
      HELP_OPTION,
    ],
    exits: [{ code: EXIT.OK, when: 'the key was printed or written' }, EXITS.usage, { code: EXIT.FAILURE, when: 'FILE (or FILE.pub) exists already, or cannot be written (its directory missing, no permission)' }],
    examples: ['qconf keygen --out /etc/qconf/qconf.key', 'qconf keygen --signing --out /etc/qconf/publisher.key'],
  },
  run: async (p, io) => {
    const out = stringOf(p, 'out');
    if (p.values.signing === true) {
      if (out === undefined) throw usageError('--signing needs --out FILE: the secret key goes to FILE, its public key to FILE.pub');
      const key = generateSigningKey();
      const text = signingKeyText(key);
      createFile(out, text.secret, 0o600);
      try {
        createFile(`${out}.pub`, text.public, 0o644);
      } catch (e) {
        // Both or neither: a secret key without its public one would be made again anyway.
        unlinkSync(out);
        throw e;
      }
      io.err(`qconf: wrote a new signing key (id ${key.id}) to ${out} and its public key to ${out}.pub\n`);
      return EXIT.OK;
    }
    const key = generateKeyText();
    const id = makeKey(Buffer.from(key, 'utf8')).idHex;
    if (out === undefined) {
      io.out(key + '\n');
      io.err(`qconf: key id ${id}\n`);
      return EXIT.OK;
    }
    createFile(out, key + '\n', 0o600);
    io.err(`qconf: wrote a new key (id ${id}) to ${out}\n`);
    return EXIT.OK;
  },
};

/** The ids of a file's keys: a keyring's, a trust file's, or a signing key's (its public key's id). */
function idsOf(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new CliExit(EXIT.FAILURE, `${path}: cannot be read (${(e as NodeJS.ErrnoException).code})`);
  }
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '' && !l.startsWith('#'));
  try {
    if (text.startsWith(SIGNING_KEY_HEADER)) return [`${loadSigningKey(path).id} signing`];
    // Public keys are 64 hex digits too: a trust file names itself by its .pub suffix.
    if (path.endsWith('.pub')) return TrustKeys.fromHex(lines).keys.map((k) => `${k.id} public`);
    return parseKeyText(text, path).map((k) => `${k.idHex} shared`);
  } catch (e) {
    throw new CliExit(EXIT.FAILURE, `${path}: ${(e as Error).message}`);
  }
}

export const keyIdCommand: Command = {
  spec: {
    name: 'key-id',
    summary: 'print the id of every key in key files (shared keys, trust files FILE.pub, signing keys), one a line: ID KIND FILE',
    usage: ['FILE...'],
    operands: [['FILE...', 'key files: a keyring, a trust file (*.pub) or a signing key']],
    positionals: [1, 64],
    options: [HELP_OPTION],
    exits: [{ code: EXIT.OK, when: 'every file was read; the ids are printed' }, EXITS.usage, { code: EXIT.FAILURE, when: 'a file cannot be read or holds no valid key' }],
    examples: ['qconf key-id /etc/qconf/qconf.key', 'qconf key-id /etc/qconf/trust.pub'],
  },
  run: async (p, io) => {
    for (const f of p.positionals) for (const line of idsOf(f)) io.out(`${line} ${f}\n`);
    return EXIT.OK;
  },
};
