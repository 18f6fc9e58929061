/**
 * Runs recorded in the store: created with their initial weights as checkpoint 0, trained from their latest
 * checkpoint, each finished pass committed with its checkpoint. Shared by the engine service and the CLI's database
 * mode; neither needs the other to train a run.
 */
import type { RunConfig, RunStatus } from '../protocol';
import { StoreError, type Store, type SubsetData } from '../store';
import { checkTrainConfig, initialParameters, runTraining, type EvaluationMode, type PassResult, type RunOptions } from '../train';
import { subsetFor } from './datasets';

/**
 * Identifies the arithmetic that trained a run. Bump it when a change to the engine changes results: a run resumed
 * under another engine version is no longer bit-identical to one trained straight through.
 */
export const ENGINE_VERSION = 'lecun1989-engine/1';

/** Plain SGD has no state beyond the weights; diag-newton stores its h_kk, AdamW its moments and step count. */
const NO_OPTIMIZER_STATE = new Uint8Array(0);

/** Where training may continue from: everything but a run in progress or one that is done. */
export const RESUMABLE_STATUSES: readonly RunStatus[] = ['queued', 'paused', 'stopped', 'interrupted', 'failed'];

/** `subset` is the run's subset if the caller has it already: a sweep draws its subsets before its transaction. */
export function createRecordedRun(
  store: Store,
  request: { datasetId: number; preset: string; config: RunConfig; initCheckpointId?: number | undefined },
  subset: SubsetData = subsetFor(store, request.datasetId, request.config.seed),
): number {
  checkTrainConfig(request.config, subset.train.count);
  const initialWeights =
    request.initCheckpointId === undefined
      ? initialParameters(request.config.seed, request.config.model)
      : store.loadCheckpoint({ checkpointId: request.initCheckpointId }).weights;
  return store.createRun({
    preset: request.preset,
    config: request.config,
    subsetId: subset.id,
    engineVersion: ENGINE_VERSION,
    status: 'queued',
    initialWeights,
  });
}

export interface ProgressReport {
  pass: number;
  passes: number;
  examplesDone: number;
  examplesTotal: number;
  /** Over the current pass so far. */
  examplesPerSecond: number;
  /** Training time left in the whole run at that rate (evaluation not counted). */
  etaSeconds: number;
}

/** Why a run is asked to halt before its last pass; becomes its status. */
export type HaltReason = 'paused' | 'stopped' | 'interrupted';

export interface TrainRecordedRunOptions {
  /** Abort with a HaltReason as the reason to halt before the next example. */
  signal?: AbortSignal;
  onStarted?: () => void;
  onProgress?: (progress: ProgressReport) => void;
  /** After the pass and its checkpoint are committed. */
  onPass?: (result: PassResult) => void;
  evaluation?: EvaluationMode;
  /** What trains the passes: runTraining in this thread unless a sweep hands the arithmetic to a worker thread. */
  trainer?: (options: RunOptions) => AsyncIterable<PassResult>;
}

/**
 * Trains a run from its latest checkpoint to its last pass, committing each pass with its checkpoint, and returns
 * the status it ends in: 'finished', the halt reason if halted, or 'failed' (with the error recorded on the run).
 * The run must be resumable; it is claimed atomically, so two processes never train it at once.
 */
export async function trainRecordedRun(store: Store, runId: number, options: TrainRecordedRunOptions = {}): Promise<RunStatus> {
  const summary = store.getRunSummary(runId);
  const { config } = summary;
  if (config === null || summary.subsetId === null) {
    throw new StoreError('invalid_state', `run ${runId} is an imported model (${summary.preset}): it has no dataset or config to train with`);
  }
  store.claimRun(runId, RESUMABLE_STATUSES);
  try {
    const latest = store.loadCheckpoint({ runId });
    const { train, test } = store.loadSubset(summary.subsetId);
    const examplesTotal = config.trainLimit ?? train.count;
    options.onStarted?.();
    let passStartedAt = performance.now();
    const results = (options.trainer ?? runTraining)({
      config,
      train,
      test,
      resume: { parameters: latest.weights, passesDone: latest.pass, optimizerState: latest.optimizerState },
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.evaluation ? { evaluation: options.evaluation } : {}),
      onProgress: ({ pass, examplesDone }) => {
        const now = performance.now();
        const examplesPerSecond = (1000 * examplesDone) / Math.max(now - passStartedAt, 1e-3);
        const examplesLeft = examplesTotal - examplesDone + (config.passes - pass) * examplesTotal;
        if (examplesDone === examplesTotal) passStartedAt = now;
        options.onProgress?.({
          pass,
          passes: config.passes,
          examplesDone,
          examplesTotal,
          examplesPerSecond,
          etaSeconds: examplesLeft / examplesPerSecond,
        });
      },
    });
    let lastPass = latest.pass;
    for await (const { optimizerState, ...result } of results) {
      // The state goes into the checkpoint only: listeners get the pass's metrics and weights, as before.
      store.recordPass(runId, result, result.parameters, optimizerState ?? NO_OPTIMIZER_STATE);
      lastPass = result.pass;
      options.onPass?.(result);
    }
    const status = lastPass >= config.passes ? 'finished' : haltReason(options.signal);
    store.setRunStatus(runId, status);
    return status;
  } catch (error) {
    store.setRunStatus(runId, 'failed', error instanceof Error ? error.message : String(error));
    return 'failed';
  }
}

function haltReason(signal: AbortSignal | undefined): HaltReason {
  const reason: unknown = signal?.reason;
  return reason === 'paused' || reason === 'stopped' ? reason : 'interrupted';
}
