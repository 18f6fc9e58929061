/**
 * The SQLite store shared by the engine service, the CLI and (through the service) the app.
 *
 * Durability rules this file keeps:
 * - the schema is versioned by `PRAGMA user_version` and migrated forward in transactions;
 * - WAL journal with synchronous=FULL, so a committed pass survives even power loss, and a
 *   SIGKILL at any moment leaves either the whole transaction or none of it;
 * - every write that touches more than one row is one transaction: a dataset import (dataset, MNIST
 *   source or USPS split, default subset), a run's creation (run and its pass-0 checkpoint), and a
 *   finished pass (metrics and checkpoint together), so a pass is never recorded without its weights.
 *
 * Model of the data:
 * - a *dataset* is what the user imports, deduplicated by the SHA-256s of its contents; it is of
 *   one of two kinds:
 *   - MNIST: its *source* is the four decoded IDX files, from which 1989-style subsets are drawn;
 *   - USPS: the paper's own digits, already 16×16 in [-1, 1] and split 7,291 / 2,007 by their
 *     publishers; that fixed split is stored as the dataset's one subset (see importUspsSet);
 * - a *subset* is the 1989-style draw from a source for one seed (indices and resized pixels),
 *   cached so a run never recomputes it;
 * - a *run* trains on one subset; its checkpoint at pass 0 holds the initial weights, so
 *   starting and resuming are the same operation: load the latest checkpoint, train onwards;
 * - weights imported from safetensors become a finished run with preset 'imported', no subset
 *   and only a pass-0 checkpoint.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { z } from 'zod';
import type { Mnist } from './mnist';
import {
  RunConfigSchema,
  SweepParameterSchema,
  USPS_SUBSET_SEED,
  type CheckpointInfo,
  type DatasetKind,
  type RunConfig,
  type RunStatus,
  type RunSummary,
  type SweepInfo,
} from './protocol';
import type { Dataset1989, Split } from './subset';
import type { PassResult } from './train';

export type StoreErrorCode = 'not_found' | 'dataset_in_use' | 'invalid_state' | 'schema_too_new' | 'corrupt_record';

export class StoreError extends Error {
  constructor(
    readonly code: StoreErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'StoreError';
  }
}

/**
 * The per-user data folder Electron's `app.getPath('userData')` resolves to for an app named
 * lecun1989, so the CLI, browser mode and the desktop app share one database.
 */
export function defaultDataDirectory(
  platform: NodeJS.Platform = process.platform,
  env: NodeJS.ProcessEnv = process.env,
  home: string = os.homedir(),
): string {
  if (platform === 'win32') return path.join(env.APPDATA ?? path.join(home, 'AppData', 'Roaming'), 'lecun1989');
  if (platform === 'darwin') return path.join(home, 'Library', 'Application Support', 'lecun1989');
  return path.join(env.XDG_CONFIG_HOME || path.join(home, '.config'), 'lecun1989');
}

export function defaultDatabasePath(
  platform: NodeJS.Platform = process.platform,
  env: NodeJS.ProcessEnv = process.env,
  home: string = os.homedir(),
): string {
  return path.join(defaultDataDirectory(platform, env, home), 'lecun1989.sqlite');
}

/**
 * Migration i takes the schema from user_version i to i + 1. Append only; never edit a shipped one.
 * Ids are AUTOINCREMENT so a deleted run's or checkpoint's id never comes back naming something else.
 */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE mnist_sources (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    train_images_sha256 TEXT NOT NULL,
    train_labels_sha256 TEXT NOT NULL,
    test_images_sha256 TEXT NOT NULL,
    test_labels_sha256 TEXT NOT NULL,
    train_count INTEGER NOT NULL CHECK (train_count > 0),
    test_count INTEGER NOT NULL CHECK (test_count > 0),
    train_images BLOB NOT NULL,
    train_labels BLOB NOT NULL,
    test_images BLOB NOT NULL,
    test_labels BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (train_images_sha256, train_labels_sha256, test_images_sha256, test_labels_sha256)
  );
  CREATE TABLE subsets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source_id INTEGER NOT NULL REFERENCES mnist_sources(id) ON DELETE CASCADE,
    seed INTEGER NOT NULL,
    train_count INTEGER NOT NULL,
    test_count INTEGER NOT NULL,
    train_indices BLOB NOT NULL,
    test_indices BLOB NOT NULL,
    train_inputs BLOB NOT NULL,
    test_inputs BLOB NOT NULL,
    train_labels BLOB NOT NULL,
    test_labels BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (source_id, seed)
  );
  CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    preset TEXT NOT NULL,
    config TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued','running','paused','stopped','finished','failed','interrupted')),
    subset_id INTEGER REFERENCES subsets(id) ON DELETE CASCADE,
    engine_version TEXT NOT NULL,
    error TEXT,
    runner_pid INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER
  );
  CREATE INDEX runs_subset ON runs(subset_id);
  CREATE TABLE passes (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    pass INTEGER NOT NULL CHECK (pass >= 1),
    train_loss REAL NOT NULL,
    train_error_percent REAL NOT NULL,
    train_misses INTEGER NOT NULL,
    test_loss REAL NOT NULL,
    test_error_percent REAL NOT NULL,
    test_misses INTEGER NOT NULL,
    seconds REAL NOT NULL,
    test_confusion TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (run_id, pass)
  );
  CREATE TABLE checkpoints (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    pass INTEGER NOT NULL CHECK (pass >= 0),
    weights BLOB NOT NULL,
    optimizer_state BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (run_id, pass)
  );
  CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  `,
  // Version 2: datasets of two kinds, MNIST and USPS. Version 1 had only MNIST sources, and subsets referenced them;
  // a USPS set has no MNIST source but its split must be a subset (runs train on subsets). So one `datasets` table
  // now names every dataset and owns its subsets, and `mnist_sources` keeps only the MNIST files, under the same id.
  // SQLite cannot change a column's foreign key or drop columns in place: the two tables are rebuilt in SQLite's
  // documented order (new table, copy, drop, rename), with foreign keys off during the migration (see migrateSchema).
  // The AUTOINCREMENT high-water marks are carried over first, so an id freed by a deletion under version 1 is still
  // never handed out again.
  `
  CREATE TABLE datasets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('mnist', 'usps')),
    name TEXT NOT NULL,
    -- MNIST: each IDX file's uncompressed contents. USPS: each split's decoded images (float32, little-endian) and
    -- labels (one byte each), so a gzip and a raw copy, or two printings of the same values, are the same dataset.
    train_images_sha256 TEXT NOT NULL,
    train_labels_sha256 TEXT NOT NULL,
    test_images_sha256 TEXT NOT NULL,
    test_labels_sha256 TEXT NOT NULL,
    train_count INTEGER NOT NULL CHECK (train_count > 0),
    test_count INTEGER NOT NULL CHECK (test_count > 0),
    created_at INTEGER NOT NULL,
    UNIQUE (kind, train_images_sha256, train_labels_sha256, test_images_sha256, test_labels_sha256)
  );
  INSERT INTO sqlite_sequence (name, seq) SELECT 'datasets', seq FROM sqlite_sequence WHERE name = 'mnist_sources';
  INSERT INTO datasets (id, kind, name, train_images_sha256, train_labels_sha256, test_images_sha256, test_labels_sha256,
      train_count, test_count, created_at)
    SELECT id, 'mnist', name, train_images_sha256, train_labels_sha256, test_images_sha256, test_labels_sha256,
      train_count, test_count, created_at
    FROM mnist_sources;

  CREATE TABLE mnist_sources_v2 (
    id INTEGER PRIMARY KEY REFERENCES datasets(id) ON DELETE CASCADE,
    train_images BLOB NOT NULL,
    train_labels BLOB NOT NULL,
    test_images BLOB NOT NULL,
    test_labels BLOB NOT NULL
  );
  INSERT INTO mnist_sources_v2 (id, train_images, train_labels, test_images, test_labels)
    SELECT id, train_images, train_labels, test_images, test_labels FROM mnist_sources;
  DROP TABLE mnist_sources;
  ALTER TABLE mnist_sources_v2 RENAME TO mnist_sources;

  CREATE TABLE subsets_v2 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    seed INTEGER NOT NULL,
    train_count INTEGER NOT NULL,
    test_count INTEGER NOT NULL,
    train_indices BLOB NOT NULL,
    test_indices BLOB NOT NULL,
    train_inputs BLOB NOT NULL,
    test_inputs BLOB NOT NULL,
    train_labels BLOB NOT NULL,
    test_labels BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (dataset_id, seed)
  );
  INSERT INTO sqlite_sequence (name, seq) SELECT 'subsets_v2', seq FROM sqlite_sequence WHERE name = 'subsets';
  INSERT INTO subsets_v2 (id, dataset_id, seed, train_count, test_count, train_indices, test_indices, train_inputs, test_inputs,
      train_labels, test_labels, created_at)
    SELECT id, source_id, seed, train_count, test_count, train_indices, test_indices, train_inputs, test_inputs,
      train_labels, test_labels, created_at
    FROM subsets;
  DROP TABLE subsets;
  ALTER TABLE subsets_v2 RENAME TO subsets;
  `,
  // Version 3: sweeps. A sweep is a group of ordinary runs that differ in one config field; each run keeps its whole
  // config, so it trains, resumes and opens like any other, and `sweep_value` only says where it sits in its sweep.
  // Deleting a run takes it out of its sweep; deleting the dataset deletes its sweeps with their runs.
  `
  CREATE TABLE sweeps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    preset TEXT NOT NULL,
    parameter TEXT NOT NULL,
    base_config TEXT NOT NULL,
    workers INTEGER NOT NULL CHECK (workers >= 1),
    created_at INTEGER NOT NULL
  );
  ALTER TABLE runs ADD COLUMN sweep_id INTEGER REFERENCES sweeps(id) ON DELETE SET NULL;
  ALTER TABLE runs ADD COLUMN sweep_value REAL;
  CREATE INDEX runs_sweep ON runs(sweep_id);
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Migrates the database from its `user_version` up to `targetVersion` (the current schema unless a test asks for an
 * older one), each migration in its own transaction. Foreign keys are off meanwhile, as SQLite's procedure for
 * rebuilding a table requires (dropping the old table would otherwise cascade into the rows that reference it), and
 * checked before each commit, so a migration that would leave a dangling reference rolls back whole.
 */
export function migrateSchema(db: Database.Database, targetVersion: number = SCHEMA_VERSION): void {
  const schemaVersion = () => db.pragma('user_version', { simple: true }) as number;
  const current = schemaVersion();
  if (current > MIGRATIONS.length) {
    throw new StoreError(
      'schema_too_new',
      `${db.name}: database schema version ${current} is newer than this program understands (${MIGRATIONS.length}); update lecun1989`,
    );
  }
  if (current >= targetVersion) return;
  const foreignKeys = db.pragma('foreign_keys', { simple: true }) as number;
  db.pragma('foreign_keys = OFF');
  try {
    for (let version = current; version < targetVersion; version++) {
      db.transaction(() => {
        // Another process (the app and the CLI share the file) may have migrated while this one waited for the lock.
        if (schemaVersion() !== version) return;
        db.exec(MIGRATIONS[version]!);
        const dangling = db.pragma('foreign_key_check') as { table: string; rowid: number; parent: string }[];
        if (dangling.length > 0) {
          const first = dangling[0]!;
          throw new StoreError(
            'corrupt_record',
            `${db.name}: migration to schema version ${version + 1} would leave ${dangling.length} row(s) referring to missing rows ` +
              `(first: ${first.table} row ${first.rowid} → ${first.parent})`,
          );
        }
        db.pragma(`user_version = ${version + 1}`);
      }).immediate();
    }
  } finally {
    db.pragma(`foreign_keys = ${foreignKeys ? 'ON' : 'OFF'}`);
  }
}

/** The SHA-256s a dataset is deduplicated by; what each one covers depends on the kind (see migration 2). */
export interface DatasetSha256 {
  trainImages: string;
  trainLabels: string;
  testImages: string;
  testLabels: string;
}

export interface MnistSourceInput {
  name: string;
  sha256: DatasetSha256;
  mnist: Mnist;
}

export interface UspsSetInput {
  name: string;
  sha256: DatasetSha256;
  train: Split;
  test: Split;
}

export interface SubsetInfo {
  id: number;
  seed: number;
  trainCount: number;
  testCount: number;
  runCount: number;
}

export interface DatasetInfo {
  id: number;
  kind: DatasetKind;
  name: string;
  sha256: DatasetSha256;
  trainCount: number;
  testCount: number;
  createdAt: number;
  subsets: SubsetInfo[];
  runCount: number;
}

export interface SubsetData extends Dataset1989 {
  id: number;
  datasetId: number;
}

/** What a pass's row keeps: the engine's result without the weights, which go to the checkpoint. */
export type PassRecord = Omit<PassResult, 'parameters'>;

export interface StoredPass extends PassRecord {
  createdAt: number;
}

export interface RunDetail extends RunSummary {
  passes: StoredPass[];
}

export interface Checkpoint extends CheckpointInfo {
  weights: Float32Array;
  optimizerState: Uint8Array;
}

export interface NewRun {
  preset: string;
  /** Null for imported weights, which were not trained here. */
  config: RunConfig | null;
  subsetId: number | null;
  engineVersion: string;
  status: Exclude<RunStatus, 'running'>;
  initialWeights: Float32Array;
  initialOptimizerState?: Uint8Array;
}

/** A group of runs that differ in one config field, trained side by side (see core/sweep.ts). */
export type NewSweep = Omit<SweepInfo, 'id' | 'createdAt' | 'runs'>;

/**
 * A test seam, not a feature: called inside a write transaction just before it commits, so a
 * crash test can kill the process with the transaction open. The service wires it from an
 * environment variable; nothing else sets it.
 */
export type BeforeCommitHook = (transaction: 'import' | 'pass') => void;

export interface StoreOptions {
  beforeCommit?: BeforeCommitHook;
}

function blob(array: Uint8Array | Float32Array | Uint32Array): Buffer {
  return Buffer.from(array.buffer, array.byteOffset, array.byteLength);
}

// SQLite hands back Buffers that may share a pool and sit at any byte offset: copy into a
// fresh, aligned buffer before viewing the bytes as wider elements.
function float32FromBlob(bytes: Buffer, expectedLength: number, what: string): Float32Array {
  if (bytes.byteLength !== expectedLength * 4) {
    throw new StoreError('corrupt_record', `${what}: expected ${expectedLength} float32 values, found ${bytes.byteLength} bytes`);
  }
  const copy = new Float32Array(expectedLength);
  new Uint8Array(copy.buffer).set(bytes);
  return copy;
}

function uint32FromBlob(bytes: Buffer, expectedLength: number, what: string): Uint32Array {
  if (bytes.byteLength !== expectedLength * 4) {
    throw new StoreError('corrupt_record', `${what}: expected ${expectedLength} uint32 values, found ${bytes.byteLength} bytes`);
  }
  const copy = new Uint32Array(expectedLength);
  new Uint8Array(copy.buffer).set(bytes);
  return copy;
}

function bytesFromBlob(bytes: Buffer, expectedLength: number, what: string): Uint8Array {
  if (bytes.byteLength !== expectedLength) {
    throw new StoreError('corrupt_record', `${what}: expected ${expectedLength} bytes, found ${bytes.byteLength}`);
  }
  return new Uint8Array(bytes);
}

function floatsFromBlob(bytes: Buffer, what: string): Float32Array {
  if (bytes.byteLength % 4 !== 0) throw new StoreError('corrupt_record', `${what}: ${bytes.byteLength} bytes is not a whole number of float32 values`);
  return float32FromBlob(bytes, bytes.byteLength / 4, what);
}

const MNIST_PIXELS = 28 * 28;
const SUBSET_PIXELS = 16 * 16;

interface RunRow {
  id: number;
  preset: string;
  config: string;
  status: RunStatus;
  subset_id: number | null;
  dataset_id: number | null;
  seed: number | null;
  engine_version: string;
  error: string | null;
  created_at: number;
  updated_at: number;
  started_at: number | null;
  finished_at: number | null;
  passes_done: number;
  last_test_error_percent: number | null;
}

interface PassRow {
  pass: number;
  train_loss: number;
  train_error_percent: number;
  train_misses: number;
  test_loss: number;
  test_error_percent: number;
  test_misses: number;
  seconds: number;
  test_confusion: string;
  created_at: number;
}

interface CheckpointRow {
  id: number;
  run_id: number;
  pass: number;
  created_at: number;
  weights_bytes: number;
  optimizer_state_bytes: number;
}

const RUN_SELECT = `
  SELECT r.id, r.preset, r.config, r.status, r.subset_id, s.dataset_id, s.seed, r.engine_version, r.error,
         r.created_at, r.updated_at, r.started_at, r.finished_at,
         (SELECT COUNT(*) FROM passes p WHERE p.run_id = r.id) AS passes_done,
         (SELECT p.test_error_percent FROM passes p WHERE p.run_id = r.id ORDER BY p.pass DESC LIMIT 1) AS last_test_error_percent
  FROM runs r LEFT JOIN subsets s ON s.id = r.subset_id`;

export class Store {
  readonly path: string;
  private readonly db: Database.Database;
  private readonly beforeCommit: BeforeCommitHook | undefined;
  /** Ids of runs found 'running' by a process that no longer exists when the store was opened. */
  readonly interruptedOnOpen: number[];

  /** Opens (creating folder and file if needed) and migrates the database at `file`. */
  constructor(file: string, options: StoreOptions = {}) {
    this.path = file;
    this.beforeCommit = options.beforeCommit;
    if (file !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    this.db = new Database(file);
    try {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = FULL');
      this.db.pragma('foreign_keys = ON');
      this.db.pragma('busy_timeout = 5000');
      migrateSchema(this.db);
      this.interruptedOnOpen = this.markRunningAsInterrupted();
    } catch (error) {
      this.db.close();
      throw error;
    }
  }

  close(): void {
    this.db.close();
  }

  schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  integrityCheck(): string {
    return this.db.pragma('integrity_check', { simple: true }) as string;
  }

  /**
   * A run still 'running' whose process is gone was cut short (killed, crashed, power lost). One whose process is
   * alive is left alone: the CLI and the app may have the same database open at once.
   */
  private markRunningAsInterrupted(): number[] {
    const running = this.db.prepare(`SELECT id, runner_pid FROM runs WHERE status = 'running' ORDER BY id`).all() as {
      id: number;
      runner_pid: number | null;
    }[];
    const orphaned = running.filter((run) => run.runner_pid === null || !processIsAlive(run.runner_pid)).map((run) => run.id);
    const mark = this.db.prepare(`UPDATE runs SET status = 'interrupted', runner_pid = NULL, updated_at = ? WHERE id = ? AND status = 'running'`);
    this.db.transaction(() => {
      for (const id of orphaned) mark.run(Date.now(), id);
    }).immediate();
    return orphaned;
  }

  // ---- datasets: MNIST sources and USPS sets, and their subsets --------------------------------

  findDataset(kind: DatasetKind, sha256: DatasetSha256): number | undefined {
    return this.db
      .prepare(
        `SELECT id FROM datasets
         WHERE kind = ? AND train_images_sha256 = ? AND train_labels_sha256 = ? AND test_images_sha256 = ? AND test_labels_sha256 = ?`,
      )
      .pluck()
      .get(kind, sha256.trainImages, sha256.trainLabels, sha256.testImages, sha256.testLabels) as number | undefined;
  }

  datasetKind(datasetId: number): DatasetKind {
    const kind = this.db.prepare(`SELECT kind FROM datasets WHERE id = ?`).pluck().get(datasetId) as DatasetKind | undefined;
    if (kind === undefined) throw new StoreError('not_found', `dataset ${datasetId} does not exist`);
    return kind;
  }

  private insertDatasetRow(kind: DatasetKind, name: string, sha256: DatasetSha256, trainCount: number, testCount: number): number {
    const inserted = this.db
      .prepare(
        `INSERT INTO datasets (kind, name, train_images_sha256, train_labels_sha256, test_images_sha256, test_labels_sha256,
           train_count, test_count, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(kind, name, sha256.trainImages, sha256.trainLabels, sha256.testImages, sha256.testLabels, trainCount, testCount, Date.now());
    return Number(inserted.lastInsertRowid);
  }

  /**
   * Stores a source and the subsets drawn from it in one transaction; if the same four files
   * are already stored, only the subsets not yet present are added to the existing source.
   */
  importMnistSource(source: MnistSourceInput, subsets: { seed: number; train: Split; test: Split }[]): { datasetId: number; created: boolean } {
    const { train, test } = source.mnist;
    for (const [name, split] of [['training', train], ['test', test]] as const) {
      if (split.images.byteLength !== split.count * MNIST_PIXELS || split.labels.byteLength !== split.count) {
        throw new StoreError('corrupt_record', `MNIST source '${source.name}': ${name} images and labels do not match the count ${split.count}`);
      }
    }
    return this.db.transaction(() => {
      let datasetId = this.findDataset('mnist', source.sha256);
      const created = datasetId === undefined;
      if (datasetId === undefined) {
        datasetId = this.insertDatasetRow('mnist', source.name, source.sha256, train.count, test.count);
        this.db
          .prepare(`INSERT INTO mnist_sources (id, train_images, train_labels, test_images, test_labels) VALUES (?, ?, ?, ?, ?)`)
          .run(datasetId, blob(train.images), blob(train.labels), blob(test.images), blob(test.labels));
      }
      for (const subset of subsets) {
        if (this.findSubset(datasetId, subset.seed) === undefined) this.insertSubsetRow(datasetId, subset.seed, subset.train, subset.test);
      }
      this.beforeCommit?.('import');
      return { datasetId, created };
    }).immediate();
  }

  /**
   * Stores a USPS set, its published split as its one subset (seed USPS_SUBSET_SEED), in one transaction; a set
   * already stored (the same hashes) is returned as it is. Nothing is drawn from a USPS set, so its split is kept
   * once, as a subset rather than beside the subsets: runs, evaluation and previews then read both kinds through one
   * path, and every request on the dataset, whatever its seed, gets this subset.
   */
  importUspsSet(set: UspsSetInput): { datasetId: number; created: boolean } {
    return this.db.transaction(() => {
      const existing = this.findDataset('usps', set.sha256);
      if (existing !== undefined) return { datasetId: existing, created: false };
      const datasetId = this.insertDatasetRow('usps', set.name, set.sha256, set.train.count, set.test.count);
      this.insertSubsetRow(datasetId, USPS_SUBSET_SEED, set.train, set.test);
      this.beforeCommit?.('import');
      return { datasetId, created: true };
    }).immediate();
  }

  /** The MNIST files of an MNIST dataset, to draw subsets from; a USPS set has none ('invalid_state'). */
  loadMnistSource(datasetId: number): Mnist {
    const kind = this.datasetKind(datasetId);
    if (kind !== 'mnist') {
      throw new StoreError('invalid_state', `dataset ${datasetId} is a USPS set: its split is fixed, with no MNIST source to draw subsets from`);
    }
    const row = this.db
      .prepare(
        `SELECT d.train_count, d.test_count, m.train_images, m.train_labels, m.test_images, m.test_labels
         FROM mnist_sources m JOIN datasets d ON d.id = m.id WHERE m.id = ?`,
      )
      .get(datasetId) as
      | { train_count: number; test_count: number; train_images: Buffer; train_labels: Buffer; test_images: Buffer; test_labels: Buffer }
      | undefined;
    const what = `dataset ${datasetId}`;
    if (!row) throw new StoreError('corrupt_record', `${what} is MNIST but its files are missing`);
    return {
      train: {
        count: row.train_count,
        images: bytesFromBlob(row.train_images, row.train_count * MNIST_PIXELS, `${what} training images`),
        labels: bytesFromBlob(row.train_labels, row.train_count, `${what} training labels`),
      },
      test: {
        count: row.test_count,
        images: bytesFromBlob(row.test_images, row.test_count * MNIST_PIXELS, `${what} test images`),
        labels: bytesFromBlob(row.test_labels, row.test_count, `${what} test labels`),
      },
    };
  }

  listDatasets(): DatasetInfo[] {
    return this.datasetInfos(null);
  }

  getDataset(datasetId: number): DatasetInfo {
    const [dataset] = this.datasetInfos(datasetId);
    if (dataset === undefined) throw new StoreError('not_found', `dataset ${datasetId} does not exist`);
    return dataset;
  }

  /** Every dataset, or only the one with this id. */
  private datasetInfos(datasetId: number | null): DatasetInfo[] {
    const datasets = this.db
      .prepare(
        `SELECT id, kind, name, train_images_sha256, train_labels_sha256, test_images_sha256, test_labels_sha256, train_count, test_count, created_at
         FROM datasets WHERE ? IS NULL OR id = ? ORDER BY id`,
      )
      .all(datasetId, datasetId) as {
      id: number;
      kind: DatasetKind;
      name: string;
      train_images_sha256: string;
      train_labels_sha256: string;
      test_images_sha256: string;
      test_labels_sha256: string;
      train_count: number;
      test_count: number;
      created_at: number;
    }[];
    const subsets = this.db
      .prepare(
        `SELECT s.id, s.dataset_id, s.seed, s.train_count, s.test_count, (SELECT COUNT(*) FROM runs r WHERE r.subset_id = s.id) AS run_count
         FROM subsets s WHERE ? IS NULL OR s.dataset_id = ? ORDER BY s.dataset_id, s.seed`,
      )
      .all(datasetId, datasetId) as { id: number; dataset_id: number; seed: number; train_count: number; test_count: number; run_count: number }[];
    return datasets.map((dataset) => {
      const own = subsets
        .filter((subset) => subset.dataset_id === dataset.id)
        .map((subset) => ({ id: subset.id, seed: subset.seed, trainCount: subset.train_count, testCount: subset.test_count, runCount: subset.run_count }));
      return {
        id: dataset.id,
        kind: dataset.kind,
        name: dataset.name,
        sha256: {
          trainImages: dataset.train_images_sha256,
          trainLabels: dataset.train_labels_sha256,
          testImages: dataset.test_images_sha256,
          testLabels: dataset.test_labels_sha256,
        },
        trainCount: dataset.train_count,
        testCount: dataset.test_count,
        createdAt: dataset.created_at,
        subsets: own,
        runCount: own.reduce((sum, subset) => sum + subset.runCount, 0),
      };
    });
  }

  /** Deletes a dataset with its subsets; if runs use it, refuses unless `force`, which deletes those runs too. */
  deleteDataset(datasetId: number, force: boolean): { deletedRuns: number } {
    return this.db.transaction(() => {
      this.datasetKind(datasetId); // not_found if there is no such dataset
      const runIds = this.runIdsOfDataset(datasetId);
      // Checked in the transaction that deletes: another process may be training one of these runs.
      const running = this.db
        .prepare(`SELECT r.id FROM runs r JOIN subsets s ON s.id = r.subset_id WHERE s.dataset_id = ? AND r.status = 'running' ORDER BY r.id`)
        .pluck()
        .all(datasetId) as number[];
      if (running.length > 0) {
        throw new StoreError(
          'invalid_state',
          `dataset ${datasetId} is in use by run(s) ${running.join(', ')}, which are training: pause or stop them before deleting the dataset`,
        );
      }
      if (runIds.length > 0 && !force) {
        throw new StoreError(
          'dataset_in_use',
          `dataset ${datasetId} is used by ${runIds.length} run(s) (${runIds.join(', ')}); delete them first or force the deletion, which deletes them too`,
        );
      }
      this.db.prepare(`DELETE FROM datasets WHERE id = ?`).run(datasetId);
      return { deletedRuns: runIds.length };
    }).immediate();
  }

  runIdsOfDataset(datasetId: number): number[] {
    return this.db
      .prepare(`SELECT r.id FROM runs r JOIN subsets s ON s.id = r.subset_id WHERE s.dataset_id = ? ORDER BY r.id`)
      .pluck()
      .all(datasetId) as number[];
  }

  findSubset(datasetId: number, seed: number): number | undefined {
    return this.db.prepare(`SELECT id FROM subsets WHERE dataset_id = ? AND seed = ?`).pluck().get(datasetId, seed) as number | undefined;
  }

  /** Adds the subset for (dataset, seed) unless it exists; returns its id either way. */
  addSubset(datasetId: number, seed: number, train: Split, test: Split): number {
    return this.db.transaction(() => this.findSubset(datasetId, seed) ?? this.insertSubsetRow(datasetId, seed, train, test)).immediate();
  }

  private insertSubsetRow(datasetId: number, seed: number, train: Split, test: Split): number {
    for (const [name, split] of [['training', train], ['test', test]] as const) {
      if (
        split.inputs.length !== split.count * SUBSET_PIXELS ||
        split.labels.length !== split.count ||
        split.sourceIndices.length !== split.count
      ) {
        throw new StoreError('corrupt_record', `subset for seed ${seed}: ${name} split arrays do not match its count ${split.count}`);
      }
    }
    const inserted = this.db
      .prepare(
        `INSERT INTO subsets (dataset_id, seed, train_count, test_count, train_indices, test_indices, train_inputs, test_inputs,
           train_labels, test_labels, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        datasetId,
        seed,
        train.count,
        test.count,
        blob(train.sourceIndices),
        blob(test.sourceIndices),
        blob(train.inputs),
        blob(test.inputs),
        blob(train.labels),
        blob(test.labels),
        Date.now(),
      );
    return Number(inserted.lastInsertRowid);
  }

  loadSubset(subsetId: number): SubsetData {
    const row = this.db.prepare(`SELECT * FROM subsets WHERE id = ?`).get(subsetId) as
      | {
          id: number;
          dataset_id: number;
          seed: number;
          train_count: number;
          test_count: number;
          train_indices: Buffer;
          test_indices: Buffer;
          train_inputs: Buffer;
          test_inputs: Buffer;
          train_labels: Buffer;
          test_labels: Buffer;
        }
      | undefined;
    if (!row) throw new StoreError('not_found', `subset ${subsetId} does not exist`);
    const what = `subset ${subsetId}`;
    const split = (count: number, inputs: Buffer, labels: Buffer, indices: Buffer, name: string): Split => ({
      count,
      inputs: float32FromBlob(inputs, count * SUBSET_PIXELS, `${what} ${name} inputs`),
      labels: bytesFromBlob(labels, count, `${what} ${name} labels`),
      sourceIndices: uint32FromBlob(indices, count, `${what} ${name} indices`),
    });
    return {
      id: row.id,
      datasetId: row.dataset_id,
      seed: row.seed,
      train: split(row.train_count, row.train_inputs, row.train_labels, row.train_indices, 'training'),
      test: split(row.test_count, row.test_inputs, row.test_labels, row.test_indices, 'test'),
    };
  }

  // ---- runs, passes, checkpoints ------------------------------------------------------------

  /** Creates a run and its pass-0 checkpoint (the initial weights) in one transaction. */
  createRun(run: NewRun): number {
    return this.db.transaction(() => {
      const now = Date.now();
      const inserted = this.db
        .prepare(
          `INSERT INTO runs (preset, config, status, subset_id, engine_version, created_at, updated_at, finished_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          run.preset,
          JSON.stringify(run.config),
          run.status,
          run.subsetId,
          run.engineVersion,
          now,
          now,
          run.status === 'finished' ? now : null,
        );
      const runId = Number(inserted.lastInsertRowid);
      this.insertCheckpoint(runId, 0, run.initialWeights, run.initialOptimizerState ?? new Uint8Array(0), now);
      return runId;
    }).immediate();
  }

  private insertCheckpoint(runId: number, pass: number, weights: Float32Array, optimizerState: Uint8Array, now: number): void {
    this.db
      .prepare(`INSERT INTO checkpoints (run_id, pass, weights, optimizer_state, created_at) VALUES (?, ?, ?, ?, ?)`)
      .run(runId, pass, blob(weights), blob(optimizerState), now);
  }

  /**
   * Marks a run as being trained by this process, atomically: it fails with 'invalid_state' if the run is already
   * running (in this or another process) or is not in one of the `from` states.
   */
  claimRun(runId: number, from: readonly RunStatus[]): void {
    const now = Date.now();
    const claimed = this.db
      .prepare(
        `UPDATE runs SET status = 'running', runner_pid = ?, error = NULL, updated_at = ?, started_at = COALESCE(started_at, ?)
         WHERE id = ? AND status IN (SELECT value FROM json_each(?))`,
      )
      .run(process.pid, now, now, runId, JSON.stringify(from));
    if (claimed.changes === 0) {
      const { status } = this.getRunSummary(runId);
      throw new StoreError('invalid_state', `run ${runId} is ${status}; only a run that is ${from.join(', ')} can start training`);
    }
  }

  /**
   * Sets any status but 'running', which only claimRun sets. Given `from`, only a run in one of those states changes,
   * atomically, else 'invalid_state': another process sharing the database may have claimed the run meanwhile.
   */
  setRunStatus(runId: number, status: Exclude<RunStatus, 'running'>, error: string | null = null, from?: readonly RunStatus[]): void {
    const now = Date.now();
    const changed = this.db
      .prepare(
        `UPDATE runs SET status = ?, error = ?, runner_pid = NULL, updated_at = ?,
           finished_at = CASE WHEN ? = 'finished' THEN ? ELSE finished_at END
         WHERE id = ? AND (? IS NULL OR status IN (SELECT value FROM json_each(?)))`,
      )
      .run(status, error, now, status, now, runId, from === undefined ? null : 1, JSON.stringify(from ?? []));
    if (changed.changes === 0) {
      const { status: current } = this.getRunSummary(runId); // not_found if there is no such run
      throw new StoreError('invalid_state', `run ${runId} is ${current}; only a run that is ${(from ?? []).join(', ')} can become ${status}`);
    }
  }

  /** Records a finished pass: its metrics and its checkpoint commit together or not at all. */
  recordPass(runId: number, record: PassRecord, weights: Float32Array, optimizerState: Uint8Array): void {
    this.db.transaction(() => {
      const now = Date.now();
      this.db
        .prepare(
          `INSERT INTO passes (run_id, pass, train_loss, train_error_percent, train_misses, test_loss, test_error_percent, test_misses,
             seconds, test_confusion, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          runId,
          record.pass,
          record.train.loss,
          record.train.errorPercent,
          record.train.misses,
          record.test.loss,
          record.test.errorPercent,
          record.test.misses,
          record.seconds,
          JSON.stringify(record.testConfusion),
          now,
        );
      this.insertCheckpoint(runId, record.pass, weights, optimizerState, now);
      this.db.prepare(`UPDATE runs SET updated_at = ? WHERE id = ?`).run(now, runId);
      this.beforeCommit?.('pass');
    }).immediate();
  }

  // ---- sweeps ------------------------------------------------------------------------------------

  /**
   * Stores a sweep and its runs in one transaction: `createRuns` creates the runs (through createRun, for the
   * sweep's new id) and says which value each one has; any failure leaves neither sweep nor runs behind.
   */
  createSweep(sweep: NewSweep, createRuns: (sweepId: number) => { runId: number; value: number }[]): { sweepId: number; runIds: number[] } {
    return this.db.transaction(() => {
      this.datasetKind(sweep.datasetId); // not_found if there is no such dataset
      const inserted = this.db
        .prepare(`INSERT INTO sweeps (dataset_id, preset, parameter, base_config, workers, created_at) VALUES (?, ?, ?, ?, ?, ?)`)
        .run(sweep.datasetId, sweep.preset, sweep.parameter, JSON.stringify(sweep.baseConfig), sweep.workers, Date.now());
      const sweepId = Number(inserted.lastInsertRowid);
      const join = this.db.prepare(`UPDATE runs SET sweep_id = ?, sweep_value = ? WHERE id = ?`);
      const runs = createRuns(sweepId);
      for (const { runId, value } of runs) join.run(sweepId, value, runId);
      return { sweepId, runIds: runs.map((run) => run.runId) };
    }).immediate();
  }

  listSweeps(): SweepInfo[] {
    return this.sweepInfos(null);
  }

  getSweep(sweepId: number): SweepInfo {
    const [sweep] = this.sweepInfos(sweepId);
    if (sweep === undefined) throw new StoreError('not_found', `sweep ${sweepId} does not exist`);
    return sweep;
  }

  /** Every sweep, or only the one with this id. */
  private sweepInfos(sweepId: number | null): SweepInfo[] {
    const sweeps = this.db
      .prepare(`SELECT id, dataset_id, preset, parameter, base_config, workers, created_at FROM sweeps WHERE ? IS NULL OR id = ? ORDER BY id`)
      .all(sweepId, sweepId) as { id: number; dataset_id: number; preset: string; parameter: string; base_config: string; workers: number; created_at: number }[];
    const runs = this.db
      .prepare(
        `SELECT r.id, r.sweep_id, r.sweep_value, r.status,
           (SELECT COUNT(*) FROM passes p WHERE p.run_id = r.id) AS passes_done,
           (SELECT p.train_error_percent FROM passes p WHERE p.run_id = r.id ORDER BY p.pass DESC LIMIT 1) AS train_error_percent,
           (SELECT p.test_error_percent FROM passes p WHERE p.run_id = r.id ORDER BY p.pass DESC LIMIT 1) AS test_error_percent
         FROM runs r WHERE r.sweep_id IS NOT NULL AND (? IS NULL OR r.sweep_id = ?) ORDER BY r.id`,
      )
      .all(sweepId, sweepId) as {
      id: number;
      sweep_id: number;
      sweep_value: number;
      status: RunStatus;
      passes_done: number;
      train_error_percent: number | null;
      test_error_percent: number | null;
    }[];
    return sweeps.map((sweep) => ({
      id: sweep.id,
      datasetId: sweep.dataset_id,
      preset: sweep.preset,
      parameter: storedField(SweepParameterSchema, sweep.parameter, `sweep ${sweep.id}`, 'parameter'),
      baseConfig: storedConfig(sweep.base_config, `sweep ${sweep.id}`, 'base_config'),
      workers: sweep.workers,
      createdAt: sweep.created_at,
      runs: runs
        .filter((run) => run.sweep_id === sweep.id)
        .map((run) => ({
          runId: run.id,
          value: run.sweep_value,
          status: run.status,
          passesDone: run.passes_done,
          trainErrorPercent: run.train_error_percent,
          testErrorPercent: run.test_error_percent,
        })),
    }));
  }

  listRuns(): RunSummary[] {
    return (this.db.prepare(`${RUN_SELECT} ORDER BY r.id`).all() as RunRow[]).map(runSummary);
  }

  getRunSummary(runId: number): RunSummary {
    const row = this.db.prepare(`${RUN_SELECT} WHERE r.id = ?`).get(runId) as RunRow | undefined;
    if (!row) throw new StoreError('not_found', `run ${runId} does not exist`);
    return runSummary(row);
  }

  getRun(runId: number): RunDetail {
    const summary = this.getRunSummary(runId);
    const rows = this.db.prepare(`SELECT * FROM passes WHERE run_id = ? ORDER BY pass`).all(runId) as PassRow[];
    return { ...summary, passes: rows.map(storedPass) };
  }

  /**
   * Deletes a run with its passes and checkpoints. A run being trained is refused here, in the statement itself, not
   * only by the caller: the trainer may be another process sharing the database (the CLI's database mode, the app).
   */
  deleteRun(runId: number): void {
    const deleted = this.db.prepare(`DELETE FROM runs WHERE id = ? AND status <> 'running'`).run(runId);
    if (deleted.changes === 0) {
      const { status } = this.getRunSummary(runId); // not_found if there is no such run
      throw new StoreError('invalid_state', `run ${runId} is ${status}: pause or stop it before deleting it`);
    }
  }

  listCheckpoints(runId: number): CheckpointInfo[] {
    this.getRunSummary(runId);
    const rows = this.db
      .prepare(
        `SELECT id, run_id, pass, created_at, length(weights) AS weights_bytes, length(optimizer_state) AS optimizer_state_bytes
         FROM checkpoints WHERE run_id = ? ORDER BY pass`,
      )
      .all(runId) as CheckpointRow[];
    return rows.map(checkpointInfo);
  }

  /** The checkpoint with this id, or, given a run, that run's checkpoint at `pass` (latest if omitted). */
  loadCheckpoint(target: { checkpointId: number } | { runId: number; pass?: number }): Checkpoint {
    const columns = `id, run_id, pass, created_at, length(weights) AS weights_bytes, length(optimizer_state) AS optimizer_state_bytes, weights, optimizer_state`;
    type Row = CheckpointRow & { weights: Buffer; optimizer_state: Buffer };
    let row: Row | undefined;
    let what: string;
    if ('checkpointId' in target) {
      what = `checkpoint ${target.checkpointId}`;
      row = this.db.prepare(`SELECT ${columns} FROM checkpoints WHERE id = ?`).get(target.checkpointId) as Row | undefined;
    } else if (target.pass === undefined) {
      what = `the latest checkpoint of run ${target.runId}`;
      row = this.db.prepare(`SELECT ${columns} FROM checkpoints WHERE run_id = ? ORDER BY pass DESC LIMIT 1`).get(target.runId) as Row | undefined;
    } else {
      what = `the checkpoint of run ${target.runId} at pass ${target.pass}`;
      row = this.db.prepare(`SELECT ${columns} FROM checkpoints WHERE run_id = ? AND pass = ?`).get(target.runId, target.pass) as Row | undefined;
    }
    if (!row) throw new StoreError('not_found', `${what} does not exist`);
    return { ...checkpointInfo(row), weights: floatsFromBlob(row.weights, `${what} weights`), optimizerState: new Uint8Array(row.optimizer_state) };
  }

  // ---- settings ----------------------------------------------------------------------------

  getSetting(key: string): unknown {
    const value = this.db.prepare(`SELECT value FROM settings WHERE key = ?`).pluck().get(key) as string | undefined;
    return value === undefined ? undefined : (JSON.parse(value) as unknown);
  }

  setSetting(key: string, value: unknown): void {
    if (value === undefined) {
      this.db.prepare(`DELETE FROM settings WHERE key = ?`).run(key);
      return;
    }
    this.db.prepare(`INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`).run(key, JSON.stringify(value));
  }

  allSettings(): Record<string, unknown> {
    const rows = this.db.prepare(`SELECT key, value FROM settings ORDER BY key`).all() as { key: string; value: string }[];
    return Object.fromEntries(rows.map((row) => [row.key, JSON.parse(row.value) as unknown]));
  }
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function runSummary(row: RunRow): RunSummary {
  return {
    id: row.id,
    preset: row.preset,
    config: row.config === 'null' ? null : storedConfig(row.config, `run ${row.id}`, 'config'),
    status: row.status,
    datasetId: row.dataset_id,
    subsetId: row.subset_id,
    seed: row.seed,
    engineVersion: row.engine_version,
    error: row.error,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    passesDone: row.passes_done,
    lastTestErrorPercent: row.last_test_error_percent,
  };
}

/**
 * A config read back from the database, checked as a request's would be: the file may have been edited or written by
 * another version, and a run must not train (or a sweep list) with a config no request could have given.
 */
function storedConfig(json: string, owner: string, column: string): RunConfig {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new StoreError('corrupt_record', `${owner}: its ${column} is not JSON`);
  }
  return storedField(RunConfigSchema, value, owner, column);
}

function storedField<T>(schema: z.ZodType<T>, value: unknown, owner: string, column: string): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const where = issue && issue.path.length > 0 ? ` at ${issue.path.map(String).join('.')}` : '';
  throw new StoreError('corrupt_record', `${owner}: its stored ${column} is not valid${where}: ${issue?.message ?? 'rejected'}`);
}

function storedPass(row: PassRow): StoredPass {
  return {
    pass: row.pass,
    train: { loss: row.train_loss, errorPercent: row.train_error_percent, misses: row.train_misses },
    test: { loss: row.test_loss, errorPercent: row.test_error_percent, misses: row.test_misses },
    seconds: row.seconds,
    testConfusion: JSON.parse(row.test_confusion) as number[][],
    createdAt: row.created_at,
  };
}

function checkpointInfo(row: CheckpointRow): CheckpointInfo {
  return {
    id: row.id,
    runId: row.run_id,
    pass: row.pass,
    createdAt: row.created_at,
    weightsBytes: row.weights_bytes,
    optimizerStateBytes: row.optimizer_state_bytes,
  };
}
