#!/usr/bin/env node
// qconfd entry point: flags, logger, signals.
import { pino } from 'pino';
import { QconfError } from '../shared/errors.js';
import { VERSION } from '../shared/version.js';
import { helpText, parseDaemonOptions } from './options.js';
import { Qconfd } from './qconfd.js';

async function main(): Promise<number> {
  let opts;
  try {
    opts = parseDaemonOptions(process.argv.slice(2), process.env);
  } catch (e) {
    process.stderr.write(`qconfd: ${(e as Error).message}\nTry 'qconfd --help'.\n`);
    return 2;
  }
  if (opts.help) {
    process.stdout.write(helpText());
    return 0;
  }
  if (opts.version) {
    process.stdout.write(VERSION + '\n');
    return 0;
  }
  const log = pino({ level: opts.logLevel, base: { daemon: 'qconfd', node: opts.nodeName } });
  let daemon: Qconfd;
  try {
    daemon = new Qconfd(opts, log);
    await daemon.start();
  } catch (e) {
    const code = e instanceof QconfError ? e.code : 'internal';
    log.fatal({ event: 'start_failed', code }, (e as Error).message);
    process.stderr.write(`qconfd: ${(e as Error).message}\n`);
    return code === 'usage' ? 2 : 1;
  }
  process.on('SIGHUP', () => void daemon.reload());
  return new Promise((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      daemon.stop(signal).then(
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
