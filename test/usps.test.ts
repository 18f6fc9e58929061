import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import type { NamedBytes } from '../core/mnist';
import {
  MAX_USPS_LINES,
  MAX_USPS_TEXT_BYTES,
  UspsFileError,
  readUspsDir,
  readUspsFile,
  readUspsFiles,
} from '../core/usps';

/** Example i's pixel p: a multiple of 0.001 in [-1, 1] that differs between examples and pixels. */
function pixel(i: number, p: number): number {
  return (((i * 37 + p * 11) % 2001) - 1000) / 1000;
}

/** A zip.* line as zip.train prints it: "6.0000 -1.0000 …". */
function zipLine(i: number, digit: number): string {
  return [digit, ...Array.from({ length: 256 }, (_, p) => pixel(i, p))].map((v) => v.toFixed(4)).join(' ');
}

/** A LIBSVM line as usps prints it: "7 1:-1.000000 … 256:… " (label = digit + 1, trailing space); `skip` pixels unlisted. */
function libsvmLine(i: number, digit: number, skip: readonly number[] = []): string {
  const pairs = Array.from({ length: 256 }, (_, p) => p)
    .filter((p) => !skip.includes(p))
    .map((p) => `${p + 1}:${pixel(i, p).toFixed(6)}`);
  return `${digit + 1} ${pairs.join(' ')} `;
}

const text = (lines: string[]) => new TextEncoder().encode(lines.map((line) => `${line}\n`).join(''));

const TRAIN_DIGITS = [6, 5, 0, 9];
const TEST_DIGITS = [9, 6, 3];
const zipTrain = () => TRAIN_DIGITS.map((digit, i) => zipLine(i, digit));
const zipTest = () => TEST_DIGITS.map((digit, i) => zipLine(100 + i, digit));
const libsvmTrain = () => TRAIN_DIGITS.map((digit, i) => libsvmLine(i, digit));
const libsvmTest = () => TEST_DIGITS.map((digit, i) => libsvmLine(100 + i, digit));

/** The expected inputs of example `i` (as numbered in the helpers), as float32. */
function expectedInputs(i: number): Float32Array {
  return Float32Array.from({ length: 256 }, (_, p) => pixel(i, p));
}

/** Runs `read`, requires a UspsFileError about `file` (and `line`, if given), and returns its problem text. */
function problemOf(read: () => unknown, file: string, line?: number): string {
  try {
    read();
  } catch (error) {
    expect(error).toBeInstanceOf(UspsFileError);
    const { file: named, problem, line: at, message } = error as UspsFileError;
    expect(named).toBe(file);
    expect(at).toBe(line);
    expect(message).toBe(line === undefined ? `${file}: ${problem}` : `${file}: line ${line}: ${problem}`);
    return problem;
  }
  throw new Error('expected a UspsFileError, but the read succeeded');
}

/** The problem reported for a zip.train whose lines are `lines`. */
function zipProblem(lines: string[], line?: number): string {
  return problemOf(() => readUspsFile({ name: 'zip.train', bytes: text(lines) }), 'zip.train', line);
}

function libsvmProblem(lines: string[], line?: number): string {
  return problemOf(() => readUspsFile({ name: 'usps', bytes: text(lines) }), 'usps', line);
}

/** zipTrain() with line `line` (1-based) replaced. */
function zipWith(line: number, replacement: string): string[] {
  const lines = zipTrain();
  lines[line - 1] = replacement;
  return lines;
}

function libsvmWith(line: number, replacement: string): string[] {
  const lines = libsvmTrain();
  lines[line - 1] = replacement;
  return lines;
}

describe('readUspsFiles: the zip.* form', () => {
  it('reads zip.train and zip.test, raw or gzip, labels as "6.0000" or "9", one example per line numbered from 1', () => {
    const testLines = zipTest();
    testLines[0] = testLines[0]!.replace(/^9\.0000/, '9');
    const usps = readUspsFiles([
      { name: 'zip.test', bytes: text(testLines) },
      { name: 'zip.train.gz', bytes: gzipSync(text(zipTrain())) },
    ]);
    expect(usps.form).toBe('zip');
    expect(usps.seed).toBe(0);
    expect(usps.train.count).toBe(4);
    expect(usps.test.count).toBe(3);
    expect([...usps.train.labels]).toEqual(TRAIN_DIGITS);
    expect([...usps.test.labels]).toEqual(TEST_DIGITS);
    expect([...usps.train.sourceIndices]).toEqual([1, 2, 3, 4]);
    expect([...usps.test.sourceIndices]).toEqual([1, 2, 3]);
    expect(usps.train.inputs.length).toBe(4 * 256);
    expect(usps.train.inputs.subarray(2 * 256, 3 * 256)).toEqual(expectedInputs(2));
    expect(usps.test.inputs.subarray(256, 512)).toEqual(expectedInputs(101));
  });

  it('keeps the published sign: background −1 and ink +1 reach the network unchanged', () => {
    const background = Array<string>(256).fill('-1');
    const ink = [...background];
    ink[8 * 16 + 7] = '1';
    const { split } = readUspsFile({ name: 'zip.test', bytes: text([`1 ${ink.join(' ')}`]) });
    expect(split.inputs[8 * 16 + 7]).toBe(1);
    expect(split.inputs[0]).toBe(-1);
    expect(split.inputs.filter((v) => v === -1).length).toBe(255);
  });

  it('accepts tabs, runs of spaces, leading and trailing blanks, and CRLF line ends', () => {
    const lines = zipTrain().map((line, i) => (i % 2 === 0 ? ` ${line.replaceAll(' ', '\t')}  \r` : line.replaceAll(' ', '   ')));
    const { split } = readUspsFile({ name: 'zip.train', bytes: text(lines) });
    expect(split.count).toBe(4);
    expect(split.inputs.subarray(0, 256)).toEqual(expectedInputs(0));
  });

  it('refuses a label that is not an integer 0–9, naming the line', () => {
    expect(zipProblem(zipWith(3, zipLine(2, 10)), 3)).toBe('label "10.0000" is not an integer from 0 to 9');
    expect(zipProblem(zipWith(2, zipLine(1, 5).replace(/^5\.0000/, '5.5')), 2)).toBe('label "5.5" is not an integer from 0 to 9');
    expect(zipProblem(zipWith(1, zipLine(0, 0).replace(/^0\.0000/, '-1')), 1)).toBe('label "-1" is not an integer from 0 to 9');
  });

  it('refuses a line without exactly 256 values', () => {
    const short = zipLine(1, 5).replace(/ \S+$/, '');
    expect(zipProblem(zipWith(2, short), 2)).toBe('255 values after the label, expected 256');
    expect(zipProblem(zipWith(4, `${zipLine(3, 9)} 0.5`), 4)).toBe('257 values after the label, expected 256');
    expect(zipProblem(zipWith(4, '7'), 4)).toBe('0 values after the label, expected 256');
  });

  it('refuses a value outside [-1, 1], not finite, or not a number, naming its position', () => {
    const withValue = (value: string) => zipWith(3, zipLine(2, 0).replace(/ \S+/, ` ${value}`));
    expect(zipProblem(withValue('1.0001'), 3)).toBe('value 1 1.0001 is outside [-1, 1]');
    expect(zipProblem(withValue('-1.5'), 3)).toBe('value 1 -1.5 is outside [-1, 1]');
    expect(zipProblem(withValue('1e999'), 3)).toBe('value 1 "1e999" is not finite');
    expect(zipProblem(withValue('--1'), 3)).toBe('value 1 "--1" is not a number');
    expect(zipProblem(withValue('.'), 3)).toBe('value 1 "." is not a number');
    expect(zipProblem(withValue('0.5.1'), 3)).toBe('value 1 "0.5.1" is not a number');
    expect(zipProblem(withValue('1:-1'), 3)).toBe('value 1 "1:-1" is not a number');
    const last = zipLine(2, 0).replace(/ \S+$/, ' 2');
    expect(zipProblem(zipWith(3, last), 3)).toBe('value 256 2 is outside [-1, 1]');
  });

  it('accepts the extremes −1 and 1 and exponent notation', () => {
    const values = Array.from({ length: 256 }, (_, p) => (p === 0 ? '-1' : p === 1 ? '1.000' : p === 2 ? '-5e-1' : '0'));
    const { split } = readUspsFile({ name: 'zip.test', bytes: text([`3 ${values.join(' ')}`]) });
    expect([...split.inputs.subarray(0, 4)]).toEqual([-1, 1, -0.5, 0]);
  });
});

describe('readUspsFiles: the LIBSVM form', () => {
  it('reads usps and usps.t, label 1–10 being digit 0–9 (10 is the digit 9)', () => {
    const usps = readUspsFiles([
      { name: '/data/usps.t', bytes: text(libsvmTest()) },
      { name: '/data/usps', bytes: text(libsvmTrain()) },
    ]);
    expect(usps.form).toBe('libsvm');
    expect([...usps.train.labels]).toEqual(TRAIN_DIGITS);
    expect([...usps.test.labels]).toEqual(TEST_DIGITS);
    expect(text(libsvmTest())[0]).toBe('1'.charCodeAt(0)); // the first test line starts "10 …": digit 9
    expect([...usps.test.sourceIndices]).toEqual([1, 2, 3]);
    expect(usps.train.inputs.subarray(3 * 256)).toEqual(expectedInputs(3));
  });

  it('gives the same inputs as the zip.* form for the same values', () => {
    const fromZip = readUspsFile({ name: 'zip.train', bytes: text(zipTrain()) }).split;
    const fromLibsvm = readUspsFile({ name: 'usps', bytes: text(libsvmTrain()) }).split;
    expect(fromLibsvm.inputs).toEqual(fromZip.inputs);
    expect(fromLibsvm.labels).toEqual(fromZip.labels);
  });

  it('reads an unlisted index as 0 (LIBSVM’s convention), including a line with no pairs at all', () => {
    const lines = [libsvmLine(0, 4, [0, 100, 255]), '1'];
    const { split } = readUspsFile({ name: 'usps.t.gz', bytes: gzipSync(text(lines)) });
    const expected = expectedInputs(0);
    expected[0] = 0;
    expected[100] = 0;
    expected[255] = 0;
    expect(split.inputs.subarray(0, 256)).toEqual(expected);
    expect(split.inputs.subarray(256).every((v) => v === 0)).toBe(true);
    expect([...split.labels]).toEqual([4, 0]);
  });

  it('refuses a label outside 1–10', () => {
    expect(libsvmProblem(libsvmWith(2, libsvmLine(1, -1)), 2)).toBe('label "0" is not an integer from 1 to 10');
    expect(libsvmProblem(libsvmWith(4, libsvmLine(3, 10)), 4)).toBe('label "11" is not an integer from 1 to 10');
  });

  it('refuses indices that are out of 1–256, repeated or out of order', () => {
    const line = (pairs: string) => libsvmWith(3, `5 ${pairs}`);
    expect(libsvmProblem(line('0:0.5'), 3)).toBe('index 0 is outside 1–256');
    expect(libsvmProblem(line('1:0.5 257:0.5'), 3)).toBe('index 257 is outside 1–256');
    expect(libsvmProblem(line('1:0.5 3:0.5 2:0.5'), 3)).toBe('index 2 follows index 3: indices must ascend');
    expect(libsvmProblem(line('1:0.5 1:0.5'), 3)).toBe('index 1 follows index 1: indices must ascend');
  });

  it('refuses a malformed pair or value', () => {
    const line = (pairs: string) => libsvmWith(2, `5 ${pairs}`);
    expect(libsvmProblem(line('1:0.5 2-0.5'), 2)).toBe('"2-0.5" is not an index:value pair');
    expect(libsvmProblem(line(':0.5'), 2)).toBe('":0.5" is not an index:value pair');
    expect(libsvmProblem(line('1:0.5 2:'), 2)).toBe('value of index 2 "" is not a number');
    expect(libsvmProblem(line('1:1:1'), 2)).toBe('value of index 1 "1:1" is not a number');
    expect(libsvmProblem(line('7:1.5'), 2)).toBe('value of index 7 1.5 is outside [-1, 1]');
    expect(libsvmProblem(line('7:-1e400'), 2)).toBe('value of index 7 "-1e400" is not finite');
    expect(libsvmProblem(line('-0.5'), 2)).toBe('"-0.5" is not an index:value pair');
  });

  it('refuses a zip.* line in a LIBSVM file', () => {
    expect(libsvmProblem(libsvmWith(4, zipLine(3, 9)), 4)).toBe(`"${pixel(3, 0).toFixed(4)}" is not an index:value pair`);
  });
});

describe('readUspsFile: hostile files', () => {
  it('refuses any byte that no number, separator or line end uses, naming line and column', () => {
    const nan = zipWith(2, zipLine(1, 5).replace(/ \S+/, ' nan'));
    expect(zipProblem(nan, 2)).toBe('unexpected byte 0x6e at column 8');
    expect(zipProblem(zipWith(3, zipLine(2, 0).replace(/ \S+/, ' Infinity')), 3)).toBe('unexpected byte 0x49 at column 8');
    expect(libsvmProblem(libsvmWith(1, `1 qid:3 ${libsvmLine(0, 0).slice(2)}`), 1)).toBe('unexpected byte 0x71 at column 3');
    expect(problemOf(() => readUspsFile({ name: 'zip.test', bytes: new TextEncoder().encode('<html>404</html>') }), 'zip.test', 1)).toBe(
      'unexpected byte 0x3c at column 1',
    );
    const bom = new Uint8Array([0xef, 0xbb, 0xbf, ...text(zipTrain())]);
    expect(problemOf(() => readUspsFile({ name: 'zip.train', bytes: bom }), 'zip.train', 1)).toBe('unexpected byte 0xef at column 1');
    const binary = Uint8Array.from({ length: 64 }, (_, i) => i);
    expect(problemOf(() => readUspsFile({ name: 'zip.train', bytes: binary }), 'zip.train', 1)).toBe('unexpected byte 0x00 at column 1');
  });

  it('refuses a carriage return that does not end a line', () => {
    expect(zipProblem(zipWith(2, zipLine(1, 5).replace(' ', '\r')), 2)).toBe('unexpected byte 0x0d at column 7');
  });

  it('refuses an empty or blank line inside the file', () => {
    expect(zipProblem(zipWith(3, ''), 3)).toBe('empty line');
    expect(libsvmProblem(libsvmWith(2, ' \t '), 2)).toBe('empty line');
  });

  it('refuses a file with no examples', () => {
    expect(problemOf(() => readUspsFile({ name: 'zip.test', bytes: new Uint8Array(0) }), 'zip.test')).toBe(
      'holds no examples: at least one is needed',
    );
    expect(problemOf(() => readUspsFile({ name: 'zip.test.gz', bytes: gzipSync(text([])) }), 'zip.test.gz')).toBe(
      'holds no examples: at least one is needed',
    );
    expect(problemOf(() => readUspsFile({ name: 'usps.t', bytes: new TextEncoder().encode('\n') }), 'usps.t', 1)).toBe('empty line');
  });

  it(`refuses more than ${MAX_USPS_LINES} lines before parsing any`, () => {
    const bytes = new TextEncoder().encode('0\n'.repeat(MAX_USPS_LINES + 1));
    expect(problemOf(() => readUspsFile({ name: 'zip.train', bytes }), 'zip.train')).toBe(
      `more than ${MAX_USPS_LINES} lines; USPS has 9,298 digits in all`,
    );
  });

  it('refuses a file larger than any USPS file, raw or once inflated (a gzip bomb stops there)', () => {
    const huge = new Uint8Array(MAX_USPS_TEXT_BYTES + 1).fill(0x20);
    expect(problemOf(() => readUspsFile({ name: 'zip.train', bytes: huge }), 'zip.train')).toBe(
      `${MAX_USPS_TEXT_BYTES + 1} bytes, more than the ${MAX_USPS_TEXT_BYTES} a USPS file can be`,
    );
    const bomb = gzipSync(huge);
    expect(bomb.length).toBeLessThan(1024 * 1024);
    expect(problemOf(() => readUspsFile({ name: 'zip.train.gz', bytes: bomb }), 'zip.train.gz')).toBe(
      `gzip inflates past ${MAX_USPS_TEXT_BYTES} bytes, more than a USPS file can be`,
    );
  });

  it('refuses a damaged or truncated gzip stream, and bzip2 with a hint', () => {
    const gz = gzipSync(text(zipTest()));
    expect(problemOf(() => readUspsFile({ name: 'zip.test.gz', bytes: gz.subarray(0, gz.length - 10) }), 'zip.test.gz')).toMatch(
      /^corrupt gzip data \(unexpected end of file\)/,
    );
    const damaged = new Uint8Array(gz);
    damaged[damaged.length - 6]! ^= 0xff; // inside the CRC-32 trailer
    expect(problemOf(() => readUspsFile({ name: 'zip.test.gz', bytes: damaged }), 'zip.test.gz')).toMatch(/^corrupt gzip data/);
    const bzip2 = new TextEncoder().encode('BZh91AY&SY');
    expect(problemOf(() => readUspsFile({ name: 'usps.bz2', bytes: bzip2 }), 'usps.bz2')).toMatch(/^is bzip2-compressed.*bunzip2/);
    const pair = [
      { name: 'usps.bz2', bytes: bzip2 },
      { name: 'usps.t.bz2', bytes: bzip2 },
    ];
    expect(problemOf(() => readUspsFiles(pair), 'usps.bz2')).toMatch(/^is bzip2-compressed/);
  });
});

describe('readUspsFiles: which file is which', () => {
  const zipFiles = (trainName = 'zip.train', testName = 'zip.test'): NamedBytes[] => [
    { name: trainName, bytes: text(zipTrain()) },
    { name: testName, bytes: text(zipTest()) },
  ];

  it('tells the split by "train", "test" or the ".t" suffix in the base name, in either order', () => {
    expect(readUspsFiles(zipFiles('C:\\x\\TRAIN_digits.txt', '/d/train/zip-test.txt.gz')).train.count).toBe(4);
    const [train, test] = zipFiles();
    expect(readUspsFiles([test!, train!]).test.count).toBe(3);
    const libsvm = [
      { name: 'digits.t.gz', bytes: gzipSync(text(libsvmTest())) },
      { name: 'digits', bytes: text(libsvmTrain()) },
    ];
    expect(readUspsFiles(libsvm).train.count).toBe(4);
  });

  it('refuses names that do not tell the split, or tell both', () => {
    expect(problemOf(() => readUspsFiles(zipFiles('digits', 'zip.test')), 'digits')).toMatch(/^cannot tell the split/);
    expect(problemOf(() => readUspsFiles(zipFiles('usps', 'other.t')), 'usps')).toMatch(/^cannot tell the split/);
    expect(problemOf(() => readUspsFiles(zipFiles('train-test', 'zip.test')), 'train-test')).toBe('name says both train and test');
    expect(problemOf(() => readUspsFiles(zipFiles('zip.test', 'zip.test.gz')), 'zip.test.gz')).toBe(
      'a second test file (already have zip.test)',
    );
  });

  it('refuses anything but two files', () => {
    const [train] = zipFiles();
    expect(problemOf(() => readUspsFiles([train!]), 'zip.train')).toMatch(/^expected exactly two files.*given 1$/);
    expect(problemOf(() => readUspsFiles([]), 'none')).toMatch(/given 0$/);
  });

  it('refuses a training and a test file of different forms', () => {
    const mixed = [
      { name: 'zip.train', bytes: text(zipTrain()) },
      { name: 'usps.t', bytes: text(libsvmTest()) },
    ];
    expect(problemOf(() => readUspsFiles(mixed), 'usps.t')).toMatch(/^is in the LIBSVM form but zip.train is in the zip\.\* text form/);
  });

  it('names the line of a bad example in the test file too', () => {
    const lines = zipTest();
    lines[2] = zipLine(102, 11);
    const files = [
      { name: 'zip.train', bytes: text(zipTrain()) },
      { name: 'zip.test', bytes: text(lines) },
    ];
    expect(problemOf(() => readUspsFiles(files), 'zip.test', 3)).toBe('label "11.0000" is not an integer from 0 to 9');
  });
});

describe('readUspsDir', () => {
  const root = mkdtempSync(join(tmpdir(), 'usps-test-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  let made = 0;
  function folder(files: Record<string, Uint8Array>): string {
    const dir = join(root, String(made++));
    mkdirSync(dir);
    for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, name), bytes);
    return dir;
  }

  it('reads zip.train.gz and zip.test, preferring an uncompressed file to its .gz', () => {
    const stale = text([zipLine(0, 1)]);
    const dir = folder({ 'zip.train.gz': gzipSync(text(zipTrain())), 'zip.test': text(zipTest()), 'zip.test.gz': gzipSync(stale) });
    const usps = readUspsDir(dir);
    expect(usps.form).toBe('zip');
    expect([...usps.train.labels]).toEqual(TRAIN_DIGITS);
    expect([...usps.test.labels]).toEqual(TEST_DIGITS);
  });

  it('reads usps and usps.t', () => {
    const usps = readUspsDir(folder({ usps: text(libsvmTrain()), 'usps.t': text(libsvmTest()) }));
    expect(usps.form).toBe('libsvm');
    expect(usps.train.count).toBe(4);
    expect(usps.test.count).toBe(3);
  });

  it('reads the zip.* form when both are present, and a complete pair over a half one', () => {
    const both = folder({ usps: text(libsvmTrain()), 'usps.t': text(libsvmTest()), 'zip.train': text(zipTrain()), 'zip.test': text(zipTest()) });
    expect(readUspsDir(both).form).toBe('zip');
    const half = folder({ usps: text(libsvmTrain()), 'usps.t': text(libsvmTest()), 'zip.train': text(zipTrain()) });
    expect(readUspsDir(half).form).toBe('libsvm');
  });

  it('refuses half a pair, naming what is missing', () => {
    const dir = folder({ 'zip.test.gz': gzipSync(text(zipTest())) });
    expect(problemOf(() => readUspsDir(dir), dir)).toBe('has zip.test.gz but not zip.train[.gz]');
  });

  it('points bzip2 files to bunzip2, and says what it looked for in an empty folder', () => {
    const bz = folder({ 'usps.bz2': new Uint8Array([0x42, 0x5a, 0x68]), 'usps.t.bz2': new Uint8Array([0x42, 0x5a, 0x68]) });
    expect(problemOf(() => readUspsDir(bz), bz)).toBe(
      'has usps.bz2, usps.t.bz2: bzip2 is not read here; decompress first (bunzip2 -k usps.bz2 usps.t.bz2)',
    );
    const empty = folder({});
    expect(problemOf(() => readUspsDir(empty), empty)).toBe(
      'no USPS files: looked for zip.train[.gz] and zip.test[.gz], or usps[.gz] and usps.t[.gz]',
    );
  });

  it('refuses a missing folder, a file in its place, and an oversized file before reading it', () => {
    const missing = join(root, 'nope');
    expect(problemOf(() => readUspsDir(missing), missing)).toBe('no such folder');
    const dir = folder({ 'zip.train': text(zipTrain()), 'zip.test': text(zipTest()) });
    const file = join(dir, 'zip.train');
    expect(problemOf(() => readUspsDir(file), file)).toBe('not a folder');
    truncateSync(file, MAX_USPS_TEXT_BYTES + 1); // sparse: nothing that large is written or read
    expect(problemOf(() => readUspsDir(dir), file)).toBe(
      `${MAX_USPS_TEXT_BYTES + 1} bytes, more than the ${MAX_USPS_TEXT_BYTES} such a file can be`,
    );
  });
});
