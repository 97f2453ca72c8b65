// Bugs planted on purpose, to show that the checker catches them (test/robustness): a client
// that takes the first reply it gets instead of a quorum's, and a watch that loses an event now
// and then. (The third, a daemon answering from its previous snapshot, is the relay's `stale`.)
import { ConfdClient, type ConfdClientOptions } from '../../client/confd-client.js';
import type { Reply, Upcall, WatchEvent } from '../../client/index.js';

export const PLANTS = ['stale-daemon', 'first-reply', 'drop-watch-event'] as const;
export type Plant = (typeof PLANTS)[number];

/** A "client" that accepts the first reply to a `get`, whichever daemon sent it. */
export class FirstReplyReader {
  private readonly client: ConfdClient;
  private readonly waiting = new Map<string, (r: Reply | undefined) => void>();

  constructor(opts: ConfdClientOptions) {
    this.client = new ConfdClient({ ...opts, callback: (u) => this.upcall(u) });
  }

  private upcall(u: Upcall): void {
    const w = this.waiting.get(u.id);
    if (!w) return;
    this.waiting.delete(u.id);
    if (u.type === 'reply') this.client.cancel(u.id);
    w(u.type === 'reply' ? u.reply : undefined);
  }

  get(path: string, timeoutMs: number): Promise<Reply | undefined> {
    const id = this.client.sendRequest({ op: 'get', path }, { expireMs: timeoutMs });
    return new Promise((resolve) => this.waiting.set(id, resolve));
  }

  close(): void {
    this.client.close();
  }
}

/** A watch that drops every third change it would yield. */
export async function* droppingEvents<A>(events: AsyncGenerator<WatchEvent<A>, void, undefined>): AsyncGenerator<WatchEvent<A>, void, undefined> {
  let changes = 0;
  for await (const ev of events) {
    if (ev.type === 'change' && ++changes % 3 === 0) continue;
    yield ev;
  }
}
