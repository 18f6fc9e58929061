/**
 * The paper's own data: the USPS zip-code digits (7,291 training and 2,007 test images of 16×16), in the two forms
 * in which they circulate publicly, read as strictly as the MNIST IDX files: every file is hostile until each of its
 * lines checks out, and any failure is a UspsFileError naming the file and the line, never a partial dataset.
 *
 * The zip.* form (zip.train / zip.test, from "The Elements of Statistical Learning"; often gzipped): one digit per
 * line, its label 0–9 (zip.train writes it "6.0000", zip.test "9") then the 256 pixels, row-major, top row first,
 * whitespace-separated, each in [-1, 1].
 *
 * The LIBSVM form (usps / usps.t, from the LIBSVM data sets page; published as .bz2, which is not read here):
 * `label index:value …` with indices 1–256 ascending, a missing index meaning 0 (LIBSVM's convention; the published
 * files list all 256). Its labels are 1–10 with label = digit + 1, so 1 is the digit 0 and 10 the digit 9 (not SVHN's
 * "10 means 0"): torchvision's USPS loader, which reads these very files, maps `int(label) - 1`, and usps.t's first
 * labels, 10 7 4 7 7 1 1 1 7 10, are zip.test's first digits 9 6 3 6 6 0 0 0 6 9 plus one: the same digits in the
 * same order. The pixels are not zip.*'s, though: printed with six decimals, visibly smoothed (a stroke's edge
 * reads -0.999928, -0.997885, -0.973729, … where zip.test has -1, -1, -0.948), still within [-1, 1].
 *
 * Sign and orientation: both forms draw a digit as the MNIST-made inputs do, background −1 and ink up to +1, upright
 * in row-major order (checked by rendering a zero from public copies of each), so the values go to the network
 * unchanged; and being 16×16 already, nothing is resized. The copies examined print every value within [-1, 1]
 * (−1 and 1 themselves included, at four or six decimals, so rounding cannot push one past), and the range is checked
 * with no tolerance: a value beyond ±1 means a damaged file.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { readFileBounded } from './files';
import { isGzip } from './mnist';
import type { NamedBytes } from './mnist';
import { CLASSES, INPUT_PIXELS } from './subset';
import type { Dataset1989, Split } from './subset';

export class UspsFileError extends Error {
  override name = 'UspsFileError';
  constructor(
    readonly file: string,
    readonly problem: string,
    /** 1-based, when the problem is on one line. */
    readonly line?: number,
  ) {
    super(line === undefined ? `${file}: ${problem}` : `${file}: line ${line}: ${problem}`);
  }
}

export type UspsForm = 'zip' | 'libsvm';

export interface UspsFile {
  form: UspsForm;
  /** One example per line; its sourceIndices are the 1-based line numbers. */
  split: Split;
}

/**
 * USPS as the engine takes a 1989 dataset. The split is the published one: nothing is drawn, so there is no seed,
 * and `seed` is 0.
 */
export interface UspsDataset extends Dataset1989 {
  form: UspsForm;
}

/**
 * The largest text accepted, raw or once inflated. The published LIBSVM training file, the larger form, is about
 * 25 MB (7,291 lines of 256 pairs like "123:-0.999999"); anything several times that is not USPS.
 */
export const MAX_USPS_TEXT_BYTES = 64 * 1024 * 1024;
/** USPS has 9,298 digits in all. */
export const MAX_USPS_LINES = 100_000;

/** The LIBSVM form labels digit d as d + 1. */
const LIBSVM_LABEL_OFFSET = 1;

/** The published names, in the order a folder is searched: the zip.* form first. */
export const USPS_FILE_NAMES: Record<UspsForm, { train: string; test: string }> = {
  zip: { train: 'zip.train', test: 'zip.test' },
  libsvm: { train: 'usps', test: 'usps.t' },
};

/** A decimal number as both forms print them (and C's printf could): no NaN, no Infinity, no hex, no empty string. */
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
/** A LIBSVM pair: an unsigned index, a colon, a value. */
const PAIR = /^(\d+):(.*)$/;
const FIELD_SEPARATOR = /[ \t]+/;

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;

/**
 * Reads one file of either form, raw or gzip (told apart by the gzip magic, not the name). The form is told by the
 * first line: index:value pairs make it LIBSVM, plain numbers zip.*; every line must then be of that form.
 */
export function readUspsFile(file: NamedBytes): UspsFile {
  const lines = textLines(file);
  const form: UspsForm = lines[0]!.includes(':') ? 'libsvm' : 'zip';
  const count = lines.length;
  const inputs = new Float32Array(count * INPUT_PIXELS);
  const labels = new Uint8Array(count);
  const sourceIndices = new Uint32Array(count);
  const parseLine = form === 'zip' ? parseZipLine : parseLibsvmLine;
  for (let i = 0; i < count; i++) {
    const lineNumber = i + 1;
    const fail = (problem: string): never => {
      throw new UspsFileError(file.name, problem, lineNumber);
    };
    labels[i] = parseLine(lines[i]!, inputs.subarray(i * INPUT_PIXELS, (i + 1) * INPUT_PIXELS), fail);
    sourceIndices[i] = lineNumber;
  }
  return { form, split: { count, inputs, labels, sourceIndices } };
}

/**
 * Reads the training and the test file of one form, in either order. A file's split comes from its name: "train", or
 * "test" or LIBSVM's ".t" suffix, in it; LIBSVM's unmarked training file ("usps") is recognised by its test file
 * being the same name plus ".t".
 */
export function readUspsFiles(files: NamedBytes[]): UspsDataset {
  if (files.length !== 2) {
    const given = files.length === 0 ? 'none' : files.map((f) => f.name).join(', ');
    throw new UspsFileError(
      given,
      `expected exactly two files, a training and a test file (zip.train and zip.test, or usps and usps.t); given ${files.length}`,
    );
  }
  const [first, second] = files as [NamedBytes, NamedBytes];
  const firstSplit = splitFromName(first.name, second.name);
  const secondSplit = splitFromName(second.name, first.name);
  if (firstSplit === secondSplit) {
    throw new UspsFileError(second.name, `a second ${secondSplit} file (already have ${first.name})`);
  }
  const [trainFile, testFile] = firstSplit === 'train' ? [first, second] : [second, first];
  const train = readUspsFile(trainFile);
  const test = readUspsFile(testFile);
  if (train.form !== test.form) {
    throw new UspsFileError(
      testFile.name,
      `is in the ${formName(test.form)} form but ${trainFile.name} is in the ${formName(train.form)} form; ` +
        'the two forms hold differently processed pixels, so use the two files of one form',
    );
  }
  return { seed: 0, form: train.form, train: train.split, test: test.split };
}

/**
 * Reads USPS from a folder holding zip.train and zip.test, or usps and usps.t, each possibly gzipped (`….gz`; when
 * both are present the uncompressed one is read). With both forms present, zip.* is read.
 */
export function readUspsDir(dir: string): UspsDataset {
  if (!existsSync(dir)) throw new UspsFileError(dir, 'no such folder');
  if (!statSync(dir).isDirectory()) throw new UspsFileError(dir, 'not a folder');
  const find = (name: string) => [name, `${name}.gz`].map((candidate) => join(dir, candidate)).find((path) => existsSync(path));
  const pairs = Object.values(USPS_FILE_NAMES).map((names) => ({ names, train: find(names.train), test: find(names.test) }));
  for (const { train, test } of pairs) {
    if (train !== undefined && test !== undefined) return readUspsFiles([readBounded(train), readBounded(test)]);
  }
  for (const { names, train, test } of pairs) {
    if (train !== undefined || test !== undefined) {
      throw new UspsFileError(dir, `has ${basename((train ?? test)!)} but not ${train === undefined ? names.train : names.test}[.gz]`);
    }
  }
  const bzip2 = Object.values(USPS_FILE_NAMES)
    .flatMap((names) => [`${names.train}.bz2`, `${names.test}.bz2`])
    .filter((name) => existsSync(join(dir, name)));
  if (bzip2.length > 0) {
    throw new UspsFileError(dir, `has ${bzip2.join(', ')}: bzip2 is not read here; decompress first (bunzip2 -k ${bzip2.join(' ')})`);
  }
  const searched = pairs.map(({ names }) => `${names.train}[.gz] and ${names.test}[.gz]`);
  throw new UspsFileError(dir, `no USPS files: looked for ${searched.join(', or ')}`);
}

function formName(form: UspsForm): string {
  return form === 'zip' ? 'zip.* text' : 'LIBSVM';
}

function splitFromName(name: string, otherName: string): 'train' | 'test' {
  const base = withoutCompressionSuffix(basename(name).toLowerCase());
  const test = base.includes('test') || base.endsWith('.t');
  const train = base.includes('train');
  if (train && test) throw new UspsFileError(name, 'name says both train and test');
  if (train) return 'train';
  if (test) return 'test';
  if (withoutCompressionSuffix(basename(otherName).toLowerCase()) === `${base}.t`) return 'train';
  throw new UspsFileError(
    name,
    'cannot tell the split from the name: expected "train", or "test" or a ".t" suffix, in it (or its test file named like it plus ".t")',
  );
}

/** "usps.t.gz" and "usps.t.bz2" name the test file as "usps.t" does (bzip2 is then refused with a hint). */
function withoutCompressionSuffix(base: string): string {
  return base.replace(/\.(?:gz|bz2)$/, '');
}

/** A file's bytes, its size checked before it is read. */
function readBounded(path: string): NamedBytes {
  return { name: path, bytes: readFileBounded(path, MAX_USPS_TEXT_BYTES, (file, problem) => new UspsFileError(file, problem)) };
}

/** The file's lines, gzip inflated, checked for size and stray bytes; a final newline ends the last line. */
function textLines(file: NamedBytes): string[] {
  let bytes = file.bytes;
  if (bytes.length > MAX_USPS_TEXT_BYTES) {
    throw new UspsFileError(file.name, `${bytes.length} bytes, more than the ${MAX_USPS_TEXT_BYTES} a USPS file can be`);
  }
  if (bytes.length >= 3 && bytes[0] === 0x42 && bytes[1] === 0x5a && bytes[2] === 0x68) {
    throw new UspsFileError(file.name, 'is bzip2-compressed, which is not read here: decompress it first (bunzip2 -k)');
  }
  if (isGzip(bytes)) bytes = inflate(file);

  // One pass over the bytes before any text is made: only the characters of numbers, separators and line ends may
  // appear, so a binary or otherwise foreign file stops here, at its first bad byte.
  let line = 1;
  let lineStart = 0;
  for (let at = 0; at < bytes.length; at++) {
    const byte = bytes[at]!;
    if (byte === NEWLINE) {
      line++;
      lineStart = at + 1;
      if (line > MAX_USPS_LINES && at + 1 < bytes.length) {
        throw new UspsFileError(file.name, `more than ${MAX_USPS_LINES} lines; USPS has 9,298 digits in all`);
      }
    } else if (!isTextByte(byte) && !(byte === CARRIAGE_RETURN && bytes[at + 1] === NEWLINE)) {
      throw new UspsFileError(file.name, `unexpected byte 0x${byte.toString(16).padStart(2, '0')} at column ${at - lineStart + 1}`, line);
    }
  }
  const text = new TextDecoder().decode(bytes);
  const lines = text.split(/\r?\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 0) throw new UspsFileError(file.name, 'holds no examples: at least one is needed');
  return lines;
}

/** Digits, sign, decimal point, exponent, the LIBSVM colon, space and tab. */
function isTextByte(byte: number): boolean {
  return (
    (byte >= 0x30 && byte <= 0x39) || // 0-9
    byte === 0x2b || // +
    byte === 0x2d || // -
    byte === 0x2e || // .
    byte === 0x65 || // e
    byte === 0x45 || // E
    byte === 0x3a || // :
    byte === 0x20 ||
    byte === 0x09
  );
}

/** Inflates a whole gzip file, refusing to produce more than any USPS file holds: a gzip bomb stops here. */
function inflate(file: NamedBytes): Uint8Array {
  try {
    return gunzipSync(file.bytes, { maxOutputLength: MAX_USPS_TEXT_BYTES });
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new UspsFileError(file.name, `gzip inflates past ${MAX_USPS_TEXT_BYTES} bytes, more than a USPS file can be`);
    }
    throw new UspsFileError(file.name, `corrupt gzip data (${(error as Error).message})`);
  }
}

type Fail = (problem: string) => never;

function fields(line: string, fail: Fail): string[] {
  const trimmed = line.trim();
  if (trimmed === '') fail('empty line');
  return trimmed.split(FIELD_SEPARATOR);
}

/** A label token whose value is an integer from `lowest` to `highest` ("5", "5.0000"). */
function parseLabel(token: string, lowest: number, highest: number, fail: Fail): number {
  const value = DECIMAL.test(token) ? Number(token) : NaN;
  if (!Number.isInteger(value) || value < lowest || value > highest) {
    fail(`label "${token}" is not an integer from ${lowest} to ${highest}`);
  }
  return value;
}

/** A pixel value, a finite decimal in [-1, 1]; for anything else, what is wrong with it. */
function parsePixel(token: string): number | string {
  if (!DECIMAL.test(token)) return `"${token}" is not a number`;
  const value = Number(token);
  if (!Number.isFinite(value)) return `"${token}" is not finite`;
  if (value < -1 || value > 1) return `${token} is outside [-1, 1]`;
  return value;
}

/** `label v1 … v256`: writes the pixels into `pixels`, returns the digit. */
function parseZipLine(line: string, pixels: Float32Array, fail: Fail): number {
  const tokens = fields(line, fail);
  const values = tokens.length - 1;
  if (values !== INPUT_PIXELS) fail(`${values} values after the label, expected ${INPUT_PIXELS}`);
  const digit = parseLabel(tokens[0]!, 0, CLASSES - 1, fail);
  for (let p = 0; p < INPUT_PIXELS; p++) {
    const value = parsePixel(tokens[p + 1]!);
    if (typeof value === 'string') fail(`value ${p + 1} ${value}`);
    pixels[p] = value;
  }
  return digit;
}

/** `label index:value …` with indices 1–256 ascending, unlisted pixels 0: writes `pixels`, returns the digit. */
function parseLibsvmLine(line: string, pixels: Float32Array, fail: Fail): number {
  const tokens = fields(line, fail);
  const digit = parseLabel(tokens[0]!, LIBSVM_LABEL_OFFSET, CLASSES - 1 + LIBSVM_LABEL_OFFSET, fail) - LIBSVM_LABEL_OFFSET;
  pixels.fill(0);
  let previous = 0;
  for (let t = 1; t < tokens.length; t++) {
    const pair = PAIR.exec(tokens[t]!);
    if (pair === null) fail(`"${tokens[t]}" is not an index:value pair`);
    const index = Number(pair[1]);
    if (index < 1 || index > INPUT_PIXELS) fail(`index ${pair[1]} is outside 1–${INPUT_PIXELS}`);
    if (index <= previous) fail(`index ${index} follows index ${previous}: indices must ascend`);
    const value = parsePixel(pair[2]!);
    if (typeof value === 'string') fail(`value of index ${index} ${value}`);
    pixels[index - 1] = value;
    previous = index;
  }
  return digit;
}
