// Requests the daemon has answered, kept (a bounded, rotating set) to be sent again as replays.

const CAPACITY = 512;

export class ReplayPool {
  private readonly items: Buffer[] = [];
  private next = 0;

  add(bytes: Buffer): void {
    if (this.items.length < CAPACITY) this.items.push(bytes);
    else this.items[this.next++ % CAPACITY] = bytes;
  }

  take(rand: () => number): Buffer | undefined {
    if (this.items.length === 0) return undefined;
    return this.items[Math.floor(rand() * this.items.length)];
  }
}
