// The client processes of a phase (client-worker.ts), started with their configs; every line
// they write goes to the recorder. Stopping asks each to stop and waits for it to exit by itself
// (its calls in flight end by their timeouts); one that does not is killed, and that is a problem.
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { DIST } from '../../testkit/paths.js';
import { closed, spawnTracked, stopProcess } from '../../testkit/processes.js';
import type { WorkerConfig } from './client-worker.js';
import type { Recorder, Report } from './recorder.js';

const WORKER_JS = join(DIST, 'bench/chaos/client-worker.js');
/** A worker drains in at most its longest call's timeout plus its own margin (client-worker.ts). */
const EXIT_GRACE_MS = 20_000;

export class ClientProcesses {
  private readonly children: { name: string; child: ChildProcess; stderr: string; done: Promise<unknown> }[] = [];

  constructor(private readonly rec: Recorder) {}

  start(configs: WorkerConfig[]): void {
    for (const cfg of configs) {
      const child = spawnTracked(process.execPath, [WORKER_JS, JSON.stringify(cfg)], { stdio: ['pipe', 'pipe', 'pipe'] });
      const entry = { name: cfg.name, child, stderr: '', done: Promise.resolve() as Promise<unknown> };
      child.stderr?.on('data', (d: Buffer) => (entry.stderr = (entry.stderr + d.toString()).slice(-4000)));
      const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
      lines.on('line', (line) => {
        try {
          this.rec.report(JSON.parse(line) as Report);
        } catch {
          this.rec.problem(`client process ${cfg.name} wrote an unreadable line: ${line.slice(0, 200)}`);
        }
      });
      entry.done = new Promise((resolve) => lines.once('close', resolve));
      this.children.push(entry);
    }
  }

  /** Ask every process to stop, and wait until each has exited and its output is read. */
  async stop(): Promise<void> {
    for (const c of this.children) c.child.stdin?.end('stop\n');
    await Promise.all(
      this.children.map(async (c) => {
        const timer = setTimeout(() => {
          this.rec.problem(`client process ${c.name} did not exit within ${EXIT_GRACE_MS} ms of the stop`);
          void stopProcess(c.child, 'SIGKILL');
        }, EXIT_GRACE_MS);
        const { code, signal } = await closed(c.child);
        clearTimeout(timer);
        await c.done;
        if (code !== 0) this.rec.problem(`client process ${c.name} exited with ${signal ?? `status ${code}`}: ${c.stderr}`);
      }),
    );
  }

  /** Kill whatever is left (on an error). */
  async kill(): Promise<void> {
    await Promise.all(this.children.map((c) => stopProcess(c.child, 'SIGKILL')));
  }
}
