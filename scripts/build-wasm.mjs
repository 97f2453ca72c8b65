// Assembles shared/sha.wat into shared/sha-wasm.ts (the module's bytes, base64), so that building
// and running qconf need no assembler. sha.wat is itself generated, by scripts/gen-sha-wat.mjs:
// `npm run build:wasm` runs that, then this. Run it after editing the generator; a unit test
// checks that the checked-in source is the generator's output and the checked-in module its
// assembly.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import wabtInit from 'wabt';

export const WAT_FILE = fileURLToPath(new URL('../shared/sha.wat', import.meta.url));
export const TS_FILE = fileURLToPath(new URL('../shared/sha-wasm.ts', import.meta.url));

/** The module's bytes for the WAT text `wat`. */
export async function assemble(wat) {
  const wabt = await wabtInit();
  const mod = wabt.parseWat('sha.wat', wat, { simd: true, bulk_memory: true });
  try {
    mod.validate();
    return mod.toBinary({}).buffer;
  } finally {
    mod.destroy();
  }
}

/** The TypeScript module holding the assembly of `wat`. */
export async function render(wat) {
  const b64 = Buffer.from(await assemble(wat)).toString('base64');
  const lines = b64.match(/.{1,96}/g) ?? [];
  return [
    '// Generated from sha.wat by scripts/build-wasm.mjs, sha.wat itself by scripts/gen-sha-wat.mjs',
    '// (npm run build:wasm runs both): do not edit either by hand; edit the generator.',
    '',
    '/** The WebAssembly module of sha.wat, base64. */',
    'export const SHA_WASM_BASE64 =',
    lines.map((l) => `  '${l}'`).join(' +\n') + ';',
    '',
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(TS_FILE, await render(readFileSync(WAT_FILE, 'utf8')));
}
