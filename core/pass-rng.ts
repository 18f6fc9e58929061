/**
 * Randomness inside a run (the Hessian sample, shifts, dropout) comes from a generator seeded by (config seed, pass,
 * stream) alone: a run resumed at pass k then draws exactly what the uninterrupted run drew, with no generator state
 * to checkpoint.
 */
import { MT19937 } from './rng';

/** What a pass draws for; each gets an independent stream. */
export type PassStream = 'hessian-sample' | 'augmentation';

const STREAM_TAGS: Record<PassStream, number> = { 'hessian-sample': 0x68657373, augmentation: 0x61756720 };

/** murmur3's 32-bit finaliser: every input bit reaches every output bit. */
function mix32(value: number): number {
  let h = value >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export function passRng(seed: number, pass: number, stream: PassStream): MT19937 {
  if (!Number.isInteger(pass) || pass < 1) throw new RangeError(`pass must be a positive integer, got ${pass}`);
  return new MT19937(mix32(mix32(mix32(seed) ^ pass) ^ STREAM_TAGS[stream]));
}
