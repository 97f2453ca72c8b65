// A library call's promise over a fanned-out request: settled by the watcher the call makes (run
// after every reply and at the end), rejected by its signal's abort (with the signal's reason) or
// by the client's close() (through `open`, the client's set of calls still pending). Never left
// pending, never rejected unhandled by the client itself.
import type { FanOut } from './fan-out.js';

export function settleCall<T>(f: FanOut, signal: AbortSignal | undefined, open: Set<(e: Error) => void>, make: (resolve: (v: T) => void) => () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let over = false;
    const end = () => {
      over = true;
      f.watchers.delete(check);
      signal?.removeEventListener('abort', onAbort);
      open.delete(onClose);
    };
    const onAbort = () => {
      if (over) return;
      end();
      f.finish();
      reject(signal?.reason);
    };
    const onClose = (e: Error) => {
      if (over) return;
      end();
      reject(e);
    };
    const check = make((v) => {
      if (over) return;
      end();
      resolve(v);
    });
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    open.add(onClose);
    f.watchers.add(check);
    check();
  });
}
