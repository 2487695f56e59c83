const TWO_POW_32 = 4294967296;

/**
 * A small seeded PRNG (mulberry32) for Gumbel noise and random remasking; not cryptographic.
 * Each decode session owns one and reseeds it from (seed, step) before every step, so a step's
 * noise depends only on the job's seed and the step index — never on which other jobs share
 * the batch or on how many numbers earlier steps drew.
 */
export class SeededRng {
  private state = 0;

  constructor(seed: number, stream = 0) {
    this.reseed(seed, stream);
  }

  /** Restart the sequence for (seed, stream); seed is any safe integer. */
  reseed(seed: number, stream: number): void {
    const low = seed >>> 0;
    const high = Math.floor(seed / TWO_POW_32) >>> 0;
    let h = fmix32(low ^ 0x9e3779b9);
    h = fmix32(h ^ Math.imul(high ^ 0x85ebca6b, 0xc2b2ae35));
    h = fmix32(h ^ Math.imul(stream ^ 0x27d4eb2f, 0x165667b1));
    this.state = h;
  }

  nextUint32(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in the open interval (0, 1): never 0 or 1, so -log(-log u) is always finite. */
  nextOpenUnit(): number {
    return (this.nextUint32() + 0.5) / TWO_POW_32;
  }
}

/** MurmurHash3's finaliser: spreads every input bit over the output. */
function fmix32(x: number): number {
  let h = x | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
