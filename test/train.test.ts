import { describe, expect, it } from 'vitest';
import { bundledMnistDir, readMnistDir } from '../core/mnist';
import { backward, createNetwork, forward, mseLoss, PARAMETER_COUNT } from '../core/network';
import { createModel, evaluateModel } from '../core/models';
import { MT19937 } from '../core/rng';
import { make1989Dataset, writeTargets, type Split } from '../core/subset';
import {
  evaluateSplit,
  initialParameters,
  runTraining,
  TrainConfigError,
  trainStep,
  type PassProgress,
  type PassResult,
  type RunOptions,
} from '../core/train';

/** Random 16×16 images in [−1, 1] with random labels: enough to check bookkeeping, determinism and resume. */
function syntheticSplit(count: number, seed: number): Split {
  const rng = new MT19937(seed);
  const inputs = Float32Array.from({ length: count * 256 }, () => rng.nextFloat24() * 2 - 1);
  const labels = Uint8Array.from({ length: count }, () => rng.nextInterval(9));
  return { count, inputs, labels, sourceIndices: Uint32Array.from({ length: count }, (_, i) => i) };
}

const train = syntheticSplit(300, 1);
const test = syntheticSplit(120, 2);
const config = { seed: 1337, passes: 3, learningRate: 0.03 };

async function collect(options: Partial<RunOptions> = {}): Promise<PassResult[]> {
  const results: PassResult[] = [];
  for await (const result of runTraining({ config, train, test, evaluation: 'in-thread', ...options })) {
    results.push(result);
  }
  return results;
}

/** Everything in a result that the arithmetic determines (wall time excluded). */
function determined(results: PassResult[]) {
  return results.map(({ seconds, ...rest }) => {
    expect(seconds).toBeGreaterThanOrEqual(0);
    return rest;
  });
}

describe('evaluateSplit', () => {
  it('counts misses exactly, fills the confusion matrix by true label, and averages the loss over outputs', () => {
    const net = createNetwork();
    net.parameters.set(initialParameters(3));
    const result = evaluateSplit(net, test);

    let misses = 0;
    let lossSum = 0;
    const target = new Float32Array(10);
    const expected = Array.from({ length: 10 }, () => Array<number>(10).fill(0));
    for (let i = 0; i < test.count; i++) {
      forward(net, test.inputs, i);
      const outputs = Array.from(net.output);
      const predicted = outputs.indexOf(Math.max(...outputs));
      const label = test.labels[i]!;
      if (predicted !== label) misses++;
      expected[label]![predicted]!++;
      writeTargets(label, target);
      lossSum += outputs.reduce((sum, y, j) => sum + (y - target[j]!) ** 2, 0);
    }
    expect(result.misses).toBe(misses);
    expect(result.errorPercent).toBeCloseTo((100 * misses) / test.count, 12);
    expect(result.confusion).toEqual(expected);
    expect(result.loss).toBeCloseTo(lossSum / (test.count * 10), 12);
    const perLabel = Array.from({ length: 10 }, (_, label) => test.labels.filter((l) => l === label).length);
    expect(result.confusion.map((row) => row.reduce((a, b) => a + b, 0))).toEqual(perLabel);
  });
});

describe('trainStep', () => {
  it('is one plain SGD step on the example’s MSE gradient', () => {
    const net = createNetwork();
    net.parameters.set(initialParameters(11));
    const before = net.parameters.slice();
    forward(net, train.inputs, 5);
    const target = new Float32Array(10);
    writeTargets(train.labels[5]!, target);
    mseLoss(net.output, target, net.outputGrad);
    backward(net);
    const gradients = net.gradients.slice();
    net.parameters.set(before);
    trainStep(net, train, 5, target, 0.5);
    for (let i = 0; i < PARAMETER_COUNT; i++) {
      expect(net.parameters[i]).toBe(Math.fround(before[i]! - 0.5 * gradients[i]!));
    }
    expect(gradients.some((g) => g !== 0)).toBe(true);
  });
});

describe('runTraining', () => {
  it('is deterministic: the same config gives bit-identical weights and metrics', async () => {
    const first = await collect();
    const second = await collect();
    expect(first.map((r) => r.pass)).toEqual([1, 2, 3]);
    expect(determined(second)).toEqual(determined(first));
    expect(first[2]!.parameters).not.toEqual(first[0]!.parameters);
  });

  it('resumed from pass k, equals the run never interrupted', async () => {
    const uninterrupted = await collect();
    for (const k of [1, 2]) {
      const checkpoint = uninterrupted[k - 1]!;
      const resumed = await collect({ resume: { parameters: checkpoint.parameters.slice(), passesDone: k } });
      expect(resumed.map((r) => r.pass)).toEqual([1, 2, 3].slice(k));
      expect(determined(resumed)).toEqual(determined(uninterrupted.slice(k)));
    }
  });

  it('gives identical metrics and weights with evaluation in a worker thread', async () => {
    const inThread = await collect({ evaluation: 'in-thread' });
    const inWorker = await collect({ evaluation: 'worker' });
    expect(determined(inWorker)).toEqual(determined(inThread));
  });

  it('starts from given parameters when resuming at pass 0', async () => {
    const seeded = await collect();
    const explicit = await collect({ resume: { parameters: initialParameters(config.seed), passesDone: 0 } });
    expect(determined(explicit)).toEqual(determined(seeded));
  });

  it('trains on the first trainLimit examples only, but evaluates both full splits', async () => {
    const limited = { ...config, passes: 1, trainLimit: 100 };
    const altered = { ...train, inputs: train.inputs.slice() };
    altered.inputs.fill(0.5, 100 * 256);
    const a = await collect({ config: limited });
    const b = await collect({ config: limited, train: altered });
    expect(b[0]!.parameters).toEqual(a[0]!.parameters);
    expect(b[0]!.train).not.toEqual(a[0]!.train); // the evaluation saw the altered examples
    expect(a[0]!.testConfusion.flat().reduce((x, y) => x + y, 0)).toBe(test.count);
    const full = await collect({ config: { ...config, passes: 1 } });
    expect(full[0]!.parameters).not.toEqual(a[0]!.parameters);
  });

  it('reports progress every progressEvery examples and at the end of each pass', async () => {
    const progress: PassProgress[] = [];
    await collect({ config: { ...config, passes: 2 }, progressEvery: 128, onProgress: (p) => progress.push(p) });
    const done = (pass: number) => progress.filter((p) => p.pass === pass).map((p) => p.examplesDone);
    expect(done(1)).toEqual([128, 256, 300]);
    expect(done(2)).toEqual([128, 256, 300]);
    expect(progress.every((p) => p.examplesTotal === 300)).toBe(true);
  });

  it('stops promptly when aborted, after delivering the passes already trained', async () => {
    const uninterrupted = await collect();
    const controller = new AbortController();
    const progress: PassProgress[] = [];
    const results = await collect({
      evaluation: 'worker',
      progressEvery: 50,
      signal: controller.signal,
      onProgress: (p) => {
        progress.push(p);
        if (p.pass === 2 && p.examplesDone === 100) controller.abort();
      },
    });
    expect(results.map((r) => r.pass)).toEqual([1]);
    expect(determined(results)).toEqual(determined(uninterrupted.slice(0, 1)));
    expect(progress.at(-1)).toEqual({ pass: 2, examplesDone: 100, examplesTotal: 300 });
  });

  it('keeps a pass that finished just as the run was aborted', async () => {
    const uninterrupted = await collect();
    const controller = new AbortController();
    const results = await collect({
      signal: controller.signal,
      onProgress: (p) => {
        if (p.pass === 1 && p.examplesDone === p.examplesTotal) controller.abort();
      },
    });
    expect(determined(results)).toEqual(determined(uninterrupted.slice(0, 1)));
  });

  it('refuses bad configs and inputs with errors naming the field', async () => {
    const bad = async (options: Partial<RunOptions>) => collect(options);
    await expect(bad({ config: { ...config, learningRate: -1 } })).rejects.toThrow(TrainConfigError);
    await expect(bad({ config: { ...config, learningRate: Number.NaN } })).rejects.toThrow(/learningRate/);
    await expect(bad({ config: { ...config, passes: 0 } })).rejects.toThrow(/passes/);
    await expect(bad({ config: { ...config, seed: -3 } })).rejects.toThrow(/seed/);
    await expect(bad({ config: { ...config, trainLimit: 301 } })).rejects.toThrow(
      /trainLimit must be an integer from 1 to 300/,
    );
    await expect(bad({ resume: { parameters: new Float32Array(5), passesDone: 1 } })).rejects.toThrow(/9760/);
    await expect(bad({ resume: { parameters: initialParameters(1), passesDone: 4 } })).rejects.toThrow(/passesDone/);
    const nan = initialParameters(1);
    nan[17] = Number.NaN;
    await expect(bad({ resume: { parameters: nan, passesDone: 0 } })).rejects.toThrow(/non-finite/);
    await expect(bad({ train: { ...train, count: 301 } })).rejects.toThrow(/train split/);
    const badLabels = { ...test, labels: test.labels.slice() };
    badLabels.labels[7] = 12;
    await expect(bad({ test: badLabels })).rejects.toThrow(/test split: label 12 of example 7 is not 0–9/);
  });
});

describe('runTraining with the paper’s diagonal Newton and the modern variant', () => {
  const variants = {
    'diag-newton': { ...config, learningRate: 5e-4, optimizer: 'diag-newton', damping: 0.02, trainLimit: 100 },
    modern: { ...config, learningRate: 3e-4, finalLearningRate: 1e-4, optimizer: 'adamw', model: 'modern', trainLimit: 100 },
  } as const;

  for (const [name, variant] of Object.entries(variants)) {
    it(`${name}: resumed from pass k with the checkpoint’s optimizer state, equals the run never interrupted`, async () => {
      const uninterrupted = await collect({ config: variant });
      expect(uninterrupted.every((r) => r.optimizerState!.length > 0)).toBe(true);
      for (const k of [1, 2]) {
        const { parameters, optimizerState } = uninterrupted[k - 1]!;
        const resumed = await collect({ config: variant, resume: { parameters: parameters.slice(), passesDone: k, optimizerState } });
        expect(determined(resumed)).toEqual(determined(uninterrupted.slice(k)));
      }
      await expect(
        collect({ config: variant, resume: { parameters: uninterrupted[0]!.parameters, passesDone: 1 } }),
      ).rejects.toThrow(/holds no optimizer state/);
    });

    it(`${name}: evaluates identically in a worker thread`, async () => {
      const short = { ...variant, passes: 1 };
      const inThread = await collect({ config: short, evaluation: 'in-thread' });
      const inWorker = await collect({ config: short, evaluation: 'worker' });
      expect(determined(inWorker)).toEqual(determined(inThread));
    });
  }

  it('reports the modern variant’s cross-entropy as its loss, and starts it from its own initial weights', async () => {
    const [first] = await collect({ config: { ...variants.modern, passes: 1 } });
    const model = createModel('modern');
    model.net.parameters.set(first!.parameters);
    expect(first!.test).toEqual((({ confusion, ...metrics }) => metrics)(evaluateModel(model, test)));
    // Near log 10 after 100 steps of AdamW at 3e-4 on random labels; MSE on ±1 targets would be near 0.1–1.
    expect(first!.test.loss).toBeGreaterThan(2);
    const fromModernInit = await collect({
      config: { ...variants.modern, passes: 1 },
      resume: { parameters: initialParameters(config.seed, 'modern'), passesDone: 0 },
    });
    expect(determined(fromModernInit)).toEqual(determined([first!]));
  });

  it('refuses diag-newton on the modern variant and unknown names, naming the field', async () => {
    await expect(collect({ config: { ...config, optimizer: 'diag-newton', model: 'modern' } })).rejects.toThrow(
      /optimizer diag-newton back-propagates the second derivatives of model tanh-mse-1989 only/,
    );
    await expect(collect({ config: { ...config, optimizer: 'lbfgs' as 'sgd' } })).rejects.toThrow(/optimizer "lbfgs" is unknown/);
    await expect(collect({ config: { ...config, model: 'vit' as 'modern' } })).rejects.toThrow(/model "vit" is unknown/);
    await expect(collect({ config: { ...config, damping: 0 } })).rejects.toThrow(/damping must be a positive number/);
  });
});

describe('the real 1989-style subset, seed 1337', () => {
  it('misses what the PyTorch run misses after passes 1 and 2 (REFERENCE.md)', async () => {
    const dataset = make1989Dataset(readMnistDir(bundledMnistDir()), 1337);
    const results: PassResult[] = [];
    for await (const result of runTraining({
      config: { seed: 1337, passes: 2, learningRate: 0.03 },
      train: dataset.train,
      test: dataset.test,
      evaluation: 'worker',
    })) {
      results.push(result);
    }
    const summary = results.map((r) => [r.pass, r.train.misses, r.test.misses]);
    expect(summary).toEqual([
      [1, 740, 198],
      [2, 512, 148],
    ]);
    const referenceLosses = [
      [6.5224e-2, 6.3529e-2],
      [4.5662e-2, 4.7212e-2],
    ];
    results.forEach((r, i) => {
      expect(Math.abs(r.train.loss / referenceLosses[i]![0]! - 1)).toBeLessThan(1e-4);
      expect(Math.abs(r.test.loss / referenceLosses[i]![1]! - 1)).toBeLessThan(1e-4);
    });
    expect(results[0]!.train.errorPercent.toFixed(2)).toBe('10.15');
    expect(results[1]!.test.errorPercent.toFixed(2)).toBe('7.37');
  });
});
