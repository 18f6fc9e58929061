// Small USPS files written by the tests themselves, in both published forms (see core/usps.ts and test/usps.test.ts):
// zip.train / zip.test ("6.0000 -1.0000 …") and LIBSVM usps / usps.t ("7 1:-1.000000 …", label = digit + 1).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

export const USPS_TRAIN_DIGITS = [6, 5, 0, 9, 1, 2, 3, 4, 7, 8, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
export const USPS_TEST_DIGITS = [9, 6, 3, 0, 1, 7];

/** Example i's pixel p: a multiple of 0.001 in [-1, 1] that differs between examples and pixels. */
export function uspsPixel(i: number, p: number): number {
  return (((i * 37 + p * 11) % 2001) - 1000) / 1000;
}

/** Example i's 256 inputs as the engine holds them (float32). */
export function uspsInputs(i: number): Float32Array {
  return Float32Array.from({ length: 256 }, (_, p) => uspsPixel(i, p));
}

/** The test split's examples are numbered from this, so no test digit repeats a training one's pixels. */
export const USPS_TEST_FIRST_EXAMPLE = 100;

export type UspsForm = 'zip' | 'libsvm';

/** One file of `digits`, example numbers starting at `first`. */
export function uspsText(form: UspsForm, digits: readonly number[], first: number): Buffer {
  const lines = digits.map((digit, k) => {
    const pixels = Array.from({ length: 256 }, (_, p) => uspsPixel(first + k, p));
    return form === 'zip'
      ? [digit, ...pixels].map((value) => value.toFixed(4)).join(' ')
      : `${digit + 1} ${pixels.map((value, p) => `${p + 1}:${value.toFixed(6)}`).join(' ')} `;
  });
  return Buffer.from(lines.map((line) => `${line}\n`).join(''));
}

const NAMES: Record<UspsForm, { train: string; test: string }> = {
  zip: { train: 'zip.train', test: 'zip.test' },
  libsvm: { train: 'usps', test: 'usps.t' },
};

export interface UspsFile {
  name: string;
  bytes: Buffer;
}

/** The training and the test file under their published names; `gzip` compresses the training file. */
export function uspsFiles(form: UspsForm, options: { gzip?: boolean } = {}): [UspsFile, UspsFile] {
  const train = uspsText(form, USPS_TRAIN_DIGITS, 0);
  return [
    options.gzip ? { name: `${NAMES[form].train}.gz`, bytes: gzipSync(train) } : { name: NAMES[form].train, bytes: train },
    { name: NAMES[form].test, bytes: uspsText(form, USPS_TEST_DIGITS, USPS_TEST_FIRST_EXAMPLE) },
  ];
}

/** Writes `files` into a new folder `dir` and returns it. */
export function writeUspsFolder(dir: string, files: readonly UspsFile[]): string {
  mkdirSync(dir, { recursive: true });
  for (const file of files) writeFileSync(join(dir, file.name), file.bytes);
  return dir;
}

/** The test file with line `line` (1-based) holding a pixel outside [-1, 1]: a damaged file. */
export function corruptZipTest(line: number): UspsFile {
  const lines = uspsText('zip', USPS_TEST_DIGITS, USPS_TEST_FIRST_EXAMPLE).toString().split('\n');
  lines[line - 1] = lines[line - 1]!.replace(/ \S+$/, ' 1.5000');
  return { name: 'zip.test', bytes: Buffer.from(lines.join('\n')) };
}
