/**
 * A set of strings kept as 64-bit hashes in one open-addressing table of typed arrays: 16 bytes per
 * member at most (half-full table), no per-member objects for the garbage collector. Used to drop repeated
 * targets of a task while expanding it, where a million members cost 16 MB instead of ~100 MB as a
 * Set<string>. Two different keys are taken as equal only if a 64-bit hash of theirs agrees (about 3·10⁻⁸
 * over a million keys). The hash is not cryptographic (a crypto hash cost more than the rest of an
 * expansion): a file crafted to collide can only make its own targets look repeated.
 */
export class KeySet {
  private hi: Uint32Array;
  private lo: Uint32Array;
  private mask: number;
  private count = 0;

  constructor(expected = 1024) {
    let cap = 1024;
    while (cap < expected * 2) cap *= 2;
    this.hi = new Uint32Array(cap);
    this.lo = new Uint32Array(cap);
    this.mask = cap - 1;
  }

  get size(): number {
    return this.count;
  }

  /** Adds `key`; true when it was not a member yet. */
  add(key: string): boolean {
    let [hi, lo] = hash64(key);
    // (0, 0) marks an empty slot.
    if (hi === 0 && lo === 0) hi = 1;
    if (!this.insert(hi, lo)) return false;
    this.count += 1;
    if (this.count * 2 > this.hi.length) this.grow();
    return true;
  }

  private insert(hi: number, lo: number): boolean {
    let i = (lo ^ hi) & this.mask;
    for (;;) {
      const h = this.hi[i];
      if (h === 0 && this.lo[i] === 0) {
        this.hi[i] = hi;
        this.lo[i] = lo;
        return true;
      }
      if (h === hi && this.lo[i] === lo) return false;
      i = (i + 1) & this.mask;
    }
  }

  private grow(): void {
    const { hi, lo } = this;
    this.hi = new Uint32Array(hi.length * 2);
    this.lo = new Uint32Array(lo.length * 2);
    this.mask = this.hi.length - 1;
    for (let i = 0; i < hi.length; i += 1) if (hi[i] !== 0 || lo[i] !== 0) this.insert(hi[i], lo[i]);
  }
}

/** cyrb53's two 32-bit lanes, both kept: a fast, well-mixed 64-bit string hash. */
export function hash64(key: string): [number, number] {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < key.length; i += 1) {
    const ch = key.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return [h2 >>> 0, h1 >>> 0];
}
