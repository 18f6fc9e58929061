#!/usr/bin/env node
/**
 * `lecun1989`: the 1989 experiment from a terminal. A thin host: it parses flags, loads files, calls the engine and
 * prints; everything it computes comes from core/.
 */
import { writeFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { bundledMnistDir, read1989DatasetFromDir } from '../mnist';
import { createNetwork } from '../network';
import { PRESETS } from '../presets';
import { ExportFormatSchema, MAX_SWEEP_VALUES, type ExportFormat, type RunSummary } from '../protocol';
import { encodeSafetensors } from '../safetensors';
import { defaultDatabasePath } from '../store';
import { datasetToTensors, DEFAULT_SEED } from '../subset';
import type { Dataset1989 } from '../subset';
import { evaluateSplit, initialParameters, runTraining } from '../train';
import type { PassResult, TrainConfig } from '../train';
import { readUspsDir } from '../usps';
import { readWeightsFile, writeWeightsFile } from '../weights';
import { checkpointOf, endedMessage, exportCheckpoint, followRun, followSweep, importDataset, importWeightsFile, withService } from './database';
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

/** A sweep's values: 2 to MAX_SWEEP_VALUES positive numbers, comma-separated, none twice. */
function positiveNumbers(text: string): number[] {
  const values = text.split(',').map((item) => {
    try {
      return positiveNumber(item);
    } catch {
      throw new InvalidArgumentError(`'${item.trim()}' is not a positive number; expected a comma-separated list such as 0.01,0.03,0.1.`);
    }
  });
  if (values.length < 2 || values.length > MAX_SWEEP_VALUES) {
    throw new InvalidArgumentError(`expected 2 to ${MAX_SWEEP_VALUES} comma-separated values, got ${values.length}.`);
  }
  const repeated = values.find((value, index) => values.indexOf(value) !== index);
  if (repeated !== undefined) throw new InvalidArgumentError(`${repeated} is given twice; each run of a sweep needs its own value.`);
  return values;
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
const presetOption = () =>
  new Option('--preset <name>', 'start from a preset (lecun1989 presets lists them); flags given beside it override its values')
    .choices(PRESETS.map((preset) => preset.name))
    .default(PRESETS[0]!.name);

/** Flags that override a preset's config, by the name of the config field they set. */
const CONFIG_FLAGS: Record<string, keyof TrainConfig> = { seed: 'seed', passes: 'passes', lr: 'learningRate', trainLimit: 'trainLimit' };

/**
 * The preset's config with every flag the user typed (not a default) laid over it. A sweep's --lr is its list of
 * values, not one learning rate: it passes the flags that keep their meaning.
 */
function presetConfig(command: Command, flags: readonly string[] = Object.keys(CONFIG_FLAGS)): { preset: string; config: TrainConfig } {
  const options = command.opts<Record<string, unknown>>();
  const preset = PRESETS.find((candidate) => candidate.name === options.preset)!;
  const config: TrainConfig = { ...preset.config };
  for (const flag of flags) {
    if (command.getOptionValueSource(flag) === 'cli') Object.assign(config, { [CONFIG_FLAGS[flag]!]: options[flag] });
  }
  return { preset: preset.name, config };
}

/** The 1989 dataset the flags name: USPS as published, or the subset drawn from MNIST for the seed. */
function load1989Dataset(options: { mnist?: string; usps?: string; seed: number }): Dataset1989 {
  return options.usps === undefined ? read1989DatasetFromDir(options.mnist ?? bundledMnistDir(), options.seed) : readUspsDir(options.usps);
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
  .addOption(presetOption())
  .addOption(new Option('--passes <n>', 'passes over the training set').argParser(integer(1, 1000)).default(23))
  .addOption(new Option('--lr <x>', "the learning rate (the preset's optimizer's: SGD's η, diagonal Newton's ε, AdamW's first)").argParser(positiveNumber).default(0.03))
  .addOption(new Option('--train-limit <n>', 'train on the first N of the 7,291 examples').argParser(integer(1, 7291)))
  .option('--init <file>', 'start from these weights (safetensors) instead of the seeded initialisation')
  .option('--save <file>', 'write the final weights here (safetensors)')
  .option('--json', 'one JSON line per pass on stdout, nothing else')
  .addOption(dbOption())
  .option('--no-db', 'train without recording the run')
  .action(async (options: TrainOptions, command: Command) => {
    const { preset, config } = presetConfig(command);
    const printer = passPrinter(options.json === true);
    const progress = progressDisplay(options.json !== true);
    if (options.db === false) {
      const initial = options.init === undefined ? undefined : readWeightsFile(options.init).parameters;
      const dataset = load1989Dataset({ ...options, seed: config.seed });
      let last: PassResult | undefined;
      for await (const result of runTraining({
        config,
        train: dataset.train,
        test: dataset.test,
        resume: initial && { parameters: initial, passesDone: 0 },
        onProgress: ({ pass, examplesDone, examplesTotal }) => progress.show(pass, config.passes, examplesDone, examplesTotal),
      })) {
        progress.clear();
        printer.pass(result);
        last = result;
      }
      printer.end();
      if (options.save !== undefined && last !== undefined) {
        writeWeightsFile(options.save, last.parameters, { preset, seed: String(config.seed), passes: String(last.pass), learningRate: String(config.learningRate) });
      }
      return;
    }
    await withService(options.db, async (api, service) => {
      const { dataset } = await importDataset(api, options);
      const initCheckpointId = options.init === undefined ? undefined : await importWeightsFile(api, options.init);
      const begin = async () => (await api.createRun({ datasetId: dataset.id, preset, config, initCheckpointId, start: true })).run;
      const run = await followRun(service, begin, printer, progress);
      printer.end();
      if (options.save !== undefined && run.status === 'finished') await exportCheckpoint(api, await checkpointOf(api, run.id), options.save);
      reportEnd(run);
    });
  });

interface SweepOptions {
  lr: number[];
  workers?: number;
  mnist?: string;
  usps?: string;
  seed: number;
  passes: number;
  trainLimit?: number;
  json?: boolean;
  db: string;
}

program
  .command('sweep')
  .description('train one run per learning rate side by side, one per core, each recorded in the database; print their final results')
  .requiredOption('--lr <list>', 'the learning rates, comma-separated (e.g. 0.01,0.03,0.1)', positiveNumbers)
  .addOption(new Option('--workers <n>', 'worker threads, each training one run at a time').argParser(integer(1, 64)).default(undefined, 'one per core'))
  .addOption(mnistOption())
  .addOption(uspsOption())
  .addOption(seedOption())
  .addOption(presetOption())
  .addOption(new Option('--passes <n>', 'passes over the training set').argParser(integer(1, 1000)).default(23))
  .addOption(new Option('--train-limit <n>', 'train on the first N of the 7,291 examples').argParser(integer(1, 7291)))
  .option('--json', 'one JSON line per run on stdout ({runId, learningRate, train, test} after its last pass), nothing else')
  .addOption(dbOption())
  .action(async (options: SweepOptions, command: Command) => {
    const { preset, config } = presetConfig(command, ['seed', 'passes', 'trainLimit']);
    await withService(options.db, async (api, service) => {
      const { dataset } = await importDataset(api, options);
      const begin = () =>
        api.createSweep({ datasetId: dataset.id, preset, config, parameter: 'learningRate', values: options.lr, workers: options.workers });
      const { sweepId, runs } = await followSweep(service, begin, (run) => {
        if (!options.json) console.error(`run ${run.id} (learning rate ${run.config?.learningRate}): ${run.status} after ${run.passesDone} passes`);
      });
      const results = await Promise.all(
        runs.map(async (run) => {
          const last = (await api.getRun({ runId: run.id })).run.passes.at(-1);
          return { runId: run.id, learningRate: run.config!.learningRate, train: last && metricsOnly(last.train), test: last && metricsOnly(last.test) };
        }),
      );
      if (options.json) {
        for (const result of results) console.log(JSON.stringify({ ...result, train: result.train ?? null, test: result.test ?? null }));
      } else {
        const { sweep } = await api.getSweep({ sweepId });
        console.log(`sweep ${sweepId}: ${runs.length} learning rates on ${sweep.workers} worker thread${sweep.workers === 1 ? '' : 's'}`);
        console.log(`${'run'.padStart(5)}  ${'lr'.padStart(8)}  ${'status'.padEnd(11)}  ${'passes'.padStart(6)}  ${'train error %'.padStart(13)}  ${'test error %'.padStart(12)}  ${'test misses'.padStart(11)}`);
        runs.forEach((run, index) => {
          const { train, test } = results[index]!;
          console.log(
            `${String(run.id).padStart(5)}  ${String(run.config!.learningRate).padStart(8)}  ${run.status.padEnd(11)}  ${String(run.passesDone).padStart(6)}  ` +
              `${(train?.errorPercent.toFixed(2) ?? '').padStart(13)}  ${(test?.errorPercent.toFixed(2) ?? '').padStart(12)}  ${String(test?.misses ?? '').padStart(11)}`,
          );
        });
      }
      for (const run of runs) reportEnd(run);
    });
  });

program
  .command('presets')
  .description('list the training presets (train --preset NAME)')
  .option('--json', 'print one JSON array')
  .action((options: { json?: boolean }) => {
    if (options.json) {
      console.log(JSON.stringify(PRESETS));
      return;
    }
    for (const preset of PRESETS) console.log(`${preset.name.padEnd(12)}  ${preset.label}\n${' '.repeat(14)}${preset.description}`);
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
