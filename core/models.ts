/**
 * The two models a run can train, behind one interface so that training and evaluation are written once:
 *  - 'tanh-mse-1989': the 1989 network (tanh everywhere, MSE against ±1 targets) on the SIMD kernels;
 *  - 'modern': the public reproduction's modern variant (modern.ts) on the float32 reference layer functions.
 * Each reports the loss it trains on: MSE over the 10 outputs, or softmax cross-entropy.
 */
import {
  argmax,
  backward,
  createNetwork,
  createReferenceNetwork,
  forward,
  initializeParameters,
  mseLoss,
  PARAMETER_COUNT,
  type Network,
} from './network';
import {
  createModernScratch,
  crossEntropyLoss,
  initializeModernParameters,
  modernBackward,
  modernForward,
} from './modern';
import type { MT19937 } from './rng';
import { CLASSES, writeTargets, type Split } from './subset';

export type ModelName = 'tanh-mse-1989' | 'modern';
export const MODEL_NAMES: readonly ModelName[] = ['tanh-mse-1989', 'modern'];

/** What training and evaluation read of a split. */
export type LabelledImages = Pick<Split, 'count' | 'inputs' | 'labels'>;

export interface Model {
  name: ModelName;
  net: Network<Float32Array>;
  /** Whether training draws random numbers (shifts, dropout); if so, forward() takes a generator while training. */
  augments: boolean;
  /** Example `index` of `images` into `net.output`; `training` is the generator of a training step, null to evaluate. */
  forward(images: Float32Array, index: number, training: MT19937 | null): void;
  /** The loss of `net.output` against `label`; writes ∂L/∂output into `net.outputGrad`. */
  loss(label: number): number;
  /** From `net.outputGrad` to `net.gradients`, after a training forward pass. */
  backward(): void;
}

/** The model on `net`'s buffers if given (a network of createNetwork for tanh-mse-1989), else on fresh ones. */
export function createModel(name: ModelName = 'tanh-mse-1989', given?: Network<Float32Array>): Model {
  if (name === 'modern') {
    const net = given ?? createReferenceNetwork(Float32Array);
    const scratch = createModernScratch();
    return {
      name,
      net,
      augments: true,
      forward: (images, index, training) => modernForward(net, scratch, images, index, training),
      loss: (label) => crossEntropyLoss(net.output, label, net.outputGrad),
      backward: () => modernBackward(net, scratch),
    };
  }
  const net = given ?? createNetwork();
  const target = new Float32Array(CLASSES);
  return {
    name,
    net,
    augments: false,
    forward: (images, index) => forward(net, images, index),
    loss: (label) => {
      writeTargets(label, target);
      return mseLoss(net.output, target, net.outputGrad);
    },
    backward: () => backward(net),
  };
}

/** A run's seeded initial weights: torch's draws for both models, the output biases −1 (1989) or 0 (modern). */
export function initialModelParameters(name: ModelName, seed: number): Float32Array {
  const parameters = new Float32Array(PARAMETER_COUNT);
  if (name === 'modern') initializeModernParameters(parameters, seed);
  else initializeParameters(parameters, seed);
  return parameters;
}

export interface SplitMetrics {
  /** The mean over examples of the loss the model trains on (MSE over the outputs, or cross-entropy). */
  loss: number;
  errorPercent: number;
  /** Misclassified examples, counted (argmax of the outputs against the label). */
  misses: number;
}

export interface SplitEvaluation extends SplitMetrics {
  /** confusion[true label][predicted label]. */
  confusion: number[][];
}

/**
 * Loss, error and exact misses of the model's current weights on a whole split, with its confusion matrix.
 * `onMiss` sees each misclassified example while its outputs are still in `model.net.output`.
 */
export function evaluateModel(
  model: Model,
  split: LabelledImages,
  onMiss?: (index: number, label: number, predicted: number) => void,
): SplitEvaluation {
  const counts = new Uint32Array(CLASSES * CLASSES);
  let lossSum = 0;
  let misses = 0;
  for (let i = 0; i < split.count; i++) {
    const label = split.labels[i]!;
    model.forward(split.inputs, i, null);
    lossSum += model.loss(label);
    const predicted = argmax(model.net.output);
    if (predicted !== label) {
      misses++;
      onMiss?.(i, label, predicted);
    }
    counts[label * CLASSES + predicted]!++;
  }
  const confusion = Array.from({ length: CLASSES }, (_, row) =>
    Array.from(counts.subarray(row * CLASSES, (row + 1) * CLASSES)),
  );
  return { loss: lossSum / split.count, errorPercent: (100 * misses) / split.count, misses, confusion };
}
