#!/usr/bin/env node
/**
 * `lecun1989`: the 1989 experiment from a terminal. A thin host: it parses flags, loads files, calls the engine and
 * prints; everything it computes comes from core/.
 */
import { writeFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { bundledMnistDir, readMnistDir } from '../mnist';
import type { Mnist } from '../mnist';
import { createNetwork } from '../network';
import { encodeSafetensors } from '../safetensors';
import { datasetToTensors, DEFAULT_SEED, make1989Dataset } from '../subset';
import { evaluateSplit, initialParameters, runTraining } from '../train';
import type { PassResult, SplitMetrics, TrainConfig } from '../train';
import { readWeightsFile, writeWeightsFile } from '../weights';
import { formatLoss, progressLine, referenceRows, tableHeader, tableRow } from './format';

function integer(min: number, max: number) {
  return (text: string): number => {
    const value = Number(text);
    if (!/^\s*\d+\s*$/.test(text) || !Number.isSafeInteger(value) || value < min || value > max) {
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}.`);
    }
    return value;
  };
}

function positiveNumber(text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value <= 0) throw new InvalidArgumentError('expected a positive number.');
  return value;
}

const seedOption = () =>
  new Option('--seed <n>', 'seed for the subset draw and the initial weights').argParser(integer(0, 0xffffffff)).default(DEFAULT_SEED);
const mnistOption = () => new Option('--mnist <dir>', 'folder with the four MNIST files, raw or .gz (default: the bundled copy)');

function loadMnist(dir: string | undefined): Mnist {
  return readMnistDir(dir ?? bundledMnistDir());
}

/** stderr's progress bar, only where a person watches a terminal; throttled so drawing never costs training time. */
function terminalProgress(passes: number) {
  if (!process.stderr.isTTY) return { onProgress: undefined, clear() {} };
  let passStartedAt = performance.now();
  let lastPass = 0;
  let lastDrawnAt = 0;
  return {
    onProgress({ pass, examplesDone, examplesTotal }: { pass: number; examplesDone: number; examplesTotal: number }) {
      const now = performance.now();
      if (pass !== lastPass) {
        lastPass = pass;
        passStartedAt = now;
      }
      if (now - lastDrawnAt < 100 && examplesDone < examplesTotal) return;
      lastDrawnAt = now;
      const perSecond = (1000 * examplesDone) / Math.max(now - passStartedAt, 1);
      process.stderr.write(`\r${progressLine(pass, passes, examplesDone, examplesTotal, perSecond)}\x1b[K`);
    },
    clear() {
      process.stderr.write('\r\x1b[K');
    },
  };
}

function metricsJson({ loss, errorPercent, misses }: SplitMetrics): SplitMetrics {
  return { loss, errorPercent, misses };
}

const program = new Command('lecun1989')
  .description('LeCun et al. 1989, "Backpropagation Applied to Handwritten Zip Code Recognition", on MNIST')
  .showHelpAfterError('(run with --help for usage)');

program
  .command('train')
  .description('train the 1989 network and print each pass on both splits')
  .addOption(mnistOption())
  .addOption(seedOption())
  .addOption(new Option('--passes <n>', 'passes over the training set').argParser(integer(1, 1000)).default(23))
  .addOption(new Option('--lr <x>', 'SGD learning rate').argParser(positiveNumber).default(0.03))
  .addOption(new Option('--train-limit <n>', 'train on the first N of the 7,291 examples').argParser(integer(1, 7291)))
  .option('--init <file>', 'start from these weights (safetensors) instead of the seeded initialisation')
  .option('--save <file>', 'write the final weights here (safetensors)')
  .option('--json', 'one JSON line per pass on stdout, nothing else')
  .action(async (options: { mnist?: string; seed: number; passes: number; lr: number; trainLimit?: number; init?: string; save?: string; json?: boolean }) => {
    const config: TrainConfig = { seed: options.seed, passes: options.passes, learningRate: options.lr, trainLimit: options.trainLimit ?? null };
    const initial = options.init === undefined ? undefined : readWeightsFile(options.init).parameters;
    const dataset = make1989Dataset(loadMnist(options.mnist), options.seed);
    const progress = options.json ? { onProgress: undefined, clear() {} } : terminalProgress(options.passes);
    if (!options.json) console.log(tableHeader());
    let last: PassResult | undefined;
    for await (const result of runTraining({
      config,
      train: dataset.train,
      test: dataset.test,
      resume: initial && { parameters: initial, passesDone: 0 },
      onProgress: progress.onProgress,
    })) {
      last = result;
      progress.clear();
      if (options.json) {
        const line = { pass: result.pass, train: metricsJson(result.train), test: metricsJson(result.test), seconds: result.seconds };
        console.log(JSON.stringify(line));
      } else {
        console.log(tableRow(result.pass, result.train, result.test, result.seconds));
      }
    }
    if (!options.json) console.log(['', ...referenceRows()].join('\n'));
    if (options.save !== undefined && last !== undefined) {
      writeWeightsFile(options.save, last.parameters, { seed: String(options.seed), passes: String(last.pass), learningRate: String(options.lr) });
    }
  });

program
  .command('dataset')
  .description('write the 1989-style subset (Xtr, Ytr, Xte, Yte) as safetensors')
  .requiredOption('--out <file>', 'where to write it')
  .addOption(mnistOption())
  .addOption(seedOption())
  .action((options: { out: string; mnist?: string; seed: number }) => {
    const dataset = make1989Dataset(loadMnist(options.mnist), options.seed);
    writeFileSync(options.out, encodeSafetensors(datasetToTensors(dataset), { seed: String(options.seed) }));
  });

program
  .command('init')
  .description("write the seeded initial weights, as torch.manual_seed(seed) draws them, as safetensors")
  .requiredOption('--out <file>', 'where to write them')
  .addOption(seedOption())
  .action((options: { out: string; seed: number }) => {
    writeWeightsFile(options.out, initialParameters(options.seed), { seed: String(options.seed) });
  });

program
  .command('eval')
  .description('evaluate weights on both splits of the 1989-style subset, with the test confusion matrix')
  .requiredOption('--weights <file>', 'the weights (safetensors)')
  .addOption(mnistOption())
  .addOption(seedOption())
  .option('--json', 'print one JSON object')
  .action((options: { weights: string; mnist?: string; seed: number; json?: boolean }) => {
    const net = createNetwork();
    net.parameters.set(readWeightsFile(options.weights).parameters);
    const dataset = make1989Dataset(loadMnist(options.mnist), options.seed);
    const train = evaluateSplit(net, dataset.train);
    const test = evaluateSplit(net, dataset.test);
    if (options.json) {
      console.log(JSON.stringify({ train: metricsJson(train), test: metricsJson(test), confusion: test.confusion }));
      return;
    }
    for (const [name, split] of [['train', train], ['test', test]] as const) {
      console.log(`${name.padEnd(5)}  loss ${formatLoss(split.loss, 4)}  error ${split.errorPercent.toFixed(2)} %  misses ${split.misses}`);
    }
    console.log('\ntest confusion (rows: true digit, columns: predicted)');
    console.log(`     ${Array.from({ length: 10 }, (_, d) => String(d).padStart(5)).join('')}`);
    test.confusion.forEach((counts, digit) => console.log(`${String(digit).padStart(5)}${counts.map((n) => String(n).padStart(5)).join('')}`));
  });

try {
  await program.parseAsync();
} catch (error) {
  // Every expected failure (a bad file, a bad value) is an Error with a message that names the problem: one line.
  console.error(`lecun1989: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
