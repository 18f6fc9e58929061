/**
 * What running a training through the engine service costs over the headless engine: the same run, once in this
 * process with runTraining and once in a service child process (database writes, a checkpoint per pass, IPC,
 * progress events), timed from the start request to the last pass recorded. For the benchmark.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundledMnistDir, read1989DatasetFromDir } from '../mnist';
import { base64ToBytes } from '../protocol';
import { runTraining, type TrainConfig } from '../train';
import { decodeWeights } from '../weights';
import { spawnEngineService } from './spawn';

export interface OverheadMeasurement {
  config: TrainConfig;
  /** Best of `repeats` timings of each. */
  headlessSeconds: number;
  serviceSeconds: number;
  /** (service − headless) / headless, in percent. */
  overheadPercent: number;
  /** The service's final weights equal the headless run's, bit for bit. */
  identicalWeights: boolean;
}

export interface OverheadOptions {
  /** Default: the paper run, 23 passes of SGD 0.03 on all 7,291 training digits, seed 1337. */
  config?: TrainConfig;
  /** Timings of each, alternating which goes first; the best of each is kept. Default 1. */
  repeats?: number;
  /** The bundled service; by default service.js beside the calling bundle in dist/core. */
  servicePath?: string;
}

export async function measureServiceOverhead(options: OverheadOptions = {}): Promise<OverheadMeasurement> {
  const config: TrainConfig = options.config ?? { seed: 1337, passes: 23, learningRate: 0.03, trainLimit: null };
  const repeats = options.repeats ?? 1;
  const { train, test } = read1989DatasetFromDir(bundledMnistDir(), config.seed);
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'lecun1989-overhead-'));
  const service = spawnEngineService({
    databasePath: path.join(folder, 'overhead.sqlite'),
    ...(options.servicePath ? { servicePath: options.servicePath } : {}),
  });
  try {
    await service.ready;
    const { dataset } = await service.api.importMnist({ from: 'bundled' });
    let headlessSeconds = Infinity;
    let serviceSeconds = Infinity;
    let headlessWeights: Float32Array = new Float32Array(0);
    let serviceWeights: Float32Array = new Float32Array(0);
    const timeHeadless = async () => {
      const started = performance.now();
      for await (const result of runTraining({ config, train, test })) headlessWeights = result.parameters;
      headlessSeconds = Math.min(headlessSeconds, (performance.now() - started) / 1000);
    };
    const timeService = async () => {
      const { run } = await service.api.createRun({ datasetId: dataset.id, preset: 'overhead', config: { ...config, trainLimit: config.trainLimit ?? null } });
      const finished = new Promise<void>((resolve, reject) => {
        const unsubscribe = service.api.onEvent((event) => {
          if (event.event !== 'runStatus' || event.data.run.id !== run.id || event.data.run.status === 'running') return;
          unsubscribe();
          if (event.data.run.status === 'finished') resolve();
          else reject(new Error(`the service's run ended ${event.data.run.status}: ${event.data.run.error ?? ''}`));
        });
      });
      const started = performance.now();
      await service.api.startRun({ runId: run.id });
      await finished;
      serviceSeconds = Math.min(serviceSeconds, (performance.now() - started) / 1000);
      const { checkpoints } = await service.api.listCheckpoints({ runId: run.id });
      const { base64 } = await service.api.exportWeights({ checkpointId: checkpoints.at(-1)!.id });
      serviceWeights = decodeWeights(base64ToBytes(base64), 'service checkpoint').parameters;
    };
    // Alternating which goes first spreads warm-up and whatever else the machine is doing over both.
    for (let repeat = 0; repeat < repeats; repeat++) {
      for (const time of repeat % 2 === 0 ? [timeHeadless, timeService] : [timeService, timeHeadless]) await time();
    }
    return {
      config,
      headlessSeconds,
      serviceSeconds,
      overheadPercent: (100 * (serviceSeconds - headlessSeconds)) / headlessSeconds,
      identicalWeights: Buffer.from(headlessWeights.buffer, headlessWeights.byteOffset, headlessWeights.byteLength).equals(
        Buffer.from(serviceWeights.buffer, serviceWeights.byteOffset, serviceWeights.byteLength),
      ),
    };
  } finally {
    await service.stop();
    fs.rmSync(folder, { recursive: true, force: true });
  }
}
