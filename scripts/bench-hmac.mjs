// Microbenchmark of the fast HMAC engines (after `npm run build`): ns per HMAC, the unrolled JS
// against wasm, at datagram sizes, both algorithms. The engines take turns in one process and
// the speed-up is the median of per-turn ratios, so that other load on the machine (which
// shifts both alike) disturbs it less than it does the absolute numbers. CPU time, not wall.
//   node scripts/bench-hmac.mjs [turns]
import { createHmac, randomBytes } from 'node:crypto';
import { hmacKey, hmacTwoInto, useHmacEngine } from '../dist/shared/fast-hmac.js';

const turns = Number(process.argv[2] ?? 9);
const cpuNs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
};
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

if (!useHmacEngine('wasm')) throw new Error('WebAssembly is unavailable here');
const keyBytes = randomBytes(32);
const out = Buffer.alloc(32);
for (const alg of ['sha256', 'sha1']) {
  const key = hmacKey(alg, keyBytes);
  for (const len of [80, 200, 700]) {
    // As a datagram is MACed: a header range and a body range of one larger buffer.
    const msg = Buffer.alloc(len + 80).subarray(40, 40 + len);
    randomBytes(len).copy(msg);
    const want = createHmac(alg, keyBytes).update(msg).digest();
    const n = Math.round(400_000 / (1 + len / 100));
    const time = (engine) => {
      useHmacEngine(engine);
      const t = cpuNs();
      for (let i = 0; i < n; i++) hmacTwoInto(key, msg, 0, 16, msg, 16, len, out, 0);
      const ns = (cpuNs() - t) / n;
      if (!out.subarray(0, want.length).equals(want)) throw new Error(`${engine} ${alg} ${len}: wrong MAC`);
      return ns;
    };
    // Warm-up: past the key's switch to the fast path, and past wasm's tier-up.
    time('js');
    time('wasm');
    const js = [];
    const wasm = [];
    for (let t = 0; t < turns; t++) {
      js.push(time('js'));
      wasm.push(time('wasm'));
    }
    const ratio = median(js.map((v, i) => v / wasm[i]));
    console.log(`${alg.padEnd(6)} ${String(len).padStart(3)} B: js ${median(js).toFixed(0).padStart(5)} ns  wasm ${median(wasm).toFixed(0).padStart(5)} ns  ×${ratio.toFixed(2)}`);
  }
}
useHmacEngine('auto');
