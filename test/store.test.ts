import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { RunConfigSchema, USPS_SUBSET_SEED } from '../core/protocol';
import { defaultDatabasePath, migrateSchema, SCHEMA_VERSION, Store, StoreError, type MnistSourceInput, type PassRecord, type UspsSetInput } from '../core/store';
import type { Split } from '../core/subset';

const temporaryDirectories: string[] = [];
function temporaryDatabase(): string {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'lecun1989-store-'));
  temporaryDirectories.push(directory);
  return path.join(directory, 'nested', 'folder', 'test.sqlite');
}
afterEach(() => {
  for (const directory of temporaryDirectories.splice(0)) fs.rmSync(directory, { recursive: true, force: true });
});

function patterned(length: number, step: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * step) & 0xff;
  return bytes;
}

function tinySource(variant = 0): MnistSourceInput {
  const hash = (name: string) => `${name}-${variant}`.padEnd(64, '0');
  return {
    name: `tiny ${variant}`,
    sha256: { trainImages: hash('a'), trainLabels: hash('b'), testImages: hash('c'), testLabels: hash('d') },
    mnist: {
      train: { count: 5, images: patterned(5 * 784, 7 + variant), labels: Uint8Array.from([0, 1, 2, 3, 4]) },
      test: { count: 3, images: patterned(3 * 784, 11), labels: Uint8Array.from([7, 8, 9]) },
    },
  };
}

function tinySplit(count: number, offset: number): Split {
  const inputs = new Float32Array(count * 256);
  for (let i = 0; i < inputs.length; i++) inputs[i] = Math.fround(Math.sin(i + offset));
  return {
    count,
    inputs,
    labels: Uint8Array.from({ length: count }, (_, i) => (i + offset) % 10),
    sourceIndices: Uint32Array.from({ length: count }, (_, i) => count - 1 - i),
  };
}

function weightsOf(value: number): Float32Array {
  return new Float32Array(9760).fill(Math.fround(value));
}

function passRecord(pass: number): PassRecord {
  const confusion = Array.from({ length: 10 }, (_, row) => Array.from({ length: 10 }, (_, column) => (row === column ? pass : 0)));
  return {
    pass,
    train: { loss: 0.1 / pass, errorPercent: 10 / pass, misses: 100 - pass },
    test: { loss: 0.2 / pass, errorPercent: 20 / pass, misses: 50 - pass },
    seconds: 0.5 * pass,
    testConfusion: confusion,
  };
}

function storeWithRun(file: string): { store: Store; datasetId: number; runId: number } {
  const store = new Store(file);
  const { datasetId } = store.importMnistSource(tinySource(), [{ seed: 1337, train: tinySplit(4, 0), test: tinySplit(2, 5) }]);
  const subsetId = store.findSubset(datasetId, 1337)!;
  const runId = store.createRun({
    preset: 'sgd-1989',
    config: RunConfigSchema.parse({ seed: 1337, passes: 3 }),
    subsetId,
    engineVersion: 'test',
    status: 'queued',
    initialWeights: weightsOf(0.25),
  });
  return { store, datasetId, runId };
}

describe('default database path', () => {
  it('is the folder Electron uses for userData on each platform', () => {
    expect(defaultDatabasePath('linux', {}, '/home/ann')).toBe('/home/ann/.config/lecun1989/lecun1989.sqlite');
    expect(defaultDatabasePath('linux', { XDG_CONFIG_HOME: '/xdg' }, '/home/ann')).toBe('/xdg/lecun1989/lecun1989.sqlite');
    expect(defaultDatabasePath('darwin', {}, '/Users/ann')).toBe('/Users/ann/Library/Application Support/lecun1989/lecun1989.sqlite');
    expect(defaultDatabasePath('win32', { APPDATA: 'C:\\Users\\ann\\AppData\\Roaming' }, 'C:\\Users\\ann')).toBe(
      path.join('C:\\Users\\ann\\AppData\\Roaming', 'lecun1989', 'lecun1989.sqlite'),
    );
  });
});

describe('opening', () => {
  it('creates the folder, migrates to the current schema and turns on WAL and foreign keys', () => {
    const file = temporaryDatabase();
    const store = new Store(file);
    expect(fs.existsSync(file)).toBe(true);
    expect(store.schemaVersion()).toBe(SCHEMA_VERSION);
    expect(store.integrityCheck()).toBe('ok');
    store.close();
    const raw = new Database(file);
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(raw.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    raw.close();
  });

  it('refuses a database written by a newer schema without touching it', () => {
    const file = temporaryDatabase();
    new Store(file).close();
    const raw = new Database(file);
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();
    expect(() => new Store(file)).toThrow(`schema version ${SCHEMA_VERSION + 1} is newer`);
    const again = new Database(file);
    expect(again.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION + 1);
    again.close();
  });

  it('marks runs left running by a process that is gone as interrupted, and only those', () => {
    const file = temporaryDatabase();
    const { store, runId } = storeWithRun(file);
    const pausedRun = store.createRun({ preset: 'p', config: RunConfigSchema.parse({}), subsetId: null, engineVersion: 'test', status: 'paused', initialWeights: weightsOf(1) });
    const liveRun = store.createRun({ preset: 'p', config: RunConfigSchema.parse({}), subsetId: null, engineVersion: 'test', status: 'queued', initialWeights: weightsOf(1) });
    store.claimRun(runId, ['queued']);
    store.claimRun(liveRun, ['queued']);
    store.close();
    // The run's trainer was a process that has exited; the other one is this process, alive and well.
    const exited = spawnSync(process.execPath, ['-e', '']).pid;
    const raw = new Database(file);
    raw.prepare('UPDATE runs SET runner_pid = ? WHERE id = ?').run(exited, runId);
    raw.close();

    const reopened = new Store(file);
    expect(reopened.interruptedOnOpen).toEqual([runId]);
    expect(reopened.getRunSummary(runId).status).toBe('interrupted');
    expect(reopened.getRunSummary(liveRun).status).toBe('running');
    expect(reopened.getRunSummary(pausedRun).status).toBe('paused');
    reopened.close();
  });

  it('lets only one trainer claim a run, and only from the allowed states', () => {
    const { store, runId } = storeWithRun(temporaryDatabase());
    store.claimRun(runId, ['queued', 'paused']);
    expect(() => store.claimRun(runId, ['queued', 'paused'])).toThrow(/run \d+ is running; only a run that is queued, paused can start/);
    store.setRunStatus(runId, 'finished');
    expect(() => store.claimRun(runId, ['queued', 'paused'])).toThrow(expect.objectContaining({ code: 'invalid_state' }));
    expect(() => store.claimRun(999, ['queued'])).toThrow(expect.objectContaining({ code: 'not_found' }));
    store.close();
  });
});

describe('MNIST sources and subsets', () => {
  it('round-trips a source and its subset bit for bit and deduplicates by the four hashes', () => {
    const store = new Store(temporaryDatabase());
    const source = tinySource();
    const train = tinySplit(4, 0);
    const test = tinySplit(2, 5);
    const first = store.importMnistSource(source, [{ seed: 1337, train, test }]);
    expect(first.created).toBe(true);
    const again = store.importMnistSource({ ...source, name: 'renamed' }, [{ seed: 1337, train, test }]);
    expect(again).toEqual({ datasetId: first.datasetId, created: false });

    const datasets = store.listDatasets();
    expect(datasets).toHaveLength(1);
    expect(datasets[0]).toMatchObject({ id: first.datasetId, kind: 'mnist', name: 'tiny 0', trainCount: 5, testCount: 3, runCount: 0 });
    expect(datasets[0]!.sha256).toEqual(source.sha256);
    expect(datasets[0]!.subsets).toEqual([{ id: expect.any(Number), seed: 1337, trainCount: 4, testCount: 2, runCount: 0 }]);

    expect(store.loadMnistSource(first.datasetId)).toEqual(source.mnist);

    const subset = store.loadSubset(store.findSubset(first.datasetId, 1337)!);
    expect(subset.seed).toBe(1337);
    expect(subset.train.inputs).toEqual(train.inputs);
    expect(subset.train.labels).toEqual(train.labels);
    expect(subset.train.sourceIndices).toEqual(train.sourceIndices);
    expect(subset.test.inputs).toEqual(test.inputs);

    const otherSeed = store.addSubset(first.datasetId, 7, tinySplit(3, 1), tinySplit(1, 2));
    expect(store.addSubset(first.datasetId, 7, tinySplit(3, 1), tinySplit(1, 2))).toBe(otherSeed);
    expect(store.listDatasets()[0]!.subsets.map((s) => s.seed)).toEqual([7, 1337]);
    store.close();
  });

  it('rejects a subset whose arrays disagree with its count, storing nothing', () => {
    const store = new Store(temporaryDatabase());
    const broken = { ...tinySplit(4, 0), labels: new Uint8Array(3) };
    expect(() => store.importMnistSource(tinySource(), [{ seed: 1, train: broken, test: tinySplit(2, 0) }])).toThrow(/training split arrays/);
    expect(store.listDatasets()).toEqual([]);
    store.close();
  });

  it('leaves no half-dataset when an import fails inside its transaction', () => {
    let failCommit = true;
    const store = new Store(temporaryDatabase(), {
      beforeCommit: () => {
        if (failCommit) throw new Error('simulated failure before commit');
      },
    });
    expect(() => store.importMnistSource(tinySource(), [{ seed: 1337, train: tinySplit(4, 0), test: tinySplit(2, 5) }])).toThrow(/simulated/);
    expect(store.listDatasets()).toEqual([]);
    failCommit = false;
    store.importMnistSource(tinySource(), [{ seed: 1337, train: tinySplit(4, 0), test: tinySplit(2, 5) }]);
    expect(store.listDatasets()).toHaveLength(1);
    store.close();
  });

  it('refuses to delete a dataset that runs use unless forced, which deletes the runs too', () => {
    const { store, datasetId, runId } = storeWithRun(temporaryDatabase());
    store.recordPass(runId, passRecord(1), weightsOf(1), new Uint8Array(0));
    const unused = store.importMnistSource(tinySource(1), []).datasetId;

    expect(() => store.deleteDataset(datasetId, false)).toThrow(StoreError);
    try {
      store.deleteDataset(datasetId, false);
    } catch (error) {
      expect((error as StoreError).code).toBe('dataset_in_use');
      expect((error as StoreError).message).toMatch(`used by 1 run(s) (${runId})`);
    }
    expect(store.listRuns()).toHaveLength(1);
    expect(store.deleteDataset(unused, false)).toEqual({ deletedRuns: 0 });
    expect(store.deleteDataset(datasetId, true)).toEqual({ deletedRuns: 1 });
    expect(store.listDatasets()).toEqual([]);
    expect(store.listRuns()).toEqual([]);
    expect(() => store.loadCheckpoint({ runId })).toThrow(/does not exist/);
    expect(() => store.deleteDataset(datasetId, true)).toThrow(/dataset \d+ does not exist/);
    store.close();
  });
});

function tinyUspsSet(name = 'USPS tiny'): UspsSetInput {
  const hash = (letter: string) => letter.repeat(64);
  return { name, sha256: { trainImages: hash('1'), trainLabels: hash('2'), testImages: hash('3'), testLabels: hash('4') }, train: tinySplit(6, 1), test: tinySplit(3, 8) };
}

describe('USPS sets', () => {
  it('are stored with their fixed split as their one subset, deduplicated by their hashes', () => {
    const store = new Store(temporaryDatabase());
    const set = tinyUspsSet();
    const first = store.importUspsSet(set);
    expect(first.created).toBe(true);
    expect(store.importUspsSet({ ...set, name: 'again' })).toEqual({ datasetId: first.datasetId, created: false });
    // The same hashes under the other kind are another dataset: the kinds hash different things.
    const mnist = store.importMnistSource({ ...tinySource(), sha256: set.sha256 }, []);
    expect(mnist.created).toBe(true);
    expect(store.findDataset('usps', set.sha256)).toBe(first.datasetId);
    expect(store.findDataset('mnist', set.sha256)).toBe(mnist.datasetId);

    const subsetId = store.findSubset(first.datasetId, USPS_SUBSET_SEED)!;
    expect(store.getDataset(first.datasetId)).toEqual({
      id: first.datasetId,
      kind: 'usps',
      name: 'USPS tiny',
      sha256: set.sha256,
      trainCount: 6,
      testCount: 3,
      createdAt: expect.any(Number),
      subsets: [{ id: subsetId, seed: USPS_SUBSET_SEED, trainCount: 6, testCount: 3, runCount: 0 }],
      runCount: 0,
    });
    expect(store.listDatasets().map((dataset) => dataset.kind)).toEqual(['usps', 'mnist']);
    const stored = store.loadSubset(subsetId);
    expect(stored).toMatchObject({ datasetId: first.datasetId, seed: USPS_SUBSET_SEED });
    for (const split of ['train', 'test'] as const) {
      expect(stored[split].inputs).toEqual(set[split].inputs);
      expect(stored[split].labels).toEqual(set[split].labels);
      expect(stored[split].sourceIndices).toEqual(set[split].sourceIndices);
    }
    expect(() => store.loadMnistSource(first.datasetId)).toThrow(expect.objectContaining({ code: 'invalid_state', message: expect.stringContaining('USPS') }));
    expect(() => store.getDataset(999)).toThrow(expect.objectContaining({ code: 'not_found' }));

    const runId = store.createRun({ preset: 'p', config: RunConfigSchema.parse({ seed: 4 }), subsetId, engineVersion: 'test', status: 'queued', initialWeights: weightsOf(1) });
    expect(store.getRunSummary(runId)).toMatchObject({ datasetId: first.datasetId, subsetId, seed: USPS_SUBSET_SEED });
    expect(store.getDataset(first.datasetId).runCount).toBe(1);
    expect(() => store.deleteDataset(first.datasetId, false)).toThrow(expect.objectContaining({ code: 'dataset_in_use' }));
    expect(store.deleteDataset(first.datasetId, true)).toEqual({ deletedRuns: 1 });
    expect(store.listDatasets().map((dataset) => dataset.id)).toEqual([mnist.datasetId]);
    expect(() => store.loadSubset(subsetId)).toThrow(expect.objectContaining({ code: 'not_found' }));
    store.close();
  });

  it('leave nothing behind when the import fails inside its transaction', () => {
    const store = new Store(temporaryDatabase(), {
      beforeCommit: () => {
        throw new Error('simulated failure before commit');
      },
    });
    expect(() => store.importUspsSet(tinyUspsSet())).toThrow(/simulated/);
    expect(store.listDatasets()).toEqual([]);
    expect(store.findDataset('usps', tinyUspsSet().sha256)).toBeUndefined();
    expect(() => store.importUspsSet({ ...tinyUspsSet(), test: { ...tinySplit(3, 8), labels: new Uint8Array(2) } })).toThrow(/test split arrays/);
    expect(store.listDatasets()).toEqual([]);
    store.close();
  });
});

describe('migration from schema version 1', () => {
  /** A database at version 1, written with version 1's own tables and columns, as an older release left it. */
  function version1Database(file: string): Database.Database {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const db = new Database(file);
    migrateSchema(db, 1);
    expect(db.pragma('user_version', { simple: true })).toBe(1);
    return db;
  }

  function insertVersion1Source(db: Database.Database, source: MnistSourceInput, createdAt: number): number {
    const { train, test } = source.mnist;
    const inserted = db
      .prepare(
        `INSERT INTO mnist_sources (name, train_images_sha256, train_labels_sha256, test_images_sha256, test_labels_sha256,
           train_count, test_count, train_images, train_labels, test_images, test_labels, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(source.name, source.sha256.trainImages, source.sha256.trainLabels, source.sha256.testImages, source.sha256.testLabels, train.count, test.count,
        Buffer.from(train.images), Buffer.from(train.labels), Buffer.from(test.images), Buffer.from(test.labels), createdAt);
    return Number(inserted.lastInsertRowid);
  }

  function insertVersion1Subset(db: Database.Database, sourceId: number, seed: number, train: Split, test: Split): number {
    const bytes = (array: Float32Array | Uint32Array | Uint8Array) => Buffer.from(array.buffer, array.byteOffset, array.byteLength);
    const inserted = db
      .prepare(
        `INSERT INTO subsets (source_id, seed, train_count, test_count, train_indices, test_indices, train_inputs, test_inputs,
           train_labels, test_labels, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`,
      )
      .run(sourceId, seed, train.count, test.count, bytes(train.sourceIndices), bytes(test.sourceIndices), bytes(train.inputs), bytes(test.inputs),
        bytes(train.labels), bytes(test.labels));
    return Number(inserted.lastInsertRowid);
  }

  it('keeps every dataset, subset, run, pass, checkpoint and setting, and never hands out an id freed under version 1', () => {
    const file = temporaryDatabase();
    const v1 = version1Database(file);
    const kept = tinySource(0);
    const keptId = insertVersion1Source(v1, kept, 111);
    const train = tinySplit(4, 0);
    const test = tinySplit(2, 5);
    const subsetId = insertVersion1Subset(v1, keptId, 1337, train, test);
    // The newest source and subset are deleted: their ids must stay unused after the migration too.
    const droppedId = insertVersion1Source(v1, tinySource(1), 222);
    const droppedSubsetId = insertVersion1Subset(v1, droppedId, 7, tinySplit(3, 1), tinySplit(1, 2));
    v1.prepare('DELETE FROM subsets WHERE id = ?').run(droppedSubsetId);
    v1.prepare('DELETE FROM mnist_sources WHERE id = ?').run(droppedId);
    const runId = Number(
      v1
        .prepare(`INSERT INTO runs (preset, config, status, subset_id, engine_version, created_at, updated_at) VALUES ('sgd-1989', '{"seed":1337}', 'paused', ?, 'v1', 5, 6)`)
        .run(subsetId).lastInsertRowid,
    );
    const confusion = passRecord(1).testConfusion;
    v1.prepare(
      `INSERT INTO passes (run_id, pass, train_loss, train_error_percent, train_misses, test_loss, test_error_percent, test_misses, seconds, test_confusion, created_at)
       VALUES (?, 1, 0.5, 10, 729, 0.6, 12.5, 251, 3.5, ?, 7)`,
    ).run(runId, JSON.stringify(confusion));
    const checkpoint = v1.prepare(`INSERT INTO checkpoints (run_id, pass, weights, optimizer_state, created_at) VALUES (?, ?, ?, ?, 8)`);
    checkpoint.run(runId, 0, Buffer.from(weightsOf(0.25).buffer), Buffer.alloc(0));
    checkpoint.run(runId, 1, Buffer.from(weightsOf(0.5).buffer), Buffer.from([9]));
    v1.prepare(`INSERT INTO settings (key, value) VALUES ('theme', '"dark"')`).run();
    v1.close();

    const store = new Store(file);
    expect(store.schemaVersion()).toBe(SCHEMA_VERSION);
    expect(store.integrityCheck()).toBe('ok');
    expect(store.listDatasets()).toEqual([
      {
        id: keptId,
        kind: 'mnist',
        name: 'tiny 0',
        sha256: kept.sha256,
        trainCount: 5,
        testCount: 3,
        createdAt: 111,
        subsets: [{ id: subsetId, seed: 1337, trainCount: 4, testCount: 2, runCount: 1 }],
        runCount: 1,
      },
    ]);
    expect(store.loadMnistSource(keptId)).toEqual(kept.mnist);
    const subset = store.loadSubset(subsetId);
    expect(subset).toMatchObject({ datasetId: keptId, seed: 1337 });
    expect(subset.train.inputs).toEqual(train.inputs);
    expect(subset.test.sourceIndices).toEqual(test.sourceIndices);
    expect(store.getRun(runId)).toMatchObject({
      status: 'paused',
      datasetId: keptId,
      subsetId,
      seed: 1337,
      engineVersion: 'v1',
      passesDone: 1,
      lastTestErrorPercent: 12.5,
      passes: [{ pass: 1, train: { loss: 0.5, errorPercent: 10, misses: 729 }, test: { loss: 0.6, errorPercent: 12.5, misses: 251 }, seconds: 3.5, testConfusion: confusion, createdAt: 7 }],
    });
    expect(store.loadCheckpoint({ runId, pass: 0 }).weights).toEqual(weightsOf(0.25));
    expect(store.loadCheckpoint({ runId }).optimizerState).toEqual(Uint8Array.from([9]));
    expect(store.allSettings()).toEqual({ theme: 'dark' });

    const added = store.importMnistSource(tinySource(2), [{ seed: 5, train: tinySplit(2, 0), test: tinySplit(1, 0) }]);
    expect(added.datasetId).toBeGreaterThan(droppedId);
    expect(store.findSubset(added.datasetId, 5)).toBeGreaterThan(droppedSubsetId);

    // The rebuilt tables enforce their foreign keys: deleting the dataset takes its subset, run, passes and checkpoints.
    expect(store.deleteDataset(keptId, true)).toEqual({ deletedRuns: 1 });
    expect(() => store.loadCheckpoint({ runId })).toThrow(expect.objectContaining({ code: 'not_found' }));
    expect(() => store.loadSubset(subsetId)).toThrow(expect.objectContaining({ code: 'not_found' }));
    store.close();

    const raw = new Database(file, { readonly: true });
    expect(raw.pragma('foreign_key_check')).toEqual([]);
    expect(raw.prepare(`SELECT COUNT(*) FROM passes`).pluck().get()).toBe(0);
    raw.close();
  });

  it('rolls back whole, leaving version 1 as it was, if the data would break a foreign key', () => {
    const file = temporaryDatabase();
    const v1 = version1Database(file);
    v1.pragma('foreign_keys = OFF');
    insertVersion1Subset(v1, 42, 1337, tinySplit(2, 0), tinySplit(1, 0)); // its source does not exist
    v1.close();
    expect(() => new Store(file)).toThrow(expect.objectContaining({ code: 'corrupt_record', message: expect.stringContaining('subsets row 1') }));
    const raw = new Database(file, { readonly: true });
    expect(raw.pragma('user_version', { simple: true })).toBe(1);
    expect(raw.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('datasets', 'subsets_v2', 'mnist_sources_v2')`).all()).toEqual([]);
    expect(raw.prepare(`SELECT source_id FROM subsets`).pluck().all()).toEqual([42]);
    raw.close();
  });
});

describe('runs, passes and checkpoints', () => {
  it('keeps the initial weights as the pass-0 checkpoint and records each pass with its checkpoint', () => {
    const { store, datasetId, runId } = storeWithRun(temporaryDatabase());
    expect(store.getRunSummary(runId)).toMatchObject({
      status: 'queued',
      preset: 'sgd-1989',
      config: RunConfigSchema.parse({ seed: 1337, passes: 3 }),
      datasetId,
      seed: 1337,
      passesDone: 0,
      lastTestErrorPercent: null,
      startedAt: null,
    });
    expect(store.loadCheckpoint({ runId }).weights).toEqual(weightsOf(0.25));

    store.claimRun(runId, ['queued']);
    const startedAt = store.getRunSummary(runId).startedAt;
    expect(startedAt).toEqual(expect.any(Number));
    store.recordPass(runId, passRecord(1), weightsOf(1), new Uint8Array(0));
    store.recordPass(runId, passRecord(2), weightsOf(2), Uint8Array.from([1, 2, 3]));
    store.setRunStatus(runId, 'paused');
    store.claimRun(runId, ['paused']);
    expect(store.getRunSummary(runId).startedAt).toBe(startedAt);

    const run = store.getRun(runId);
    expect(run.passesDone).toBe(2);
    expect(run.lastTestErrorPercent).toBe(10);
    expect(run.passes.map((p) => p.pass)).toEqual([1, 2]);
    expect(run.passes[1]).toMatchObject({ ...passRecord(2), createdAt: expect.any(Number) });

    expect(store.listCheckpoints(runId).map((c) => [c.pass, c.weightsBytes, c.optimizerStateBytes])).toEqual([
      [0, 9760 * 4, 0],
      [1, 9760 * 4, 0],
      [2, 9760 * 4, 3],
    ]);
    const latest = store.loadCheckpoint({ runId });
    expect(latest.pass).toBe(2);
    expect(latest.weights).toEqual(weightsOf(2));
    expect(latest.optimizerState).toEqual(Uint8Array.from([1, 2, 3]));
    expect(store.loadCheckpoint({ runId, pass: 1 }).weights).toEqual(weightsOf(1));
    expect(store.loadCheckpoint({ checkpointId: latest.id }).pass).toBe(2);

    store.setRunStatus(runId, 'finished');
    expect(store.getRunSummary(runId).finishedAt).toEqual(expect.any(Number));
    store.close();
  });

  it('never records a pass without its checkpoint, nor twice', () => {
    let failCommit = false;
    const file = temporaryDatabase();
    const { store, runId } = storeWithRun(file);
    store.close();
    const hooked = new Store(file, {
      beforeCommit: (what) => {
        if (failCommit && what === 'pass') throw new Error('simulated failure before commit');
      },
    });
    failCommit = true;
    expect(() => hooked.recordPass(runId, passRecord(1), weightsOf(1), new Uint8Array(0))).toThrow(/simulated/);
    expect(hooked.getRun(runId).passes).toEqual([]);
    expect(hooked.listCheckpoints(runId).map((c) => c.pass)).toEqual([0]);
    failCommit = false;
    hooked.recordPass(runId, passRecord(1), weightsOf(1), new Uint8Array(0));
    expect(() => hooked.recordPass(runId, passRecord(1), weightsOf(9), new Uint8Array(0))).toThrow(/UNIQUE|PRIMARY KEY/);
    expect(hooked.loadCheckpoint({ runId }).weights).toEqual(weightsOf(1));
    hooked.close();
  });

  it('deletes a run with its passes and checkpoints, and reports unknown ids as not found', () => {
    const { store, runId } = storeWithRun(temporaryDatabase());
    store.recordPass(runId, passRecord(1), weightsOf(1), new Uint8Array(0));
    store.deleteRun(runId);
    expect(store.listRuns()).toEqual([]);
    for (const action of [
      () => store.deleteRun(runId),
      () => store.getRun(runId),
      () => store.listCheckpoints(runId),
      () => store.setRunStatus(runId, 'paused'),
      () => store.loadCheckpoint({ checkpointId: 12345 }),
      () => store.loadSubset(999),
      () => store.loadMnistSource(999),
    ]) {
      expect(action).toThrow(expect.objectContaining({ code: 'not_found' }));
    }
    store.close();
  });

  it('refuses to delete a run that is training, whichever process trains it', () => {
    const file = temporaryDatabase();
    const { store, datasetId, runId } = storeWithRun(file);
    // Another process (the CLI's database mode) claims the run on the same file.
    const otherProcess = new Store(file);
    otherProcess.claimRun(runId, ['queued']);
    otherProcess.close();

    expect(() => store.deleteRun(runId)).toThrow(expect.objectContaining({ code: 'invalid_state', message: `run ${runId} is running: pause or stop it before deleting it` }));
    expect(() => store.deleteDataset(datasetId, true)).toThrow(expect.objectContaining({ code: 'invalid_state', message: expect.stringMatching(`in use by run\\(s\\) ${runId}, which are training`) }));
    expect(store.getRunSummary(runId).status).toBe('running');
    expect(store.listDatasets()).toHaveLength(1);

    store.setRunStatus(runId, 'paused');
    store.deleteRun(runId);
    expect(store.listRuns()).toEqual([]);
    store.close();
  });

  it('refuses a run whose stored config was tampered with, naming the run and the field', () => {
    const file = temporaryDatabase();
    const { store, runId } = storeWithRun(file);
    expect(store.getRunSummary(runId).config).toEqual(RunConfigSchema.parse({ seed: 1337, passes: 3 }));
    const raw = new Database(file);
    const tamper = (config: string) => raw.prepare('UPDATE runs SET config = ? WHERE id = ?').run(config, runId);

    tamper('{"seed": 1337, "passes": -3}');
    const invalid = expect.objectContaining({ code: 'corrupt_record', message: expect.stringMatching(`^run ${runId}: its stored config is not valid at passes: `) });
    expect(() => store.getRunSummary(runId)).toThrow(invalid);
    expect(() => store.listRuns()).toThrow(invalid);
    tamper('{"seed": 1337, "passes": 3, "momentum": 0.9}');
    expect(() => store.getRun(runId)).toThrow(expect.objectContaining({ code: 'corrupt_record', message: expect.stringContaining(`run ${runId}: its stored config is not valid`) }));
    tamper('{"seed": 13');
    expect(() => store.getRunSummary(runId)).toThrow(expect.objectContaining({ code: 'corrupt_record', message: `run ${runId}: its config is not JSON` }));
    raw.close();
    store.close();
  });

  it('rejects a status outside the schema', () => {
    const { store, runId } = storeWithRun(temporaryDatabase());
    expect(() => store.setRunStatus(runId, 'exploded' as 'paused')).toThrow(/CHECK constraint/);
    store.close();
  });
});

describe('settings', () => {
  it('stores JSON values by key and survives reopening', () => {
    const file = temporaryDatabase();
    const store = new Store(file);
    expect(store.getSetting('theme')).toBeUndefined();
    store.setSetting('theme', 'dark');
    store.setSetting('lastRun', { id: 3 });
    store.setSetting('theme', 'light');
    store.close();
    const reopened = new Store(file);
    expect(reopened.allSettings()).toEqual({ lastRun: { id: 3 }, theme: 'light' });
    reopened.setSetting('theme', undefined);
    expect(reopened.getSetting('theme')).toBeUndefined();
    reopened.close();
  });
});

describe('sweeps (schema version 3)', () => {
  function sweepOf(store: Store, datasetId: number, values: number[]): { sweepId: number; runIds: number[] } {
    const subsetId = store.findSubset(datasetId, 1337)!;
    return store.createSweep({ datasetId, preset: 'sgd-1989', parameter: 'learningRate', baseConfig: RunConfigSchema.parse({ seed: 1337, passes: 2 }), workers: 2 }, () =>
      values.map((value) => ({
        runId: store.createRun({ preset: 'sgd-1989', config: RunConfigSchema.parse({ seed: 1337, passes: 2, learningRate: value }), subsetId, engineVersion: 'test', status: 'queued', initialWeights: weightsOf(value) }),
        value,
      })),
    );
  }

  it('groups ordinary runs, listing each with its value and its last pass', () => {
    const { store, datasetId, runId: loneRun } = storeWithRun(temporaryDatabase());
    const { sweepId, runIds } = sweepOf(store, datasetId, [0.1, 0.01]);
    expect(runIds).toHaveLength(2);
    store.recordPass(runIds[1]!, passRecord(1), weightsOf(1), new Uint8Array(0));
    store.recordPass(runIds[1]!, passRecord(2), weightsOf(2), new Uint8Array(0));
    store.setRunStatus(runIds[1]!, 'finished');
    const sweep = store.getSweep(sweepId);
    expect(sweep).toEqual({
      id: sweepId,
      datasetId,
      preset: 'sgd-1989',
      parameter: 'learningRate',
      baseConfig: RunConfigSchema.parse({ seed: 1337, passes: 2 }),
      workers: 2,
      createdAt: expect.any(Number),
      runs: [
        { runId: runIds[0], value: 0.1, status: 'queued', passesDone: 0, trainErrorPercent: null, testErrorPercent: null },
        { runId: runIds[1], value: 0.01, status: 'finished', passesDone: 2, trainErrorPercent: 5, testErrorPercent: 10 },
      ],
    });
    expect(store.listSweeps()).toEqual([sweep]);
    // The runs are ordinary runs: listed, trained and opened like the one outside the sweep.
    expect(store.listRuns().map((run) => run.id)).toEqual([loneRun, ...runIds]);
    expect(() => store.getSweep(sweepId + 1)).toThrow(expect.objectContaining({ code: 'not_found' }));

    store.deleteRun(runIds[0]!);
    expect(store.getSweep(sweepId).runs.map((run) => run.runId)).toEqual([runIds[1]]);
    store.deleteDataset(datasetId, true);
    expect(store.listSweeps()).toEqual([]);
    store.close();
  });

  it('refuses a sweep whose stored base config or parameter was tampered with, naming the sweep', () => {
    const file = temporaryDatabase();
    const { store, datasetId } = storeWithRun(file);
    const { sweepId } = sweepOf(store, datasetId, [0.1, 0.01]);
    const raw = new Database(file);
    raw.prepare('UPDATE sweeps SET base_config = ? WHERE id = ?').run('{"seed": "1337"}', sweepId);
    expect(() => store.getSweep(sweepId)).toThrow(expect.objectContaining({ code: 'corrupt_record', message: expect.stringMatching(`^sweep ${sweepId}: its stored base_config is not valid at seed: `) }));
    raw.prepare('UPDATE sweeps SET base_config = ?, parameter = ? WHERE id = ?').run('{}', 'momentum', sweepId);
    expect(() => store.listSweeps()).toThrow(expect.objectContaining({ code: 'corrupt_record', message: expect.stringMatching(`^sweep ${sweepId}: its stored parameter is not valid: `) }));
    raw.close();
    store.close();
  });

  it('stores a sweep and its runs together or not at all', () => {
    const { store, datasetId } = storeWithRun(temporaryDatabase());
    const runsBefore = store.listRuns();
    const failing = () =>
      store.createSweep({ datasetId, preset: 'sgd-1989', parameter: 'seed', baseConfig: RunConfigSchema.parse({}), workers: 1 }, () => {
        store.createRun({ preset: 'sgd-1989', config: RunConfigSchema.parse({}), subsetId: null, engineVersion: 'test', status: 'queued', initialWeights: weightsOf(1) });
        throw new StoreError('not_found', 'dataset 99 does not exist');
      });
    expect(failing).toThrow('dataset 99 does not exist');
    expect(store.listRuns()).toEqual(runsBefore);
    expect(store.listSweeps()).toEqual([]);
    store.close();
  });

  it('migrates a version 2 database keeping its runs, passes and checkpoints, which belong to no sweep', () => {
    const file = temporaryDatabase();
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const v2 = new Database(file);
    migrateSchema(v2, 2);
    v2.close();
    // A store opened at version 2 would migrate it: write the data with the version 2 tables directly.
    const raw = new Database(file);
    const datasetId = Number(
      raw
        .prepare(
          `INSERT INTO datasets (kind, name, train_images_sha256, train_labels_sha256, test_images_sha256, test_labels_sha256, train_count, test_count, created_at)
           VALUES ('usps', 'usps', 'a', 'b', 'c', 'd', 4, 2, 1)`,
        )
        .run().lastInsertRowid,
    );
    const split = (count: number) => Buffer.alloc(count * 256 * 4);
    const subsetId = Number(
      raw
        .prepare(
          `INSERT INTO subsets (dataset_id, seed, train_count, test_count, train_indices, test_indices, train_inputs, test_inputs, train_labels, test_labels, created_at)
           VALUES (?, 0, 4, 2, ?, ?, ?, ?, ?, ?, 1)`,
        )
        .run(datasetId, Buffer.alloc(16), Buffer.alloc(8), split(4), split(2), Buffer.alloc(4), Buffer.alloc(2)).lastInsertRowid,
    );
    const runId = Number(
      raw
        .prepare(`INSERT INTO runs (preset, config, status, subset_id, engine_version, created_at, updated_at) VALUES ('sgd-1989', '{"seed":5}', 'stopped', ?, 'v2', 5, 6)`)
        .run(subsetId).lastInsertRowid,
    );
    raw.prepare(`INSERT INTO checkpoints (run_id, pass, weights, optimizer_state, created_at) VALUES (?, 0, ?, ?, 8)`).run(runId, Buffer.from(weightsOf(0.75).buffer), Buffer.alloc(0));
    raw.prepare(
      `INSERT INTO passes (run_id, pass, train_loss, train_error_percent, train_misses, test_loss, test_error_percent, test_misses, seconds, test_confusion, created_at)
       VALUES (?, 1, 0.5, 25, 1, 0.6, 50, 1, 3.5, ?, 7)`,
    ).run(runId, JSON.stringify(passRecord(1).testConfusion));
    raw.close();

    const store = new Store(file);
    expect(store.schemaVersion()).toBe(3);
    expect(store.integrityCheck()).toBe('ok');
    expect(store.getRun(runId)).toMatchObject({ status: 'stopped', config: { seed: 5 }, datasetId, subsetId, passesDone: 1, lastTestErrorPercent: 50 });
    expect(store.loadCheckpoint({ runId }).weights).toEqual(weightsOf(0.75));
    expect(store.listSweeps()).toEqual([]);
    const { sweepId } = store.createSweep({ datasetId, preset: 'sgd-1989', parameter: 'seed', baseConfig: RunConfigSchema.parse({}), workers: 1 }, () => [{ runId, value: 5 }]);
    expect(store.getSweep(sweepId).runs).toEqual([{ runId, value: 5, status: 'stopped', passesDone: 1, trainErrorPercent: 25, testErrorPercent: 50 }]);
    store.close();
  });
});
