/**
 * How a gradient updates the weights, one example at a time:
 *  - 'sgd': w ← w − η·g, the public reproduction (torch.optim.SGD, no momentum);
 *  - 'diag-newton': the 1989 paper's "special version of Newton's algorithm that uses a positive, diagonal
 *    approximation of the Hessian" (stochastic diagonal Levenberg–Marquardt, "Efficient BackProp" §9.1):
 *    w_k ← w_k − ε/(μ + h_kk)·g_k, h_kk a running average of the Gauss–Newton ∂²L/∂w_k² (hessian.ts) refreshed on
 *    HESSIAN_SAMPLE_SIZE examples before each pass;
 *  - 'adamw': torch.optim.AdamW with its defaults (β 0.9/0.999, ε 1e-8, weight decay 0.01), as modern.py.
 * The learning rate (η, ε or AdamW's lr) may decay linearly over the run, as modern.py's does.
 *
 * What an optimiser carries from pass to pass (h_kk; AdamW's moments and step count) is its state: saved with each
 * checkpoint, so that a run resumed from pass k continues bit-identically.
 */
import { backwardSecondDerivatives, createSecondDerivatives, squareParameters } from './hessian';
import type { LabelledImages, Model } from './models';
import { PARAMETER_COUNT, type FloatArray, type Network } from './network';
import { passRng } from './pass-rng';
import type { MT19937 } from './rng';

export type OptimizerName = 'sgd' | 'diag-newton' | 'adamw';
export const OPTIMIZER_NAMES: readonly OptimizerName[] = ['sgd', 'diag-newton', 'adamw'];

/** Examples the Hessian's diagonal is re-estimated on before each pass, as LeCun et al. 1998 (Appendix C) do. */
export const HESSIAN_SAMPLE_SIZE = 500;
/**
 * γ of the running average h ← (1 − γ)·h + γ·∂²L/∂w² ("Efficient BackProp" §9.1), per sampled example: over 500
 * examples the previous pass's estimate keeps a weight of 0.99⁵⁰⁰ ≈ 0.7 %, so each pass sees its own curvature while
 * single examples are smoothed out. Starts from 0, so pass 1's estimate is 99.3 % of its level.
 */
export const HESSIAN_AVERAGING = 0.01;
/** μ, the Levenberg–Marquardt damping that bounds the step where the curvature is small; see presets.ts. */
export const DEFAULT_DAMPING = 0.02;

const ADAMW = { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.01 } as const;

export class OptimizerStateError extends Error {
  override name = 'OptimizerStateError';
}

/** The learning rate of pass `pass` (1-based): linear from `first` at pass 1 to `last` at the last pass, as modern.py. */
export function scheduledLearningRate(first: number, last: number | undefined, pass: number, passes: number): number {
  if (last === undefined || passes === 1) return first;
  const alpha = (pass - 1) / (passes - 1);
  return (1 - alpha) * first + alpha * last;
}

export interface Optimizer {
  name: OptimizerName;
  /** Before pass `pass` trains, at the pass's learning rate. */
  beginPass(pass: number, learningRate: number): void;
  /** Updates `net.parameters` from `net.gradients`. */
  step(): void;
  /** Everything but the weights that the next pass depends on. */
  saveState(): Uint8Array;
}

export interface OptimizerOptions {
  name: OptimizerName;
  model: Model;
  /** The examples a pass trains on (the Hessian sample is drawn from them). */
  train: LabelledImages;
  examples: number;
  seed: number;
  /** μ of diag-newton. */
  damping?: number;
  /** A checkpoint's optimizer state; empty means a fresh optimizer (only valid before the first pass). */
  state: Uint8Array;
  passesDone: number;
}

export function createOptimizer(options: OptimizerOptions): Optimizer {
  const { name, state, passesDone } = options;
  if (name !== 'sgd' && state.length === 0 && passesDone > 0) {
    throw new OptimizerStateError(
      `${name}: the checkpoint after pass ${passesDone} holds no optimizer state, so the run cannot resume exactly`,
    );
  }
  if (name === 'diag-newton') return diagonalNewton(options);
  if (name === 'adamw') return adamW(options.model.net, state);
  if (state.length !== 0) throw new OptimizerStateError(`sgd keeps no state, got ${state.length} bytes`);
  return sgd(options.model.net);
}

/** torch.optim.SGD without momentum or weight decay: w ← w − lr · ∂L/∂w. */
export function sgdStep<A extends FloatArray>(net: Network<A>, learningRate: number): void {
  if (net.kernels !== null) {
    net.kernels.sgdStep(learningRate);
    return;
  }
  const { parameters, gradients } = net;
  for (let i = 0; i < parameters.length; i++) parameters[i] = parameters[i]! - learningRate * gradients[i]!;
}

function sgd(net: Network<Float32Array>): Optimizer {
  let rate = 0;
  return {
    name: 'sgd',
    beginPass: (_pass, learningRate) => (rate = learningRate),
    step: () => sgdStep(net, rate),
    saveState: () => new Uint8Array(0),
  };
}

function diagonalNewton(options: OptimizerOptions): Optimizer {
  const { model, train, examples, seed } = options;
  const damping = options.damping ?? DEFAULT_DAMPING;
  if (model.name !== 'tanh-mse-1989') {
    // checkTrainConfig refuses such a config first; this guards direct callers.
    throw new RangeError(`diag-newton back-propagates the second derivatives of tanh-mse-1989, not ${model.name}`);
  }
  const net = model.net;
  const h =
    options.state.length === 0 ? new Float32Array(PARAMETER_COUNT) : decodeState(options.state, NEWTON_TAG, 1).arrays[0]!;
  if (!h.every((value) => value >= 0)) throw new OptimizerStateError('diag-newton state: a diagonal entry is negative');
  const rates = new Float32Array(PARAMETER_COUNT);
  const sd = createSecondDerivatives(Float32Array, net);
  return {
    name: 'diag-newton',
    beginPass(pass, epsilon) {
      const sample = passRng(seed, pass, 'hessian-sample');
      squareParameters(net, sd);
      const second = sd.parameterSecond;
      for (let n = 0; n < HESSIAN_SAMPLE_SIZE; n++) {
        model.forward(train.inputs, sample.nextInterval(examples - 1), null);
        backwardSecondDerivatives(net, sd);
        for (let k = 0; k < PARAMETER_COUNT; k++) h[k] = (1 - HESSIAN_AVERAGING) * h[k]! + HESSIAN_AVERAGING * second[k]!;
      }
      for (let k = 0; k < PARAMETER_COUNT; k++) rates[k] = epsilon / (damping + h[k]!);
    },
    step() {
      const { parameters, gradients } = net;
      for (let k = 0; k < PARAMETER_COUNT; k++) parameters[k] = parameters[k]! - rates[k]! * gradients[k]!;
    },
    saveState: () => encodeState(NEWTON_TAG, 0, [h]),
  };
}

/** torch.optim.AdamW's single-tensor update, every value stored in float32 as torch keeps it. */
function adamW(net: Network<Float32Array>, state: Uint8Array): Optimizer {
  const decoded = state.length === 0 ? null : decodeState(state, ADAMW_TAG, 2);
  const [firstMoment, secondMoment] = decoded?.arrays ?? [new Float32Array(PARAMETER_COUNT), new Float32Array(PARAMETER_COUNT)];
  const m = firstMoment!;
  const v = secondMoment!;
  if (!v.every((value) => value >= 0)) throw new OptimizerStateError('adamw state: a second moment is negative');
  let steps = decoded?.steps ?? 0;
  let rate = 0;
  const { beta1, beta2, epsilon, weightDecay } = ADAMW;
  return {
    name: 'adamw',
    beginPass: (_pass, learningRate) => (rate = learningRate),
    step() {
      steps++;
      const stepSize = rate / (1 - beta1 ** steps);
      const correction2Root = Math.sqrt(1 - beta2 ** steps);
      const decay = 1 - rate * weightDecay;
      const { parameters, gradients } = net;
      for (let k = 0; k < PARAMETER_COUNT; k++) {
        const g = gradients[k]!;
        m[k] = m[k]! * beta1 + (1 - beta1) * g;
        v[k] = v[k]! * beta2 + (1 - beta2) * g * g;
        parameters[k] = parameters[k]! * decay - (stepSize * m[k]!) / (Math.sqrt(v[k]!) / correction2Root + epsilon);
      }
    },
    saveState: () => encodeState(ADAMW_TAG, steps, [m, v]),
  };
}

// ---- the state's bytes: a 4-byte tag, a little-endian uint32 step count, then float32 arrays of PARAMETER_COUNT ----

const NEWTON_TAG = 'DNH1';
const ADAMW_TAG = 'ADW1';
const HEADER_BYTES = 8;

function encodeState(tag: string, steps: number, arrays: readonly Float32Array[]): Uint8Array {
  const bytes = new Uint8Array(HEADER_BYTES + arrays.length * PARAMETER_COUNT * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < 4; i++) bytes[i] = tag.charCodeAt(i);
  view.setUint32(4, steps, true);
  arrays.forEach((array, a) => {
    const base = HEADER_BYTES + a * PARAMETER_COUNT * 4;
    for (let k = 0; k < PARAMETER_COUNT; k++) view.setFloat32(base + 4 * k, array[k]!, true);
  });
  return bytes;
}

function decodeState(bytes: Uint8Array, tag: string, arrayCount: number): { steps: number; arrays: Float32Array[] } {
  const expected = HEADER_BYTES + arrayCount * PARAMETER_COUNT * 4;
  const found = String.fromCharCode(...bytes.subarray(0, 4));
  if (found !== tag) throw new OptimizerStateError(`optimizer state: expected tag ${tag}, found "${found}"`);
  if (bytes.length !== expected) {
    throw new OptimizerStateError(`optimizer state ${tag}: expected ${expected} bytes, got ${bytes.length}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const arrays = Array.from({ length: arrayCount }, (_, a) => {
    const base = HEADER_BYTES + a * PARAMETER_COUNT * 4;
    return Float32Array.from({ length: PARAMETER_COUNT }, (_, k) => view.getFloat32(base + 4 * k, true));
  });
  if (!arrays.every((array) => array.every(Number.isFinite))) {
    throw new OptimizerStateError(`optimizer state ${tag}: holds a non-finite value`);
  }
  return { steps: view.getUint32(4, true), arrays };
}

/**
 * One training step on example `index`: forward (with the step's shift and dropout drawn from `training` for a model
 * that augments), loss, backward, update. Returns the example's loss.
 */
export function trainExample(
  model: Model,
  optimizer: Optimizer,
  split: LabelledImages,
  index: number,
  training: MT19937 | null,
): number {
  model.forward(split.inputs, index, training);
  const loss = model.loss(split.labels[index]!);
  model.backward();
  optimizer.step();
  return loss;
}
