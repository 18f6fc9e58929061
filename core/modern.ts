/**
 * The public reproduction's "modern" variant (karpathy/lecun1989-repro, modern.py): the same 9,760 parameters in the
 * same layout, trained with what 33 more years taught:
 *
 *   input 16×16, rolled by a random −1, 0 or +1 pixels along each axis while training (torch.roll: wraps around)
 *   ─pad 2 with −1─▶ H1 conv (as 1989) ─ReLU─▶ ─pad 2 with −1─▶ H2 conv (as 1989) ─ReLU─▶ dropout 0.25 while training
 *   ─▶ H3 fully connected ─ReLU─▶ out fully connected, linear: 10 logits, softmax cross-entropy
 *
 * Initialisation as 1989 except the output biases, which start at 0 (the reproduction's Net zeroes every bias).
 * These are forward and backward functions over the network's flat buffers, composed from the 1989 layer functions
 * (network.ts) and the few layers that are new here.
 */
import {
  convBackwardInput,
  convBackwardParameters,
  convForward,
  H1_GEOMETRY,
  H2_GEOMETRY,
  initializeParameters,
  linearBackward,
  linearForward,
  padBackward,
  padForward,
  PARAMETER_SHAPES,
  parameterViews,
  type FloatArray,
  type Network,
} from './network';
import type { MT19937 } from './rng';
import { INPUT_PIXELS, INPUT_SIDE } from './subset';

export const DROPOUT_PROBABILITY = 0.25;
/** Inverted dropout, as torch: kept units are scaled by 1/(1 − p) while training, so evaluation needs no scaling. */
const DROPOUT_KEEP_SCALE = Math.fround(1 / (1 - DROPOUT_PROBABILITY));
/** The largest shift along each axis, in pixels. */
export const MAX_SHIFT = 1;

const [H1_PLANES, H1_SIDE] = PARAMETER_SHAPES.H1b;
const H2_UNITS = PARAMETER_SHAPES.H3w[0];

export function initializeModernParameters(parameters: FloatArray, seed: number): void {
  initializeParameters(parameters, seed);
  parameterViews(parameters).outb.fill(0);
}

export function reluForward(input: FloatArray, output: FloatArray) {
  for (let i = 0; i < input.length; i++) output[i] = input[i]! > 0 ? input[i]! : 0;
}

/** relu′ is 1 where the pre-activation was positive, 0 elsewhere (torch's threshold_backward). */
export function reluBackward(input: FloatArray, outputGrad: FloatArray, inputGrad: FloatArray) {
  for (let i = 0; i < input.length; i++) inputGrad[i] = input[i]! > 0 ? outputGrad[i]! : 0;
}

/** Draws which units a training step keeps: each with probability 1 − p, scaled by 1/(1 − p); the rest 0. */
export function drawDropoutMask(rng: MT19937, mask: Float32Array) {
  for (let i = 0; i < mask.length; i++) mask[i] = rng.nextFloat24() < DROPOUT_PROBABILITY ? 0 : DROPOUT_KEEP_SCALE;
}

/** x ← x · mask, forward and backward alike (in place). */
export function dropoutApply(values: FloatArray, mask: Float32Array) {
  for (let i = 0; i < values.length; i++) values[i] = values[i]! * mask[i]!;
}

/**
 * torch.roll(image, (rows, columns), (2, 3)): out[y][x] = in[(y − rows) mod 16][(x − columns) mod 16]. modern.py
 * passes its first random shift as the row shift.
 */
export function rollImage(images: Float32Array, index: number, rows: number, columns: number, target: Float32Array) {
  const from = index * INPUT_PIXELS;
  for (let y = 0; y < INPUT_SIDE; y++) {
    const sourceRow = (y - rows + INPUT_SIDE) % INPUT_SIDE;
    for (let x = 0; x < INPUT_SIDE; x++) {
      target[y * INPUT_SIDE + x] = images[from + sourceRow * INPUT_SIDE + (x - columns + INPUT_SIDE) % INPUT_SIDE]!;
    }
  }
}

/**
 * Softmax cross-entropy of the logits against the label, −log softmax(logits)[label]; writes ∂L/∂logits =
 * softmax − one-hot. Shifted by the largest logit so that exp never overflows.
 */
export function crossEntropyLoss(logits: FloatArray, label: number, logitsGrad: FloatArray): number {
  let largest = -Infinity;
  for (let j = 0; j < logits.length; j++) largest = Math.max(largest, logits[j]!);
  let total = 0;
  for (let j = 0; j < logits.length; j++) total += Math.exp(logits[j]! - largest);
  for (let j = 0; j < logits.length; j++) {
    logitsGrad[j] = Math.exp(logits[j]! - largest) / total - (j === label ? 1 : 0);
  }
  return Math.log(total) + largest - logits[label]!;
}

/** Per-step scratch of the modern forward pass: the shifted image and the dropout mask. */
export interface ModernScratch {
  shifted: Float32Array;
  mask: Float32Array;
}

export function createModernScratch(): ModernScratch {
  return { shifted: new Float32Array(INPUT_PIXELS), mask: new Float32Array(H2_UNITS) };
}

/**
 * Runs image `index` into the logits in `net.output`. With `training`, the step's shift and dropout mask are drawn
 * from it (two shifts, then one draw per H2 unit); without, the image goes in as it is and every unit is kept.
 */
export function modernForward<A extends FloatArray>(
  net: Network<A>,
  scratch: ModernScratch,
  images: Float32Array,
  index: number,
  training: MT19937 | null,
): void {
  if (training === null) {
    padForward(images, index * INPUT_PIXELS, 1, INPUT_SIDE, net.inputPadded);
  } else {
    const rows = training.nextInterval(2 * MAX_SHIFT) - MAX_SHIFT;
    const columns = training.nextInterval(2 * MAX_SHIFT) - MAX_SHIFT;
    rollImage(images, index, rows, columns, scratch.shifted);
    padForward(scratch.shifted, 0, 1, INPUT_SIDE, net.inputPadded);
  }
  const { param } = net;
  convForward(H1_GEOMETRY, net.inputPadded, param.H1w, param.H1b, net.h1Sum);
  reluForward(net.h1Sum, net.h1);
  padForward(net.h1, 0, H1_PLANES, H1_SIDE, net.h1Padded);
  convForward(H2_GEOMETRY, net.h1Padded, param.H2w, param.H2b, net.h2Sum);
  reluForward(net.h2Sum, net.h2);
  if (training !== null) {
    drawDropoutMask(training, scratch.mask);
    dropoutApply(net.h2, scratch.mask);
  }
  linearForward(net.h2, param.H3w, param.H3b, net.h3Sum);
  reluForward(net.h3Sum, net.h3);
  linearForward(net.h3, param.outw, param.outb, net.output);
}

/** From ∂L/∂logits in `net.outputGrad` to every parameter's gradient, after a training forward pass. */
export function modernBackward<A extends FloatArray>(net: Network<A>, scratch: ModernScratch): void {
  const { param, grad } = net;
  linearBackward(net.h3, param.outw, net.outputGrad, grad.outw, grad.outb, net.h3Grad);
  reluBackward(net.h3Sum, net.h3Grad, net.h3SumGrad);
  linearBackward(net.h2, param.H3w, net.h3SumGrad, grad.H3w, grad.H3b, net.h2Grad);
  dropoutApply(net.h2Grad, scratch.mask);
  reluBackward(net.h2Sum, net.h2Grad, net.h2SumGrad);
  convBackwardParameters(H2_GEOMETRY, net.h1Padded, net.h2SumGrad, grad.H2w, grad.H2b);
  convBackwardInput(H2_GEOMETRY, param.H2w, net.h2SumGrad, net.h1PaddedGrad);
  padBackward(net.h1PaddedGrad, H1_PLANES, H1_SIDE, net.h1Grad);
  reluBackward(net.h1Sum, net.h1Grad, net.h1SumGrad);
  convBackwardParameters(H1_GEOMETRY, net.inputPadded, net.h1SumGrad, grad.H1w, grad.H1b);
}
