// qconf sign, and the signing options publish shares: a document signed by the publisher's key
// (docs/protocol.md, "Verified answers") over its commitment, its serial and an expiry.
import { valueHash } from '../../shared/commitment.js';
import { writeFileAtomic } from '../../shared/atomic-file.js';
import { loadSigningKey, signDocument, type SigningKey } from '../../shared/signing.js';
import { CliExit, durationOption, stringOf, usageError, wholeNumber, type Parsed } from './args.js';
import { EXIT, type Command } from './common.js';
import { PublishError, ownSerial } from './publish-to.js';
import { readDocument } from './document-file.js';
import { EXITS, HELP_OPTION, type OptionDef } from './spec.js';

export const SIGN_OPTIONS: OptionDef[] = [
  { name: 'sign-key', arg: 'FILE', env: 'QCONF_SIGN_KEY', doc: 'sign the document with the signing key in FILE (qconf keygen --signing)' },
  { name: 'valid-for', arg: 'DURATION', default: '30d', doc: 'how long the signature is valid: a number with s, m, h or d; daemons and clients refuse it after that' },
];

/** Signs documents: the key and how long its signatures are valid for. */
export interface Signer {
  key: SigningKey;
  validForMs: number;
  /** `doc` signed for `serial`. */
  sign(doc: Record<string, unknown>, serial: number): Record<string, unknown>;
}

const MAX_VALID_FOR_MS = 36_500 * 86_400_000;

/** The signer from --sign-key and --valid-for; undefined without --sign-key. */
export function signerFrom(p: Parsed): Signer | undefined {
  const file = stringOf(p, 'sign-key');
  if (file === undefined) {
    if (p.from['valid-for'] === 'flag') throw usageError('--valid-for goes with --sign-key');
    return undefined;
  }
  const validForMs = durationOption(p, 'valid-for');
  // A signature past any date a clock can hold would outlive every key rotation: 100 years at most.
  if (validForMs > MAX_VALID_FOR_MS) throw usageError(`--valid-for: ${stringOf(p, 'valid-for')} is longer than 100 years (36500d)`);
  let key: SigningKey;
  try {
    key = loadSigningKey(file);
  } catch (e) {
    throw new CliExit(EXIT.FAILURE, (e as Error).message);
  }
  return { key, validForMs, sign: (doc, serial) => signDocument(doc, key, (v) => valueHash(v).hash, { serial, validForMs }) };
}

export const signCommand: Command = {
  spec: {
    name: 'sign',
    summary: 'print a JSON document signed with a signing key (its qconf_signature member added), for pipelines that write the replicas themselves',
    usage: ['FILE --sign-key FILE [--serial N] [--valid-for DURATION] [--out PATH]'],
    operands: [['FILE', 'the JSON document (an object; "-" reads standard input); its serial_no is the signed serial']],
    positionals: [1, 1],
    options: [
      ...SIGN_OPTIONS,
      { name: 'serial', arg: 'N', doc: "set the document's serial_no to N and sign that" },
      { name: 'out', arg: 'PATH', doc: 'replace PATH atomically with the signed document instead of printing it' },
      HELP_OPTION,
    ],
    exits: [
      { code: EXIT.OK, when: 'the signed document was printed or written' },
      EXITS.usage,
      { code: EXIT.FAILURE, when: 'the document (unreadable, not a JSON object, serial_no not a whole number, a key of a large object with a lone surrogate) or the signing key file (missing, unreadable, readable by others, a public key file) was refused, or PATH cannot be written or is no regular file' },
    ],
    examples: ['qconf sign cluster.json --sign-key /etc/qconf/publisher.key --out /var/lib/qconf/cluster.json', 'generate-config | qconf sign - --sign-key publisher.key --serial 42 > cluster.json'],
  },
  run: async (p, io) => {
    if (stringOf(p, 'sign-key') === undefined) throw usageError('give --sign-key FILE (or set QCONF_SIGN_KEY): the key to sign with');
    const serialFlag = stringOf(p, 'serial');
    const serialGiven = serialFlag === undefined ? undefined : wholeNumber(serialFlag, '--serial', 0);
    const signer = signerFrom(p) as Signer;
    const doc = readDocument(p.positionals[0]);
    let serial: number;
    try {
      serial = serialGiven ?? ownSerial(doc);
    } catch (e) {
      throw new CliExit(EXIT.FAILURE, (e as PublishError).message);
    }
    const text = JSON.stringify(signer.sign({ ...doc, serial_no: serial }, serial), null, 2) + '\n';
    const out = stringOf(p, 'out');
    if (out === undefined) {
      io.out(text);
      return EXIT.OK;
    }
    try {
      writeFileAtomic(out, text);
    } catch (e) {
      throw new CliExit(EXIT.FAILURE, `--out ${out}: cannot be written (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    io.err(`qconf: signed serial ${serial} (key ${signer.key.id}) written to ${out}\n`);
    return EXIT.OK;
  },
};
