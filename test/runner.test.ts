import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PRESETS } from '../core/presets';
import type { RunConfig } from '../core/protocol';
import { createRecordedRun, trainRecordedRun } from '../core/service/runner';
import { Store, type MnistSourceInput } from '../core/store';
import { MT19937 } from '../core/rng';
import type { Split } from '../core/subset';
import { initialParameters } from '../core/train';

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) fs.rmSync(directory, { recursive: true, force: true });
});

function randomSplit(count: number, seed: number): Split {
  const rng = new MT19937(seed);
  return {
    count,
    inputs: Float32Array.from({ length: count * 256 }, () => Math.fround(rng.nextFloat24() * 2 - 1)),
    labels: Uint8Array.from({ length: count }, () => rng.nextInterval(9)),
    sourceIndices: Uint32Array.from({ length: count }, (_, i) => i),
  };
}

/** A store holding one dataset whose seed-1337 subset is 60 random training and 20 test digits. */
function storeWithDataset(): { store: Store; datasetId: number } {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'lecun1989-runner-'));
  directories.push(directory);
  const store = new Store(path.join(directory, 'runs.sqlite'));
  const source: MnistSourceInput = {
    name: 'random',
    sha256: { trainImages: 'a'.repeat(64), trainLabels: 'b'.repeat(64), testImages: 'c'.repeat(64), testLabels: 'd'.repeat(64) },
    mnist: {
      train: { count: 1, images: new Uint8Array(784), labels: Uint8Array.from([0]) },
      test: { count: 1, images: new Uint8Array(784), labels: Uint8Array.from([0]) },
    },
  };
  const { datasetId } = store.importMnistSource(source, [{ seed: 1337, train: randomSplit(60, 1), test: randomSplit(20, 2) }]);
  return { store, datasetId };
}

function presetConfig(name: string): RunConfig {
  return { ...PRESETS.find((preset) => preset.name === name)!.config, passes: 3 };
}

describe('recorded runs keep the optimizer state in their checkpoints', () => {
  for (const [preset, stateBytes] of [['newton-1989', 8 + 4 * 9760], ['modern', 8 + 8 * 9760], ['sgd-1989', 0]] as const) {
    it(`${preset}: a run paused after pass 1 and resumed ends with the weights of one never paused`, async () => {
      const { store, datasetId } = storeWithDataset();
      const config = presetConfig(preset);
      const straightId = createRecordedRun(store, { datasetId, preset, config });
      expect(await trainRecordedRun(store, straightId, { evaluation: 'in-thread' })).toBe('finished');

      const pausedId = createRecordedRun(store, { datasetId, preset, config });
      const controller = new AbortController();
      const halted = await trainRecordedRun(store, pausedId, {
        evaluation: 'in-thread',
        signal: controller.signal,
        onPass: (result) => {
          if (result.pass === 1) controller.abort('paused');
        },
      });
      expect(halted).toBe('paused');
      expect(store.loadCheckpoint({ runId: pausedId }).pass).toBe(1);
      expect(await trainRecordedRun(store, pausedId, { evaluation: 'in-thread' })).toBe('finished');

      const straight = store.listCheckpoints(straightId);
      expect(straight.map((c) => [c.pass, c.optimizerStateBytes])).toEqual([
        [0, 0],
        [1, stateBytes],
        [2, stateBytes],
        [3, stateBytes],
      ]);
      const last = (runId: number) => store.loadCheckpoint({ runId, pass: 3 });
      expect(last(pausedId).weights).toEqual(last(straightId).weights);
      expect(last(pausedId).optimizerState).toEqual(last(straightId).optimizerState);
      expect(store.loadCheckpoint({ runId: straightId, pass: 0 }).weights).toEqual(initialParameters(1337, config.model));
      store.close();
    });
  }
});
