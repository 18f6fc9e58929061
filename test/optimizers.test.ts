import { describe, expect, it } from 'vitest';
import { backwardSecondDerivatives, createSecondDerivatives, squareParameters } from '../core/hessian';
import { createModel, initialModelParameters, type ModelName } from '../core/models';
import { createReferenceNetwork, forward, PARAMETER_COUNT } from '../core/network';
import {
  createOptimizer,
  DEFAULT_DAMPING,
  HESSIAN_AVERAGING,
  HESSIAN_SAMPLE_SIZE,
  OptimizerStateError,
  scheduledLearningRate,
  trainExample,
  type OptimizerName,
} from '../core/optimizers';
import { passRng } from '../core/pass-rng';
import { MT19937 } from '../core/rng';
import type { Split } from '../core/subset';

function syntheticSplit(count: number, seed: number): Split {
  const rng = new MT19937(seed);
  const inputs = Float32Array.from({ length: count * 256 }, () => rng.nextFloat24() * 2 - 1);
  const labels = Uint8Array.from({ length: count }, () => rng.nextInterval(9));
  return { count, inputs, labels, sourceIndices: Uint32Array.from({ length: count }, (_, i) => i) };
}

const train = syntheticSplit(120, 1);
const SEED = 1337;

/**
 * Passes passesDone+1..`to` of a run of `schedule.passes` passes, as runTraining trains them; returns the weights and
 * the optimizer state after.
 */
function trainPasses(
  modelName: ModelName,
  optimizerName: OptimizerName,
  start: { parameters: Float32Array; state: Uint8Array; passesDone: number },
  to: number,
  schedule: { first: number; last?: number; passes: number },
) {
  const model = createModel(modelName);
  model.net.parameters.set(start.parameters);
  const optimizer = createOptimizer({
    name: optimizerName, model, train, examples: train.count, seed: SEED, state: start.state, passesDone: start.passesDone,
  });
  for (let pass = start.passesDone + 1; pass <= to; pass++) {
    optimizer.beginPass(pass, scheduledLearningRate(schedule.first, schedule.last, pass, schedule.passes));
    const training = model.augments ? passRng(SEED, pass, 'augmentation') : null;
    for (let i = 0; i < train.count; i++) trainExample(model, optimizer, train, i, training);
  }
  return { parameters: model.net.parameters.slice(), state: optimizer.saveState(), passesDone: to };
}

describe('the learning-rate schedule', () => {
  it('decays linearly from the first to the last pass, as modern.py (80 passes, 3e-4 to 1e-4)', () => {
    expect(scheduledLearningRate(3e-4, 1e-4, 1, 80)).toBe(3e-4);
    expect(scheduledLearningRate(3e-4, 1e-4, 80, 80)).toBeCloseTo(1e-4, 15);
    const alpha = 40 / 79; // modern.py's pass_num 40 is pass 41 here
    expect(scheduledLearningRate(3e-4, 1e-4, 41, 80)).toBeCloseTo((1 - alpha) * 3e-4 + alpha * 1e-4, 15);
    expect(scheduledLearningRate(0.03, undefined, 12, 23)).toBe(0.03);
    expect(scheduledLearningRate(0.03, 0.01, 1, 1)).toBe(0.03);
  });
});

describe('diag-newton', () => {
  it('steps each weight by ε/(μ + h_kk)·g_k, h_kk the running average of ∂²L/∂w² over the pass’s sample', () => {
    const model = createModel('tanh-mse-1989');
    model.net.parameters.set(initialModelParameters('tanh-mse-1989', SEED));
    const optimizer = createOptimizer({
      name: 'diag-newton', model, train, examples: train.count, seed: SEED, state: new Uint8Array(0), passesDone: 0,
    });
    const epsilon = 5e-4;
    optimizer.beginPass(1, epsilon);

    // The same average, independently: float64 layers, the same sample.
    const reference = createReferenceNetwork(Float64Array);
    reference.parameters.set(model.net.parameters);
    const sd = createSecondDerivatives(Float64Array, reference);
    squareParameters(reference, sd);
    const expected = new Float64Array(PARAMETER_COUNT);
    const sample = passRng(SEED, 1, 'hessian-sample');
    const drawn = new Set<number>();
    for (let n = 0; n < HESSIAN_SAMPLE_SIZE; n++) {
      const index = sample.nextInterval(train.count - 1);
      drawn.add(index);
      forward(reference, train.inputs, index);
      backwardSecondDerivatives(reference, sd);
      for (let k = 0; k < PARAMETER_COUNT; k++) {
        expected[k] = (1 - HESSIAN_AVERAGING) * expected[k]! + HESSIAN_AVERAGING * sd.parameterSecond[k]!;
      }
    }
    expect(drawn.size).toBeGreaterThan(100); // the sample spreads over the split
    const state = optimizer.saveState();
    const view = new DataView(state.buffer, state.byteOffset);
    const h = Float32Array.from({ length: PARAMETER_COUNT }, (_, k) => view.getFloat32(8 + 4 * k, true));
    const scale = expected.reduce((max, value) => Math.max(max, value), 0);
    expect(scale).toBeGreaterThan(DEFAULT_DAMPING); // the curvature matters next to μ somewhere
    for (let k = 0; k < PARAMETER_COUNT; k++) expect(Math.abs(h[k]! - expected[k]!) / scale).toBeLessThan(1e-5);

    model.forward(train.inputs, 0, null);
    model.loss(train.labels[0]!);
    model.backward();
    const before = model.net.parameters.slice();
    const gradients = model.net.gradients.slice();
    optimizer.step();
    for (let k = 0; k < PARAMETER_COUNT; k++) {
      const stepSize = Math.fround(epsilon / (DEFAULT_DAMPING + h[k]!));
      expect(model.net.parameters[k]).toBe(Math.fround(before[k]! - stepSize * gradients[k]!));
    }
  });

  it('resumed from pass k with its state, equals the run never interrupted, bit for bit', () => {
    const start = { parameters: initialModelParameters('tanh-mse-1989', SEED), state: new Uint8Array(0), passesDone: 0 };
    const schedule = { first: 5e-4, passes: 3 };
    const straight = trainPasses('tanh-mse-1989', 'diag-newton', start, 3, schedule);
    const first = trainPasses('tanh-mse-1989', 'diag-newton', start, 1, schedule);
    const resumed = trainPasses('tanh-mse-1989', 'diag-newton', first, 3, schedule);
    expect(resumed.parameters).toEqual(straight.parameters);
    expect(resumed.state).toEqual(straight.state);
    expect(straight.parameters).not.toEqual(first.parameters);
    // The state carries over: resuming pass 2 with h_kk zeroed instead changes the result.
    const zeroed = new Uint8Array(first.state.length);
    zeroed.set(first.state.subarray(0, 8));
    const fromZero = trainPasses('tanh-mse-1989', 'diag-newton', { ...first, state: zeroed }, 2, schedule);
    const fromState = trainPasses('tanh-mse-1989', 'diag-newton', first, 2, schedule);
    expect(fromZero.parameters).not.toEqual(fromState.parameters);
  });

  it('only trains the 1989 network, whose second derivatives it back-propagates', () => {
    const model = createModel('modern');
    expect(() =>
      createOptimizer({ name: 'diag-newton', model, train, examples: 10, seed: 1, state: new Uint8Array(0), passesDone: 0 }),
    ).toThrow(/tanh-mse-1989/);
  });
});

describe('adamw', () => {
  it('is torch’s AdamW: decoupled weight decay, bias-corrected moments', () => {
    const model = createModel('modern');
    model.net.parameters.set(initialModelParameters('modern', SEED));
    const optimizer = createOptimizer({
      name: 'adamw', model, train, examples: train.count, seed: SEED, state: new Uint8Array(0), passesDone: 0,
    });
    const lr = 3e-4;
    optimizer.beginPass(1, lr);
    // A zero gradient moves a weight by the decay alone: w·(1 − lr·0.01).
    model.net.gradients.fill(0);
    const w0 = model.net.parameters.slice();
    optimizer.step();
    for (let k = 0; k < PARAMETER_COUNT; k += 97) expect(model.net.parameters[k]).toBe(Math.fround(w0[k]! * (1 - lr * 0.01)));
    // Step 2 with gradient g: m = 0.1·g, v = 0.001·g², m̂ = m/(1 − 0.9²), v̂ = v/(1 − 0.999²).
    const g = Float32Array.from({ length: PARAMETER_COUNT }, (_, k) => ((k % 7) - 3) * 1e-3);
    model.net.gradients.set(g);
    const w1 = model.net.parameters.slice();
    optimizer.step();
    for (let k = 0; k < PARAMETER_COUNT; k += 31) {
      const mHat = (0.1 * g[k]!) / (1 - 0.9 ** 2);
      const vHat = (0.001 * g[k]! * g[k]!) / (1 - 0.999 ** 2);
      const expected = w1[k]! * (1 - lr * 0.01) - (lr * mHat) / (Math.sqrt(vHat) + 1e-8);
      expect(Math.abs(model.net.parameters[k]! - expected)).toBeLessThan(1e-7);
    }
    const state = optimizer.saveState();
    expect(new DataView(state.buffer).getUint32(4, true)).toBe(2);
  });

  it('trains the modern variant resumably: shifts, dropout and moments give the same weights after a resume', () => {
    const start = { parameters: initialModelParameters('modern', SEED), state: new Uint8Array(0), passesDone: 0 };
    const schedule = { first: 3e-4, last: 1e-4, passes: 3 };
    const straight = trainPasses('modern', 'adamw', start, 3, schedule);
    const first = trainPasses('modern', 'adamw', start, 2, schedule);
    const resumed = trainPasses('modern', 'adamw', first, 3, schedule);
    expect(resumed.parameters).toEqual(straight.parameters);
    expect(resumed.state).toEqual(straight.state);
    expect(straight.parameters).not.toEqual(first.parameters);
  });
});

describe('optimizer state', () => {
  const base = { model: createModel('tanh-mse-1989'), train, examples: 10, seed: 1 };
  const saved = () => {
    const optimizer = createOptimizer({ ...base, name: 'diag-newton', state: new Uint8Array(0), passesDone: 0 });
    optimizer.beginPass(1, 1e-3);
    return optimizer.saveState();
  };

  it('round-trips through its bytes', () => {
    const bytes = saved();
    expect(bytes.length).toBe(8 + 4 * PARAMETER_COUNT);
    const restored = createOptimizer({ ...base, name: 'diag-newton', state: bytes, passesDone: 1 });
    expect(restored.saveState()).toEqual(bytes);
  });

  it('refuses state that is missing, of another optimizer, truncated or corrupt, naming the problem', () => {
    const make = (name: OptimizerName, state: Uint8Array, passesDone = 1) => () =>
      createOptimizer({ ...base, name, state, passesDone });
    expect(make('diag-newton', new Uint8Array(0))).toThrow(OptimizerStateError);
    expect(make('adamw', new Uint8Array(0))).toThrow(/holds no optimizer state/);
    expect(make('adamw', saved())).toThrow(/expected tag ADW1, found "DNH1"/);
    expect(make('diag-newton', saved().subarray(0, 100))).toThrow(/expected 39048 bytes, got 100/);
    expect(make('sgd', saved())).toThrow(/sgd keeps no state/);
    const corrupt = saved();
    new DataView(corrupt.buffer).setFloat32(8 + 4 * 17, Number.NaN, true);
    expect(make('diag-newton', corrupt)).toThrow(/non-finite/);
    const negative = saved();
    new DataView(negative.buffer).setFloat32(8, -1, true);
    expect(make('diag-newton', negative)).toThrow(/negative/);
  });
});
