// The JSON document a publishing command reads: a file, or standard input ("-").
import { readFileSync } from 'node:fs';
import { CliExit } from './args.js';
import { EXIT } from './common.js';

/** The document in `file` (an object), or a failure (exit 4) naming what is wrong with it. */
export function readDocument(file: string): Record<string, unknown> {
  const name = file === '-' ? 'standard input' : file;
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file === '-' ? 0 : file, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CliExit(EXIT.FAILURE, `${name}: ${code ? `cannot be read (${code})` : `not valid JSON (${(e as Error).message})`}`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new CliExit(EXIT.FAILURE, `${name}: the document must be a JSON object`);
  return doc as Record<string, unknown>;
}
