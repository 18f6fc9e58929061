// @vitest-environment happy-dom
import { describe, expect, it, vi } from 'vitest';
import { PARAMETER_LAYOUT } from '../../core/network';
import { USPS_SUBSET_SEED } from '../../core/protocol';
import { useDatasetsStore } from '../../renderer/stores/datasets';
import { useInspectStore } from '../../renderer/stores/inspect';
import { useRunsStore } from '../../renderer/stores/runs';
import { useSessionStore } from '../../renderer/stores/session';
import { useTrainingStore } from '../../renderer/stores/training';
import { checkpointParameters, FakeEngine, passMetrics } from './fake-engine';
import { createHarness, flushPromises } from './harness';

/** A stand-in for a File: a name, a size and its bytes. */
function file(name: string, bytes: number[] = [0x1f, 0x8b, 8, 0]) {
  const data = new Uint8Array(bytes);
  return { name, size: data.length, arrayBuffer: async () => data.buffer };
}

const MNIST_FILES = ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'].map((name) =>
  file(name),
);

describe('datasets store', () => {
  it('lists the datasets, selects the first and previews a page of its training digits', async () => {
    const { engine } = createHarness();
    const dataset = engine.addDataset();
    const store = useDatasetsStore();
    await store.refresh();
    expect(store.datasets.map((known) => known.id)).toEqual([dataset.id]);
    expect(store.selectedId).toBe(dataset.id);
    expect(engine.callsOf('getSubsetImages')).toEqual([
      { datasetId: dataset.id, seed: 1337, split: 'train', indices: Array.from({ length: 64 }, (_, i) => i) },
    ]);
    expect(store.preview?.images).toHaveLength(64);
    expect(store.preview?.pageCount).toBe(Math.ceil(7291 / 64));
    expect(store.preview?.classCounts.reduce((sum, count) => sum + count, 0)).toBe(7291);
  });

  it('sends dropped files as bytes and follows the import through its stages', async () => {
    const { engine } = createHarness();
    const store = useDatasetsStore();
    const release = engine.holdNext('importMnist');
    const importing = store.importFiles('mnist', MNIST_FILES);
    await flushPromises();
    expect(store.importing).toBe(true);
    expect(store.importStage).toBe('reading files');
    engine.emit({ event: 'importProgress', data: { requestId: 1, stage: 'storing' } });
    expect(store.importStage).toBe('storing');
    release();
    await importing;
    const [params] = engine.callsOf('importMnist') as { from: string; files: { name: string; base64: string }[] }[];
    expect(params!.from).toBe('bytes');
    expect(params!.files.map((sent) => sent.name)).toEqual(MNIST_FILES.map((sent) => sent.name));
    expect(params!.files[0]!.base64).toBe('H4sIAA==');
    expect(store.importing).toBe(false);
    expect(store.importStage).toBeNull();
    expect(store.datasets).toHaveLength(1);
    expect(store.selectedId).toBe(store.datasets[0]!.id);
    expect(store.importResult).toMatch(/^Imported/);
  });

  it('shows a refused file as a readable message and leaves the list as it was', async () => {
    const { engine } = createHarness();
    engine.addDataset('kept');
    const store = useDatasetsStore();
    await store.refresh();
    const before = JSON.parse(JSON.stringify(store.datasets));
    await store.importFiles('mnist', [...MNIST_FILES.slice(0, 3), file('t10k-labels-corrupt.gz')]);
    expect(store.importError).toBe('The file was not accepted: t10k-labels-corrupt.gz: magic number 0x1f8b0800 is not an IDX file');
    expect(store.datasets).toEqual(before);
    expect(store.importing).toBe(false);
  });

  it('refuses more than four files, and oversized ones, before sending anything', async () => {
    const { engine } = createHarness();
    const store = useDatasetsStore();
    await store.importFiles('mnist', [...MNIST_FILES, file('extra')]);
    expect(store.importError).toMatch(/four files.*5 were given/);
    await store.importFiles('mnist', [{ name: 'huge', size: 3 * 1024 ** 3, arrayBuffer: async () => new ArrayBuffer(0) }]);
    expect(store.importError).toMatch(/^huge: 3221225472 bytes is larger than any MNIST file/);
    expect(engine.callsOf('importMnist')).toEqual([]);
  });

  it('leaves a dataset with runs in place unless forced, then deletes it and its runs', async () => {
    const { engine } = createHarness();
    const dataset = engine.addDataset();
    engine.addRun({ datasetId: dataset.id, status: 'finished', passes: 2 });
    const store = useDatasetsStore();
    const runs = useRunsStore();
    await Promise.all([store.refresh(), runs.refresh()]);
    expect(await store.deleteDataset(dataset.id, false)).toBe('in_use');
    expect(store.datasets).toHaveLength(1);
    expect(store.listError).toBeNull();
    expect(await store.deleteDataset(dataset.id, true)).toBe('deleted');
    expect(store.datasets).toEqual([]);
    expect(runs.runs).toEqual([]);
  });

  it('imports the bundled MNIST and says when the files were already stored', async () => {
    const { engine } = createHarness();
    engine.addDataset('MNIST');
    const store = useDatasetsStore();
    await store.importBundled();
    expect(engine.callsOf('importMnist')).toEqual([{ from: 'bundled' }]);
    expect(store.importResult).toBe('These files are already stored as "MNIST".');
  });
});

const USPS_FILES = [file('zip.train.gz'), file('zip.test.gz')];

describe('datasets store: USPS', () => {
  it('sends the two USPS files as bytes to importUsps, follows its stages, and previews its split with seed 0', async () => {
    const { engine } = createHarness();
    const store = useDatasetsStore();
    const release = engine.holdNext('importUsps');
    const importing = store.importFiles('usps', USPS_FILES);
    await flushPromises();
    expect(store.importingKind).toBe('usps');
    expect(store.importStage).toBe('reading files');
    engine.emit({ event: 'importProgress', data: { requestId: 1, stage: 'storing' } });
    expect(store.importStage).toBe('storing');
    release();
    await importing;
    expect(engine.callsOf('importUsps')).toEqual([
      { from: 'bytes', files: [{ name: 'zip.train.gz', base64: 'H4sIAA==' }, { name: 'zip.test.gz', base64: 'H4sIAA==' }] },
    ]);
    expect(engine.callsOf('importMnist')).toEqual([]);
    expect(store.importingKind).toBeNull();
    expect(store.datasets.map((dataset) => dataset.kind)).toEqual(['usps']);
    expect(store.selectedId).toBe(store.datasets[0]!.id);
    expect(store.importResult).toBe('Imported "USPS zip.train + zip.test (7291 + 2007)".');
    expect(engine.callsOf('getSubsetImages')).toEqual([
      { datasetId: store.datasets[0]!.id, seed: USPS_SUBSET_SEED, split: 'train', indices: Array.from({ length: 64 }, (_, i) => i) },
    ]);
  });

  it('shows a refused USPS file readably and leaves the list as it was', async () => {
    const { engine } = createHarness();
    engine.addDataset('kept');
    const store = useDatasetsStore();
    await store.refresh();
    const before = JSON.parse(JSON.stringify(store.datasets));
    await store.importFiles('usps', [file('zip.train'), file('zip.test-corrupt')]);
    expect(store.importError).toBe('The file was not accepted: zip.test-corrupt: line 3: 255 pixel values; a USPS line holds 256');
    expect(store.datasets).toEqual(before);
    expect(store.importing).toBe(false);
    expect(store.importResult).toBeNull();
  });

  it('refuses more than two USPS files before sending anything', async () => {
    const { engine } = createHarness();
    const store = useDatasetsStore();
    await store.importFiles('usps', [...USPS_FILES, file('usps.t')]);
    expect(store.importError).toMatch(/^USPS is two files \(zip\.train and zip\.test, or usps and usps\.t\); 3 were given$/);
    expect(engine.callsOf('importUsps')).toEqual([]);
  });

  it('imports through the host’s dialog, and does nothing when it is cancelled', async () => {
    const { engine } = createHarness(new FakeEngine('electron'));
    const store = useDatasetsStore();
    await store.importWithDialog('usps');
    expect(engine.callsOf('importUsps')).toEqual([]);
    expect([store.importError, store.importResult]).toEqual([null, null]);
    engine.uspsDialogChoice = [{ name: 'usps', base64: 'AQID' }, { name: 'usps.t', base64: 'BAUG' }];
    await store.importWithDialog('usps');
    expect(engine.callsOf('importUsps')).toHaveLength(1);
    expect(store.datasets.map((dataset) => dataset.kind)).toEqual(['usps']);
  });

  it('pages through a USPS set’s published split by its own sizes, whatever MNIST’s are', async () => {
    const { engine } = createHarness();
    engine.addDataset('MNIST');
    const usps = engine.addDataset('USPS (100 + 30)', { trainCount: 100, testCount: 30 });
    const store = useDatasetsStore();
    await store.refresh();
    expect(store.standardSplit(usps.id)).toEqual({ seed: USPS_SUBSET_SEED, trainCount: 100, testCount: 30 });
    await store.select(usps.id);
    expect(store.preview?.pageCount).toBe(2);
    await store.loadPreview(usps.id, 'train', 1);
    expect(store.previewError).toBeNull();
    expect(store.preview?.images.map((image) => image.index)).toEqual(Array.from({ length: 36 }, (_, i) => 64 + i));
    await store.loadPreview(usps.id, 'test', 0);
    expect(store.preview?.images).toHaveLength(30);
    expect(store.preview?.classCounts.reduce((sum, count) => sum + count, 0)).toBe(30);
    const seeds = (engine.callsOf('getSubsetImages') as { datasetId: number; seed: number }[]).map((call) => [call.datasetId, call.seed]);
    expect(seeds).toEqual([[store.datasets[0]!.id, 1337], [usps.id, 0], [usps.id, 0], [usps.id, 0]]);
  });
});

describe('training store', () => {
  async function started() {
    const harness = createHarness();
    const dataset = harness.engine.addDataset();
    await useDatasetsStore().refresh();
    const training = useTrainingStore();
    training.config.passes = 2;
    training.config.trainLimit = 300;
    await training.start();
    return { ...harness, dataset, training, runId: training.runId! };
  }

  it('starts a run of the chosen preset and config on the selected dataset', async () => {
    const { engine, dataset, training } = await started();
    expect(engine.callsOf('createRun')).toEqual([
      { datasetId: dataset.id, preset: 'sgd-1989', config: { seed: 1337, passes: 2, learningRate: 0.03, trainLimit: 300 }, start: true },
    ]);
    expect(training.run?.status).toBe('running');
    expect(training.controls).toEqual(['pause', 'stop']);
  });

  it('shows the progress events of its run only', async () => {
    const { engine, training, runId } = await started();
    const progress = { pass: 1, passes: 2, examplesDone: 150, examplesTotal: 300, examplesPerSecond: 2000, etaSeconds: 0.2 };
    engine.emit({ event: 'trainingProgress', data: { runId: runId + 1000, ...progress } });
    expect(training.progress).toBeNull();
    engine.emit({ event: 'trainingProgress', data: { runId, ...progress } });
    expect(training.progress).toEqual({ runId, ...progress });
  });

  it('fills the pass table from passFinished events, in pass order, once per pass', async () => {
    const { engine, training, runId } = await started();
    engine.finishPass(runId, passMetrics(1, 198));
    engine.emit({ event: 'passFinished', data: { runId: runId + 1000, metrics: passMetrics(1) } });
    engine.finishPass(runId, passMetrics(2, 148));
    engine.emit({ event: 'passFinished', data: { runId, metrics: passMetrics(2, 148) } });
    expect(training.passes.map((pass) => [pass.pass, pass.test.misses])).toEqual([
      [1, 198],
      [2, 148],
    ]);
    expect(training.run?.passesDone).toBe(2);
  });

  it('pauses, stops and resumes through the service, and drops the progress of a run that is not running', async () => {
    const { engine, training, runId } = await started();
    engine.emit({
      event: 'trainingProgress',
      data: { runId, pass: 1, passes: 2, examplesDone: 10, examplesTotal: 300, examplesPerSecond: 100, etaSeconds: 5 },
    });
    await training.control('pause');
    expect(training.run?.status).toBe('paused');
    expect(training.progress).toBeNull();
    expect(training.controls).toEqual(['resume', 'stop']);
    await training.control('stop');
    expect(training.run?.status).toBe('stopped');
    await training.control('resume');
    expect(training.run?.status).toBe('running');
    const changes = new Set(['createRun', 'pauseRun', 'stopRun', 'resumeRun', 'startRun']);
    expect(engine.calls.map((call) => call.method).filter((method) => changes.has(method))).toEqual([
      'createRun',
      'pauseRun',
      'stopRun',
      'resumeRun',
    ]);
  });

  it('says why the service refused, readably', async () => {
    const { engine, training } = await started();
    engine.failNext('pauseRun', 'invalid_state', 'run 3 is finished');
    await training.control('pause');
    expect(training.error).toBe('Not possible right now: run 3 is finished');
    expect(training.run?.status).toBe('running');
  });

  it('keeps its form when the service refuses to create a run', async () => {
    const { engine } = createHarness();
    engine.addDataset();
    await useDatasetsStore().refresh();
    const training = useTrainingStore();
    engine.failNext('createRun', 'invalid_params', 'createRun: config.learningRate: too big');
    training.config.learningRate = 5;
    await training.start();
    expect(training.error).toBe('The engine refused the request: createRun: config.learningRate: too big');
    expect(training.runId).toBeNull();
    expect(training.config.learningRate).toBe(5);
  });

  it('switches every field with a preset', () => {
    createHarness();
    const training = useTrainingStore();
    training.config.learningRate = 0.5;
    training.config.seed = 7;
    training.applyPreset('sgd-1989');
    expect({ ...training.config }).toEqual({ seed: 1337, passes: 23, learningRate: 0.03, trainLimit: null });
  });

  it('carries the fields a preset sets and the form does not edit into createRun, and drops them with the next preset', async () => {
    const { engine } = createHarness();
    const dataset = engine.addDataset();
    await useDatasetsStore().refresh();
    const training = useTrainingStore();
    training.applyPreset('modern');
    training.config.passes = 3;
    await training.start();
    expect(engine.callsOf('createRun')).toEqual([
      {
        datasetId: dataset.id,
        preset: 'modern',
        config: { seed: 1337, passes: 3, learningRate: 3e-4, finalLearningRate: 1e-4, trainLimit: null, optimizer: 'adamw', model: 'modern' },
        start: true,
      },
    ]);
    training.applyPreset('newton-1989');
    expect({ ...training.config }).toEqual({ seed: 1337, passes: 23, learningRate: 0.0005, trainLimit: null, optimizer: 'diag-newton', damping: 0.02 });
    training.applyPreset('sgd-1989');
    expect({ ...training.config }).toEqual({ seed: 1337, passes: 23, learningRate: 0.03, trainLimit: null });
  });
});

describe('runs store', () => {
  it('lists every run newest first, including ones the CLI starts later', async () => {
    const { engine } = createHarness();
    const dataset = engine.addDataset();
    const first = engine.addRun({ datasetId: dataset.id, status: 'finished', passes: 3 });
    const second = engine.addRun({ datasetId: dataset.id, status: 'interrupted', passes: 1 });
    const runs = useRunsStore();
    await runs.refresh();
    expect(runs.runs.map((run) => run.id)).toEqual([second.id, first.id]);
    const fromCli = engine.addRun({ datasetId: dataset.id, status: 'queued' });
    engine.setStatus(fromCli.id, 'running');
    expect(runs.runs.map((run) => [run.id, run.status])).toEqual([
      [fromCli.id, 'running'],
      [second.id, 'interrupted'],
      [first.id, 'finished'],
    ]);
  });

  it('compares at most two runs, dropping the oldest pick', async () => {
    const { engine } = createHarness();
    const dataset = engine.addDataset();
    const ids = [1, 2, 3].map(() => engine.addRun({ datasetId: dataset.id, status: 'finished', passes: 2 }).id);
    const runs = useRunsStore();
    await runs.refresh();
    for (const id of ids) await runs.toggleCompare(id);
    expect(runs.compareIds).toEqual([ids[1], ids[2]]);
    expect(runs.details[ids[2]!]?.passes).toHaveLength(2);
    await runs.toggleCompare(ids[1]!);
    expect(runs.compareIds).toEqual([ids[2]]);
  });

  it('lists a run’s checkpoints, and the new one after each pass', async () => {
    const { engine } = createHarness();
    const dataset = engine.addDataset();
    const run = engine.addRun({ datasetId: dataset.id, status: 'running', passes: 1 });
    const runs = useRunsStore();
    await runs.refresh();
    await runs.select(run.id);
    expect(runs.checkpoints[run.id]?.map((checkpoint) => checkpoint.pass)).toEqual([0, 1]);
    engine.finishPass(run.id, passMetrics(2));
    await flushPromises();
    expect(runs.checkpoints[run.id]?.map((checkpoint) => checkpoint.pass)).toEqual([0, 1, 2]);
    expect(runs.details[run.id]?.passes.map((pass) => pass.pass)).toEqual([1, 2]);
  });

  it('deletes a run, and keeps it when the service refuses', async () => {
    const { engine } = createHarness();
    const dataset = engine.addDataset();
    const run = engine.addRun({ datasetId: dataset.id, status: 'finished', passes: 1 });
    const runs = useRunsStore();
    await runs.refresh();
    engine.failNext('deleteRun', 'invalid_state', `run ${run.id} is training`);
    expect(await runs.deleteRun(run.id)).toBe(false);
    expect(runs.runs).toHaveLength(1);
    expect(runs.error).toBe(`Not possible right now: run ${run.id} is training`);
    expect(await runs.deleteRun(run.id)).toBe(true);
    expect(runs.runs).toEqual([]);
  });

  it('imports weights as a new run and exports a checkpoint through the host, as safetensors or as an ONNX model', async () => {
    const { engine } = createHarness();
    const runs = useRunsStore();
    const imported = await runs.importWeightsFile(file('model.safetensors', [1, 2, 3]));
    expect(engine.callsOf('importWeights')).toEqual([{ name: 'model.safetensors', base64: 'AQID' }]);
    expect(runs.runs.map((run) => run.preset)).toEqual(['imported']);
    expect(runs.selectedId).toBe(imported!.run.id);
    const checkpoint = runs.checkpoints[imported!.run.id]![0]!;
    await runs.exportCheckpoint(checkpoint, 'safetensors');
    expect(runs.notice).toBe(`Exported the weights of run #${imported!.run.id} after pass 0.`);
    await runs.exportCheckpoint(checkpoint, 'onnx');
    expect(runs.notice).toBe(`Exported the weights of run #${imported!.run.id} after pass 0 as an ONNX model.`);
    expect(engine.callsOf('exportWeights')).toEqual([
      { checkpointId: checkpoint.id, format: 'safetensors' },
      { checkpointId: checkpoint.id, format: 'onnx' },
    ]);
    expect(engine.exported.map((saved) => saved.fileName)).toEqual([
      `lecun1989-run${imported!.run.id}-pass0.safetensors`,
      `lecun1989-run${imported!.run.id}-pass0.onnx`,
    ]);
  });

  it('keeps its notice and says why when the service cannot export', async () => {
    const { engine } = createHarness();
    const runs = useRunsStore();
    const imported = await runs.importWeightsFile(file('model.safetensors', [1, 2, 3]));
    const checkpoint = runs.checkpoints[imported!.run.id]![0]!;
    engine.failNext('exportWeights', 'not_found', `checkpoint ${checkpoint.id} does not exist`);
    await runs.exportCheckpoint(checkpoint, 'onnx');
    expect(runs.error).toBe(`Not found: checkpoint ${checkpoint.id} does not exist`);
    expect(runs.notice).toBe(`Imported the weights as run #${imported!.run.id}.`);
    expect(engine.exported).toEqual([]);
  });
});

describe('inspect store', () => {
  async function withTrainedRun() {
    const harness = createHarness();
    const dataset = harness.engine.addDataset();
    const run = harness.engine.addRun({ datasetId: dataset.id, status: 'finished', passes: 3 });
    await Promise.all([useDatasetsStore().refresh(), useRunsStore().refresh()]);
    const inspect = useInspectStore();
    await inspect.ensureModel();
    return { ...harness, dataset, run, inspect };
  }

  it('examines the last checkpoint of the newest trained run when none was chosen', async () => {
    const { engine, run, inspect } = await withTrainedRun();
    const last = engine.checkpoints.filter((checkpoint) => checkpoint.runId === run.id).at(-1)!;
    expect(inspect.model).toEqual({ checkpointId: last.id, runId: run.id, pass: 3 });
  });

  it('evaluates on the run’s own test subset and fetches the misclassified digits', async () => {
    const { engine, dataset, inspect } = await withTrainedRun();
    await inspect.evaluate();
    expect(engine.callsOf('evaluate')).toEqual([{ checkpointId: inspect.model!.checkpointId, datasetId: dataset.id, seed: 1337, split: 'test' }]);
    expect(inspect.evaluation?.misclassified.map((entry) => entry.index)).toEqual([3, 17, 42]);
    expect(Object.keys(inspect.galleryPixels).map(Number)).toEqual([3, 17, 42]);
    expect(inspect.galleryPixels[17]).toHaveLength(256);
  });

  it('evaluates a model chosen while another was still being evaluated', async () => {
    const { engine, run, inspect } = await withTrainedRun();
    const checkpoints = engine.checkpoints.filter((checkpoint) => checkpoint.runId === run.id);
    const release = engine.holdNext('evaluate');
    const first = inspect.evaluate();
    inspect.setModel(checkpoints[1]!);
    await inspect.evaluate();
    release();
    await first;
    await vi.waitFor(() => expect(inspect.evaluating).toBe(false));
    await vi.waitFor(() => expect(engine.callsOf('evaluate').at(-1)).toMatchObject({ checkpointId: checkpoints[1]!.id }));
    await vi.waitFor(() => expect(inspect.evaluation).not.toBeNull());
  });

  it('evaluates the newly chosen dataset when it changes during an evaluation', async () => {
    const { engine } = createHarness();
    const first = engine.addDataset('MNIST');
    const other = engine.addDataset('MNIST again');
    await useDatasetsStore().refresh();
    const imported = await useRunsStore().importWeightsFile(file('model.safetensors', [1, 2, 3]));
    const inspect = useInspectStore();
    inspect.setModel({ id: imported!.checkpointId, runId: imported!.run.id, pass: 0 });
    await inspect.evaluateOn(first.id);
    const release = engine.holdNext('evaluate');
    const inFlight = inspect.evaluateOn(first.id);
    const switched = inspect.evaluateOn(other.id);
    release();
    await Promise.all([inFlight, switched]);
    await vi.waitFor(() => expect(inspect.evaluating).toBe(false));
    await vi.waitFor(() => expect(engine.callsOf('evaluate').at(-1)).toMatchObject({ datasetId: other.id }));
    expect(inspect.evaluation).not.toBeNull();
  });

  it('evaluates an imported model on a USPS set’s published split', async () => {
    const { engine } = createHarness();
    const usps = engine.addDataset('USPS', { trainCount: 7291, testCount: 2007 });
    await useDatasetsStore().refresh();
    const imported = await useRunsStore().importWeightsFile(file('model.safetensors', [1, 2, 3]));
    const inspect = useInspectStore();
    inspect.setModel({ id: imported!.checkpointId, runId: imported!.run.id, pass: 0 });
    await inspect.evaluateOn(usps.id);
    expect(engine.callsOf('evaluate')).toEqual([{ checkpointId: imported!.checkpointId, datasetId: usps.id, seed: USPS_SUBSET_SEED, split: 'test' }]);
    expect(engine.callsOf('getSubsetImages').at(-1)).toMatchObject({ datasetId: usps.id, seed: USPS_SUBSET_SEED, split: 'test' });
  });

  it('predicts only the newest drawing while a prediction is in flight', async () => {
    const { engine, inspect } = await withTrainedRun();
    const drawing = (column: number) => Float32Array.from({ length: 256 }, (_, p) => (p % 16 === column ? 1 : -1));
    const release = engine.holdNext('predict');
    const first = inspect.setDrawing(drawing(1));
    await flushPromises();
    void inspect.setDrawing(drawing(2));
    void inspect.setDrawing(drawing(3));
    release();
    await first;
    await flushPromises();
    const sent = (engine.callsOf('predict') as { image: number[] }[]).map((params) => params.image.indexOf(1));
    expect(sent).toEqual([1, 3]);
    expect(inspect.drawingPrediction?.predicted).toBe(3);
    await inspect.setDrawing(null);
    expect(inspect.drawingPrediction).toBeNull();
  });

  it('reads the 12 H1 kernels from the checkpoint’s weights', async () => {
    const { inspect } = await withTrainedRun();
    await inspect.loadKernels();
    const h1w = PARAMETER_LAYOUT.find((slot) => slot.name === 'H1w')!;
    const expected = checkpointParameters(inspect.model!.checkpointId).subarray(h1w.offset, h1w.offset + h1w.length);
    expect(inspect.kernels).toHaveLength(12);
    expect(inspect.kernels!.every((kernel) => kernel.length === 25)).toBe(true);
    expect(inspect.kernels!.flat()).toEqual(Array.from(expected));
  });

  it('says so when the checkpoint cannot be read, and draws no kernels', async () => {
    const { engine, inspect } = await withTrainedRun();
    engine.failNext('getWeights', 'not_found', `checkpoint ${inspect.model!.checkpointId} does not exist`);
    await inspect.loadKernels();
    expect(inspect.kernels).toBeNull();
    expect(inspect.error).toBe(`Not found: checkpoint ${inspect.model!.checkpointId} does not exist`);
  });

  it('shows the feature maps of a chosen test digit', async () => {
    const { engine, inspect } = await withTrainedRun();
    await inspect.chooseTestIndex(42);
    expect(engine.callsOf('getSubsetImages').at(-1)).toMatchObject({ split: 'test', indices: [42] });
    expect(inspect.chosen).toMatchObject({ kind: 'test', index: 42, label: 2 });
    expect(inspect.featurePrediction?.h1).toHaveLength(768);
    expect(inspect.featurePrediction?.h2).toHaveLength(192);
  });
});

describe('session store', () => {
  it('reports a service crash, then refreshes everything when the service is back, interrupted runs included', async () => {
    const engine = new FakeEngine();
    const { engine: fake } = createHarness(engine);
    const dataset = fake.addDataset();
    const run = fake.addRun({ datasetId: dataset.id, status: 'running', passes: 1 });
    const session = useSessionStore();
    await session.start();
    const training = useTrainingStore();
    expect(training.runId).toBe(run.id);
    expect(session.view).toBe('train');

    fake.emit({ event: 'serviceError', data: { code: 'service_exited', message: 'the engine service exited with signal SIGKILL; restarting it' } });
    expect(session.notices.map((notice) => [notice.kind, notice.text])).toEqual([
      ['error', 'The engine service reported a problem (service_exited): the engine service exited with signal SIGKILL; restarting it'],
    ]);
    fake.runs[0]!.status = 'interrupted';
    const listsBefore = fake.callsOf('listRuns').length;
    fake.emit({ event: 'ready', data: { protocolVersion: 1, engineVersion: 'test', databasePath: '/tmp/x.db', interruptedRunIds: [run.id] } });
    await flushPromises();
    expect(fake.callsOf('listRuns').length).toBe(listsBefore + 1);
    expect(session.notices.map((notice) => notice.text).slice(1)).toEqual([
      'The engine service restarted.',
      `Interrupted: run #${run.id}. Resume it on the Train or Runs view; it continues from its last finished pass.`,
    ]);
    expect(training.run?.status).toBe('interrupted');
    expect(training.controls).toEqual(['resume']);
  });

  it('answers the host’s menu: Load MNIST files… opens the dialog on the Data view', async () => {
    const { engine } = createHarness(new FakeEngine('electron'));
    const session = useSessionStore();
    await session.start();
    engine.mnistDialogChoice = MNIST_FILES.map((chosen) => ({ name: chosen.name, base64: 'H4sIAA==' }));
    session.view = 'runs';
    engine.menu('load-mnist');
    await flushPromises();
    expect(session.view).toBe('data');
    expect(useDatasetsStore().datasets).toHaveLength(1);
    engine.menu('about');
    await flushPromises();
    expect(session.about?.engineVersion).toBe('test');
  });

  it('answers Load USPS files… and Export ONNX model… from the menu', async () => {
    const { engine } = createHarness(new FakeEngine('electron'));
    const dataset = engine.addDataset();
    const run = engine.addRun({ datasetId: dataset.id, status: 'finished', passes: 2 });
    const session = useSessionStore();
    await session.start();
    engine.uspsDialogChoice = [{ name: 'zip.train', base64: 'AQID' }, { name: 'zip.test', base64: 'BAUG' }];
    engine.menu('load-usps');
    await flushPromises();
    expect(session.view).toBe('data');
    expect(useDatasetsStore().datasets.map((known) => known.kind)).toEqual(['mnist', 'usps']);

    await useRunsStore().select(run.id);
    engine.menu('export-onnx');
    engine.menu('export-weights');
    await flushPromises();
    const last = engine.checkpoints.filter((checkpoint) => checkpoint.runId === run.id).at(-1)!;
    expect(engine.exported).toEqual([
      { checkpointId: last.id, format: 'onnx', fileName: `lecun1989-run${run.id}-pass2.onnx` },
      { checkpointId: last.id, format: 'safetensors', fileName: `lecun1989-run${run.id}-pass2.safetensors` },
    ]);
  });

  it('opens on the Data view while there is nothing to train on', async () => {
    createHarness();
    const session = useSessionStore();
    await session.start();
    expect(session.view).toBe('data');
  });
});
