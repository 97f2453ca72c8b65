// Ganeti's own Python confd client (from the packages test/ganeti/fetch-ganeti.sh unpacks), run
// as a script: the interop tests' reference client against qconfd and ganeti-confd.
import { requireGaneti, stopGanetiChild } from '../../testkit/ganeti/confd.js';
import { closed, spawnTracked } from '../../testkit/processes.js';

export interface PythonResult {
  stdout: string;
  stderr: string;
  code: number | null;
}

/**
 * Runs `python3 -c script` with Ganeti's library importable. Extra env vars are added on top of
 * this process's environment. The interpreter is killed after `timeoutMs`.
 */
export async function runGanetiPythonClient(
  script: string,
  env: Record<string, string> = {},
  timeoutMs = 60_000,
): Promise<PythonResult> {
  const paths = requireGaneti();
  const childEnv: NodeJS.ProcessEnv = { ...process.env, PYTHONPATH: paths.pythonPath, ...env };
  delete childEnv['PYTHONHOME'];
  const child = spawnTracked(paths.python, ['-c', script], { env: childEnv });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const timer = setTimeout(() => {
    stderr += `\n[harness] killed after ${timeoutMs} ms`;
    void stopGanetiChild(child);
  }, timeoutMs);
  try {
    const result = await Promise.race([
      closed(child),
      new Promise<never>((_, reject) => child.once('error', reject)),
    ]);
    return { stdout, stderr, code: result.code };
  } finally {
    clearTimeout(timer);
  }
}
