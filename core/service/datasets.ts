/**
 * MNIST into the store, and 1989-style subsets out of it. Shared by the engine service and the CLI's database mode.
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { MnistFileError, readMnistDir, readMnistFiles, type MnistSplit, type NamedBytes } from '../mnist';
import { MAX_FILE_BYTES } from '../protocol';
import type { Store, SubsetData } from '../store';
import { DEFAULT_SEED, make1989Dataset } from '../subset';

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

/** Reads files the caller named by path, refusing oversized ones before reading them into memory. */
export function readFilesByPath(paths: string[]): NamedBytes[] {
  return paths.map((path) => {
    let size: number;
    try {
      size = statSync(path).size;
    } catch (error) {
      throw new MnistFileError(path, `cannot read (${(error as Error).message})`);
    }
    if (size > MAX_FILE_BYTES) throw new MnistFileError(path, `${size} bytes is larger than any MNIST file (limit ${MAX_FILE_BYTES})`);
    try {
      return { name: path, bytes: readFileSync(path) };
    } catch (error) {
      throw new MnistFileError(path, `cannot read (${(error as Error).message})`);
    }
  });
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
  const existing = store.findMnistSource(sha256);
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

/** The dataset's 1989-style subset for `seed`, drawn and stored the first time it is asked for. */
export function subsetFor(store: Store, datasetId: number, seed: number): SubsetData {
  const stored = store.findSubset(datasetId, seed);
  if (stored !== undefined) return store.loadSubset(stored);
  const subset = make1989Dataset(store.loadMnistSource(datasetId), seed);
  return { ...subset, id: store.addSubset(datasetId, seed, subset.train, subset.test), sourceId: datasetId };
}
