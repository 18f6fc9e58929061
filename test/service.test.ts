// The engine service as the app, browser mode and the CLI meet it: a real child process started from its bundle,
// driven through the protocol client, every request exercised, bad input included.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundledMnistDir, readMnistDir } from '../core/mnist';
import { createModel } from '../core/models';
import { ONNX_INPUT_NAME, ONNX_OUTPUT_NAME } from '../core/onnx';
import {
  base64ToBytes,
  bytesToBase64,
  EngineError,
  PROTOCOL_VERSION,
  USPS_SUBSET_SEED,
  type Method,
  type Params,
  type ResponseMessage,
  type Result,
  type RunSummary,
} from '../core/protocol';
import { Store } from '../core/store';
import { make1989Dataset } from '../core/subset';
import { initialParameters } from '../core/train';
import { EngineService } from '../core/service/engine-service';
import { measureServiceOverhead } from '../core/service/overhead';
import { decodeWeights, encodeWeights } from '../core/weights';
import { SERVICE_BUNDLE, startService, temporaryFolder, waitForFile, type TestService } from './support/service';
import {
  corruptZipTest,
  USPS_TEST_DIGITS,
  USPS_TEST_FIRST_EXAMPLE,
  USPS_TRAIN_DIGITS,
  uspsFiles,
  uspsInputs,
  writeUspsFolder,
} from './support/usps-files';

const small = { passes: 2, trainLimit: 200 } as const;
const mnistDir = bundledMnistDir();
const mnistFiles = fs.readdirSync(mnistDir).filter((name) => name.endsWith('-ubyte'));

let folder: string;
let service: TestService;
let datasetId: number;

beforeAll(async () => {
  folder = temporaryFolder('service');
  service = startService(path.join(folder, 'lecun1989.sqlite'));
  await service.ready;
});

afterAll(async () => {
  await service?.stop();
  fs.rmSync(folder, { recursive: true, force: true });
});

async function failure(promise: Promise<unknown>): Promise<EngineError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(EngineError);
  return error as EngineError;
}

/** Sends a raw message past the client and returns the service's response to it. */
function rawExchange(message: unknown, id: number | null): Promise<ResponseMessage> {
  return new Promise((resolve) => {
    const listener = (reply: unknown) => {
      const response = reply as ResponseMessage;
      if (response.type === 'response' && response.id === id) {
        service.child.off('message', listener);
        resolve(response);
      }
    };
    service.child.on('message', listener);
    service.child.send(message as object);
  });
}

async function latestWeights(runId: number): Promise<Float32Array> {
  const { checkpoints } = await service.api.listCheckpoints({ runId });
  const { base64 } = await service.api.exportWeights({ checkpointId: checkpoints.at(-1)!.id });
  return decodeWeights(base64ToBytes(base64), 'export').parameters;
}

function finished(runId: number): Promise<unknown> {
  return service.waitForEvent('runStatus', ({ run }) => run.id === runId && run.status === 'finished', 60_000);
}

describe('startup', () => {
  it('announces itself and describes its database', async () => {
    const ready = await service.ready;
    expect(ready).toEqual({ protocolVersion: PROTOCOL_VERSION, engineVersion: expect.any(String), databasePath: path.join(folder, 'lecun1989.sqlite'), interruptedRunIds: [] });
    expect(await service.api.getServiceInfo()).toEqual({ protocolVersion: 1, engineVersion: ready.engineVersion, databasePath: ready.databasePath, activeRunId: null });
  });

  it('refuses a database from a newer schema with a serviceError and exit status 1', async () => {
    const file = path.join(folder, 'future.sqlite');
    const future = new Database(file);
    future.pragma('user_version = 99');
    future.close();
    const doomed = startService(file);
    await expect(doomed.ready).rejects.toThrow(/exited before it was ready \(code 1\)/);
    expect((await doomed.exited).code).toBe(1);
    expect(doomed.stderr()).toMatch(/schema version 99 is newer/);
  });
});

describe('bad input never kills the service', () => {
  it('answers malformed messages, unknown methods and bad params with errors', async () => {
    expect(await rawExchange({ junk: true }, null)).toMatchObject({ ok: false, error: { code: 'bad_message' } });
    expect(await rawExchange({ v: 7, type: 'request', id: 901, method: 'listRuns', params: {} }, 901)).toMatchObject({ ok: false, error: { code: 'version_mismatch' } });
    expect(await rawExchange({ v: 1, type: 'request', id: 902, method: 'formatDisk', params: {} }, 902)).toMatchObject({ ok: false, error: { code: 'unknown_method' } });
    expect(await rawExchange({ v: 1, type: 'request', id: 903, method: 'getRun', params: { runId: 'x' } }, 903)).toMatchObject({
      ok: false,
      error: { code: 'invalid_params', message: expect.stringContaining('runId') },
    });
    expect(await service.api.listRuns()).toEqual({ runs: [] });
  });
});

describe('datasets', () => {
  it('imports the bundled MNIST with progress events, then recognises the same files by path', async () => {
    const imported = await service.api.importMnist({ from: 'bundled' });
    expect(imported.created).toBe(true);
    datasetId = imported.dataset.id;
    expect(imported.dataset).toMatchObject({ name: 'MNIST (bundled)', trainCount: 60000, testCount: 10000, runCount: 0 });
    // The published SHA-256 of the uncompressed train-images-idx3-ubyte.
    expect(imported.dataset.sha256.trainImages).toBe('ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db');
    expect(imported.dataset.subsets).toEqual([{ id: expect.any(Number), seed: 1337, trainCount: 7291, testCount: 2007, runCount: 0 }]);
    const stages = service.events.filter((event) => event.event === 'importProgress').map((event) => event.data.stage);
    expect(stages).toEqual(['reading', 'decoding', 'drawing subset', 'storing', 'done']);

    const again = await service.api.importMnist({ from: 'paths', paths: mnistFiles.map((name) => path.join(mnistDir, name)) });
    expect(again).toMatchObject({ created: false, dataset: { id: datasetId } });
  });

  it('takes the four files as bytes, raw or gzip, and stores nothing new for the same contents', async () => {
    const raw = mnistFiles.map((name) => ({ name, base64: bytesToBase64(fs.readFileSync(path.join(mnistDir, name))) }));
    expect(await service.api.importMnist({ from: 'bytes', files: raw })).toMatchObject({ created: false, dataset: { id: datasetId } });
    const gzipped = mnistFiles.map((name) => ({ name: `${name}.gz`, base64: bytesToBase64(gzipSync(fs.readFileSync(path.join(mnistDir, name)))) }));
    expect(await service.api.importMnist({ from: 'bytes', files: gzipped })).toMatchObject({ created: false, dataset: { id: datasetId } });
    expect((await service.api.listDatasets()).datasets.map((dataset) => dataset.id)).toEqual([datasetId]);
  });

  it('refuses corrupt, missing and incomplete files with bad_file, leaving the datasets untouched', async () => {
    const before = await service.api.listDatasets();
    const labels = fs.readFileSync(path.join(mnistDir, 't10k-labels-idx1-ubyte'));
    const truncated = mnistFiles.map((name) => {
      const bytes = fs.readFileSync(path.join(mnistDir, name));
      return { name, base64: bytesToBase64(name.startsWith('t10k-images') ? bytes.subarray(0, bytes.length - 1) : bytes) };
    });
    const truncatedError = await failure(service.api.importMnist({ from: 'bytes', files: truncated }));
    expect(truncatedError.code).toBe('bad_file');
    expect(truncatedError.message).toMatch(/t10k-images-idx3-ubyte: 7840015 bytes, but its header \(10000 images\) needs exactly 7840016/);

    const badLabel = Buffer.from(labels);
    badLabel[8 + 17] = 12;
    const withBadLabel = mnistFiles.map((name) => ({ name, base64: bytesToBase64(name === 't10k-labels-idx1-ubyte' ? badLabel : fs.readFileSync(path.join(mnistDir, name))) }));
    expect(await failure(service.api.importMnist({ from: 'bytes', files: withBadLabel }))).toMatchObject({ code: 'bad_file', message: expect.stringMatching(/label 12 of item 17/) });

    expect(await failure(service.api.importMnist({ from: 'paths', paths: [path.join(folder, 'nowhere', 'train-images-idx3-ubyte')] }))).toMatchObject({ code: 'bad_file' });
    expect(await failure(service.api.importMnist({ from: 'bytes', files: [{ name: 't10k-labels-idx1-ubyte', base64: bytesToBase64(labels) }] }))).toMatchObject({
      code: 'bad_file',
      message: expect.stringContaining('train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte: missing'),
    });
    expect(await service.api.listDatasets()).toEqual(before);
  });

  it('serves subset images with labels and class counts, as the 1989 draw has them', async () => {
    const local = make1989Dataset(readMnistDir(mnistDir), 1337);
    const { count, classCounts, images } = await service.api.getSubsetImages({ datasetId, split: 'train', indices: [0, 1, 7290] });
    expect(count).toBe(7291);
    expect(classCounts.reduce((a, b) => a + b, 0)).toBe(7291);
    expect(classCounts[local.train.labels[0]!]).toBe(local.train.labels.filter((label) => label === local.train.labels[0]).length);
    expect(images.map((image) => image.sourceIndex)).toEqual([39385, 28837, local.train.sourceIndices[7290]]);
    expect(images[0]!.label).toBe(local.train.labels[0]);
    expect(Float32Array.from(images[2]!.pixels)).toEqual(local.train.inputs.subarray(7290 * 256, 7291 * 256));
    expect((await service.api.getSubsetImages({ datasetId, split: 'test', indices: [0] })).images[0]!.sourceIndex).toBe(6645);

    expect(await failure(service.api.getSubsetImages({ datasetId, split: 'test', indices: [2007] }))).toMatchObject({ code: 'invalid_params', message: expect.stringContaining('past the 2007 test examples') });
    expect(await failure(service.api.getSubsetImages({ datasetId: 4242, split: 'test', indices: [0] }))).toMatchObject({ code: 'not_found' });
  });

  it('draws and keeps the subset of another seed when asked for it', async () => {
    const { images } = await service.api.getSubsetImages({ datasetId, seed: 7, split: 'train', indices: [0] });
    expect(images[0]!.sourceIndex).toBe(make1989Dataset(readMnistDir(mnistDir), 7).train.sourceIndices[0]);
    const [dataset] = (await service.api.listDatasets()).datasets;
    expect(dataset!.subsets.map((subset) => subset.seed)).toEqual([7, 1337]);
  });
});

describe('runs', () => {
  let runId: number;

  it('creates a queued run whose checkpoint 0 is the seeded initialisation', async () => {
    const { run } = await service.api.createRun({ datasetId, preset: 'sgd-1989', config: small });
    runId = run.id;
    expect(run).toMatchObject({ status: 'queued', preset: 'sgd-1989', datasetId, seed: 1337, passesDone: 0, config: { ...small, seed: 1337, learningRate: 0.03 } });
    expect(await latestWeights(runId)).toEqual(initialParameters(1337));
    expect(await failure(service.api.createRun({ datasetId: 999, preset: 'sgd-1989', config: small }))).toMatchObject({ code: 'not_found' });
  });

  it('trains it with progress reports and one passFinished per pass, each pass stored with its checkpoint', async () => {
    const { run } = await service.api.startRun({ runId });
    expect(run.status).toBe('running');
    expect(await failure(service.api.startRun({ runId }))).toMatchObject({ code: 'invalid_state', message: expect.stringContaining('already training') });
    await finished(runId);

    const progress = service.events.flatMap((event) => (event.event === 'trainingProgress' && event.data.runId === runId ? [event.data] : []));
    expect(progress.length).toBeGreaterThan(0);
    for (const report of progress) {
      expect(report).toMatchObject({ passes: 2, examplesTotal: 200 });
      expect([1, 2]).toContain(report.pass);
      expect(report.examplesDone).toBeGreaterThan(0);
      expect(report.examplesDone).toBeLessThanOrEqual(200);
      expect(report.examplesPerSecond).toBeGreaterThan(0);
      expect(report.etaSeconds).toBeGreaterThanOrEqual(0);
    }
    const positions = progress.map((report) => (report.pass - 1) * 200 + report.examplesDone);
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
    const passEvents = service.events.flatMap((event) => (event.event === 'passFinished' && event.data.runId === runId ? [event.data.metrics] : []));
    expect(passEvents.map((metrics) => metrics.pass)).toEqual([1, 2]);

    const { run: stored } = await service.api.getRun({ runId });
    expect(stored).toMatchObject({ status: 'finished', passesDone: 2, lastTestErrorPercent: passEvents[1]!.test.errorPercent });
    expect(stored.passes.map(({ createdAt: _createdAt, ...metrics }) => metrics)).toEqual(passEvents);
    for (const pass of stored.passes) {
      expect(pass.testConfusion.flat().reduce((a, b) => a + b, 0)).toBe(2007);
      expect(pass.test.misses).toBe(Math.round((pass.test.errorPercent * 2007) / 100));
    }
    const { checkpoints } = await service.api.listCheckpoints({ runId });
    expect(checkpoints.map((checkpoint) => [checkpoint.pass, checkpoint.weightsBytes, checkpoint.optimizerStateBytes])).toEqual([
      [0, 39040, 0],
      [1, 39040, 0],
      [2, 39040, 0],
    ]);
    expect(await failure(service.api.resumeRun({ runId }))).toMatchObject({ code: 'invalid_state', message: expect.stringContaining('finished') });
  });

  it('pauses, stops and resumes a run to weights bit-identical to an uninterrupted one', async () => {
    const config = { passes: 3, trainLimit: 7291 };
    const { run } = await service.api.createRun({ datasetId, preset: 'sgd-1989', config, start: true });
    await service.waitForEvent('trainingProgress', (progress) => progress.runId === run.id && progress.pass === 1);
    const paused = await service.api.pauseRun({ runId: run.id });
    expect(paused.run.status).toBe('paused');
    expect(paused.run.passesDone).toBeLessThan(3);
    expect((await service.api.getServiceInfo()).activeRunId).toBeNull();

    await service.api.resumeRun({ runId: run.id });
    await service.waitForEvent('trainingProgress', (progress) => progress.runId === run.id && progress.pass === paused.run.passesDone + 1);
    const stopped = await service.api.stopRun({ runId: run.id });
    expect(stopped.run.status).toBe('stopped');
    expect(await failure(service.api.pauseRun({ runId: run.id }))).toMatchObject({ code: 'invalid_state', message: expect.stringContaining('is stopped') });

    await service.api.resumeRun({ runId: run.id });
    await finished(run.id);
    const { run: reference } = await service.api.createRun({ datasetId, preset: 'sgd-1989', config, start: true });
    await finished(reference.id);

    expect(await latestWeights(run.id)).toEqual(await latestWeights(reference.id));
    const metrics = async (id: number) => (await service.api.getRun({ runId: id })).run.passes.map((pass) => [pass.train, pass.test, pass.testConfusion]);
    expect(await metrics(run.id)).toEqual(await metrics(reference.id));
  });

  it('queues a run started while another trains, and runs it next', async () => {
    const { run: first } = await service.api.createRun({ datasetId, preset: 'sgd-1989', config: small, start: true });
    const { run: second } = await service.api.createRun({ datasetId, preset: 'sgd-1989', config: { ...small, seed: 5 }, start: true });
    expect(second.status).toBe('queued');
    const { run: third } = await service.api.createRun({ datasetId, preset: 'sgd-1989', config: small, start: true });
    expect((await service.api.pauseRun({ runId: third.id })).run.status).toBe('paused');
    await finished(first.id);
    await finished(second.id);
    expect((await service.api.getRun({ runId: second.id })).run).toMatchObject({ status: 'finished', seed: 5 });
    expect((await service.api.getRun({ runId: third.id })).run).toMatchObject({ status: 'paused', passesDone: 0 });
    const statuses = service.events.flatMap((event) => (event.event === 'runStatus' && event.data.run.id === second.id ? [event.data.run.status] : []));
    expect(statuses).toEqual(['queued', 'running', 'finished']);
  });

  it('refuses to start what cannot train, and to delete what is training', async () => {
    const { run } = await service.api.createRun({ datasetId, preset: 'sgd-1989', config: { passes: 50, trainLimit: 7291 }, start: true });
    expect(await failure(service.api.deleteRun({ runId: run.id }))).toMatchObject({ code: 'invalid_state' });
    expect(await failure(service.api.deleteDataset({ datasetId, force: true }))).toMatchObject({ code: 'invalid_state', message: expect.stringContaining(`run ${run.id}`) });
    await service.api.stopRun({ runId: run.id });
    await service.api.deleteRun({ runId: run.id });
    expect(await failure(service.api.getRun({ runId: run.id }))).toMatchObject({ code: 'not_found' });
    expect(await failure(service.api.startRun({ runId: 999 }))).toMatchObject({ code: 'not_found' });
  });
});

describe('another process training on the same database (the CLI in database mode)', () => {
  it('neither deletes nor pauses a run that process claimed, though this service has it queued', async () => {
    const elsewhere = new Store(path.join(folder, 'lecun1989.sqlite'));
    try {
      const { run: training } = await service.api.createRun({ datasetId, preset: 'sgd-1989', config: { passes: 50, trainLimit: 7291 }, start: true });
      const { run: queued } = await service.api.createRun({ datasetId, preset: 'sgd-1989', config: small, start: true });
      const { run: idle } = await service.api.createRun({ datasetId, preset: 'sgd-1989', config: small });
      expect(queued.status).toBe('queued');
      elsewhere.claimRun(queued.id, ['queued']);
      elsewhere.claimRun(idle.id, ['queued']);

      expect(await failure(service.api.pauseRun({ runId: queued.id }))).toMatchObject({ code: 'invalid_state', message: expect.stringContaining('another process') });
      expect(await failure(service.api.deleteRun({ runId: idle.id }))).toMatchObject({ code: 'invalid_state', message: `run ${idle.id} is running: pause or stop it before deleting it` });
      await service.api.stopRun({ runId: training.id });
      expect(await failure(service.api.deleteDataset({ datasetId, force: true }))).toMatchObject({ code: 'invalid_state', message: expect.stringContaining('which are training') });
      for (const runId of [queued.id, idle.id]) expect(elsewhere.getRunSummary(runId).status).toBe('running');

      for (const runId of [queued.id, idle.id]) elsewhere.setRunStatus(runId, 'stopped');
      for (const runId of [training.id, queued.id, idle.id]) await service.api.deleteRun({ runId });
    } finally {
      elsewhere.close();
    }
  });
});

describe('sweeps', () => {
  it('trains a sweep on worker threads of the bundled service, reporting each run like any other', async () => {
    const values = [2, 3];
    const { sweepId, runIds } = await service.api.createSweep({ datasetId, preset: 'sgd-1989', config: { passes: 1, trainLimit: 100 }, parameter: 'seed', values, workers: 2 });
    await Promise.all(runIds.map((runId) => finished(runId)));
    const { sweep } = await service.api.getSweep({ sweepId });
    expect(sweep).toMatchObject({ parameter: 'seed', workers: 2, baseConfig: { passes: 1, trainLimit: 100, seed: 1337, learningRate: 0.03 } });
    for (const [index, runId] of runIds.entries()) {
      const { run } = await service.api.getRun({ runId });
      expect(run).toMatchObject({ status: 'finished', seed: values[index], passesDone: 1 });
      expect(sweep.runs[index]).toEqual({ runId, value: values[index], status: 'finished', passesDone: 1, trainErrorPercent: run.passes[0]!.train.errorPercent, testErrorPercent: run.passes[0]!.test.errorPercent });
      const passEvents = service.events.flatMap((event) => (event.event === 'passFinished' && event.data.runId === runId ? [event.data.metrics] : []));
      expect(passEvents).toEqual(run.passes.map(({ createdAt: _createdAt, ...metrics }) => metrics));
    }
    expect((await service.api.listSweeps()).sweeps.map((listed) => listed.id)).toContain(sweepId);
    expect(await failure(service.api.stopSweep({ sweepId: 999 }))).toMatchObject({ code: 'not_found' });
  });
});

describe('a sweep over seeds (in-process service)', () => {
  it('draws each seed’s subset before its write transaction, leaving the database writable meanwhile', async () => {
    const file = path.join(folder, 'sweep-lock.sqlite');
    const store = new Store(file);
    const inProcess = new EngineService(store, () => {});
    let requestId = 0;
    const call = async <M extends Method>(method: M, params: Params<M>): Promise<Result<M>> => {
      const response = await inProcess.handle({ v: PROTOCOL_VERSION, type: 'request', id: ++requestId, method, params });
      if (!response.ok) throw new Error(response.error.message);
      return response.result as Result<M>;
    };
    // Another writer on the file, as the CLI would be, that will not wait for the lock.
    const otherWriter = new Database(file, { timeout: 0 });
    const writableWhileDrawing: boolean[] = [];
    const loadMnistSource = store.loadMnistSource.bind(store);
    store.loadMnistSource = (datasetId) => {
      try {
        otherWriter.exec('BEGIN IMMEDIATE; ROLLBACK;');
        writableWhileDrawing.push(true);
      } catch {
        writableWhileDrawing.push(false);
      }
      return loadMnistSource(datasetId);
    };
    try {
      const { dataset } = await call('importMnist', { from: 'bundled' });
      writableWhileDrawing.length = 0;
      const { sweepId, runIds } = await call('createSweep', { datasetId: dataset.id, preset: 'sgd-1989', config: small, parameter: 'seed', values: [3, 4], workers: 1 });
      await call('stopSweep', { sweepId });
      expect(writableWhileDrawing).toEqual([true, true]); // seeds 3 and 4
      expect(runIds.map((runId) => store.getRunSummary(runId).seed)).toEqual([3, 4]);
    } finally {
      await inProcess.shutdown();
      otherWriter.close();
      store.close();
    }
  });
});

describe('weights', () => {
  let trainedRun: RunSummary;
  let checkpointId: number;

  beforeAll(async () => {
    trainedRun = (await service.api.listRuns()).runs.find((run) => run.status === 'finished' && run.config?.passes === 3)!;
    checkpointId = (await service.api.listCheckpoints({ runId: trainedRun.id })).checkpoints.at(-1)!.id;
  });

  it('exports a checkpoint as safetensors and imports it back as a new finished model', async () => {
    const exported = await service.api.exportWeights({ checkpointId });
    expect(exported.fileName).toBe(`lecun1989-run${trainedRun.id}-pass3.safetensors`);
    const { parameters, metadata } = decodeWeights(base64ToBytes(exported.base64), exported.fileName);
    expect(metadata).toMatchObject({ run: String(trainedRun.id), pass: '3', preset: 'sgd-1989' });

    const { tensors } = await service.api.getWeights({ checkpointId });
    expect(tensors.map((tensor) => [tensor.name, tensor.shape])).toEqual([
      ['H1w', [12, 1, 5, 5]],
      ['H1b', [12, 8, 8]],
      ['H2w', [12, 8, 5, 5]],
      ['H2b', [12, 4, 4]],
      ['H3w', [192, 30]],
      ['H3b', [30]],
      ['outw', [30, 10]],
      ['outb', [10]],
    ]);
    expect(Float32Array.from(tensors.flatMap((tensor) => tensor.values))).toEqual(parameters);

    const imported = await service.api.importWeights({ name: 'mine.safetensors', base64: exported.base64 });
    expect(imported.run).toMatchObject({ preset: 'imported', status: 'finished', config: null, datasetId: null, passesDone: 0 });
    expect(await latestWeights(imported.run.id)).toEqual(parameters);
    expect(await failure(service.api.startRun({ runId: imported.run.id }))).toMatchObject({ code: 'invalid_state', message: expect.stringContaining('imported model') });

    const corrupt = base64ToBytes(exported.base64).slice(0, 500);
    expect(await failure(service.api.importWeights({ name: 'broken.safetensors', base64: bytesToBase64(corrupt) }))).toMatchObject({
      code: 'bad_file',
      message: expect.stringContaining('broken.safetensors'),
    });
    expect(await failure(service.api.exportWeights({ checkpointId: 999_999 }))).toMatchObject({ code: 'not_found' });
  });

  it('evaluates a checkpoint: the same metrics as its pass, and every misclassified digit with its outputs', async () => {
    const evaluation = await service.api.evaluate({ checkpointId, datasetId, split: 'test' });
    const lastPass = (await service.api.getRun({ runId: trainedRun.id })).run.passes.at(-1)!;
    expect(evaluation.metrics).toEqual(lastPass.test);
    expect(evaluation.confusion).toEqual(lastPass.testConfusion);
    expect(evaluation.misclassified).toHaveLength(lastPass.test.misses);
    for (const miss of evaluation.misclassified) {
      expect(miss.predicted).not.toBe(miss.label);
      expect(miss.outputs.indexOf(Math.max(...miss.outputs))).toBe(miss.predicted);
    }
  });

  it('predicts one digit with its hidden activations, agreeing with evaluate', async () => {
    const { misclassified } = await service.api.evaluate({ checkpointId, datasetId, split: 'test' });
    const miss = misclassified[0]!;
    const { images } = await service.api.getSubsetImages({ datasetId, split: 'test', indices: [miss.index] });
    const prediction = await service.api.predict({ checkpointId, image: images[0]!.pixels });
    expect(prediction.outputs).toEqual(miss.outputs);
    expect(prediction.predicted).toBe(miss.predicted);
    expect([prediction.h1.length, prediction.h2.length, prediction.h3.length]).toEqual([768, 192, 30]);
    for (const value of [...prediction.h1, ...prediction.h2, ...prediction.h3]) expect(Math.abs(value)).toBeLessThanOrEqual(1);

    // An imported copy of other weights must not be answered from the first model's cached network.
    const init = await service.api.importWeights({ name: 'init.safetensors', base64: bytesToBase64(encodeWeights(initialParameters(1))) });
    const other = await service.api.predict({ checkpointId: init.checkpointId, image: images[0]!.pixels });
    expect(other.outputs).not.toEqual(prediction.outputs);
  });
});

describe('the modern variant: scored, drawn and exported as modern.py’s network', () => {
  const config = { passes: 1, trainLimit: 200, learningRate: 3e-4, optimizer: 'adamw', model: 'modern' } as const;
  let runId: number;
  let checkpointId: number;
  let weights: Float32Array;

  beforeAll(async () => {
    const { run } = await service.api.createRun({ datasetId, preset: 'modern', config, start: true });
    runId = run.id;
    await finished(runId);
    checkpointId = (await service.api.listCheckpoints({ runId })).checkpoints.at(-1)!.id;
    weights = await latestWeights(runId);
  }, 60_000);

  it('evaluates with the run’s own model: its last pass’s test metrics, confusion and misses, with the logits', async () => {
    const evaluation = await service.api.evaluate({ checkpointId, datasetId, split: 'test' });
    const lastPass = (await service.api.getRun({ runId })).run.passes.at(-1)!;
    expect(evaluation.metrics).toEqual(lastPass.test);
    expect(evaluation.confusion).toEqual(lastPass.testConfusion);
    expect(evaluation.misclassified).toHaveLength(lastPass.test.misses);
    for (const miss of evaluation.misclassified) {
      expect(miss.outputs.indexOf(Math.max(...miss.outputs))).toBe(miss.predicted);
    }
  });

  it('predicts with the modern forward: the logits and the ReLU activations of the engine’s model', async () => {
    const { misclassified } = await service.api.evaluate({ checkpointId, datasetId, split: 'test' });
    const miss = misclassified[0]!;
    const { images } = await service.api.getSubsetImages({ datasetId, split: 'test', indices: [miss.index] });
    const pixels = images[0]!.pixels;
    const prediction = await service.api.predict({ checkpointId, image: pixels });

    const model = createModel('modern');
    model.net.parameters.set(weights);
    model.forward(Float32Array.from(pixels), 0, null);
    expect(prediction.outputs).toEqual(Array.from(model.net.output));
    expect(prediction.outputs).toEqual(miss.outputs);
    expect(prediction.predicted).toBe(miss.predicted);
    expect([prediction.h1, prediction.h2, prediction.h3]).toEqual([model.net.h1, model.net.h2, model.net.h3].map((layer) => Array.from(layer)));
    expect(Math.min(...prediction.h1, ...prediction.h2, ...prediction.h3)).toBe(0);

    // Imported weights are read as the 1989 network, whatever trained them: tanh everywhere, from the cache's other model.
    const imported = await service.api.importWeights({ name: 'modern.safetensors', base64: bytesToBase64(encodeWeights(weights)) });
    const asTanh = await service.api.predict({ checkpointId: imported.checkpointId, image: pixels });
    expect(Math.min(...asTanh.h1)).toBeLessThan(0);
    for (const value of [...asTanh.outputs, ...asTanh.h1, ...asTanh.h2, ...asTanh.h3]) expect(Math.abs(value)).toBeLessThanOrEqual(1);
    expect((await service.api.predict({ checkpointId, image: pixels })).outputs).toEqual(prediction.outputs);
  });

  it('exports ONNX with Relu and linear outputs, which ONNX Runtime runs to the logits of predict', async () => {
    const exported = await service.api.exportWeights({ checkpointId, format: 'onnx' });
    const session = await ort.InferenceSession.create(base64ToBytes(exported.base64));
    const { images } = await service.api.getSubsetImages({ datasetId, split: 'test', indices: [0, 1, 2] });
    for (const { pixels } of images) {
      const result = await session.run({ [ONNX_INPUT_NAME]: new ort.Tensor('float32', Float32Array.from(pixels), [1, 1, 16, 16]) });
      const onnxOutputs = Array.from(result[ONNX_OUTPUT_NAME]!.data as Float32Array);
      const { outputs } = await service.api.predict({ checkpointId, image: pixels });
      onnxOutputs.forEach((value, digit) => expect(Math.abs(value - outputs[digit]!)).toBeLessThanOrEqual(1e-5));
    }
    await session.release();
    const safetensors = await service.api.exportWeights({ checkpointId });
    expect(decodeWeights(base64ToBytes(safetensors.base64), safetensors.fileName).metadata).toMatchObject({ model: 'modern', preset: 'modern' });
  });
});

describe('settings and deletion', () => {
  it('stores settings as JSON values', async () => {
    await service.api.setSetting({ key: 'theme', value: { mode: 'dark', contrast: [1, 2] } });
    await service.api.setSetting({ key: 'lastRun', value: 3 });
    await service.api.setSetting({ key: 'lastRun' });
    expect(await service.api.getSettings()).toEqual({ settings: { theme: { mode: 'dark', contrast: [1, 2] } } });
  });

  it('refuses to delete a dataset that runs use unless forced, then deletes it with its runs', async () => {
    const runsBefore = (await service.api.listRuns()).runs;
    const trained = runsBefore.filter((run) => run.datasetId === datasetId);
    expect(await failure(service.api.deleteDataset({ datasetId }))).toMatchObject({ code: 'dataset_in_use', message: expect.stringContaining(`${trained.length} run(s)`) });
    expect((await service.api.listRuns()).runs).toEqual(runsBefore);
    expect(await service.api.deleteDataset({ datasetId, force: true })).toEqual({ deletedRuns: trained.length });
    expect((await service.api.listDatasets()).datasets).toEqual([]);
    expect((await service.api.listRuns()).runs.every((run) => run.preset === 'imported')).toBe(true);
  });
});

describe("USPS, the paper's own digits", () => {
  let uspsId: number;
  let runId: number;

  const asBytes = (files: readonly { name: string; bytes: Buffer }[]) => files.map(({ name, bytes }) => ({ name, base64: bytesToBase64(bytes) }));
  const importStagesSince = (eventCount: number) =>
    service.events.slice(eventCount).flatMap((event) => (event.event === 'importProgress' ? [event.data.stage] : []));
  const sha256 = (values: Float32Array | Uint8Array) => createHash('sha256').update(new Uint8Array(values.buffer, values.byteOffset, values.byteLength)).digest('hex');

  it('imports the two files by bytes, with progress, as a dataset whose one subset is the published split', async () => {
    const eventCount = service.events.length;
    const imported = await service.api.importUsps({ from: 'bytes', files: asBytes(uspsFiles('zip')) });
    expect(importStagesSince(eventCount)).toEqual(['reading', 'decoding', 'storing', 'done']);
    expect(imported.created).toBe(true);
    uspsId = imported.dataset.id;
    const trainCount = USPS_TRAIN_DIGITS.length;
    const testCount = USPS_TEST_DIGITS.length;
    expect(imported.dataset).toMatchObject({
      kind: 'usps',
      name: `USPS zip.train + zip.test (${trainCount} + ${testCount})`,
      trainCount,
      testCount,
      subsets: [{ id: expect.any(Number), seed: USPS_SUBSET_SEED, trainCount, testCount, runCount: 0 }],
    });
    // Hashed as decoded values, so that another printing or a gzip copy of the same digits is the same dataset.
    const trainInputs = new Float32Array(trainCount * 256);
    USPS_TRAIN_DIGITS.forEach((_, i) => trainInputs.set(uspsInputs(i), i * 256));
    expect(imported.dataset.sha256.trainImages).toBe(sha256(trainInputs));
    expect(imported.dataset.sha256.testLabels).toBe(sha256(Uint8Array.from(USPS_TEST_DIGITS)));
  });

  it('recognises the same digits by path, as a folder (gzipped) or as two files, and stores nothing new', async () => {
    const folderGz = writeUspsFolder(path.join(folder, 'usps-gz'), uspsFiles('zip', { gzip: true }));
    const eventCount = service.events.length;
    expect(await service.api.importUsps({ from: 'paths', paths: [folderGz] })).toMatchObject({ created: false, dataset: { id: uspsId } });
    expect(importStagesSince(eventCount)).toEqual(['reading', 'decoding', 'storing', 'done']);
    const plain = writeUspsFolder(path.join(folder, 'usps-plain'), uspsFiles('zip'));
    expect(await service.api.importUsps({ from: 'paths', paths: ['zip.test', 'zip.train'].map((name) => path.join(plain, name)) })).toMatchObject({
      created: false,
      dataset: { id: uspsId },
    });
    expect((await service.api.listDatasets()).datasets.filter((dataset) => dataset.kind === 'usps').map((dataset) => dataset.id)).toEqual([uspsId]);
  });

  it('refuses a corrupt file with bad_file naming the file and line, leaving the datasets untouched', async () => {
    const before = await service.api.listDatasets();
    const [train] = uspsFiles('zip');
    const byBytes = await failure(service.api.importUsps({ from: 'bytes', files: asBytes([train, corruptZipTest(3)]) }));
    expect(byBytes).toMatchObject({ code: 'bad_file', message: 'zip.test: line 3: value 256 1.5000 is outside [-1, 1]' });
    const corrupt = writeUspsFolder(path.join(folder, 'usps-corrupt'), [train, corruptZipTest(2)]);
    expect(await failure(service.api.importUsps({ from: 'paths', paths: [corrupt] }))).toMatchObject({
      code: 'bad_file',
      message: `${path.join(corrupt, 'zip.test')}: line 2: value 256 1.5000 is outside [-1, 1]`,
    });
    expect(await failure(service.api.importUsps({ from: 'paths', paths: [path.join(folder, 'no-usps-here')] }))).toMatchObject({
      code: 'bad_file',
      message: expect.stringContaining('no such folder'),
    });
    expect(await failure(service.api.importUsps({ from: 'bytes', files: asBytes([train]) }))).toMatchObject({ code: 'bad_file', message: expect.stringContaining('expected exactly two files') });
    expect(await service.api.listDatasets()).toEqual(before);
  });

  it('killed inside its import transaction, leaves no part of the set behind', async () => {
    const database = path.join(folder, 'usps-killed.sqlite');
    const marker = `${database}.hanging`;
    const doomed = startService(database, { env: { ...process.env, LECUN1989_TEST_HANG_BEFORE_COMMIT: 'import', LECUN1989_TEST_HANG_MARKER: marker } });
    await doomed.ready;
    const pending = doomed.api.importUsps({ from: 'bytes', files: asBytes(uspsFiles('zip')) }).catch((error: unknown) => error);
    await waitForFile(marker);
    doomed.child.kill('SIGKILL');
    expect((await doomed.exited).signal).toBe('SIGKILL');
    expect(await pending).toMatchObject({ code: 'disconnected' });

    const left = new Database(database, { readonly: true });
    expect(left.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(['datasets', 'subsets'].map((table) => left.prepare(`SELECT COUNT(*) FROM ${table}`).pluck().get())).toEqual([0, 0]);
    left.close();
    const again = startService(database);
    await again.ready;
    expect((await again.api.importUsps({ from: 'bytes', files: asBytes(uspsFiles('zip')) })).created).toBe(true);
    await again.stop();
  });

  it('trains a run on the fixed split, config.seed seeding only the initial weights', async () => {
    const { run } = await service.api.createRun({ datasetId: uspsId, preset: 'sgd-1989', config: { seed: 5, passes: 2 }, start: true });
    runId = run.id;
    const { subsets } = (await service.api.listDatasets()).datasets.find((dataset) => dataset.id === uspsId)!;
    expect(run).toMatchObject({ datasetId: uspsId, subsetId: subsets[0]!.id, seed: USPS_SUBSET_SEED, config: { seed: 5, passes: 2 } });
    await finished(runId);
    const { checkpoints } = await service.api.listCheckpoints({ runId });
    const { base64 } = await service.api.exportWeights({ checkpointId: checkpoints[0]!.id });
    expect(decodeWeights(base64ToBytes(base64), 'initial').parameters).toEqual(initialParameters(5));
    const { run: stored } = await service.api.getRun({ runId });
    expect(stored.passes.map((pass) => pass.pass)).toEqual([1, 2]);
    for (const pass of stored.passes) {
      expect(pass.testConfusion.flat().reduce((a, b) => a + b, 0)).toBe(USPS_TEST_DIGITS.length);
      expect(pass.test.errorPercent).toBeCloseTo((100 * pass.test.misses) / USPS_TEST_DIGITS.length, 10);
      expect(pass.train.errorPercent).toBeCloseTo((100 * pass.train.misses) / USPS_TRAIN_DIGITS.length, 10);
    }
    // No MNIST subset was drawn for the seed: the run used the one stored split.
    expect((await service.api.listDatasets()).datasets.find((dataset) => dataset.id === uspsId)!.subsets).toEqual([{ ...subsets[0]!, runCount: 1 }]);
  });

  it('evaluates and previews the fixed split whatever the seed asked for', async () => {
    const last = (await service.api.getRun({ runId })).run.passes.at(-1)!;
    const { checkpoints } = await service.api.listCheckpoints({ runId });
    const evaluation = await service.api.evaluate({ checkpointId: checkpoints.at(-1)!.id, datasetId: uspsId, seed: 1337, split: 'test' });
    expect(evaluation.metrics).toEqual(last.test);
    expect(evaluation.confusion).toEqual(last.testConfusion);

    const preview = await service.api.getSubsetImages({ datasetId: uspsId, seed: 99, split: 'test', indices: [1, 5] });
    expect(preview.count).toBe(USPS_TEST_DIGITS.length);
    expect(preview.classCounts[6]).toBe(USPS_TEST_DIGITS.filter((digit) => digit === 6).length);
    // Line numbers are the source indices.
    expect(preview.images.map((image) => [image.sourceIndex, image.label])).toEqual([
      [2, USPS_TEST_DIGITS[1]],
      [6, USPS_TEST_DIGITS[5]],
    ]);
    expect(Float32Array.from(preview.images[0]!.pixels)).toEqual(uspsInputs(USPS_TEST_FIRST_EXAMPLE + 1));
  });

  it('exports a checkpoint as an ONNX model that ONNX Runtime runs to the outputs of predict', async () => {
    const { checkpoints } = await service.api.listCheckpoints({ runId });
    const checkpointId = checkpoints.at(-1)!.id;
    const exported = await service.api.exportWeights({ checkpointId, format: 'onnx' });
    expect(exported.fileName).toBe(`lecun1989-run${runId}-pass2.onnx`);
    expect((await service.api.exportWeights({ checkpointId, format: 'safetensors' })).fileName).toBe(`lecun1989-run${runId}-pass2.safetensors`);

    const session = await ort.InferenceSession.create(base64ToBytes(exported.base64));
    const image = uspsInputs(USPS_TEST_FIRST_EXAMPLE + 3);
    const result = await session.run({ [ONNX_INPUT_NAME]: new ort.Tensor('float32', image, [1, 1, 16, 16]) });
    const onnxOutputs = Array.from(result[ONNX_OUTPUT_NAME]!.data as Float32Array);
    const { outputs } = await service.api.predict({ checkpointId, image: Array.from(image) });
    expect(onnxOutputs).toHaveLength(10);
    onnxOutputs.forEach((value, digit) => expect(Math.abs(value - outputs[digit]!)).toBeLessThanOrEqual(1e-5));
    await session.release();
    expect(await failure(service.api.exportWeights({ checkpointId, format: 'pt' as 'onnx' }))).toMatchObject({ code: 'invalid_params' });
  });
});

describe('overhead measurement', () => {
  it('times the same run headless and in the service, which trains it to the same weights', async () => {
    const measured = await measureServiceOverhead({ config: { seed: 3, passes: 2, learningRate: 0.03, trainLimit: 100 }, servicePath: SERVICE_BUNDLE });
    expect(measured.identicalWeights).toBe(true);
    expect(measured.headlessSeconds).toBeGreaterThan(0);
    expect(measured.serviceSeconds).toBeGreaterThan(0);
    expect(measured.overheadPercent).toBeCloseTo((100 * (measured.serviceSeconds - measured.headlessSeconds)) / measured.headlessSeconds, 10);
  });
});

describe('shutting down', () => {
  for (const how of ['disconnect', 'SIGTERM'] as const) {
    it(`on ${how}, records the run in progress as interrupted and exits cleanly`, async () => {
      const own = startService(path.join(folder, `shutdown-${how}.sqlite`));
      await own.ready;
      const { dataset } = await own.api.importMnist({ from: 'bundled' });
      const { run } = await own.api.createRun({ datasetId: dataset.id, preset: 'sgd-1989', config: { passes: 5, trainLimit: 7291 }, start: true });
      await own.waitForEvent('trainingProgress', (progress) => progress.runId === run.id);
      if (how === 'disconnect') own.child.disconnect();
      else own.child.kill('SIGTERM');
      expect(await own.exited).toEqual({ code: 0, signal: null });

      const reopened = new Database(path.join(folder, `shutdown-${how}.sqlite`), { readonly: true });
      const status = reopened.prepare('SELECT status FROM runs WHERE id = ?').pluck().get(run.id);
      reopened.close();
      expect(status).toBe('interrupted');
    });
  }
});
