/**
 * Datasets into the store (MNIST and USPS), and 1989-style subsets out of it. Shared by the engine service and the
 * CLI's database mode.
 */
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { basename } from 'node:path';
import { readFileBounded } from '../files';
import { MnistFileError, readMnistDir, readMnistFiles, type MnistSplit, type NamedBytes } from '../mnist';
import { MAX_FILE_BYTES, USPS_SUBSET_SEED } from '../protocol';
import { StoreError, type DatasetSha256, type Store, type SubsetData } from '../store';
import { DEFAULT_SEED, make1989Dataset, type Split } from '../subset';
import { MAX_USPS_TEXT_BYTES, readUspsDir, readUspsFiles, USPS_FILE_NAMES, UspsFileError, type UspsDataset } from '../usps';

export type ImportStage = 'reading' | 'decoding' | 'drawing subset' | 'storing' | 'done';

/**
 * SHA-256 of a split's file as uncompressed IDX (header then items), so the hash of a gzip copy equals that of the
 * raw file, and matches `sha256sum` of the file as published uncompressed.
 */
function idxSha256(split: MnistSplit, kind: 'images' | 'labels'): string {
  const header = Buffer.alloc(kind === 'images' ? 16 : 8);
  header.writeUInt32BE(kind === 'images' ? 2051 : 2049, 0);
  header.writeUInt32BE(split.count, 4);
  if (kind === 'images') {
    header.writeUInt32BE(28, 8);
    header.writeUInt32BE(28, 12);
  }
  return createHash('sha256').update(header).update(kind === 'images' ? split.images : split.labels).digest('hex');
}

/**
 * SHA-256 of a USPS split's decoded values: its images as float32 (little-endian, as on every platform the app runs
 * on) or its labels, a byte each. The text files' bytes would change with gzip, line ends or "-1" printed "-1.0000";
 * the values are what a run trains on.
 */
function decodedSha256(split: Split, kind: 'images' | 'labels'): string {
  const values = kind === 'images' ? split.inputs : split.labels;
  return createHash('sha256').update(new Uint8Array(values.buffer, values.byteOffset, values.byteLength)).digest('hex');
}

type FileError = (file: string, problem: string) => Error;

const MNIST_FILES = { maxBytes: MAX_FILE_BYTES, error: ((file, problem) => new MnistFileError(file, problem)) satisfies FileError };
const USPS_FILES = { maxBytes: MAX_USPS_TEXT_BYTES, error: ((file, problem) => new UspsFileError(file, problem)) satisfies FileError };

/** Reads files the caller named by path, refusing oversized ones before reading them into memory. */
export function readFilesByPath(paths: string[], kind: { maxBytes: number; error: FileError } = MNIST_FILES): NamedBytes[] {
  return paths.map((path) => ({ name: path, bytes: readFileBounded(path, kind.maxBytes, kind.error) }));
}

/**
 * Decodes and stores an MNIST source together with its subset for the default seed, in one transaction: a failure
 * anywhere, or a kill at any moment, leaves no part of it stored. Importing the same four files again stores nothing
 * new and returns the existing dataset.
 */
export function importMnist(
  store: Store,
  input: { files: NamedBytes[] } | { dir: string },
  name: string | undefined,
  onStage: (stage: ImportStage) => void = () => {},
): { datasetId: number; created: boolean } {
  onStage('decoding');
  const mnist = 'dir' in input ? readMnistDir(input.dir) : readMnistFiles(input.files);
  const sha256 = {
    trainImages: idxSha256(mnist.train, 'images'),
    trainLabels: idxSha256(mnist.train, 'labels'),
    testImages: idxSha256(mnist.test, 'images'),
    testLabels: idxSha256(mnist.test, 'labels'),
  };
  const existing = store.findDataset('mnist', sha256);
  if (existing !== undefined && store.findSubset(existing, DEFAULT_SEED) !== undefined) {
    onStage('done');
    return { datasetId: existing, created: false };
  }
  onStage('drawing subset');
  const subset = make1989Dataset(mnist, DEFAULT_SEED);
  onStage('storing');
  const defaultName = 'dir' in input ? basename(input.dir) : `MNIST (${mnist.train.count} + ${mnist.test.count})`;
  const stored = store.importMnistSource(
    {
      name: name ?? defaultName,
      sha256,
      mnist,
    },
    [subset],
  );
  onStage('done');
  return stored;
}

/**
 * USPS files named by path: the two files, or one folder holding them (found there as readUspsDir finds them). One
 * path that is not a file is taken for the folder, so a missing one is reported as a missing folder. Reading a
 * folder is left to the decoding stage, which reads and decodes in one go.
 */
export function uspsInputFromPaths(paths: string[]): { files: NamedBytes[] } | { dir: string } {
  const [only] = paths;
  if (paths.length === 1 && only !== undefined && !isFile(only)) return { dir: only };
  return { files: readFilesByPath(paths, USPS_FILES) };
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * Decodes and stores a USPS set, its published split as the dataset's one subset, in one transaction: a failure
 * anywhere, or a kill at any moment, leaves no part of it stored. Importing the same values again (gzipped or not)
 * stores nothing new and returns the existing dataset.
 */
export function importUsps(
  store: Store,
  input: { files: NamedBytes[] } | { dir: string },
  name: string | undefined,
  onStage: (stage: ImportStage) => void = () => {},
): { datasetId: number; created: boolean } {
  onStage('decoding');
  const usps: UspsDataset = 'dir' in input ? readUspsDir(input.dir) : readUspsFiles(input.files);
  const sha256: DatasetSha256 = {
    trainImages: decodedSha256(usps.train, 'images'),
    trainLabels: decodedSha256(usps.train, 'labels'),
    testImages: decodedSha256(usps.test, 'images'),
    testLabels: decodedSha256(usps.test, 'labels'),
  };
  onStage('storing');
  const { train, test } = USPS_FILE_NAMES[usps.form];
  const defaultName = 'dir' in input ? basename(input.dir) : `USPS ${train} + ${test} (${usps.train.count} + ${usps.test.count})`;
  const stored = store.importUspsSet({ name: name ?? defaultName, sha256, train: usps.train, test: usps.test });
  onStage('done');
  return stored;
}

/**
 * The dataset's subset for `seed`: for MNIST its 1989-style draw, drawn and stored the first time it is asked for;
 * for USPS its published split, the same for every seed.
 */
export function subsetFor(store: Store, datasetId: number, seed: number): SubsetData {
  if (store.datasetKind(datasetId) === 'usps') {
    const split = store.findSubset(datasetId, USPS_SUBSET_SEED);
    if (split === undefined) throw new StoreError('corrupt_record', `dataset ${datasetId} is a USPS set, but its split is missing`);
    return store.loadSubset(split);
  }
  const stored = store.findSubset(datasetId, seed);
  if (stored !== undefined) return store.loadSubset(stored);
  const subset = make1989Dataset(store.loadMnistSource(datasetId), seed);
  return { ...subset, id: store.addSubset(datasetId, seed, subset.train, subset.test), datasetId };
}
