// The benchmarks' own files: the child programs they start and where their results go.
import { join } from 'node:path';
import { DIST, ROOT } from '../../testkit/paths.js';

export const BENCH_DIR = join(ROOT, 'bench');
export const RESULTS_DIR = join(BENCH_DIR, 'results');
export const LOADGEN_JS = join(DIST, 'bench/loadgen.js');
export const ECHO_JS = join(DIST, 'bench/echo-server.js');
