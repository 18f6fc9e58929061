import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultDatabasePath, SCHEMA_VERSION, Store, StoreError, type MnistSourceInput, type PassRecord } from '../core/store';
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
    config: { seed: 1337, passes: 3 },
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
    expect(() => new Store(file)).toThrow(/schema version 2 is newer/);
    const again = new Database(file);
    expect(again.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION + 1);
    again.close();
  });

  it('marks runs left running by a process that is gone as interrupted, and only those', () => {
    const file = temporaryDatabase();
    const { store, runId } = storeWithRun(file);
    const pausedRun = store.createRun({ preset: 'p', config: {}, subsetId: null, engineVersion: 'test', status: 'paused', initialWeights: weightsOf(1) });
    const liveRun = store.createRun({ preset: 'p', config: {}, subsetId: null, engineVersion: 'test', status: 'queued', initialWeights: weightsOf(1) });
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
    expect(datasets[0]).toMatchObject({ id: first.datasetId, name: 'tiny 0', trainCount: 5, testCount: 3, runCount: 0 });
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

describe('runs, passes and checkpoints', () => {
  it('keeps the initial weights as the pass-0 checkpoint and records each pass with its checkpoint', () => {
    const { store, datasetId, runId } = storeWithRun(temporaryDatabase());
    expect(store.getRunSummary(runId)).toMatchObject({
      status: 'queued',
      preset: 'sgd-1989',
      config: { seed: 1337, passes: 3 },
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
