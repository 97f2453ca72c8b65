// Where this checkout is and where its compiled programs are. Tests run this module from its
// TypeScript source (testkit/), the benchmarks from dist/testkit/: both get the same answers.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));

/** The checkout: the folder holding package.json, one level up from the source, two from dist/. */
export const ROOT = existsSync(join(HERE, '..', 'package.json')) ? join(HERE, '..') : join(HERE, '..', '..');
/** tsc's output (npm run build). */
export const DIST = join(ROOT, 'dist');
export const DAEMON_JS = join(DIST, 'daemon/main.js');
export const CLI_JS = join(DIST, 'client/cli/main.js');

/** Ganeti's own 3-node test config (upgraded to 3.0); its key is made where needed (ganeti-key.ts). */
export const GANETI_EXAMPLE_CONFIG = join(ROOT, 'examples/ganeti/config.data');
