/**
 * An in-memory AppApi for the renderer's tests: a small engine that keeps datasets, runs and checkpoints in arrays
 * and behaves as the protocol documents (refusals included). Every call's params and every result go through the
 * protocol's own zod schemas, so a store sending a malformed request, or this double drifting from the contract,
 * fails the test. Training does not happen by itself: a test makes passes finish with `finishPass`.
 */
import type { AboutInfo, AppApi, MenuCommand } from '../../core/app-api';
import { PARAMETER_COUNT, PARAMETER_LAYOUT } from '../../core/network';
import {
  bytesToBase64,
  createEngineApi,
  EngineError,
  requestSchemas,
  USPS_SUBSET_SEED,
  type CheckpointInfo,
  type DatasetInfo,
  type DatasetKind,
  type EngineEvent,
  type ErrorCode,
  type ExportFormat,
  type Method,
  type ParsedParams,
  type PassMetrics,
  type Result,
  type RunDetail,
  type RunStatus,
  type SweepInfo,
} from '../../core/protocol';
import { encodeOnnxModel } from '../../core/onnx';
import { encodeSafetensors, type Tensor } from '../../core/safetensors';
import { TEST_SIZE, TRAIN_SIZE } from '../../core/subset';

type Handlers = { [M in Method]: (params: ParsedParams<M>) => Result<M> | Promise<Result<M>> };

const SHA = (digit: string) => digit.repeat(64);

/** The weights stored for a checkpoint: distinct per checkpoint and known to the test. */
export function checkpointParameters(checkpointId: number): Float32Array {
  return Float32Array.from({ length: PARAMETER_COUNT }, (_, i) => Math.sin(i + checkpointId));
}

/** Test digit `index` of the fake subset: label index % 10, a bar whose position depends on the index. */
export function fakeDigit(index: number): { label: number; pixels: number[] } {
  const pixels = Array.from({ length: 256 }, (_, p) => ((p % 16) === index % 16 ? 1 : -1));
  return { label: index % 10, pixels };
}

export function passMetrics(pass: number, testMisses = 100 - pass): PassMetrics {
  const confusion = Array.from({ length: 10 }, (_, truth) => Array.from({ length: 10 }, (_, predicted) => (truth === predicted ? 190 : 1)));
  return {
    pass,
    train: { loss: 0.06 / pass, errorPercent: 10 / pass, misses: Math.round(729 / pass) },
    test: { loss: 0.06 / Math.sqrt(pass), errorPercent: (100 * testMisses) / TEST_SIZE, misses: testMisses },
    seconds: 4.5,
    testConfusion: confusion,
  };
}

export class FakeEngine {
  readonly datasets: DatasetInfo[] = [];
  readonly runs: RunDetail[] = [];
  readonly checkpoints: CheckpointInfo[] = [];
  /** Sweeps as created, their runs by id; a sweep's runs are listed from `runs` on each request, as the service does. */
  readonly sweeps: (Omit<SweepInfo, 'runs'> & { runIds: number[] })[] = [];
  /** Every call as made, params after validation. */
  readonly calls: { method: Method; params: unknown }[] = [];
  /** The next call of a method fails with this error (once). */
  readonly failures = new Map<Method, EngineError>();
  private readonly holds = new Map<Method, Promise<void>>();
  /** What the host's file dialog "chooses": files to import, or null for a cancelled dialog. */
  mnistDialogChoice: { name: string; base64: string }[] | null = null;
  uspsDialogChoice: { name: string; base64: string }[] | null = null;
  weightsDialogChoice: { name: string; base64: string } | null = null;
  /** What the host's save dialog saved: each export, in order. */
  readonly exported: { checkpointId: number; format: ExportFormat; fileName: string }[] = [];

  readonly api: AppApi;
  private readonly listeners = new Set<(event: EngineEvent) => void>();
  private readonly menuListeners = new Set<(command: MenuCommand) => void>();
  private nextId = 1;
  private importRequests = 0;

  constructor(host: AppApi['host'] = 'browser') {
    const engine = createEngineApi(
      (method, params) => this.call(method, params),
      (listener) => {
        this.listeners.add(listener);
        return () => void this.listeners.delete(listener);
      },
    );
    this.api = {
      ...engine,
      host,
      importMnistWithDialog: async () => (this.mnistDialogChoice === null ? null : engine.importMnist({ from: 'bytes', files: this.mnistDialogChoice })),
      importUspsWithDialog: async () => (this.uspsDialogChoice === null ? null : engine.importUsps({ from: 'bytes', files: this.uspsDialogChoice })),
      importWeightsWithDialog: async () => (this.weightsDialogChoice === null ? null : engine.importWeights(this.weightsDialogChoice)),
      exportWeightsWithDialog: async (checkpointId, format) => {
        const { fileName } = await engine.exportWeights({ checkpointId, format });
        this.exported.push({ checkpointId, format, fileName });
        return true;
      },
      onMenuCommand: (listener) => {
        this.menuListeners.add(listener);
        return () => void this.menuListeners.delete(listener);
      },
      about: async (): Promise<AboutInfo> => ({ appVersion: '0.1.0', engineVersion: 'test', electronVersion: null, nodeVersion: null, chromeVersion: null }),
    };
  }

  emit(event: EngineEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  menu(command: MenuCommand): void {
    for (const listener of this.menuListeners) listener(command);
  }

  /** Holds the next call of `method` before it is handled, until the returned function is called. */
  holdNext(method: Method): () => void {
    let release!: () => void;
    this.holds.set(method, new Promise<void>((resolve) => (release = resolve)));
    return () => release();
  }

  failNext(method: Method, code: ErrorCode, message: string): void {
    this.failures.set(method, new EngineError(code, message, method));
  }

  callsOf(method: Method): unknown[] {
    return this.calls.filter((call) => call.method === method).map((call) => call.params);
  }

  /**
   * An MNIST set with its default subset, or a USPS set whose published split (by default of USPS's real sizes) is its
   * one subset, with seed USPS_SUBSET_SEED.
   */
  addDataset(name = 'MNIST (60000 + 10000)', uspsSplit?: { trainCount: number; testCount: number }): DatasetInfo {
    const id = this.nextId++;
    const split = uspsSplit ?? { trainCount: TRAIN_SIZE, testCount: TEST_SIZE };
    const dataset: DatasetInfo = {
      id,
      kind: uspsSplit === undefined ? 'mnist' : 'usps',
      name,
      sha256: { trainImages: SHA('a'), trainLabels: SHA('b'), testImages: SHA('c'), testLabels: SHA('d') },
      trainCount: uspsSplit?.trainCount ?? 60000,
      testCount: uspsSplit?.testCount ?? 10000,
      createdAt: Date.UTC(2025, 0, 2, 3, 4),
      subsets: [{ id: this.nextId++, seed: uspsSplit === undefined ? 1337 : USPS_SUBSET_SEED, ...split, runCount: 0 }],
      runCount: 0,
    };
    this.datasets.push(dataset);
    return dataset;
  }

  addRun(options: { datasetId: number | null; status: RunStatus; passes?: number; preset?: string }): RunDetail {
    const id = this.nextId++;
    const now = Date.UTC(2025, 0, 2, 3, 4);
    const run: RunDetail = {
      id,
      preset: options.preset ?? 'sgd-1989',
      config: options.datasetId === null ? null : { seed: 1337, passes: 23, learningRate: 0.03, trainLimit: null },
      status: options.status,
      datasetId: options.datasetId,
      subsetId: this.datasets.find((known) => known.id === options.datasetId)?.subsets[0]?.id ?? null,
      seed: options.datasetId === null ? null : 1337,
      engineVersion: 'test',
      error: null,
      createdAt: now,
      updatedAt: now,
      startedAt: null,
      finishedAt: null,
      passesDone: 0,
      lastTestErrorPercent: null,
      passes: [],
    };
    this.runs.push(run);
    this.addCheckpoint(id, 0);
    const dataset = this.datasets.find((known) => known.id === options.datasetId);
    if (dataset !== undefined) dataset.runCount++;
    for (let pass = 1; pass <= (options.passes ?? 0); pass++) this.recordPass(run, passMetrics(pass));
    return run;
  }

  /** Records a finished pass and its checkpoint, and tells the listeners as the service would. */
  finishPass(runId: number, metrics: PassMetrics): void {
    const run = this.run(runId);
    this.recordPass(run, metrics);
    this.emit({ event: 'passFinished', data: { runId, metrics } });
  }

  setStatus(runId: number, status: RunStatus): void {
    const run = this.run(runId);
    run.status = status;
    this.emit({ event: 'runStatus', data: { run: this.summary(run) } });
  }

  private recordPass(run: RunDetail, metrics: PassMetrics): void {
    run.passes.push({ ...metrics, createdAt: Date.now() });
    run.passesDone = metrics.pass;
    run.lastTestErrorPercent = metrics.test.errorPercent;
    this.addCheckpoint(run.id, metrics.pass);
  }

  private addCheckpoint(runId: number, pass: number): CheckpointInfo {
    const checkpoint = { id: this.nextId++, runId, pass, createdAt: Date.now(), weightsBytes: PARAMETER_COUNT * 4, optimizerStateBytes: 0 };
    this.checkpoints.push(checkpoint);
    return checkpoint;
  }

  private run(runId: number): RunDetail {
    const run = this.runs.find((known) => known.id === runId);
    if (run === undefined) throw new EngineError('not_found', `run ${runId} does not exist`);
    return run;
  }

  private sweepInfo(sweepId: number): SweepInfo {
    const sweep = this.sweeps.find((known) => known.id === sweepId);
    if (sweep === undefined) throw new EngineError('not_found', `sweep ${sweepId} does not exist`);
    const { runIds, ...info } = sweep;
    const runs = runIds.flatMap((runId) => {
      const run = this.runs.find((known) => known.id === runId);
      if (run === undefined || run.config === null) return [];
      const last = run.passes.at(-1);
      return [
        {
          runId,
          value: run.config[sweep.parameter] ?? 0,
          status: run.status,
          passesDone: run.passesDone,
          trainErrorPercent: last?.train.errorPercent ?? null,
          testErrorPercent: last?.test.errorPercent ?? null,
        },
      ];
    });
    return { ...info, runs };
  }

  private summary(run: RunDetail) {
    const { passes: _passes, ...summary } = run;
    return structuredClone(summary);
  }

  private async call(method: Method, rawParams: unknown): Promise<unknown> {
    const parsed = requestSchemas[method].params.safeParse(rawParams);
    if (!parsed.success) throw new EngineError('invalid_params', `${method}: ${parsed.error.message}`, method);
    this.calls.push({ method, params: parsed.data });
    const hold = this.holds.get(method);
    if (hold !== undefined) {
      this.holds.delete(method);
      await hold;
    }
    const failure = this.failures.get(method);
    if (failure !== undefined) {
      this.failures.delete(method);
      throw failure;
    }
    const handler = this.handlers[method] as (params: unknown) => unknown;
    const result = await handler(parsed.data);
    // Results cross a boundary as copies, never as this engine's own objects.
    return requestSchemas[method].result.parse(structuredClone(result));
  }

  private setRunStatus(runId: number, allowed: RunStatus[], status: RunStatus): Result<'pauseRun'> {
    const run = this.run(runId);
    if (!allowed.includes(run.status)) throw new EngineError('invalid_state', `run ${runId} is ${run.status}`);
    run.status = status;
    const summary = this.summary(run);
    this.emit({ event: 'runStatus', data: { run: summary } });
    return { run: summary };
  }

  /** Refuses sent files as the service would: one named "corrupt…", or the wrong number for the kind. */
  private receiveFiles(kind: DatasetKind, files: { name: string }[]): void {
    const corrupt = files.find((file) => file.name.includes('corrupt'));
    if (kind === 'mnist') {
      if (corrupt !== undefined) throw new EngineError('bad_file', `${corrupt.name}: magic number 0x1f8b0800 is not an IDX file`);
      if (files.length !== 4) throw new EngineError('bad_file', `MNIST needs four files, got ${files.length}`);
    } else {
      if (corrupt !== undefined) throw new EngineError('bad_file', `${corrupt.name}: line 3: 255 pixel values; a USPS line holds 256`);
      if (files.length !== 2) throw new EngineError('bad_file', `expected exactly two files, a training and a test file; given ${files.length}`);
    }
  }

  private readonly handlers: Handlers = {
    getServiceInfo: () => ({
      protocolVersion: 1,
      engineVersion: 'test',
      databasePath: '/tmp/lecun1989-test.db',
      activeRunId: this.runs.find((run) => run.status === 'running')?.id ?? null,
    }),
    importMnist: (params) => {
      const requestId = ++this.importRequests;
      this.emit({ event: 'importProgress', data: { requestId, stage: 'reading' } });
      if (params.from === 'bytes') this.receiveFiles('mnist', params.files);
      this.emit({ event: 'importProgress', data: { requestId, stage: 'decoding' } });
      const existing = this.datasets[0];
      if (existing !== undefined && params.from === 'bundled') return { dataset: existing, created: false };
      return { dataset: this.addDataset(params.name ?? (params.from === 'bundled' ? 'bundled MNIST' : 'MNIST (60000 + 10000)')), created: true };
    },
    importUsps: (params) => {
      const requestId = ++this.importRequests;
      this.emit({ event: 'importProgress', data: { requestId, stage: 'reading' } });
      if (params.from === 'bytes') this.receiveFiles('usps', params.files);
      this.emit({ event: 'importProgress', data: { requestId, stage: 'decoding' } });
      const name = params.name ?? `USPS zip.train + zip.test (${TRAIN_SIZE} + ${TEST_SIZE})`;
      return { dataset: this.addDataset(name, { trainCount: TRAIN_SIZE, testCount: TEST_SIZE }), created: true };
    },
    listDatasets: () => ({ datasets: this.datasets }),
    deleteDataset: ({ datasetId, force }) => {
      const using = this.runs.filter((run) => run.datasetId === datasetId);
      if (using.length > 0 && !force) throw new EngineError('dataset_in_use', `dataset ${datasetId} is used by ${using.length} runs`);
      const at = this.datasets.findIndex((dataset) => dataset.id === datasetId);
      if (at < 0) throw new EngineError('not_found', `dataset ${datasetId} does not exist`);
      this.datasets.splice(at, 1);
      for (const run of using) this.runs.splice(this.runs.indexOf(run), 1);
      return { deletedRuns: using.length };
    },
    createRun: ({ datasetId, preset, config, start }) => {
      if (!this.datasets.some((dataset) => dataset.id === datasetId)) throw new EngineError('not_found', `dataset ${datasetId} does not exist`);
      const run = this.addRun({ datasetId, status: start ? 'running' : 'queued', preset });
      run.config = config;
      return { run: this.summary(run) };
    },
    startRun: ({ runId }) => this.setRunStatus(runId, ['queued', 'paused', 'stopped', 'interrupted'], 'running'),
    resumeRun: ({ runId }) => this.setRunStatus(runId, ['paused', 'stopped', 'interrupted'], 'running'),
    pauseRun: ({ runId }) => this.setRunStatus(runId, ['queued', 'running'], 'paused'),
    stopRun: ({ runId }) => this.setRunStatus(runId, ['queued', 'running', 'paused'], 'stopped'),
    deleteRun: ({ runId }) => {
      this.runs.splice(this.runs.indexOf(this.run(runId)), 1);
      return {};
    },
    listRuns: () => ({ runs: this.runs.map((run) => this.summary(run)) }),
    getRun: ({ runId }) => ({ run: this.run(runId) }),
    listCheckpoints: ({ runId }) => ({ checkpoints: this.checkpoints.filter((checkpoint) => checkpoint.runId === this.run(runId).id) }),
    exportWeights: ({ checkpointId, format }) => {
      const checkpoint = this.checkpoints.find((known) => known.id === checkpointId);
      if (checkpoint === undefined) throw new EngineError('not_found', `checkpoint ${checkpointId} does not exist`);
      const parameters = checkpointParameters(checkpointId);
      const tensors: Record<string, Tensor> = {};
      for (const slot of PARAMETER_LAYOUT) tensors[slot.name] = { shape: [...slot.shape], data: parameters.subarray(slot.offset, slot.offset + slot.length) };
      const bytes = format === 'onnx' ? encodeOnnxModel(parameters) : encodeSafetensors(tensors);
      return { fileName: `lecun1989-run${checkpoint.runId}-pass${checkpoint.pass}.${format}`, base64: bytesToBase64(bytes) };
    },
    getWeights: ({ checkpointId }) => {
      if (!this.checkpoints.some((known) => known.id === checkpointId)) throw new EngineError('not_found', `checkpoint ${checkpointId} does not exist`);
      const parameters = checkpointParameters(checkpointId);
      return {
        tensors: PARAMETER_LAYOUT.map((slot) => ({ name: slot.name, shape: [...slot.shape], values: Array.from(parameters.subarray(slot.offset, slot.offset + slot.length)) })),
      };
    },
    importWeights: () => {
      const run = this.addRun({ datasetId: null, status: 'finished', preset: 'imported' });
      const checkpoint = this.checkpoints.find((known) => known.runId === run.id)!;
      return { run: this.summary(run), checkpointId: checkpoint.id };
    },
    evaluate: ({ split }) => {
      const misclassified = [3, 17, 42].map((index) => ({ index, sourceIndex: index * 5, label: fakeDigit(index).label, predicted: (fakeDigit(index).label + 1) % 10, outputs: Array(10).fill(-0.9) }));
      const confusion = Array.from({ length: 10 }, (_, truth) => Array.from({ length: 10 }, (_, predicted) => (truth === predicted ? 200 : 0)));
      for (const entry of misclassified) confusion[entry.label]![entry.predicted]! += 1;
      return { split, metrics: { loss: 0.028, errorPercent: (100 * 3) / TEST_SIZE, misses: 3 }, confusion, misclassified };
    },
    predict: ({ image }) => {
      // The digit is the column of the brightest bar, so a test can steer the answer.
      const columnInk = Array.from({ length: 16 }, (_, column) => image.filter((_, p) => p % 16 === column).reduce((sum, value) => sum + value, 0));
      const predicted = columnInk.indexOf(Math.max(...columnInk)) % 10;
      return {
        outputs: Array.from({ length: 10 }, (_, digit) => (digit === predicted ? 0.9 : -0.9)),
        predicted,
        h1: Array.from({ length: 768 }, (_, i) => Math.tanh(Math.sin(i))),
        h2: Array.from({ length: 192 }, (_, i) => Math.tanh(Math.cos(i))),
        h3: Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? 0.5 : -0.5)),
      };
    },
    getSubsetImages: ({ datasetId, seed, split, indices }) => {
      const dataset = this.datasets.find((known) => known.id === datasetId);
      if (dataset === undefined) throw new EngineError('not_found', `dataset ${datasetId} does not exist`);
      // A USPS set has one split whatever the seed; an MNIST subset not drawn yet would be, at the 1989 sizes.
      const subset = dataset.kind === 'usps' ? dataset.subsets[0] : dataset.subsets.find((known) => known.seed === seed);
      const count = split === 'train' ? (subset?.trainCount ?? TRAIN_SIZE) : (subset?.testCount ?? TEST_SIZE);
      const outside = indices.find((index) => index >= count);
      if (outside !== undefined) throw new EngineError('invalid_params', `index ${outside} is past the ${split} split's ${count} digits`);
      return {
        count,
        classCounts: Array.from({ length: 10 }, (_, digit) => Math.floor(count / 10) + (digit < count % 10 ? 1 : 0)),
        images: indices.map((index) => ({ index, sourceIndex: index * 5, ...fakeDigit(index) })),
      };
    },
    createSweep: ({ datasetId, preset, config, parameter, values, workers }) => {
      if (!this.datasets.some((dataset) => dataset.id === datasetId)) throw new EngineError('not_found', `dataset ${datasetId} does not exist`);
      const runIds = values.map((value) => {
        const run = this.addRun({ datasetId, status: 'queued', preset });
        run.config = { ...config, [parameter]: value };
        return run.id;
      });
      const id = this.nextId++;
      this.sweeps.push({ id, datasetId, preset, parameter, baseConfig: config, workers: workers ?? 2, createdAt: Date.UTC(2025, 0, 2, 3, 5), runIds });
      return { sweepId: id, runIds };
    },
    listSweeps: () => ({ sweeps: this.sweeps.map((sweep) => this.sweepInfo(sweep.id)) }),
    getSweep: ({ sweepId }) => ({ sweep: this.sweepInfo(sweepId) }),
    stopSweep: ({ sweepId }) => {
      for (const runId of this.sweepInfo(sweepId).runs.map((run) => run.runId)) {
        const run = this.run(runId);
        if (run.status === 'queued' || run.status === 'running' || run.status === 'paused') this.setStatus(runId, 'stopped');
      }
      return { sweep: this.sweepInfo(sweepId) };
    },
    getSettings: () => ({ settings: {} }),
    setSetting: () => ({}),
  };
}
