#!/usr/bin/env -S GLIBC_TUNABLES=glibc.malloc.hugetlb=1 node --max-semi-space-size=4
// qconfd entry point: flags, logger, signals, systemd notifications, --check.
// The young generation is kept small (4 MB semi-spaces, V8's default is 16): while a reload
// builds a large snapshot nearly everything allocated survives, and a scavenge pauses for as
// long as copying its survivors takes; small semi-spaces bound that pause, and so the longest
// gap in replies. The steady state allocates little that survives, so the extra scavenges are
// cheap. glibc.malloc.hugetlb=1 lets malloc back large blocks (a document file's bytes, read
// whole) with transparent huge pages where the kernel offers them on request: a 100 MB config
// is read with some fifty page faults instead of 24,000, about 0.3 s less to load it here.
// Older glibc and other C libraries ignore it. (`node dist/daemon/main.js` runs without either;
// the installed `qconfd` runs with both.)
import { QconfError } from '../shared/errors.js';
import { VERSION } from '../shared/version.js';
import { printCheck, runCheck } from './check.js';
import { Notifier } from './notify.js';
import { loadPeer } from '../shared/peer-packages.js';
import { helpText, parseDaemonOptionsReport, type ParsedOptions } from './options.js';
import { Qconfd } from './qconfd.js';

/** A bug escaped every guard (EX_SOFTWARE). */
const EXIT_FATAL = 70;

async function main(): Promise<number> {
  let parsed: ParsedOptions;
  try {
    parsed = parseDaemonOptionsReport(process.argv.slice(2), process.env);
  } catch (e) {
    process.stderr.write(`qconfd: ${(e as Error).message}\nTry 'qconfd --help'.\n`);
    return 2;
  }
  const opts = parsed.opts;
  if (opts.help) {
    process.stdout.write(helpText());
    return 0;
  }
  if (opts.version) {
    process.stdout.write(VERSION + '\n');
    return 0;
  }
  if (opts.check) {
    const report = await runCheck(parsed);
    return printCheck(report, (s) => process.stdout.write(s), (s) => process.stderr.write(s));
  }
  if (parsed.problems.length > 0) {
    for (const p of parsed.problems) process.stderr.write(`qconfd: ${p}\n`);
    process.stderr.write("Try 'qconfd --help'.\n");
    return 2;
  }
  let pino: typeof import('pino').pino;
  try {
    ({ pino } = await loadPeer('pino', () => import('pino')));
  } catch (e) {
    process.stderr.write(`qconfd: ${(e as Error).message}\n`);
    return 1;
  }
  const log = pino({ level: opts.logLevel, base: { daemon: 'qconfd', node: opts.nodeName } });
  // The last resort: every entry point (datagrams, timers, sources' events) has its own guard, so
  // reaching here is a bug. Log it and exit non-zero: systemd restarts the unit.
  const fatal = (kind: string) => (err: unknown) => {
    const e = err instanceof Error ? err : new Error(String(err));
    try {
      log.fatal({ event: 'fatal', reason: kind, err: e.message, stack: e.stack }, `${kind}: ${e.message}`);
      log.flush?.();
    } finally {
      process.stderr.write(`qconfd: ${kind}: ${e.stack ?? e.message}\n`);
      process.exit(EXIT_FATAL);
    }
  };
  process.on('uncaughtException', fatal('uncaught exception'));
  process.on('unhandledRejection', fatal('unhandled rejection'));
  const notifier = Notifier.fromEnv(process.env, (level, fields, msg) => log[level](fields, msg));
  let daemon: Qconfd | undefined;
  // SIGHUP's default action would kill the process: handle it from the start, acting once up.
  let started = false;
  process.on('SIGHUP', () => {
    if (started) void daemon?.reload();
    else log.warn({ event: 'sighup_ignored', reason: 'starting' }, 'SIGHUP during start-up ignored');
  });
  try {
    daemon = new Qconfd(opts, log, notifier);
    await daemon.start();
  } catch (e) {
    const code = e instanceof QconfError ? e.code : 'internal';
    const reason = ((e as Error).cause as NodeJS.ErrnoException | undefined)?.code ?? (e as NodeJS.ErrnoException).code ?? code;
    log.fatal({ event: 'start_failed', code, reason }, (e as Error).message);
    process.stderr.write(`qconfd: ${(e as Error).message}\n`);
    // systemctl status shows why (the unit fails on the exit code regardless).
    notifier.status(`failed to start: ${(e as Error).message}`);
    await notifier.flush(3000);
    return code === 'usage' ? 2 : 1;
  }
  started = true;
  const running = daemon;
  return new Promise((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      running.stop(signal).then(
        () => resolve(0),
        (e) => {
          log.error({ event: 'shutdown_error' }, (e as Error).message);
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}

main().then((code) => {
  process.exitCode = code;
  // Timers and watchers are closed on stop; exit explicitly so nothing left can hold us.
  setImmediate(() => process.exit(code));
});
