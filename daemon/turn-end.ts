// Work that must not wait behind long work: the UDP server queues replies until the end of the
// event loop's turn (udp-server.ts), and long work runs in slices queued the same way
// (slices.ts). A slice queued before a turn's replies would run first and hold them for its
// few milliseconds; so each slice first settles what is registered here.
const pending = new Set<() => void>();

/** Run `settle` before every slice of long work; the returned function takes it back. */
export function beforeEachSlice(settle: () => void): () => void {
  pending.add(settle);
  return () => pending.delete(settle);
}

/** Settle everything registered (called by the slice runner before each slice). */
export function settleBeforeSlice(): void {
  for (const settle of pending) settle();
}
