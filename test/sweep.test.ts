// Sweeps: runs that differ in one config field, trained on worker threads and recorded by the service's thread.
// The service is driven in-process through its message handler, on a real database file.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION, RunConfigSchema, type EngineEvent, type Method, type Params, type Result, type ServiceMessage } from '../core/protocol';
import { EngineService } from '../core/service/engine-service';
import { Store } from '../core/store';
import { SweepError, sweepConfigs } from '../core/sweep';
import { runTraining } from '../core/train';

const base = RunConfigSchema.parse({ passes: 2, trainLimit: 300 });

describe('sweepConfigs', () => {
  it('sets the one swept field to each value, keeping the rest of the base config', () => {
    expect(sweepConfigs(base, 'learningRate', [0.01, 0.1]).map((config) => ({ ...config }))).toEqual([
      { ...base, learningRate: 0.01 },
      { ...base, learningRate: 0.1 },
    ]);
    expect(sweepConfigs(base, 'trainLimit', [100, 200]).map((config) => config.trainLimit)).toEqual([100, 200]);
  });

  it.each([
    ['a value that makes no valid config', 'learningRate', [0.03, -1], /learningRate -1 is not valid/],
    ['a fractional pass count', 'passes', [1, 2.5], /passes 2\.5 is not valid/],
    ['a repeated value', 'seed', [1, 2, 1], /seed 1 is given twice/],
    ['a single value', 'learningRate', [0.03], /at least two values/],
  ] as const)('refuses %s', (_name, parameter, values, message) => {
    expect(() => sweepConfigs(base, parameter, values)).toThrow(SweepError);
    expect(() => sweepConfigs(base, parameter, values)).toThrow(message);
  });
});

describe('a sweep in the engine service', () => {
  let folder: string;
  let store: Store;
  let service: EngineService;
  const events: EngineEvent[] = [];
  let datasetId: number;
  let requestId = 0;

  async function call<M extends Method>(method: M, params: Params<M>): Promise<Result<M>> {
    const response = await service.handle({ v: PROTOCOL_VERSION, type: 'request', id: ++requestId, method, params });
    if (!response.ok) throw Object.assign(new Error(response.error.message), { code: response.error.code });
    return response.result as Result<M>;
  }

  function ended(runIds: number[], statuses: string[], timeoutMs = 60_000): Promise<void> {
    const done = () => runIds.every((runId) => events.some((event) => event.event === 'runStatus' && event.data.run.id === runId && statuses.includes(event.data.run.status)));
    return new Promise((resolve, reject) => {
      const startedAt = Date.now();
      const poll = setInterval(() => {
        if (done()) resolve();
        else if (Date.now() - startedAt > timeoutMs) reject(new Error(`runs ${runIds.join(', ')} did not end`));
        else return;
        clearInterval(poll);
      }, 20);
    });
  }

  beforeAll(async () => {
    folder = fs.mkdtempSync(path.join(os.tmpdir(), 'lecun1989-sweep-'));
    store = new Store(path.join(folder, 'sweep.sqlite'));
    service = new EngineService(store, (message: ServiceMessage) => {
      if (message.type === 'event') events.push({ event: message.event, data: message.data } as EngineEvent);
    });
    datasetId = (await call('importMnist', { from: 'bundled' })).dataset.id;
  });

  afterAll(async () => {
    await service.shutdown();
    store.close();
    fs.rmSync(folder, { recursive: true, force: true });
  });

  it('trains three learning rates on two threads, each run stored with its passes and bit-identical to the run alone', async () => {
    const values = [0.01, 0.03, 0.1];
    const { sweepId, runIds } = await call('createSweep', { datasetId, preset: 'sgd-1989', config: base, parameter: 'learningRate', values, workers: 2 });
    expect(runIds).toHaveLength(3);
    await ended(runIds, ['finished', 'failed']);

    const { sweep } = await call('getSweep', { sweepId });
    expect(sweep).toMatchObject({ id: sweepId, datasetId, parameter: 'learningRate', workers: 2, baseConfig: base });
    expect(sweep.runs.map(({ runId, value, status, passesDone }) => ({ runId, value, status, passesDone }))).toEqual(
      runIds.map((runId, index) => ({ runId, value: values[index], status: 'finished', passesDone: 2 })),
    );
    expect((await call('listSweeps', {})).sweeps).toEqual([sweep]);

    const { train, test } = store.loadSubset(store.findSubset(datasetId, 1337)!);
    for (const [index, runId] of runIds.entries()) {
      const { run } = await call('getRun', { runId });
      expect(run.config).toEqual({ ...base, learningRate: values[index] });
      expect(run.passes.map((pass) => pass.pass)).toEqual([1, 2]);
      expect(sweep.runs[index]).toMatchObject({ testErrorPercent: run.passes[1]!.test.errorPercent, trainErrorPercent: run.passes[1]!.train.errorPercent });
      const passEvents = events.flatMap((event) => (event.event === 'passFinished' && event.data.runId === runId ? [event.data.metrics.pass] : []));
      expect(passEvents).toEqual([1, 2]);
      expect((await call('listCheckpoints', { runId })).checkpoints.map((checkpoint) => checkpoint.pass)).toEqual([0, 1, 2]);

      let alone: Float32Array | undefined;
      for await (const result of runTraining({ config: run.config!, train, test, evaluation: 'in-thread' })) alone = result.parameters;
      const swept = store.loadCheckpoint({ runId }).weights;
      expect(Buffer.from(swept.buffer).equals(Buffer.from(alone!.buffer))).toBe(true);
      // The learning rates differ, so their weights must too: the comparison above is not comparing one run thrice.
      if (index > 0) expect(swept).not.toEqual(store.loadCheckpoint({ runId: runIds[index - 1]! }).weights);
    }
  });

  it('stops a whole sweep, waiting runs included; a stopped run then resumes alone like any run', async () => {
    const config = RunConfigSchema.parse({ passes: 3, trainLimit: 7291 });
    const { sweepId, runIds } = await call('createSweep', { datasetId, preset: 'sgd-1989', config, parameter: 'seed', values: [3, 4, 5], workers: 1 });
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (events.some((event) => event.event === 'trainingProgress' && event.data.runId === runIds[0])) {
          clearInterval(poll);
          resolve();
        }
      }, 10);
    });
    expect(await call('startRun', { runId: runIds[2]! }).catch((error: { code: string }) => error.code)).toBe('invalid_state');
    const { sweep } = await call('stopSweep', { sweepId });
    expect(sweep.runs.map((run) => run.status)).toEqual(['stopped', 'stopped', 'stopped']);
    expect(sweep.runs[0]!.passesDone).toBeLessThan(3);

    await call('resumeRun', { runId: runIds[0]! });
    await ended([runIds[0]!], ['finished']);
    const { run } = await call('getRun', { runId: runIds[0]! });
    expect(run.passes.map((pass) => pass.pass)).toEqual([1, 2, 3]);
    expect((await call('getSweep', { sweepId })).sweep.runs.map((entry) => entry.status)).toEqual(['finished', 'stopped', 'stopped']);
  });

  it('on shutdown leaves its training run interrupted and its waiting run queued; resumed alone, the run ends as if never cut', async () => {
    const config = RunConfigSchema.parse({ passes: 3, trainLimit: 7291 });
    const { runIds } = await call('createSweep', { datasetId, preset: 'sgd-1989', config, parameter: 'seed', values: [8, 9], workers: 1 });
    const [cut, waiting] = runIds as [number, number];
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (events.some((event) => event.event === 'passFinished' && event.data.runId === cut)) {
          clearInterval(poll);
          resolve();
        }
      }, 10);
    });
    await service.shutdown();
    const interrupted = (await call('getRun', { runId: cut })).run;
    expect(interrupted.status).toBe('interrupted');
    expect(interrupted.passesDone).toBeGreaterThanOrEqual(1);
    expect(interrupted.passesDone).toBeLessThan(3);
    expect((await call('getRun', { runId: waiting })).run.status).toBe('queued');

    // Passes trained on a sweep's thread, the rest in the service's own slot: the same weights as one straight run.
    await call('resumeRun', { runId: cut });
    await ended([cut], ['finished']);
    const { train, test } = store.loadSubset(store.findSubset(datasetId, 8)!);
    let straight: Float32Array | undefined;
    for await (const result of runTraining({ config: { ...config, seed: 8 }, train, test, evaluation: 'in-thread' })) straight = result.parameters;
    expect(Buffer.from(store.loadCheckpoint({ runId: cut }).weights.buffer).equals(Buffer.from(straight!.buffer))).toBe(true);
  });

  it('refuses bad sweeps with invalid_params or not_found, leaving no run or sweep behind', async () => {
    const runsBefore = (await call('listRuns', {})).runs;
    const sweepsBefore = (await call('listSweeps', {})).sweeps;
    const refusal = (params: Params<'createSweep'>) => call('createSweep', params).then(() => 'accepted', (error: { code: string; message: string }) => `${error.code}: ${error.message}`);
    const sweep = { datasetId, preset: 'sgd-1989', config: base, parameter: 'learningRate' } as const;
    expect(await refusal({ ...sweep, values: [0.03, -0.1] })).toMatch(/^invalid_params: learningRate -0\.1 is not valid/);
    expect(await refusal({ ...sweep, values: [0.03] })).toMatch(/^invalid_params: createSweep: values/);
    expect(await refusal({ ...sweep, values: [0.03, 0.03] })).toMatch(/^invalid_params: learningRate 0\.03 is given twice/);
    expect(await refusal({ ...sweep, parameter: 'momentum' as 'seed', values: [1, 2] })).toMatch(/^invalid_params: createSweep: parameter/);
    expect(await refusal({ ...sweep, datasetId: 999, values: [0.01, 0.1] })).toMatch(/^not_found: dataset 999/);
    expect(await call('getSweep', { sweepId: 999 }).catch((error: { code: string }) => error.code)).toBe('not_found');
    expect((await call('listRuns', {})).runs).toEqual(runsBefore);
    expect((await call('listSweeps', {})).sweeps).toEqual(sweepsBefore);
  });
});
