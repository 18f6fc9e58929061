/**
 * The benchmark (`npm run bench`): the paper's full run, headless — 23 passes of plain SGD over the 7,291 training
 * digits of the seed-1337 subset, both splits evaluated after every pass — printing each pass beside the independent
 * PyTorch run of REFERENCE.md, then wall time, training examples/s, effective multiply-accumulates/s and peak RSS.
 *
 *   node dist/core/bench.js [--passes N] [--evaluation worker|in-thread] [--json] [--service-overhead]
 *
 * --service-overhead then times the same run through the engine service (a child process recording every pass and
 * its checkpoint in SQLite) against the headless engine.
 */
import { parseArgs } from 'node:util';
import { bundledMnistDir, read1989DatasetFromDir } from './mnist';
import { FORWARD_MACS, TRAINING_STEP_MACS } from './network';
import { measureServiceOverhead } from './service/overhead';
import { runTraining, type EvaluationMode, type SplitMetrics } from './train';

/** Train and test misses after each pass of the PyTorch 1.13 float32 run in REFERENCE.md (seed 1337). */
const PYTORCH_MISSES = [
  [740, 198], [512, 148], [384, 129], [323, 115], [257, 108], [249, 94], [221, 89], [193, 95], [178, 92], [173, 92],
  [143, 95], [130, 82], [119, 88], [114, 88], [100, 85], [94, 87], [87, 84], [86, 78], [77, 78], [77, 77], [74, 77],
  [63, 72], [60, 73],
];
const SEED = 1337;

function parseOptions() {
  const { values } = parseArgs({
    options: {
      passes: { type: 'string', default: String(PYTORCH_MISSES.length) },
      evaluation: { type: 'string', default: 'worker' },
      json: { type: 'boolean', default: false },
      'service-overhead': { type: 'boolean', default: false },
    },
  });
  const passes = Number(values.passes);
  if (!Number.isInteger(passes) || passes < 1) throw new Error('bench: --passes must be a positive integer');
  if (values.evaluation !== 'worker' && values.evaluation !== 'in-thread') {
    throw new Error('bench: --evaluation must be worker or in-thread');
  }
  return { passes, evaluation: values.evaluation as EvaluationMode, json: values.json, serviceOverhead: values['service-overhead'] };
}

/** loss, error %, misses and, in brackets, the PyTorch run's misses. */
function columns(metrics: SplitMetrics, pytorchMisses: number | undefined): string {
  const { loss, errorPercent, misses } = metrics;
  return (
    `${loss.toExponential(4)}  ${errorPercent.toFixed(2).padStart(5)}  ` +
    `${String(misses).padStart(4)} (${String(pytorchMisses ?? '-').padStart(3)})`
  );
}

async function main() {
  const options = parseOptions();
  const loadStart = performance.now();
  const { train, test } = read1989DatasetFromDir(bundledMnistDir(), SEED);
  const loadSeconds = (performance.now() - loadStart) / 1000;

  const log = (line: string) => {
    if (!options.json) console.log(line);
  };
  log(`pass  train loss  err%  misses (torch) | test loss   err%  misses (torch) | seconds`);
  const runStart = performance.now();
  const cpuStart = process.cpuUsage();
  const passes = [];
  for await (const result of runTraining({
    config: { seed: SEED, passes: options.passes, learningRate: 0.03 },
    train,
    test,
    evaluation: options.evaluation,
  })) {
    const { pass, train: tr, test: te, seconds } = result;
    const [torchTrain, torchTest] = PYTORCH_MISSES[pass - 1] ?? [];
    passes.push({ pass, train: tr, test: te, seconds, pytorchMisses: { train: torchTrain, test: torchTest } });
    log(`${String(pass).padStart(4)}  ${columns(tr, torchTrain)} | ${columns(te, torchTest)} | ${seconds.toFixed(2)}`);
  }
  const wallSeconds = (performance.now() - runStart) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  // Both threads' CPU time: next to the wall time it shows how much of the second core the evaluation used, and
  // whether other processes competed for the cores.
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const trainingExamples = options.passes * train.count;
  const macs = trainingExamples * TRAINING_STEP_MACS + options.passes * (train.count + test.count) * FORWARD_MACS;
  const summary = {
    passes: options.passes,
    evaluation: options.evaluation,
    dataSeconds: loadSeconds,
    wallSeconds,
    cpuSeconds,
    trainingExamplesPerSecond: trainingExamples / wallSeconds,
    effectiveMacsPerSecond: macs / wallSeconds,
    macs,
    peakRssMB: process.resourceUsage().maxRSS / 1024,
  };
  const service = options.serviceOverhead
    ? await measureServiceOverhead({ config: { seed: SEED, passes: options.passes, learningRate: 0.03 } })
    : undefined;
  if (options.json) {
    console.log(JSON.stringify({ summary, passes, service }));
    return;
  }
  log('');
  log(`data: ${loadSeconds.toFixed(2)} s (read MNIST, draw the seed-${SEED} subset)`);
  log(
    `wall time: ${wallSeconds.toFixed(2)} s for ${options.passes} passes, evaluation ${options.evaluation} ` +
      `(CPU time ${cpuSeconds.toFixed(2)} s)`,
  );
  log(`training examples/s: ${Math.round(summary.trainingExamplesPerSecond)}`);
  log(
    `effective multiply-accumulates/s: ${(summary.effectiveMacsPerSecond / 1e9).toFixed(2)} G ` +
      `(${(macs / 1e9).toFixed(1)} G in all: ${TRAINING_STEP_MACS} per training step, ` +
      `${FORWARD_MACS} per evaluated digit)`,
  );
  log(`peak RSS: ${summary.peakRssMB.toFixed(0)} MB`);
  if (service !== undefined) {
    log(
      `engine service: ${service.serviceSeconds.toFixed(2)} s against ${service.headlessSeconds.toFixed(2)} s headless ` +
        `(${service.overheadPercent >= 0 ? '+' : ''}${service.overheadPercent.toFixed(1)} %), ` +
        `final weights ${service.identicalWeights ? 'identical' : 'DIFFERENT'}`,
    );
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
