/**
 * Training and evaluation as the public reproduction runs them: one example at a time in constant order, both splits
 * evaluated after every pass. By default the 1989 network with mean squared error over the 10 outputs and plain SGD;
 * config.model and config.optimizer choose the modern variant (models.ts) and the paper's diagonal Newton or AdamW
 * (optimizers.ts). The loss reported is always the loss the run trains on.
 *
 * A run is a pure function of (config, dataset, starting parameters and optimizer state, passes already done):
 * nothing random hides in the engine's state, so a run resumed from the checkpoint of pass k is bit-identical to one
 * never interrupted. Randomness (diag-newton's Hessian sample, the modern variant's shifts and dropout) is seeded
 * from (config.seed, pass) for the same reason (pass-rng.ts).
 */
import { Worker } from 'node:worker_threads';
import { workerScript } from './worker-script';
import {
  createModel,
  evaluateModel,
  initialModelParameters,
  MODEL_NAMES,
  type LabelledImages,
  type ModelName,
  type SplitEvaluation,
  type SplitMetrics,
} from './models';
import { backward, forward, mseLoss, PARAMETER_COUNT } from './network';
import type { FloatArray, Network } from './network';
import {
  createOptimizer,
  OPTIMIZER_NAMES,
  scheduledLearningRate,
  sgdStep,
  trainExample,
  type OptimizerName,
} from './optimizers';
import { passRng } from './pass-rng';
import { CLASSES, INPUT_PIXELS, writeTargets } from './subset';

export type { LabelledImages, ModelName, OptimizerName, SplitEvaluation, SplitMetrics };
export { sgdStep };

export interface TrainConfig {
  /** Seeds the initial weights (torch.manual_seed). */
  seed: number;
  /** The pass the run ends after; a resumed run counts the passes already done. */
  passes: number;
  /** SGD's η, diag-newton's ε or AdamW's lr at pass 1. */
  learningRate: number;
  /** The learning rate at the last pass, reached linearly (absent: constant). */
  finalLearningRate?: number;
  /** Train on the first N training examples only (null or absent: all); evaluation still covers both splits. */
  trainLimit?: number | null;
  /** How the gradients update the weights; absent: plain SGD. */
  optimizer?: OptimizerName;
  /** μ of diag-newton (absent: DEFAULT_DAMPING). */
  damping?: number;
  /** Absent: the 1989 network, tanh-mse-1989. */
  model?: ModelName;
}

export interface PassResult {
  pass: number;
  train: SplitMetrics;
  test: SplitMetrics;
  testConfusion: number[][];
  /** Wall time since the previous result (or the start of the run): the results' seconds add up to the run's. */
  seconds: number;
  /** A copy of the weights at the end of this pass: the checkpoint to resume from. */
  parameters: Float32Array;
  /**
   * The optimizer's state at the end of this pass (empty for SGD): the rest of the checkpoint. runTraining always
   * sets it; optional so that a record of a pass's metrics (the store's PassRecord) need not carry it.
   */
  optimizerState?: Uint8Array;
}

export interface PassProgress {
  pass: number;
  examplesDone: number;
  examplesTotal: number;
}

/**
 * Where the evaluation after each pass runs. 'worker' evaluates pass k on a second thread while pass k+1 trains;
 * both give identical metrics, the arithmetic being the same code on the same values.
 */
export type EvaluationMode = 'worker' | 'in-thread';

export interface RunOptions {
  config: TrainConfig;
  train: LabelledImages;
  test: LabelledImages;
  /**
   * Continue from the weights (and the optimizer state, required after pass 0 by every optimizer but SGD) after
   * `passesDone` passes instead of the seeded initialisation.
   */
  resume?: { parameters: Float32Array; passesDone: number; optimizerState?: Uint8Array };
  /** Default 'worker'. */
  evaluation?: EvaluationMode;
  onProgress?: (progress: PassProgress) => void;
  /**
   * Examples between progress reports; after each report the run yields to the event loop (so that a service can
   * take messages) and then checks `signal`. Default 256, a few milliseconds of training.
   */
  progressEvery?: number;
  /**
   * Aborting stops the run at the next check, between two examples: the pass in progress is dropped, the passes
   * already trained are still evaluated and yielded, and the iteration then ends without an error.
   */
  signal?: AbortSignal;
}

export class TrainConfigError extends Error {
  override name = 'TrainConfigError';
}

const DEFAULT_PROGRESS_EVERY = 256;

export function checkTrainConfig(config: TrainConfig, trainCount: number): void {
  const fail = (field: string, problem: string): never => {
    throw new TrainConfigError(`training config: ${field} ${problem}`);
  };
  if (!Number.isInteger(config.seed) || config.seed < 0 || config.seed > 0xffffffff) {
    fail('seed', `must be an integer in [0, 2^32), got ${config.seed}`);
  }
  if (!Number.isInteger(config.passes) || config.passes < 1) {
    fail('passes', `must be a positive integer, got ${config.passes}`);
  }
  if (!Number.isFinite(config.learningRate) || config.learningRate <= 0) {
    fail('learningRate', `must be a positive number, got ${config.learningRate}`);
  }
  const limit = config.trainLimit;
  if (limit !== undefined && limit !== null && (!Number.isInteger(limit) || limit < 1 || limit > trainCount)) {
    fail('trainLimit', `must be an integer from 1 to ${trainCount}, got ${limit}`);
  }
  if (config.optimizer !== undefined && !OPTIMIZER_NAMES.includes(config.optimizer)) {
    fail('optimizer', `"${config.optimizer}" is unknown (${OPTIMIZER_NAMES.join(', ')})`);
  }
  if (config.model !== undefined && !MODEL_NAMES.includes(config.model)) {
    fail('model', `"${config.model}" is unknown (${MODEL_NAMES.join(', ')})`);
  }
  for (const field of ['finalLearningRate', 'damping'] as const) {
    const value = config[field];
    if (value !== undefined && (!Number.isFinite(value) || value <= 0)) fail(field, `must be a positive number, got ${value}`);
  }
  if (config.optimizer === 'diag-newton' && (config.model ?? 'tanh-mse-1989') !== 'tanh-mse-1989') {
    fail('optimizer', 'diag-newton back-propagates the second derivatives of model tanh-mse-1989 only');
  }
}

function checkSplit(split: LabelledImages, name: string): void {
  if (!Number.isInteger(split.count) || split.count < 1) {
    throw new RangeError(`${name} split: count must be a positive integer, got ${split.count}`);
  }
  if (split.inputs.length !== split.count * INPUT_PIXELS || split.labels.length !== split.count) {
    throw new RangeError(
      `${name} split: ${split.count} examples need ${split.count * INPUT_PIXELS} input values and ` +
        `${split.count} labels, got ${split.inputs.length} and ${split.labels.length}`,
    );
  }
  const bad = split.labels.findIndex((label) => label >= CLASSES);
  if (bad >= 0) throw new RangeError(`${name} split: label ${split.labels[bad]} of example ${bad} is not 0–9`);
}

/** The seeded initial weights of a run, as a fresh parameter array. */
export function initialParameters(seed: number, model: ModelName = 'tanh-mse-1989'): Float32Array {
  return initialModelParameters(model, seed);
}

/** One SGD step on example `index` of `split`; `target` is a 10-float scratch buffer. */
export function trainStep<A extends FloatArray>(
  net: Network<A>,
  split: LabelledImages,
  index: number,
  target: Float32Array,
  learningRate: number,
): void {
  forward(net, split.inputs, index);
  writeTargets(split.labels[index]!, target);
  mseLoss(net.output, target, net.outputGrad);
  backward(net);
  sgdStep(net, learningRate);
}

/** Loss, error and exact misses of the 1989 network's current weights on a whole split (evaluateModel on `net`). */
export function evaluateSplit(net: Network<Float32Array>, split: LabelledImages): SplitEvaluation {
  return evaluateModel(createModel('tanh-mse-1989', net), split);
}

export interface PassEvaluation {
  train: SplitEvaluation;
  test: SplitEvaluation;
}

/** Evaluates given weights on both splits, in this thread or another. */
interface Evaluator {
  evaluate(parameters: Float32Array): Promise<PassEvaluation>;
  close(): Promise<void>;
}

function inThreadEvaluator(modelName: ModelName, train: LabelledImages, test: LabelledImages): Evaluator {
  const model = createModel(modelName);
  return {
    async evaluate(parameters) {
      model.net.parameters.set(parameters);
      return { train: evaluateModel(model, train), test: evaluateModel(model, test) };
    },
    async close() {},
  };
}

/** What the evaluation worker is started with and answers; see eval-worker.ts. */
export interface EvalWorkerData {
  model: ModelName;
  train: LabelledImages;
  test: LabelledImages;
}
export type EvalWorkerReply = { ok: true; evaluation: PassEvaluation } | { ok: false; message: string };

/**
 * A split's images and labels copied once into shared memory: the worker then reads the same bytes, where a plain
 * array would be serialised and copied again on its side (and count twice against peak memory).
 */
function inSharedMemory({ count, inputs, labels }: LabelledImages): LabelledImages {
  const shared = new Float32Array(new SharedArrayBuffer(inputs.byteLength));
  shared.set(inputs);
  const sharedLabels = new Uint8Array(new SharedArrayBuffer(labels.byteLength));
  sharedLabels.set(labels);
  return { count, inputs: shared, labels: sharedLabels };
}

async function workerEvaluator(model: ModelName, train: LabelledImages, test: LabelledImages): Promise<Evaluator> {
  const workerData: EvalWorkerData = { model, train: inSharedMemory(train), test: inSharedMemory(test) };
  const worker = new Worker(await workerScript('eval-worker'), { workerData });
  // Requests are answered in order, one at a time.
  const waiting: { resolve: (e: PassEvaluation) => void; reject: (error: Error) => void }[] = [];
  let failure: Error | null = null;
  const failAll = (error: Error) => {
    failure ??= error;
    for (const request of waiting.splice(0)) request.reject(failure);
  };
  worker.on('message', (reply: EvalWorkerReply) => {
    const request = waiting.shift();
    if (request === undefined) return;
    if (reply.ok) request.resolve(reply.evaluation);
    else request.reject(new Error(`evaluation worker: ${reply.message}`));
  });
  worker.on('error', (error) => failAll(new Error(`evaluation worker failed: ${error.message}`)));
  worker.on('exit', (code) => failAll(new Error(`evaluation worker exited (code ${code})`)));
  return {
    evaluate(parameters) {
      if (failure !== null) return Promise.reject(failure);
      return new Promise((resolve, reject) => {
        waiting.push({ resolve, reject });
        worker.postMessage(parameters);
      });
    },
    async close() {
      await worker.terminate();
    },
  };
}

const nextMacrotask = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Trains a run pass by pass and yields each pass's metrics and weights as soon as they are evaluated. With
 * evaluation in a worker, pass k's result arrives while pass k+1 trains.
 */
export async function* runTraining(options: RunOptions): AsyncGenerator<PassResult, void, undefined> {
  const { config, train, test, resume, onProgress, signal } = options;
  checkSplit(train, 'train');
  checkSplit(test, 'test');
  checkTrainConfig(config, train.count);
  const progressEvery = options.progressEvery ?? DEFAULT_PROGRESS_EVERY;
  if (!Number.isInteger(progressEvery) || progressEvery < 1) {
    throw new RangeError(`progressEvery must be a positive integer, got ${progressEvery}`);
  }
  const modelName = config.model ?? 'tanh-mse-1989';
  const model = createModel(modelName);
  const net = model.net;
  if (resume === undefined) {
    net.parameters.set(initialModelParameters(modelName, config.seed));
  } else {
    const { parameters, passesDone } = resume;
    if (parameters.length !== PARAMETER_COUNT) {
      throw new RangeError(`resume: expected ${PARAMETER_COUNT} parameters, got ${parameters.length}`);
    }
    if (!parameters.every(Number.isFinite)) throw new RangeError('resume: the parameters hold a non-finite value');
    if (!Number.isInteger(passesDone) || passesDone < 0 || passesDone > config.passes) {
      throw new RangeError(`resume: passesDone must be an integer from 0 to ${config.passes}, got ${passesDone}`);
    }
    net.parameters.set(parameters);
  }
  const passesDone = resume?.passesDone ?? 0;
  const examples = config.trainLimit ?? train.count;
  const optimizer = createOptimizer({
    name: config.optimizer ?? 'sgd',
    model,
    train,
    examples,
    seed: config.seed,
    ...(config.damping === undefined ? {} : { damping: config.damping }),
    state: resume?.optimizerState ?? new Uint8Array(0),
    passesDone,
  });

  const inWorker = options.evaluation !== 'in-thread';
  const evaluator = inWorker ? await workerEvaluator(modelName, train, test) : inThreadEvaluator(modelName, train, test);
  let lastResultAt = performance.now();
  const ready: PassResult[] = [];
  let evaluationFailure: { error: unknown } | null = null;
  let evaluations: Promise<void> = Promise.resolve();
  const evaluate = (pass: number, parameters: Float32Array, optimizerState: Uint8Array) => {
    // Chained so that results come out in pass order; a failure is kept and rethrown at the next check rather than
    // left as an unhandled rejection while training goes on.
    evaluations = evaluations
      .then(async () => {
        const { train: trainEval, test: testEval } = await evaluator.evaluate(parameters);
        const now = performance.now();
        ready.push({
          pass,
          train: metricsOnly(trainEval),
          test: metricsOnly(testEval),
          testConfusion: testEval.confusion,
          seconds: (now - lastResultAt) / 1000,
          parameters,
          optimizerState,
        });
        lastResultAt = now;
      })
      .catch((error: unknown) => {
        evaluationFailure ??= { error };
      });
  };
  const takeReady = () => {
    if (evaluationFailure !== null) throw evaluationFailure.error;
    return ready.splice(0);
  };

  try {
    passes: for (let pass = passesDone + 1; pass <= config.passes; pass++) {
      if (signal?.aborted) break;
      optimizer.beginPass(pass, scheduledLearningRate(config.learningRate, config.finalLearningRate, pass, config.passes));
      const training = model.augments ? passRng(config.seed, pass, 'augmentation') : null;
      for (let done = 0; done < examples; ) {
        if (signal?.aborted) break passes;
        const end = Math.min(examples, done + progressEvery);
        for (; done < end; done++) trainExample(model, optimizer, train, done, training);
        onProgress?.({ pass, examplesDone: done, examplesTotal: examples });
        await nextMacrotask();
        yield* takeReady();
      }
      evaluate(pass, net.parameters.slice(), optimizer.saveState());
      if (!inWorker) await evaluations;
      yield* takeReady();
    }
    await evaluations;
    yield* takeReady();
  } finally {
    await evaluator.close();
  }
}

function metricsOnly({ loss, errorPercent, misses }: SplitEvaluation): SplitMetrics {
  return { loss, errorPercent, misses };
}
