// Where plj0 reply datagrams' memory comes from. Below 4 KB, Buffer.allocUnsafe takes it from
// Node's shared pool; larger ones, which would each be a malloc and a free of their own (with page
// faults as the heap's top grows and shrinks: 3.4 µs for 41 KB, against 1.3 µs carved from a
// slab), are carved from slabs the same way, only larger. A datagram lives until it is sent, and
// keeps its slab until then.

/** Node's own pool serves allocations below this (Buffer.poolSize / 2). */
const POOL_LIMIT = 4096;
const SLAB_BYTES = 512 * 1024;
/** Larger datagrams get memory of their own (a slab would hold too few). */
const SLAB_LIMIT = SLAB_BYTES / 4;
/** Datagrams start on 8-byte boundaries, as the pool's do. */
const ALIGN = 8;

let slab = Buffer.alloc(0);
let slabUsed = 0;

/** n bytes (uninitialized) for a reply datagram. */
export function allocReply(n: number): Buffer {
  if (n < POOL_LIMIT || n > SLAB_LIMIT) return Buffer.allocUnsafe(n);
  if (slabUsed + n > slab.length) {
    slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
    slabUsed = 0;
  }
  const b = slab.subarray(slabUsed, slabUsed + n);
  slabUsed = (slabUsed + n + ALIGN - 1) & -ALIGN;
  return b;
}
