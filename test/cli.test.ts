// The command line as a user runs it: the built bin in a real process, on the bundled MNIST files.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { bundledMnistDir } from '../core/mnist';
import { createNetwork, forward, PARAMETER_COUNT } from '../core/network';
import { ONNX_INPUT_NAME, ONNX_OUTPUT_NAME } from '../core/onnx';
import { PRESETS } from '../core/presets';
import { decodeSafetensors } from '../core/safetensors';
import { TEST_SIZE, TRAIN_SIZE } from '../core/subset';
import { initialParameters } from '../core/train';
import { decodeWeights } from '../core/weights';
import { corruptZipTest, USPS_TEST_DIGITS, USPS_TEST_FIRST_EXAMPLE, USPS_TRAIN_DIGITS, uspsFiles, uspsInputs, writeUspsFolder } from './support/usps-files';

const run = promisify(execFile);
const CLI = join(import.meta.dirname, '..', 'dist', 'core', 'cli.js');
const work = mkdtempSync(join(tmpdir(), 'lecun1989-cli-'));

// No test may touch the user's own database: the default location is redirected to a scratch folder.
const env = { ...process.env, XDG_CONFIG_HOME: join(work, 'config'), HOME: join(work, 'home') };

async function cli(...args: string[]) {
  return run(process.execPath, [CLI, ...args], { maxBuffer: 64 * 1024 * 1024, env });
}

/** Runs a command expected to fail; returns its exit code and stderr. */
async function failing(...args: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  try {
    await cli(...args);
  } catch (error) {
    const { code, stderr, stdout } = error as { code: number; stderr: string; stdout: string };
    return { code, stderr, stdout };
  }
  throw new Error(`expected \`lecun1989 ${args.join(' ')}\` to fail`);
}

interface PassLine {
  pass: number;
  train: { loss: number; errorPercent: number; misses: number };
  test: { loss: number; errorPercent: number; misses: number };
  seconds: number;
}

function passLines(stdout: string): PassLine[] {
  return stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as PassLine);
}

describe('lecun1989 train', () => {
  it('--json prints one line per pass and nothing else, both splits evaluated in full', async () => {
    const { stdout } = await cli('train', '--passes', '2', '--train-limit', '300', '--json');
    const lines = passLines(stdout);
    expect(lines.map((line) => line.pass)).toEqual([1, 2]);
    for (const line of lines) {
      expect(Object.keys(line).sort()).toEqual(['pass', 'seconds', 'test', 'train']);
      // Error % is counted on the whole 7,291 and 2,007 even though only 300 examples trained.
      expect(line.train.errorPercent).toBeCloseTo((100 * line.train.misses) / TRAIN_SIZE, 10);
      expect(line.test.errorPercent).toBeCloseTo((100 * line.test.misses) / TEST_SIZE, 10);
      expect(line.train.loss).toBeGreaterThan(0);
      expect(line.seconds).toBeGreaterThan(0);
    }
    expect(lines[1]!.train.loss).toBeLessThan(lines[0]!.train.loss);
  });

  it('prints a table with the published figures beside the last pass', async () => {
    const { stdout, stderr } = await cli('train', '--passes', '1', '--train-limit', '200');
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^run \d+$/);
    expect(lines[1]).toMatch(/^pass\s+train loss\s+error %\s+misses\s+test loss/);
    expect(lines[2]).toMatch(/^\s+1\s+\d\.\d{4}e-\d\d\s+\d+\.\d\d\s+\d+\s/);
    expect(stdout).toMatch(/23\s+2\.5e-03\s+0\.14\s+10\s+1\.8e-02\s+5\.00\s+102\s+1989 paper/);
    expect(stdout).toMatch(/0\.62\s+45\s+.*4\.09\s+82\s+public PyTorch reproduction/);
    // stderr is not a terminal here, so no progress bar.
    expect(stderr).toBe('');
  });

  it('--save writes weights that eval scores exactly as the last pass did, and --init continues from them', async () => {
    const saved = join(work, 'after-1.safetensors');
    const { stdout } = await cli('train', '--passes', '1', '--train-limit', '300', '--seed', '7', '--json', '--save', saved);
    const [pass] = passLines(stdout);
    const evaluation = JSON.parse((await cli('eval', '--weights', saved, '--seed', '7', '--json')).stdout) as {
      train: PassLine['train'];
      test: PassLine['test'];
      confusion: number[][];
    };
    expect(evaluation.train).toEqual(pass!.train);
    expect(evaluation.test).toEqual(pass!.test);
    expect(evaluation.confusion.flat().reduce((a, b) => a + b, 0)).toBe(TEST_SIZE);
    const offDiagonal = evaluation.confusion.reduce((sum, row, digit) => sum + row.reduce((a, b) => a + b, 0) - row[digit]!, 0);
    expect(offDiagonal).toBe(evaluation.test.misses);

    // Two passes from the seed equal one pass from the seed, then one more from its saved weights.
    const twoPasses = join(work, 'two.safetensors');
    const continued = join(work, 'continued.safetensors');
    await cli('train', '--passes', '2', '--train-limit', '300', '--seed', '7', '--json', '--save', twoPasses);
    await cli('train', '--passes', '1', '--train-limit', '300', '--seed', '7', '--json', '--init', saved, '--save', continued);
    const direct = decodeWeights(readFileSync(twoPasses), twoPasses).parameters;
    const resumed = decodeWeights(readFileSync(continued), continued).parameters;
    expect(Buffer.from(resumed.buffer).equals(Buffer.from(direct.buffer))).toBe(true);
  });
});

describe('lecun1989 init and dataset', () => {
  it('init writes the seeded initial weights', async () => {
    const out = join(work, 'init.safetensors');
    await cli('init', '--out', out, '--seed', '1337');
    const { parameters } = decodeWeights(readFileSync(out), out);
    expect(parameters.length).toBe(PARAMETER_COUNT);
    expect(Array.from(parameters)).toEqual(Array.from(initialParameters(1337)));
  });

  it('dataset writes Xtr, Ytr, Xte, Yte with the reproduction shapes', async () => {
    const out = join(work, 'dataset.safetensors');
    await cli('dataset', '--out', out);
    const { tensors } = decodeSafetensors(readFileSync(out), out);
    expect(Object.fromEntries(Object.entries(tensors).map(([name, tensor]) => [name, tensor.shape]))).toEqual({
      Xtr: [TRAIN_SIZE, 1, 16, 16],
      Ytr: [TRAIN_SIZE, 10],
      Xte: [TEST_SIZE, 1, 16, 16],
      Yte: [TEST_SIZE, 10],
    });
    const targets = tensors.Ytr!.data.subarray(0, 10);
    expect(targets.filter((t) => t === 1).length).toBe(1);
    expect(targets.filter((t) => t === -1).length).toBe(9);
  });
});

describe('bad input: one clear line on stderr and a non-zero exit', () => {
  it.each([
    ['a missing MNIST folder', ['train', '--mnist', '/no/such/folder'], /no\/such\/folder/],
    ['a learning rate that is not a number', ['train', '--lr', 'fast'], /--lr.*'fast' is invalid/],
    ['a negative seed', ['init', '--out', '/tmp/x', '--seed', '-3'], /--seed/],
    ['too many passes', ['train', '--passes', '5000'], /--passes/],
    ['a missing weights file', ['eval', '--weights', '/no/such.safetensors'], /no\/such\.safetensors/],
    ['an unknown flag', ['train', '--learning-rate', '1'], /unknown option '--learning-rate'/],
  ])('%s', async (_name, args, message) => {
    const { code, stderr, stdout } = await failing(...args);
    expect(code).not.toBe(0);
    expect(stderr).toMatch(message);
    expect(stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(stdout).toBe('');
  });

  it('a corrupt weights file is named with what is wrong', async () => {
    const bad = join(work, 'bad.safetensors');
    writeFileSync(bad, Buffer.from('not a safetensors file at all'));
    const { code, stderr } = await failing('eval', '--weights', bad);
    expect(code).not.toBe(0);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toContain(bad);
  });

  it('a corrupt MNIST file is named, and nothing is trained', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lecun1989-mnist-'));
    for (const name of ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte']) {
      writeFileSync(join(dir, name), Buffer.from([0, 0, 8, 3, 0, 0, 0, 1]));
    }
    const { code, stderr, stdout } = await failing('train', '--mnist', dir, '--json');
    expect(code).not.toBe(0);
    expect(stderr).toMatch(/idx/);
    expect(stdout).toBe('');
  });
});

describe('database mode: the store the app shares', () => {
  const db = join(work, 'shared.sqlite');

  it('train records its run; runs lists it; export writes its checkpoints', async () => {
    const { stdout, stderr } = await cli('train', '--db', db, '--passes', '2', '--train-limit', '300', '--json');
    const lines = passLines(stdout);
    expect(lines.map((line) => line.pass)).toEqual([1, 2]);
    const runId = Number(/^run (\d+)$/m.exec(stderr)![1]);

    const runs = JSON.parse((await cli('runs', '--db', db, '--json')).stdout) as { id: number; status: string; passesDone: number; lastTestErrorPercent: number }[];
    const run = runs.find((candidate) => candidate.id === runId)!;
    expect(run).toMatchObject({ status: 'finished', passesDone: 2, lastTestErrorPercent: lines[1]!.test.errorPercent });

    const initial = join(work, 'pass0.safetensors');
    await cli('export', String(runId), '--pass', '0', '--out', initial, '--db', db);
    expect(Array.from(decodeWeights(readFileSync(initial), initial).parameters)).toEqual(Array.from(initialParameters(1337)));
    const missing = await failing('export', String(runId), '--pass', '9', '--out', join(work, 'x'), '--db', db);
    expect(missing.stderr).toMatch(/no checkpoint for pass 9/);
  });

  it('a run interrupted with Ctrl-C resumes to the same weights as one never interrupted', async () => {
    const args = ['--passes', '4', '--train-limit', '4000', '--seed', '11'];
    const child = execFile(process.execPath, [CLI, 'train', '--db', db, ...args, '--json'], { env });
    let stdout = '';
    let stderr = '';
    child.stderr!.on('data', (chunk: string) => (stderr += chunk));
    await new Promise<void>((resolve) =>
      child.stdout!.on('data', (chunk: string) => {
        stdout += chunk;
        if (stdout.includes('\n')) resolve();
      }),
    );
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).not.toBe(0);
    const runId = Number(/^run (\d+)$/m.exec(stderr)![1]);
    expect(stderr).toContain(`lecun1989 resume ${runId}`);

    const runs = JSON.parse((await cli('runs', '--db', db, '--json')).stdout) as { id: number; status: string; passesDone: number }[];
    const interrupted = runs.find((run) => run.id === runId)!;
    expect(interrupted.status).toBe('interrupted');
    expect(interrupted.passesDone).toBeGreaterThanOrEqual(1);

    const resumed = passLines((await cli('resume', String(runId), '--db', db, '--json')).stdout);
    expect(resumed.map((line) => line.pass)).toEqual(Array.from({ length: 4 - interrupted.passesDone }, (_, i) => interrupted.passesDone + 1 + i));

    const viaDatabase = join(work, 'resumed.safetensors');
    const straight = join(work, 'straight.safetensors');
    await cli('export', String(runId), '--out', viaDatabase, '--db', db);
    await cli('train', '--no-db', ...args, '--json', '--save', straight);
    const a = decodeWeights(readFileSync(viaDatabase), viaDatabase).parameters;
    const b = decodeWeights(readFileSync(straight), straight).parameters;
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
  });

  it('import stores a folder of MNIST files once, deduplicated by content', async () => {
    const first = await cli('import', '--db', db, '--mnist', bundledMnistDir());
    expect(first.stdout).toMatch(/dataset \d+: .*60000 training, 10000 test digits/);
    const again = await cli('import', '--db', db, '--mnist', bundledMnistDir());
    expect(again.stdout).toMatch(/already stored as dataset/);
  });
});

describe('lecun1989 sweep', () => {
  const db = join(work, 'sweep.sqlite');

  it('--json prints one line per run with its final results, each run recorded and bit-identical to training it alone', async () => {
    const rates = [0.01, 0.03, 0.1];
    const { stdout } = await cli('sweep', '--lr', rates.join(','), '--workers', '2', '--passes', '2', '--train-limit', '300', '--seed', '7', '--json', '--db', db);
    const lines = stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as { runId: number; learningRate: number; train: PassLine['train']; test: PassLine['test'] });
    expect(lines.map((line) => line.learningRate)).toEqual(rates);
    for (const line of lines) expect(Object.keys(line).sort()).toEqual(['learningRate', 'runId', 'test', 'train']);

    const runs = JSON.parse((await cli('runs', '--db', db, '--json')).stdout) as { id: number; status: string; passesDone: number; lastTestErrorPercent: number }[];
    for (const line of lines) {
      expect(runs.find((run) => run.id === line.runId)).toMatchObject({ status: 'finished', passesDone: 2, lastTestErrorPercent: line.test.errorPercent });
    }
    // The middle run, trained alone without the database: the same final metrics and the same weights, bit for bit.
    const alone = join(work, 'sweep-alone.safetensors');
    const swept = join(work, 'sweep-swept.safetensors');
    const aloneLines = passLines((await cli('train', '--no-db', '--lr', '0.03', '--passes', '2', '--train-limit', '300', '--seed', '7', '--json', '--save', alone)).stdout);
    expect({ train: aloneLines[1]!.train, test: aloneLines[1]!.test }).toEqual({ train: lines[1]!.train, test: lines[1]!.test });
    await cli('export', String(lines[1]!.runId), '--out', swept, '--db', db);
    const a = decodeWeights(readFileSync(alone), alone).parameters;
    const b = decodeWeights(readFileSync(swept), swept).parameters;
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
  });

  it('prints a table of the runs without --json', async () => {
    const { stdout } = await cli('sweep', '--lr', '0.02,0.05', '--workers', '1', '--passes', '1', '--train-limit', '100', '--db', db);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^sweep \d+: 2 learning rates on 1 worker thread$/);
    expect(lines[1]).toMatch(/^\s+run\s+lr\s+status\s+passes\s+train error %\s+test error %\s+test misses$/);
    expect(lines[2]).toMatch(/^\s+\d+\s+0\.02\s+finished\s+1\s+\d+\.\d\d\s+\d+\.\d\d\s+\d+$/);
    expect(lines[3]).toMatch(/^\s+\d+\s+0\.05\s+finished\s+1\s/);
  });

  it.each([
    ['a value that is not a number', ['--lr', '0.01,fast'], /--lr.*'fast' is not a positive number/],
    ['a single value', ['--lr', '0.01'], /--lr.*expected 2 to 32 comma-separated values, got 1/],
    ['a repeated value', ['--lr', '0.01,0.1,0.01'], /--lr.*0\.01 is given twice/],
    ['a learning rate past the limit', ['--lr', '0.01,20'], /^lecun1989: learningRate 20 is not valid/],
    ['no learning rates', [], /required option '--lr <list>'/],
    ['zero workers', ['--lr', '0.01,0.1', '--workers', '0'], /--workers/],
  ])('refuses %s with one clear line and a non-zero exit, training nothing', async (_name, args, message) => {
    const before = (await cli('runs', '--db', db, '--json')).stdout;
    const { code, stderr, stdout } = await failing('sweep', ...args, '--passes', '1', '--train-limit', '100', '--db', db);
    expect(code).not.toBe(0);
    expect(stderr).toMatch(message);
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(stdout).toBe('');
    expect((await cli('runs', '--db', db, '--json')).stdout).toBe(before);
  });
});

describe("USPS, the paper's own digits", () => {
  const db = join(work, 'usps.sqlite');
  const zipFolder = writeUspsFolder(join(work, 'usps-zip'), uspsFiles('zip', { gzip: true }));
  const args = ['--usps', zipFolder, '--passes', '2', '--seed', '3', '--json'];
  const metrics = (lines: PassLine[]) => lines.map(({ pass, train, test }) => ({ pass, train, test }));

  it('train --usps trains on the folder\'s split, to the same results with and without the database', async () => {
    const saved = join(work, 'usps.safetensors');
    const withoutDb = passLines((await cli('train', '--no-db', ...args, '--save', saved)).stdout);
    expect(withoutDb.map((line) => line.pass)).toEqual([1, 2]);
    for (const line of withoutDb) {
      expect(line.train.errorPercent).toBeCloseTo((100 * line.train.misses) / USPS_TRAIN_DIGITS.length, 10);
      expect(line.test.errorPercent).toBeCloseTo((100 * line.test.misses) / USPS_TEST_DIGITS.length, 10);
    }
    const { stdout, stderr } = await cli('train', '--db', db, ...args);
    expect(metrics(passLines(stdout))).toEqual(metrics(withoutDb));
    expect(stderr).toMatch(/^run \d+$/m);

    // eval --usps scores the saved weights on the same split.
    const evaluation = JSON.parse((await cli('eval', '--weights', saved, '--usps', zipFolder, '--json')).stdout) as { test: PassLine['test'] };
    expect(evaluation.test).toEqual(withoutDb[1]!.test);

    const libsvm = writeUspsFolder(join(work, 'usps-libsvm'), uspsFiles('libsvm'));
    const [libsvmPass] = passLines((await cli('train', '--no-db', '--usps', libsvm, '--passes', '1', '--json')).stdout);
    expect(libsvmPass!.test.misses).toBeLessThanOrEqual(USPS_TEST_DIGITS.length);
  });

  it('import --usps recognises the digits train stored, from an uncompressed copy', async () => {
    const imported = await cli('import', '--db', db, '--usps', writeUspsFolder(join(work, 'usps-raw'), uspsFiles('zip')));
    expect(imported.stdout).toMatch(
      new RegExp(`^already stored as dataset \\d+: usps-zip \\(${USPS_TRAIN_DIGITS.length} training, ${USPS_TEST_DIGITS.length} test digits\\)$`, 'm'),
    );
  });

  it('export --format onnx writes a model that ONNX Runtime runs to the engine\'s outputs', async () => {
    const runs = JSON.parse((await cli('runs', '--db', db, '--json')).stdout) as { id: number }[];
    const runId = String(runs.at(-1)!.id);
    const model = join(work, 'usps.onnx');
    const weights = join(work, 'usps-last.safetensors');
    await cli('export', runId, '--format', 'onnx', '--out', model, '--db', db);
    await cli('export', runId, '--out', weights, '--db', db);

    const net = createNetwork();
    net.parameters.set(decodeWeights(readFileSync(weights), weights).parameters);
    const image = uspsInputs(USPS_TEST_FIRST_EXAMPLE);
    forward(net, image, 0);
    const session = await ort.InferenceSession.create(readFileSync(model));
    const result = await session.run({ [ONNX_INPUT_NAME]: new ort.Tensor('float32', image, [1, 1, 16, 16]) });
    const outputs = result[ONNX_OUTPUT_NAME]!.data as Float32Array;
    expect(outputs).toHaveLength(10);
    outputs.forEach((value, digit) => expect(Math.abs(value - net.output[digit]!)).toBeLessThanOrEqual(1e-5));
    await session.release();

    const unknown = await failing('export', runId, '--format', 'pt', '--out', join(work, 'x.pt'), '--db', db);
    expect(unknown.stderr).toMatch(/--format.*'pt' is invalid.*safetensors, onnx/);
  });

  it.each([
    ['without', ['--no-db']],
    ['with', ['--db', db]],
  ])('bad USPS input %s the database: one line naming the file and line, a non-zero exit, nothing trained', async (_mode, dbArgs) => {
    const [train] = uspsFiles('zip');
    const corrupt = writeUspsFolder(join(work, `usps-corrupt-${dbArgs[0]}`), [train, corruptZipTest(4)]);
    const { code, stderr, stdout } = await failing('train', ...dbArgs, '--usps', corrupt, '--json');
    expect(code).not.toBe(0);
    expect(stderr).toBe(`lecun1989: ${join(corrupt, 'zip.test')}: line 4: value 256 1.5000 is outside [-1, 1]\n`);
    expect(stdout).toBe('');

    const missing = await failing('train', ...dbArgs, '--usps', join(work, 'no-such-folder'));
    expect(missing.stderr).toBe(`lecun1989: ${join(work, 'no-such-folder')}: no such folder\n`);
    expect(missing.code).not.toBe(0);
  });

  it('--usps and --mnist together are refused', async () => {
    const { code, stderr } = await failing('train', '--no-db', '--usps', zipFolder, '--mnist', bundledMnistDir());
    expect(code).not.toBe(0);
    expect(stderr).toMatch(/option '--usps <dir>' cannot be used with option '--mnist <dir>'/);
  });
});

describe('presets', () => {
  it('presets lists every preset by name', async () => {
    const listed = JSON.parse((await cli('presets', '--json')).stdout) as { name: string; config: { optimizer?: string } }[];
    expect(listed.map((preset) => preset.name)).toEqual(PRESETS.map((preset) => preset.name));
    expect((await cli('presets')).stdout).toContain('1989 paper (diagonal Newton)');
  });

  it('train --preset uses the preset, and a flag given beside it overrides only its own value', async () => {
    const args = ['train', '--no-db', '--json', '--passes', '1', '--train-limit', '200'];
    const newton = passLines((await cli(...args, '--preset', 'newton-1989')).stdout);
    const sgd = passLines((await cli(...args)).stdout);
    const newtonByHand = passLines((await cli(...args, '--preset', 'newton-1989', '--lr', String(PRESETS.find((p) => p.name === 'newton-1989')!.config.learningRate))).stdout);
    expect(newton[0]!.train).not.toEqual(sgd[0]!.train);
    expect(newtonByHand[0]!.train).toEqual(newton[0]!.train);
    const { stderr } = await failing('train', '--preset', 'fastest');
    expect(stderr).toMatch(/--preset.*'fastest'.*sgd-1989/s);
  });
});
