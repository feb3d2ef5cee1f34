/**
 * A Bloom filter over the subject keys of one block of audit events: "might this block hold
 * an event about user X?" with no false negatives and about 1% false positives (10 bits and
 * 7 probes per key). Probes use double hashing over two 32-bit FNV-1a hashes of the key, so a
 * query hashes its key once (BlockFilter.probe) and tests any number of blocks with it.
 */
const BITS_PER_KEY = 10;
const PROBES = 7;
const MIN_BYTES = 8;

export interface Probe {
  readonly h1: number;
  readonly h2: number;
}

function fnv1a(text: string, basis: number): number {
  let h = basis;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export class BlockFilter {
  private constructor(readonly bytes: Uint8Array) {}

  /** A key's two hashes; h2 is odd so the probes of a key cover distinct bits. */
  static probe(key: string): Probe {
    return { h1: fnv1a(key, 0x811c9dc5), h2: (fnv1a(key, 0x050c5d1f) | 1) >>> 0 };
  }

  /** A filter holding exactly `keys`, sized for their number. */
  static of(keys: Iterable<string>): BlockFilter {
    const unique = new Set(keys);
    const filter = new BlockFilter(new Uint8Array(Math.max(MIN_BYTES, Math.ceil((unique.size * BITS_PER_KEY) / 8))));
    for (const key of unique) filter.add(BlockFilter.probe(key));
    return filter;
  }

  /** A stored filter (the BLOB or bytea column). */
  static from(bytes: Uint8Array): BlockFilter {
    if (bytes.length < MIN_BYTES) throw new RangeError(`block filter of ${bytes.length} bytes is too short`);
    return new BlockFilter(bytes);
  }

  mightHold(probe: Probe): boolean {
    for (let i = 0; i < PROBES; i++) {
      const at = this.bitOf(probe, i);
      if ((this.bytes[at >>> 3]! & (1 << (at & 7))) === 0) return false;
    }
    return true;
  }

  private add(probe: Probe): void {
    for (let i = 0; i < PROBES; i++) {
      const at = this.bitOf(probe, i);
      this.bytes[at >>> 3]! |= 1 << (at & 7);
    }
  }

  private bitOf(probe: Probe, i: number): number {
    return ((probe.h1 + Math.imul(i, probe.h2)) >>> 0) % (this.bytes.length * 8);
  }
}
