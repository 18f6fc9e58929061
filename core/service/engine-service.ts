/**
 * The engine service's request handlers and its one training slot. Host-agnostic: it takes raw messages and hands
 * back response and event messages; main.ts connects it to whatever process hosts it.
 *
 * One run trains at a time (the machine's second core evaluates it). Starting a run while another trains queues it;
 * the queue lives in memory, so after a restart a queued run waits to be started again.
 *
 * A sweep trains its runs beside that slot, on worker threads of its own (see core/sweep.ts); its runs waiting for a
 * thread are likewise queued in memory only, and each can be started alone like any queued run after a restart.
 */
import { MnistFileError, bundledMnistDir, type NamedBytes } from '../mnist';
import { createModel, evaluateModel, type Model, type ModelName } from '../models';
import { argmax, PARAMETER_COUNT, PARAMETER_LAYOUT } from '../network';
import {
  base64ToBytes,
  bytesToBase64,
  errorResponse,
  eventMessage,
  parseRequest,
  PROTOCOL_VERSION,
  type ErrorCode,
  type EventData,
  type EventName,
  type Method,
  type ParsedParams,
  type ResponseMessage,
  type Result,
  type RunStatus,
  type RunSummary,
  type ServiceMessage,
} from '../protocol';
import { SafetensorsError } from '../safetensors';
import { StoreError, type Store, type SubsetData } from '../store';
import { CLASSES, INPUT_PIXELS } from '../subset';
import { TrainConfigError, type EvaluationMode } from '../train';
import { decodeWeights, encodeWeights } from '../weights';
import { encodeOnnxModel } from '../onnx';
import { UspsFileError } from '../usps';
import { importMnist, importUsps, readFilesByPath, subsetFor, uspsInputFromPaths, type ImportStage } from './datasets';
import { createRecordedRun, ENGINE_VERSION, RESUMABLE_STATUSES, trainRecordedRun, type HaltReason, type TrainRecordedRunOptions } from './runner';
import { defaultSweepWorkers, SweepError, sweepConfigs, trainOnWorkers } from '../sweep';

/** The renderer redraws at most this often; more progress events would only cost training time. */
const PROGRESS_INTERVAL_MS = 50;

/** A run waiting here for the slot or a sweep thread has this status (enqueue and createRecordedRun set it). */
const WAITING_STATUSES: readonly RunStatus[] = ['queued'];

/** A refusal the caller can act on, with its protocol code. */
class RequestError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

interface ActiveRun {
  runId: number;
  controller: AbortController;
  finished: Promise<void>;
}

/** A sweep whose runs are training: those waiting for a thread, and those on one. */
interface ActiveSweep {
  waiting: number[];
  training: Map<number, ActiveRun>;
}

type Handlers = { [M in Method]: (params: ParsedParams<M>, requestId: number) => Promise<Result<M>> | Result<M> };

export interface EngineServiceOptions {
  evaluation?: EvaluationMode;
}

export class EngineService {
  private active: ActiveRun | null = null;
  private readonly queue: number[] = [];
  private readonly sweeps = new Map<number, ActiveSweep>();
  /** predict() is called on every stroke of the drawing pad: keep the model and the last weights loaded. */
  private predictModel: Model | null = null;
  private predictCheckpointId: number | null = null;

  constructor(
    private readonly store: Store,
    private readonly send: (message: ServiceMessage) => void,
    private readonly options: EngineServiceOptions = {},
  ) {}

  /** Answers one incoming message. Never throws: whatever arrives gets a response. */
  async handle(message: unknown): Promise<ResponseMessage> {
    const request = parseRequest(message);
    if (!request.ok) return request.response;
    try {
      const handler = this.handlers[request.method] as (params: unknown, requestId: number) => unknown;
      const result = await handler(request.params, request.id);
      return { v: PROTOCOL_VERSION, type: 'response', id: request.id, ok: true, result };
    } catch (error) {
      const code = errorCode(error);
      const text = error instanceof Error ? error.message : String(error);
      if (code === 'internal') this.emit('serviceError', { code, message: `${request.method}: ${text}` });
      return errorResponse(request.id, code, text);
    }
  }

  /** Halts the run in progress (recorded as interrupted) and forgets the queue; for a clean exit. */
  async shutdown(): Promise<void> {
    this.queue.length = 0;
    const training = [...this.sweeps.values()].flatMap((sweep) => {
      sweep.waiting.length = 0;
      return [...sweep.training.values()];
    });
    if (this.active) training.push(this.active);
    for (const run of training) run.controller.abort('interrupted' satisfies HaltReason);
    await Promise.all(training.map((run) => run.finished));
  }

  activeRunId(): number | null {
    return this.active?.runId ?? null;
  }

  private emit<E extends EventName>(event: E, data: EventData<E>): void {
    this.send(eventMessage(event, data));
  }

  private emitStatus(runId: number): RunSummary {
    const run = this.summary(runId);
    this.emit('runStatus', { run });
    return run;
  }

  private summary(runId: number): RunSummary {
    return this.store.getRunSummary(runId);
  }

  private readonly handlers: Handlers = {
    getServiceInfo: () => ({
      protocolVersion: PROTOCOL_VERSION,
      engineVersion: ENGINE_VERSION,
      databasePath: this.store.path,
      activeRunId: this.activeRunId(),
    }),

    importMnist: (params, requestId) => {
      const reportStage = this.importStageReporter(requestId);
      reportStage('reading');
      let input: { files: NamedBytes[] } | { dir: string };
      if (params.from === 'bundled') input = { dir: bundledMnistDir() };
      else if (params.from === 'paths') input = { files: readFilesByPath(params.paths) };
      else input = { files: decodeFiles(params.files) };
      const name = params.name ?? (params.from === 'bundled' ? 'MNIST (bundled)' : undefined);
      const { datasetId, created } = importMnist(this.store, input, name, reportStage);
      return { dataset: this.store.getDataset(datasetId), created };
    },

    importUsps: (params, requestId) => {
      const reportStage = this.importStageReporter(requestId);
      reportStage('reading');
      const input = params.from === 'paths' ? uspsInputFromPaths(params.paths) : { files: decodeFiles(params.files) };
      const { datasetId, created } = importUsps(this.store, input, params.name, reportStage);
      return { dataset: this.store.getDataset(datasetId), created };
    },

    listDatasets: () => ({ datasets: this.store.listDatasets() }),

    deleteDataset: ({ datasetId, force }) => {
      const busy = this.store.runIdsOfDataset(datasetId).filter((runId) => this.isBusy(runId));
      if (busy.length > 0) throw new RequestError('invalid_state', `dataset ${datasetId} is in use by run ${busy[0]}, which is training or queued: pause or stop it first`);
      return this.store.deleteDataset(datasetId, force);
    },

    createRun: (params) => {
      const runId = createRecordedRun(this.store, params);
      this.emitStatus(runId);
      if (params.start) this.enqueue(runId);
      return { run: this.summary(runId) };
    },

    startRun: ({ runId }) => ({ run: this.start(runId) }),
    resumeRun: ({ runId }) => ({ run: this.start(runId) }),
    pauseRun: ({ runId }) => this.halt(runId, 'paused'),
    stopRun: ({ runId }) => this.halt(runId, 'stopped'),

    deleteRun: ({ runId }) => {
      if (this.isBusy(runId)) {
        throw new RequestError('invalid_state', `run ${runId} is training or queued: pause or stop it before deleting it`);
      }
      this.store.deleteRun(runId);
      return {};
    },

    listRuns: () => ({ runs: this.store.listRuns() }),
    getRun: ({ runId }) => ({ run: this.store.getRun(runId) }),
    listCheckpoints: ({ runId }) => ({ checkpoints: this.store.listCheckpoints(runId) }),

    exportWeights: ({ checkpointId, format }) => {
      const checkpoint = this.store.loadCheckpoint({ checkpointId });
      const run = this.summary(checkpoint.runId);
      const model = modelOf(run);
      const metadata = { run: String(run.id), preset: run.preset, pass: String(checkpoint.pass), engine: run.engineVersion, model };
      const bytes =
        format === 'onnx'
          ? encodeOnnxModel(checkpoint.weights, { metadata, model })
          : encodeWeights(checkpoint.weights, { format: 'pt', ...metadata });
      // Each format's name is its file extension.
      return { fileName: `lecun1989-run${run.id}-pass${checkpoint.pass}.${format}`, base64: bytesToBase64(bytes) };
    },

    getWeights: ({ checkpointId }) => {
      const { weights } = this.checkpointWeights(checkpointId);
      return {
        tensors: PARAMETER_LAYOUT.map(({ name, shape, offset, length }) => ({
          name,
          shape: [...shape],
          values: Array.from(weights.subarray(offset, offset + length)),
        })),
      };
    },

    importWeights: ({ name, base64 }) => {
      const { parameters } = decodeWeights(base64ToBytes(base64), name);
      const runId = this.store.createRun({
        preset: 'imported',
        config: null,
        subsetId: null,
        engineVersion: ENGINE_VERSION,
        status: 'finished',
        initialWeights: parameters,
      });
      const run = this.emitStatus(runId);
      return { run, checkpointId: this.store.loadCheckpoint({ runId }).id };
    },

    evaluate: ({ checkpointId, datasetId, seed, split }) => {
      const model = this.checkpointModel(checkpointId);
      const examples = subsetFor(this.store, datasetId, seed)[split];
      const misclassified: Result<'evaluate'>['misclassified'] = [];
      const { confusion, ...metrics } = evaluateModel(model, examples, (index, label, predicted) => {
        misclassified.push({ index, sourceIndex: examples.sourceIndices[index]!, label, predicted, outputs: Array.from(model.net.output) });
      });
      return { split, metrics, confusion, misclassified };
    },

    predict: ({ checkpointId, image }) => {
      if (this.predictModel === null || this.predictCheckpointId !== checkpointId) {
        this.predictModel = this.checkpointModel(checkpointId, this.predictModel);
        this.predictCheckpointId = checkpointId;
      }
      const { net } = this.predictModel;
      this.predictModel.forward(Float32Array.from(image), 0, null);
      return {
        outputs: Array.from(net.output),
        predicted: argmax(net.output),
        h1: Array.from(net.h1),
        h2: Array.from(net.h2),
        h3: Array.from(net.h3),
      };
    },

    getSubsetImages: ({ datasetId, seed, split, indices }) => {
      const examples = subsetFor(this.store, datasetId, seed)[split];
      const outOfRange = indices.find((index) => index >= examples.count);
      if (outOfRange !== undefined) throw new RequestError('invalid_params', `index ${outOfRange} is past the ${examples.count} ${split} examples`);
      const classCounts = new Array<number>(CLASSES).fill(0);
      for (const label of examples.labels) classCounts[label]!++;
      return {
        count: examples.count,
        classCounts,
        images: indices.map((index) => ({
          index,
          sourceIndex: examples.sourceIndices[index]!,
          label: examples.labels[index]!,
          pixels: Array.from(examples.inputs.subarray(index * INPUT_PIXELS, (index + 1) * INPUT_PIXELS)),
        })),
      };
    },

    createSweep: ({ datasetId, preset, config, parameter, values, workers }) => {
      const configs = sweepConfigs(config, parameter, values);
      const threads = Math.min(workers ?? defaultSweepWorkers(), configs.length);
      // Drawn before the sweep's write transaction, which would otherwise block every other writer on the database
      // while each seed's subset is drawn from the MNIST source.
      const subsets = new Map<number, SubsetData>();
      for (const { seed } of configs) if (!subsets.has(seed)) subsets.set(seed, subsetFor(this.store, datasetId, seed));
      const { sweepId, runIds } = this.store.createSweep({ datasetId, preset, parameter, baseConfig: config, workers: threads }, () =>
        configs.map((runConfig, index) => ({
          runId: createRecordedRun(this.store, { datasetId, preset, config: runConfig }, subsets.get(runConfig.seed)),
          value: values[index]!,
        })),
      );
      for (const runId of runIds) this.emitStatus(runId);
      this.startSweep(sweepId, runIds, threads);
      return { sweepId, runIds };
    },
    listSweeps: () => ({ sweeps: this.store.listSweeps() }),
    getSweep: ({ sweepId }) => ({ sweep: this.store.getSweep(sweepId) }),
    stopSweep: async ({ sweepId }) => {
      this.store.getSweep(sweepId); // not_found if there is no such sweep
      const sweep = this.sweeps.get(sweepId);
      if (sweep !== undefined) await Promise.all([...sweep.waiting, ...sweep.training.keys()].map((runId) => this.halt(runId, 'stopped')));
      return { sweep: this.store.getSweep(sweepId) };
    },

    getSettings: () => ({ settings: this.store.allSettings() as Result<'getSettings'>['settings'] }),
    setSetting: ({ key, value }) => {
      this.store.setSetting(key, value);
      return {};
    },
  };

  private importStageReporter(requestId: number): (stage: ImportStage) => void {
    return (stage) => this.emit('importProgress', { requestId, stage });
  }

  private checkpointWeights(checkpointId: number): { runId: number; weights: Float32Array } {
    const { runId, weights } = this.store.loadCheckpoint({ checkpointId });
    if (weights.length !== PARAMETER_COUNT) {
      throw new StoreError('corrupt_record', `checkpoint ${checkpointId} holds ${weights.length} weights, not ${PARAMETER_COUNT}`);
    }
    return { runId, weights };
  }

  /** The checkpoint's weights in the model its run trained; `reusable`'s buffers serve if it is that same model. */
  private checkpointModel(checkpointId: number, reusable: Model | null = null): Model {
    const { runId, weights } = this.checkpointWeights(checkpointId);
    const name = modelOf(this.summary(runId));
    const model = reusable?.name === name ? reusable : createModel(name);
    model.net.parameters.set(weights);
    return model;
  }

  // ---- the training slot --------------------------------------------------------------------------------------

  /** Training, or waiting to, in the slot or in a sweep. */
  private isBusy(runId: number): boolean {
    if (this.active?.runId === runId || this.queue.includes(runId)) return true;
    return [...this.sweeps.values()].some((sweep) => sweep.waiting.includes(runId) || sweep.training.has(runId));
  }

  private start(runId: number): RunSummary {
    const run = this.summary(runId);
    if (this.isBusy(runId)) {
      const training = this.active?.runId === runId || [...this.sweeps.values()].some((sweep) => sweep.training.has(runId));
      throw new RequestError('invalid_state', `run ${runId} is already ${training ? 'training' : 'queued'}`);
    }
    if (run.config === null) throw new RequestError('invalid_state', `run ${runId} is an imported model: there is nothing to train`);
    if (!RESUMABLE_STATUSES.includes(run.status)) {
      throw new RequestError('invalid_state', `run ${runId} is ${run.status}; only a ${RESUMABLE_STATUSES.join(', ')} run can be started`);
    }
    this.enqueue(runId);
    return this.summary(runId);
  }

  private enqueue(runId: number): void {
    this.queue.push(runId);
    if (this.active === null) this.startNext();
    else if (this.summary(runId).status !== 'queued') {
      this.store.setRunStatus(runId, 'queued');
      this.emitStatus(runId);
    }
  }

  private startNext(): void {
    const runId = this.queue.shift();
    if (runId === undefined) return;
    const controller = new AbortController();
    const finished = this.train(runId, controller, this.options.evaluation ? { evaluation: this.options.evaluation } : {}).then(() => {
      this.active = null;
      this.announceEnd(runId);
      this.startNext();
    });
    this.active = { runId, controller, finished };
  }

  /** Trains the sweep's runs on `threads` worker threads, each run recorded here as it goes. */
  private startSweep(sweepId: number, runIds: number[], threads: number): void {
    const sweep: ActiveSweep = { waiting: [...runIds], training: new Map() };
    this.sweeps.set(sweepId, sweep);
    const trainRun = (runId: number, trainer: TrainRecordedRunOptions['trainer']) => {
      const controller = new AbortController();
      const finished = this.train(runId, controller, { trainer, evaluation: 'in-thread' }).then(() => {
        sweep.training.delete(runId);
        this.announceEnd(runId);
      });
      sweep.training.set(runId, { runId, controller, finished });
      return finished;
    };
    void trainOnWorkers(threads, () => sweep.waiting.shift(), trainRun)
      .catch((error: unknown) => {
        this.emit('serviceError', { code: 'internal', message: `sweep ${sweepId}: ${error instanceof Error ? error.message : String(error)}` });
      })
      .finally(() => this.sweeps.delete(sweepId));
  }

  /** Trains a recorded run to its end or halt, reporting as it goes; never rejects. */
  private train(runId: number, controller: AbortController, how: Pick<TrainRecordedRunOptions, 'trainer' | 'evaluation'>): Promise<void> {
    let lastProgressAt = -Infinity;
    return trainRecordedRun(this.store, runId, {
      signal: controller.signal,
      ...how,
      onStarted: () => this.emitStatus(runId),
      onProgress: (progress) => {
        const now = performance.now();
        if (now - lastProgressAt < PROGRESS_INTERVAL_MS) return;
        lastProgressAt = now;
        this.emit('trainingProgress', { runId, ...progress });
      },
      onPass: ({ parameters: _weights, ...metrics }) => this.emit('passFinished', { runId, metrics }),
    })
      .then(
        () => {},
        (error: unknown) => {
          // Only a run that could not even be claimed lands here (deleted, or claimed by another process).
          this.emit('serviceError', { code: errorCode(error), message: `run ${runId}: ${error instanceof Error ? error.message : String(error)}` });
        },
      );
  }

  private announceEnd(runId: number): void {
    if (this.store.listRuns().some((run) => run.id === runId)) this.emitStatus(runId);
  }

  /**
   * Halts a run waiting here for the slot or a sweep thread: only while it is still queued, since another process on
   * the same database may have claimed it meanwhile, and its 'running' must not be overwritten.
   */
  private haltWaiting(runId: number, reason: 'paused' | 'stopped'): RunSummary {
    try {
      this.store.setRunStatus(runId, reason, null, WAITING_STATUSES);
    } catch (error) {
      if (error instanceof StoreError && error.code === 'invalid_state') {
        throw new RequestError('invalid_state', `run ${runId} was started by another process meanwhile: it is ${this.summary(runId).status} there, not here`);
      }
      throw error;
    }
    return this.emitStatus(runId);
  }

  private async halt(runId: number, reason: 'paused' | 'stopped'): Promise<Result<'pauseRun'>> {
    const queued = this.queue.indexOf(runId);
    if (queued >= 0) {
      this.queue.splice(queued, 1);
      return { run: this.haltWaiting(runId, reason) };
    }
    for (const sweep of this.sweeps.values()) {
      const waiting = sweep.waiting.indexOf(runId);
      if (waiting >= 0) {
        sweep.waiting.splice(waiting, 1);
        return { run: this.haltWaiting(runId, reason) };
      }
      const training = sweep.training.get(runId);
      if (training !== undefined) {
        training.controller.abort(reason);
        await training.finished;
        return { run: this.summary(runId) };
      }
    }
    if (this.active?.runId !== runId) {
      const { status } = this.summary(runId);
      throw new RequestError('invalid_state', `run ${runId} is not training here (it is ${status})`);
    }
    this.active.controller.abort(reason);
    await this.active.finished;
    return { run: this.summary(runId) };
  }
}

/**
 * The model a run's weights belong to. Imported weights have no config and are read as the 1989 network: importWeights
 * does not look for a model in the file's metadata.
 */
function modelOf(run: Pick<RunSummary, 'config'>): ModelName {
  return run.config?.model ?? 'tanh-mse-1989';
}

function decodeFiles(files: { name: string; base64: string }[]): NamedBytes[] {
  return files.map((file) => ({ name: file.name, bytes: base64ToBytes(file.base64) }));
}

function errorCode(error: unknown): ErrorCode {
  if (error instanceof RequestError) return error.code;
  if (error instanceof StoreError) {
    return error.code === 'not_found' || error.code === 'dataset_in_use' || error.code === 'invalid_state' ? error.code : 'internal';
  }
  if (error instanceof MnistFileError || error instanceof UspsFileError || error instanceof SafetensorsError) return 'bad_file';
  if (error instanceof TrainConfigError || error instanceof SweepError) return 'invalid_params';
  return 'internal';
}
