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
import { PRESETS } from '../presets';
import { ExportFormatSchema, type ExportFormat, type RunSummary } from '../protocol';
import { encodeSafetensors } from '../safetensors';
import { defaultDatabasePath } from '../store';
import { datasetToTensors, DEFAULT_SEED, make1989Dataset } from '../subset';
import type { Dataset1989 } from '../subset';
import { evaluateSplit, initialParameters, runTraining } from '../train';
import type { PassResult, TrainConfig } from '../train';
import { readUspsDir } from '../usps';
import { readWeightsFile, writeWeightsFile } from '../weights';
import { checkpointOf, endedMessage, exportCheckpoint, followRun, importDataset, importWeightsFile, withService } from './database';
import { formatLoss, metricsOnly, passPrinter, progressDisplay } from './output';

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
  new Option('--seed <n>', 'seed for the subset draw and the initial weights (with --usps, only the weights)')
    .argParser(integer(0, 0xffffffff))
    .default(DEFAULT_SEED);
const mnistOption = () => new Option('--mnist <dir>', 'folder with the four MNIST files, raw or .gz (default: the bundled copy)');
const uspsOption = () =>
  new Option('--usps <dir>', "the paper's own USPS digits instead of MNIST: a folder with zip.train and zip.test, or usps and usps.t (raw or .gz)").conflicts(
    'mnist',
  );
const dbOption = () => new Option('--db <file>', 'the SQLite database the app shares').default(defaultDatabasePath(), 'the per-user app data file');
const runIdArgument = integer(1, Number.MAX_SAFE_INTEGER);

function loadMnist(dir: string | undefined): Mnist {
  return readMnistDir(dir ?? bundledMnistDir());
}

/** The 1989 dataset the flags name: USPS as published, or the subset drawn from MNIST for the seed. */
function load1989Dataset(options: { mnist?: string; usps?: string; seed: number }): Dataset1989 {
  return options.usps === undefined ? make1989Dataset(loadMnist(options.mnist), options.seed) : readUspsDir(options.usps);
}

/** A run that did not finish is not a success: say how to pick it up again, and exit non-zero. */
function reportEnd(run: RunSummary): void {
  const message = endedMessage(run);
  if (message === null) return;
  console.error(message);
  process.exitCode = 1;
}

const program = new Command('lecun1989')
  .description('LeCun et al. 1989, "Backpropagation Applied to Handwritten Zip Code Recognition", on MNIST')
  .showHelpAfterError('(run with --help for usage)');

interface TrainOptions {
  mnist?: string;
  usps?: string;
  seed: number;
  passes: number;
  lr: number;
  trainLimit?: number;
  init?: string;
  save?: string;
  json?: boolean;
  db: string | false;
}

program
  .command('train')
  .description('train the 1989 network and print each pass on both splits; the run is recorded in the database')
  .addOption(mnistOption())
  .addOption(uspsOption())
  .addOption(seedOption())
  .addOption(new Option('--passes <n>', 'passes over the training set').argParser(integer(1, 1000)).default(23))
  .addOption(new Option('--lr <x>', 'SGD learning rate').argParser(positiveNumber).default(0.03))
  .addOption(new Option('--train-limit <n>', 'train on the first N of the 7,291 examples').argParser(integer(1, 7291)))
  .option('--init <file>', 'start from these weights (safetensors) instead of the seeded initialisation')
  .option('--save <file>', 'write the final weights here (safetensors)')
  .option('--json', 'one JSON line per pass on stdout, nothing else')
  .addOption(dbOption())
  .option('--no-db', 'train without recording the run')
  .action(async (options: TrainOptions) => {
    const config: TrainConfig = { seed: options.seed, passes: options.passes, learningRate: options.lr, trainLimit: options.trainLimit ?? null };
    const printer = passPrinter(options.json === true);
    const progress = progressDisplay(options.json !== true);
    if (options.db === false) {
      const initial = options.init === undefined ? undefined : readWeightsFile(options.init).parameters;
      const dataset = load1989Dataset(options);
      let last: PassResult | undefined;
      for await (const result of runTraining({
        config,
        train: dataset.train,
        test: dataset.test,
        resume: initial && { parameters: initial, passesDone: 0 },
        onProgress: ({ pass, examplesDone, examplesTotal }) => progress.show(pass, options.passes, examplesDone, examplesTotal),
      })) {
        progress.clear();
        printer.pass(result);
        last = result;
      }
      printer.end();
      if (options.save !== undefined && last !== undefined) {
        writeWeightsFile(options.save, last.parameters, { seed: String(options.seed), passes: String(last.pass), learningRate: String(options.lr) });
      }
      return;
    }
    await withService(options.db, async (api, service) => {
      const { dataset } = await importDataset(api, options);
      const initCheckpointId = options.init === undefined ? undefined : await importWeightsFile(api, options.init);
      const preset = PRESETS[0]!.name;
      const begin = async () => (await api.createRun({ datasetId: dataset.id, preset, config, initCheckpointId, start: true })).run;
      const run = await followRun(service, begin, printer, progress);
      printer.end();
      if (options.save !== undefined && run.status === 'finished') await exportCheckpoint(api, await checkpointOf(api, run.id), options.save);
      reportEnd(run);
    });
  });

program
  .command('import')
  .description('store a dataset in the database: MNIST (a folder of the four files, or the four files themselves) or USPS (--usps)')
  .argument('[files...]', 'the four MNIST files, raw or .gz')
  .addOption(mnistOption())
  .addOption(uspsOption())
  .addOption(dbOption())
  .action(async (files: string[], options: { mnist?: string; usps?: string; db: string }) => {
    await withService(options.db, async (api) => {
      const { dataset, created } = await importDataset(api, options, files);
      console.log(`${created ? 'imported' : 'already stored as'} dataset ${dataset.id}: ${dataset.name} (${dataset.trainCount} training, ${dataset.testCount} test digits)`);
    });
  });

program
  .command('runs')
  .description('list the runs in the database')
  .option('--json', 'print one JSON array')
  .addOption(dbOption())
  .action(async (options: { json?: boolean; db: string }) => {
    await withService(options.db, async (api) => {
      const { runs } = await api.listRuns();
      if (options.json) {
        const rows = runs.map(({ id, status, preset, passesDone, lastTestErrorPercent }) => ({ id, status, preset, passesDone, lastTestErrorPercent }));
        console.log(JSON.stringify(rows));
        return;
      }
      console.log(`${'id'.padStart(5)}  ${'status'.padEnd(11)}  ${'passes'.padStart(6)}  ${'test error %'.padStart(12)}  preset`);
      for (const run of runs) {
        const error = run.lastTestErrorPercent === null ? '' : run.lastTestErrorPercent.toFixed(2);
        console.log(`${String(run.id).padStart(5)}  ${run.status.padEnd(11)}  ${String(run.passesDone).padStart(6)}  ${error.padStart(12)}  ${run.preset}`);
      }
    });
  });

program
  .command('resume')
  .description('continue an interrupted, paused or stopped run from its last finished pass')
  .argument('<run-id>', 'the run', runIdArgument)
  .option('--json', 'one JSON line per pass on stdout, nothing else')
  .addOption(dbOption())
  .action(async (runId: number, options: { json?: boolean; db: string }) => {
    const printer = passPrinter(options.json === true);
    await withService(options.db, async (api, service) => {
      const run = await followRun(service, async () => (await api.resumeRun({ runId })).run, printer, progressDisplay(options.json !== true));
      printer.end();
      reportEnd(run);
    });
  });

program
  .command('export')
  .description("write a run's checkpoint (default: its last pass) as safetensors or as an ONNX model")
  .argument('<run-id>', 'the run', runIdArgument)
  .addOption(new Option('--pass <n>', 'the checkpoint after this pass (0: the initial weights)').argParser(integer(0, 1000)))
  .addOption(new Option('--format <format>', 'the file format').choices(ExportFormatSchema.options).default('safetensors'))
  .requiredOption('--out <file>', 'where to write the weights')
  .addOption(dbOption())
  .action(async (runId: number, options: { pass?: number; format: ExportFormat; out: string; db: string }) => {
    await withService(options.db, async (api) => exportCheckpoint(api, await checkpointOf(api, runId, options.pass), options.out, options.format));
  });

program
  .command('dataset')
  .description('write the 1989-style subset (Xtr, Ytr, Xte, Yte) as safetensors')
  .requiredOption('--out <file>', 'where to write it')
  .addOption(mnistOption())
  .addOption(uspsOption())
  .addOption(seedOption())
  .action((options: { out: string; mnist?: string; usps?: string; seed: number }) => {
    const dataset = load1989Dataset(options);
    writeFileSync(options.out, encodeSafetensors(datasetToTensors(dataset), { seed: String(dataset.seed) }));
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
  .addOption(uspsOption())
  .addOption(seedOption())
  .option('--json', 'print one JSON object')
  .action((options: { weights: string; mnist?: string; usps?: string; seed: number; json?: boolean }) => {
    const net = createNetwork();
    net.parameters.set(readWeightsFile(options.weights).parameters);
    const dataset = load1989Dataset(options);
    const train = evaluateSplit(net, dataset.train);
    const test = evaluateSplit(net, dataset.test);
    if (options.json) {
      console.log(JSON.stringify({ train: metricsOnly(train), test: metricsOnly(test), confusion: test.confusion }));
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
