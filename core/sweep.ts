/**
 * Sweeps: N runs that differ in one config field, trained side by side on worker threads, one run per thread at a
 * time, so that every core trains. Each run is an ordinary recorded run: the thread that owns the database claims
 * it and records each pass with its checkpoint through trainRecordedRun, exactly as for a run trained alone; only
 * the arithmetic moves to a worker (sweep-worker.ts), which posts the passes back. The arithmetic being the same
 * code on the same values, a run trained in a sweep ends bit-identical to the same config trained alone.
 *
 * Evaluation stays in the worker's own thread: the sweep already keeps every core busy with training.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { workerScript } from './worker-script';
import { RunConfigSchema, type RunConfig, type SweepParameter } from './protocol';
import type { PassProgress, PassResult, RunOptions } from './train';

export class SweepError extends Error {
  override name = 'SweepError';
}

/** What a sweep worker is asked: to train a run (everything RunOptions holds but the callbacks), or to halt it. */
export type SweepWorkerRequest =
  | { type: 'train'; options: Omit<RunOptions, 'onProgress' | 'signal'>; reportProgress: boolean }
  | { type: 'abort'; reason: unknown };
export type SweepWorkerReply =
  | { type: 'progress'; progress: PassProgress }
  | { type: 'pass'; result: PassResult }
  | { type: 'done' }
  | { type: 'error'; message: string };

/** Trains a run's passes somewhere and yields them in order; runTraining is the one that trains in this thread. */
export type Trainer = (options: RunOptions) => AsyncIterable<PassResult>;

/** One worker thread per core, unless the caller asks otherwise. */
export function defaultSweepWorkers(): number {
  return os.availableParallelism();
}

/**
 * The config of each run of a sweep: `base` with `parameter` set to each value in turn. Every value must make a
 * valid config, and no two may be equal (two runs of one config would train the same weights twice).
 */
export function sweepConfigs(base: RunConfig, parameter: SweepParameter, values: readonly number[]): RunConfig[] {
  if (values.length < 2) throw new SweepError(`a sweep needs at least two values of ${parameter}, got ${values.length}`);
  const repeated = values.find((value, index) => values.indexOf(value) !== index);
  if (repeated !== undefined) throw new SweepError(`${parameter} ${repeated} is given twice: each run of a sweep needs its own value`);
  return values.map((value) => {
    const parsed = RunConfigSchema.safeParse({ ...base, [parameter]: value });
    if (!parsed.success) throw new SweepError(`${parameter} ${value} is not valid: ${parsed.error.issues[0]?.message ?? 'rejected'}`);
    return parsed.data;
  });
}

/** A worker thread that trains one run at a time; `train` is a Trainer for trainRecordedRun. */
class SweepWorker {
  private listener: ((reply: SweepWorkerReply) => void) | null = null;
  /** Set once the thread has died: it takes no more runs. */
  failure: string | null = null;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (reply: SweepWorkerReply) => this.listener?.(reply));
    const fail = (message: string) => {
      this.failure ??= message;
      this.listener?.({ type: 'error', message });
    };
    worker.on('error', (error) => fail(`sweep worker failed: ${error.message}`));
    worker.on('exit', (code) => fail(`sweep worker exited (code ${code})`));
  }

  static async start(): Promise<SweepWorker> {
    return new SweepWorker(new Worker(await workerScript('sweep-worker')));
  }

  readonly train: Trainer = (options) => this.trainRun(options);

  private async *trainRun({ onProgress, signal, ...options }: RunOptions): AsyncGenerator<PassResult, void, undefined> {
    if (this.failure !== null) throw new Error(this.failure);
    const inbox: SweepWorkerReply[] = [];
    let wake = () => {};
    this.listener = (reply) => {
      inbox.push(reply);
      wake();
    };
    const abort = () => this.worker.postMessage({ type: 'abort', reason: signal?.reason } satisfies SweepWorkerRequest);
    signal?.addEventListener('abort', abort, { once: true });
    const next = async (): Promise<SweepWorkerReply> => {
      while (inbox.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      return inbox.shift()!;
    };
    let ended = false;
    try {
      this.worker.postMessage({ type: 'train', options, reportProgress: onProgress !== undefined } satisfies SweepWorkerRequest);
      if (signal?.aborted) abort();
      for (;;) {
        const reply = await next();
        if (reply.type === 'progress') onProgress?.(reply.progress);
        else if (reply.type === 'pass') yield reply.result;
        else {
          ended = true;
          if (reply.type === 'error') throw new Error(reply.message);
          return;
        }
      }
    } finally {
      signal?.removeEventListener('abort', abort);
      // The caller stopped listening early (a pass it could not record): halt the run before the thread takes another.
      if (!ended && this.failure === null) {
        this.worker.postMessage({ type: 'abort', reason: 'interrupted' } satisfies SweepWorkerRequest);
        for (let reply = await next(); reply.type === 'progress' || reply.type === 'pass'; reply = await next());
      }
      this.listener = null;
    }
  }

  async close(): Promise<void> {
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
  }
}

/**
 * Trains the runs `nextRun` hands out on `workers` threads until it has none left: each thread takes the next run
 * as soon as it is free, and `trainRun` trains that run with the thread's Trainer. A thread that dies is replaced.
 */
export async function trainOnWorkers(
  workers: number,
  nextRun: () => number | undefined,
  trainRun: (runId: number, trainer: Trainer) => Promise<void>,
): Promise<void> {
  const lane = async () => {
    let worker: SweepWorker | null = null;
    try {
      for (;;) {
        if (worker?.failure != null) {
          await worker.close();
          worker = null;
        }
        // The thread first, then the run: a run is never taken out of the queue while nothing can train it yet.
        worker ??= await SweepWorker.start();
        const runId = nextRun();
        if (runId === undefined) return;
        await trainRun(runId, worker.train);
      }
    } finally {
      await worker?.close();
    }
  };
  await Promise.all(Array.from({ length: workers }, lane));
}
