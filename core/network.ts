/**
 * The network of LeCun et al. 1989, "Backpropagation Applied to Handwritten Zip Code Recognition", laid out the way
 * the public PyTorch reproduction (karpathy/lecun1989-repro) has it:
 *
 *   input 16×16 ─pad 2 with −1─▶ 20×20
 *   H1   12 planes of 8×8: 5×5 kernels at stride 2, one kernel per plane, one bias per unit; tanh
 *        ─pad 2 with −1─▶ 12 × 12×12
 *   H2   12 planes of 4×4: 5×5 kernels at stride 2 over 8 of the 12 H1 planes, one bias per unit; tanh
 *   H3   30 units, fully connected to the 192 H2 units; tanh
 *   out  10 units, fully connected to H3; tanh
 *
 * All 9,760 parameters live in one flat array in the reproduction's state_dict order, with named views; gradients
 * use the same layout. Every layer is a forward and a backward function over flat typed arrays. The functions accept
 * Float32Array (training: float32 storage like torch) or Float64Array (the finite-difference gradient check, where
 * float32 rounding would drown the differences); in-register arithmetic is always double.
 */
import { MT19937 } from './rng';
import { CLASSES, INPUT_PIXELS, INPUT_SIDE } from './subset';

export type FloatArray = Float32Array | Float64Array;

const KERNEL_SIDE = 5;
const KERNEL_TAPS = KERNEL_SIDE * KERNEL_SIDE;
const STRIDE = 2;
const PAD = 2;
/** The reproduction pads with −1, the background value of its [−1, 1] images. */
const PAD_VALUE = -1;

const INPUT_PADDED_SIDE = INPUT_SIDE + 2 * PAD;
const H1_PLANES = 12;
const H1_SIDE = Math.floor((INPUT_PADDED_SIDE - KERNEL_SIDE) / STRIDE) + 1;
const H1_PADDED_SIDE = H1_SIDE + 2 * PAD;
const H2_PLANES = 12;
const H2_SIDE = Math.floor((H1_PADDED_SIDE - KERNEL_SIDE) / STRIDE) + 1;
const H3_UNITS = 30;
const OUTPUT_UNITS = CLASSES;

/**
 * Which H1 planes each H2 plane reads. The paper leaves the scheme unsaid; the reproduction's block structure:
 * planes 0–3 read H1 planes 0–7, planes 4–7 read 4–11, planes 8–11 read 0–3 and 8–11, in that order (the order
 * fixes which kernel slice of H2w meets which plane).
 */
export const H2_INPUT_PLANES: readonly (readonly number[])[] = Array.from({ length: H2_PLANES }, (_, plane) => {
  if (plane < 4) return [0, 1, 2, 3, 4, 5, 6, 7];
  if (plane < 8) return [4, 5, 6, 7, 8, 9, 10, 11];
  return [0, 1, 2, 3, 8, 9, 10, 11];
});
const H2_PLANES_READ = 8;

/** The reproduction's state_dict, in order: names and shapes exactly as safetensors files carry them. */
export const PARAMETER_SHAPES = {
  H1w: [H1_PLANES, 1, KERNEL_SIDE, KERNEL_SIDE],
  H1b: [H1_PLANES, H1_SIDE, H1_SIDE],
  H2w: [H2_PLANES, H2_PLANES_READ, KERNEL_SIDE, KERNEL_SIDE],
  H2b: [H2_PLANES, H2_SIDE, H2_SIDE],
  H3w: [H2_PLANES * H2_SIDE * H2_SIDE, H3_UNITS],
  H3b: [H3_UNITS],
  outw: [H3_UNITS, OUTPUT_UNITS],
  outb: [OUTPUT_UNITS],
} as const satisfies Record<string, readonly number[]>;

export type ParameterName = keyof typeof PARAMETER_SHAPES;
export const PARAMETER_NAMES = Object.keys(PARAMETER_SHAPES) as ParameterName[];

export interface ParameterSlot {
  name: ParameterName;
  shape: readonly number[];
  offset: number;
  length: number;
}

export const PARAMETER_LAYOUT: readonly ParameterSlot[] = (() => {
  let offset = 0;
  return PARAMETER_NAMES.map((name) => {
    const shape = PARAMETER_SHAPES[name];
    const length = shape.reduce((product: number, dim: number) => product * dim, 1);
    const slot = { name, shape, offset, length };
    offset += length;
    return slot;
  });
})();

export const PARAMETER_COUNT = PARAMETER_LAYOUT.reduce((sum, slot) => sum + slot.length, 0);

export type ParameterViews<A extends FloatArray> = Record<ParameterName, A>;

/** Named views into a flat parameter (or gradient) array; no copying. */
export function parameterViews<A extends FloatArray>(flat: A): ParameterViews<A> {
  if (flat.length !== PARAMETER_COUNT) {
    throw new RangeError(`a parameter array holds ${PARAMETER_COUNT} values, got ${flat.length}`);
  }
  const views = {} as ParameterViews<A>;
  for (const slot of PARAMETER_LAYOUT) views[slot.name] = flat.subarray(slot.offset, slot.offset + slot.length) as A;
  return views;
}

/**
 * The four weight layers as the paper counts them. `fanIn` is the number of input lines of one unit (without its
 * bias); it sizes the initialisation and, with the unit count (one bias per unit), the paper's connection count.
 */
export interface LayerSpec {
  name: 'H1' | 'H2' | 'H3' | 'out';
  weights: ParameterName;
  biases: ParameterName;
  fanIn: number;
  /** The reproduction starts the output biases at −1, since nine of ten targets are −1. */
  initialBias: number;
}

export const LAYERS: readonly LayerSpec[] = [
  { name: 'H1', weights: 'H1w', biases: 'H1b', fanIn: KERNEL_TAPS, initialBias: 0 },
  { name: 'H2', weights: 'H2w', biases: 'H2b', fanIn: H2_PLANES_READ * KERNEL_TAPS, initialBias: 0 },
  { name: 'H3', weights: 'H3w', biases: 'H3b', fanIn: PARAMETER_SHAPES.H3w[0], initialBias: 0 },
  { name: 'out', weights: 'outw', biases: 'outb', fanIn: H3_UNITS, initialBias: -1 },
];

function slotOf(name: ParameterName): ParameterSlot {
  return PARAMETER_LAYOUT.find((slot) => slot.name === name)!;
}

/** Units of one layer: one bias each, per unit as in the paper (not per plane). */
export function layerUnits(layer: LayerSpec): number {
  return slotOf(layer.biases).length;
}

/** The paper counts a connection per input line and one for the bias, shared weights or not. */
export function layerConnections(layer: LayerSpec): number {
  return layerUnits(layer) * (layer.fanIn + 1);
}

/** The paper's 1,256 units include the 256 inputs. */
export const UNIT_COUNT = INPUT_PIXELS + LAYERS.reduce((sum, layer) => sum + layerUnits(layer), 0);
export const CONNECTION_COUNT = LAYERS.reduce((sum, layer) => sum + layerConnections(layer), 0);
/** Multiply-accumulates of one forward pass: every input line of every unit once. */
export const FORWARD_MACS = LAYERS.reduce((sum, layer) => sum + layerUnits(layer) * layer.fanIn, 0);
/**
 * Multiply-accumulates of one training step: the forward pass, one per weight line for the weight gradients, and
 * one per input line for the gradient into every layer but H1 (nothing upstream of H1 learns).
 */
export const TRAINING_STEP_MACS =
  2 * FORWARD_MACS + LAYERS.slice(1).reduce((sum, layer) => sum + layerUnits(layer) * layer.fanIn, 0);

/**
 * torch-compatible initialisation: one MT19937 seeded like `torch.manual_seed(seed)` draws torch.rand for H1w, H2w,
 * H3w, outw in turn, and each weight is `(u − 0.5) · 2 · 2.4 / √fan_in`, every torch operation rounded to float32.
 */
export function initializeParameters(parameters: FloatArray, seed: number): void {
  const rng = new MT19937(seed);
  const views = parameterViews(parameters);
  const gain = Math.fround(2.4);
  for (const layer of LAYERS) {
    const weights = views[layer.weights];
    const root = Math.fround(Math.sqrt(layer.fanIn));
    for (let i = 0; i < weights.length; i++) {
      const centred = (rng.nextFloat24() - 0.5) * 2; // exact in float32
      weights[i] = Math.fround(Math.fround(centred * gain) / root);
    }
    views[layer.biases].fill(layer.initialBias);
  }
}

/**
 * Where a strided 5×5 convolution reads its padded input, precomputed so the inner loops do no index arithmetic.
 * Output planes come in blocks of four that read the same input planes (all of H1; each of H2's three groups):
 * a block shares each input load across four accumulators, which also breaks the add-latency chain.
 */
export interface ConvGeometry {
  outputPlanes: number;
  /** Output units per plane. */
  positions: number;
  /** Input lines per unit: planes read × 25. */
  fanIn: number;
  /** Per block of four output planes: positions × fanIn offsets into the padded input, in the weights' order. */
  blockReads: readonly Int32Array[];
}

const PLANES_PER_BLOCK = 4;

function convGeometry(
  inputPaddedSide: number,
  outputSide: number,
  inputPlanesOf: readonly (readonly number[])[],
): ConvGeometry {
  const outputPlanes = inputPlanesOf.length;
  const planesRead = inputPlanesOf[0]!.length;
  const positions = outputSide * outputSide;
  const fanIn = planesRead * KERNEL_TAPS;
  const blockReads: Int32Array[] = [];
  for (let first = 0; first < outputPlanes; first += PLANES_PER_BLOCK) {
    const planes = inputPlanesOf[first]!;
    for (let o = first; o < first + PLANES_PER_BLOCK; o++) {
      if (inputPlanesOf[o]?.join() !== planes.join()) {
        throw new Error(`conv planes ${first}-${first + PLANES_PER_BLOCK - 1} must read the same input planes`);
      }
    }
    const reads = new Int32Array(positions * fanIn);
    for (let y = 0; y < outputSide; y++) {
      for (let x = 0; x < outputSide; x++) {
        const row = (y * outputSide + x) * fanIn;
        planes.forEach((plane, slot) => {
          for (let ky = 0; ky < KERNEL_SIDE; ky++) {
            for (let kx = 0; kx < KERNEL_SIDE; kx++) {
              const at = (plane * inputPaddedSide + y * STRIDE + ky) * inputPaddedSide + x * STRIDE + kx;
              reads[row + slot * KERNEL_TAPS + ky * KERNEL_SIDE + kx] = at;
            }
          }
        });
      }
    }
    blockReads.push(reads);
  }
  return { outputPlanes, positions, fanIn, blockReads };
}

export const H1_GEOMETRY = convGeometry(
  INPUT_PADDED_SIDE,
  H1_SIDE,
  Array.from({ length: H1_PLANES }, () => [0]),
);
export const H2_GEOMETRY = convGeometry(H1_PADDED_SIDE, H2_SIDE, H2_INPUT_PLANES);

// ---------------------------------------------------------------------------------------------------------------
// Layers. Forward functions write their whole output; backward functions overwrite (never accumulate into) the
// gradients they produce, so a step needs no zeroing pass.

/** Copies `planes` planes of side×side from `source` (from `sourceOffset`) into the interiors of `padded`. */
export function padForward(source: FloatArray, sourceOffset: number, planes: number, side: number, padded: FloatArray) {
  const paddedSide = side + 2 * PAD;
  for (let p = 0; p < planes; p++) {
    for (let y = 0; y < side; y++) {
      const from = sourceOffset + (p * side + y) * side;
      const to = (p * paddedSide + y + PAD) * paddedSide + PAD;
      for (let x = 0; x < side; x++) padded[to + x] = source[from + x]!;
    }
  }
}

/** The padding is constant: only the interior's gradient flows back. */
export function padBackward(paddedGrad: FloatArray, planes: number, side: number, sourceGrad: FloatArray) {
  const paddedSide = side + 2 * PAD;
  for (let p = 0; p < planes; p++) {
    for (let y = 0; y < side; y++) {
      const from = (p * paddedSide + y + PAD) * paddedSide + PAD;
      const to = (p * side + y) * side;
      for (let x = 0; x < side; x++) sourceGrad[to + x] = paddedGrad[from + x]!;
    }
  }
}

/** output[o, pos] = bias[o, pos] + Σ_k weights[o, k] · input[reads(o, pos, k)] */
export function convForward(
  geometry: ConvGeometry,
  input: FloatArray,
  weights: FloatArray,
  biases: FloatArray,
  output: FloatArray,
) {
  const { outputPlanes, positions, fanIn, blockReads } = geometry;
  for (let o = 0; o < outputPlanes; o += PLANES_PER_BLOCK) {
    const reads = blockReads[o / PLANES_PER_BLOCK]!;
    const w0 = o * fanIn;
    const w1 = w0 + fanIn;
    const w2 = w1 + fanIn;
    const w3 = w2 + fanIn;
    const out0 = o * positions;
    const out1 = out0 + positions;
    const out2 = out1 + positions;
    const out3 = out2 + positions;
    for (let pos = 0; pos < positions; pos++) {
      const row = pos * fanIn;
      let sum0 = 0;
      let sum1 = 0;
      let sum2 = 0;
      let sum3 = 0;
      for (let k = 0; k < fanIn; k++) {
        const x = input[reads[row + k]!]!;
        sum0 += weights[w0 + k]! * x;
        sum1 += weights[w1 + k]! * x;
        sum2 += weights[w2 + k]! * x;
        sum3 += weights[w3 + k]! * x;
      }
      output[out0 + pos] = sum0 + biases[out0 + pos]!;
      output[out1 + pos] = sum1 + biases[out1 + pos]!;
      output[out2 + pos] = sum2 + biases[out2 + pos]!;
      output[out3 + pos] = sum3 + biases[out3 + pos]!;
    }
  }
}

/** ∂L/∂weights[o, k] = Σ_pos outputGrad[o, pos] · input[reads(o, pos, k)]; ∂L/∂bias = outputGrad (one per unit). */
export function convBackwardParameters(
  geometry: ConvGeometry,
  input: FloatArray,
  outputGrad: FloatArray,
  weightGrad: FloatArray,
  biasGrad: FloatArray,
) {
  const { outputPlanes, positions, fanIn, blockReads } = geometry;
  for (let o = 0; o < outputPlanes; o += PLANES_PER_BLOCK) {
    const reads = blockReads[o / PLANES_PER_BLOCK]!;
    const w0 = o * fanIn;
    const w1 = w0 + fanIn;
    const w2 = w1 + fanIn;
    const w3 = w2 + fanIn;
    const out0 = o * positions;
    const out1 = out0 + positions;
    const out2 = out1 + positions;
    const out3 = out2 + positions;
    for (let k = 0; k < fanIn; k++) {
      let sum0 = 0;
      let sum1 = 0;
      let sum2 = 0;
      let sum3 = 0;
      for (let pos = 0, at = k; pos < positions; pos++, at += fanIn) {
        const x = input[reads[at]!]!;
        sum0 += outputGrad[out0 + pos]! * x;
        sum1 += outputGrad[out1 + pos]! * x;
        sum2 += outputGrad[out2 + pos]! * x;
        sum3 += outputGrad[out3 + pos]! * x;
      }
      weightGrad[w0 + k] = sum0;
      weightGrad[w1 + k] = sum1;
      weightGrad[w2 + k] = sum2;
      weightGrad[w3 + k] = sum3;
    }
  }
  for (let i = 0; i < outputPlanes * positions; i++) biasGrad[i] = outputGrad[i]!;
}

/**
 * ∂L/∂input[j] = Σ over the (o, pos, k) that read j of weights[o, k] · outputGrad[o, pos], scattered over the padded
 * input (padding cells included: padBackward drops them).
 */
export function convBackwardInput(
  geometry: ConvGeometry,
  weights: FloatArray,
  outputGrad: FloatArray,
  inputGrad: FloatArray,
) {
  const { outputPlanes, positions, fanIn, blockReads } = geometry;
  inputGrad.fill(0);
  for (let o = 0; o < outputPlanes; o += PLANES_PER_BLOCK) {
    const reads = blockReads[o / PLANES_PER_BLOCK]!;
    const w0 = o * fanIn;
    const w1 = w0 + fanIn;
    const w2 = w1 + fanIn;
    const w3 = w2 + fanIn;
    const out0 = o * positions;
    for (let pos = 0; pos < positions; pos++) {
      const row = pos * fanIn;
      const g0 = outputGrad[out0 + pos]!;
      const g1 = outputGrad[out0 + positions + pos]!;
      const g2 = outputGrad[out0 + 2 * positions + pos]!;
      const g3 = outputGrad[out0 + 3 * positions + pos]!;
      for (let k = 0; k < fanIn; k++) {
        const at = reads[row + k]!;
        inputGrad[at] =
          inputGrad[at]! + weights[w0 + k]! * g0 + weights[w1 + k]! * g1 + weights[w2 + k]! * g2 + weights[w3 + k]! * g3;
      }
    }
  }
}

/** output = input @ weights + biases, weights [inputs, outputs] (input-major, as the reproduction's `x @ W`). */
export function linearForward(input: FloatArray, weights: FloatArray, biases: FloatArray, output: FloatArray) {
  const outputs = biases.length;
  for (let j = 0; j < outputs; j++) output[j] = biases[j]!;
  for (let i = 0, row = 0; i < input.length; i++, row += outputs) {
    const x = input[i]!;
    for (let j = 0; j < outputs; j++) output[j] = output[j]! + x * weights[row + j]!;
  }
}

/**
 * ∂L/∂weights[i, j] = input[i] · outputGrad[j]; ∂L/∂biases = outputGrad; with `inputGrad`, also
 * ∂L/∂input[i] = Σ_j weights[i, j] · outputGrad[j].
 */
export function linearBackward(
  input: FloatArray,
  weights: FloatArray,
  outputGrad: FloatArray,
  weightGrad: FloatArray,
  biasGrad: FloatArray,
  inputGrad: FloatArray,
) {
  const outputs = outputGrad.length;
  for (let j = 0; j < outputs; j++) biasGrad[j] = outputGrad[j]!;
  for (let i = 0, row = 0; i < input.length; i++, row += outputs) {
    const x = input[i]!;
    let sum = 0;
    for (let j = 0; j < outputs; j++) {
      const g = outputGrad[j]!;
      weightGrad[row + j] = x * g;
      sum += weights[row + j]! * g;
    }
    inputGrad[i] = sum;
  }
}

export function tanhForward(input: FloatArray, output: FloatArray) {
  for (let i = 0; i < input.length; i++) output[i] = Math.tanh(input[i]!);
}

/** tanh′ = 1 − tanh², from the forward output. */
export function tanhBackward(output: FloatArray, outputGrad: FloatArray, inputGrad: FloatArray) {
  for (let i = 0; i < output.length; i++) {
    const y = output[i]!;
    inputGrad[i] = outputGrad[i]! * (1 - y * y);
  }
}

/** Mean squared error over the outputs, without the ½ (as the reproduction): returns the loss, writes ∂L/∂output. */
export function mseLoss(output: FloatArray, target: Float32Array, outputGrad: FloatArray): number {
  const n = output.length;
  let sum = 0;
  for (let j = 0; j < n; j++) {
    const diff = output[j]! - target[j]!;
    sum += diff * diff;
    outputGrad[j] = (2 / n) * diff;
  }
  return sum / n;
}

// ---------------------------------------------------------------------------------------------------------------

/** One network: its parameters, their gradients, and every activation buffer, all allocated once. */
export interface Network<A extends FloatArray = Float32Array> {
  parameters: A;
  gradients: A;
  param: ParameterViews<A>;
  grad: ParameterViews<A>;
  /** Input padded to 20×20; the border stays −1 for the network's life. */
  inputPadded: A;
  h1Sum: A;
  h1: A;
  /** H1 padded to 12 × 12×12; border −1. */
  h1Padded: A;
  h2Sum: A;
  h2: A;
  h3Sum: A;
  h3: A;
  outSum: A;
  /** The 10 outputs after tanh. */
  output: A;
  // Gradients with respect to the buffers of the same name.
  outputGrad: A;
  outSumGrad: A;
  h3Grad: A;
  h3SumGrad: A;
  h2Grad: A;
  h2SumGrad: A;
  h1PaddedGrad: A;
  h1Grad: A;
  h1SumGrad: A;
}

export function createNetwork(): Network<Float32Array>;
export function createNetwork<A extends FloatArray>(ArrayType: { new (length: number): A }): Network<A>;
export function createNetwork(ArrayType: { new (length: number): FloatArray } = Float32Array): Network<FloatArray> {
  const array = (length: number) => new ArrayType(length);
  const parameters = array(PARAMETER_COUNT);
  const gradients = array(PARAMETER_COUNT);
  const h1Units = H1_PLANES * H1_SIDE * H1_SIDE;
  const h2Units = H2_PLANES * H2_SIDE * H2_SIDE;
  return {
    parameters,
    gradients,
    param: parameterViews(parameters),
    grad: parameterViews(gradients),
    inputPadded: array(INPUT_PADDED_SIDE * INPUT_PADDED_SIDE).fill(PAD_VALUE),
    h1Sum: array(h1Units),
    h1: array(h1Units),
    h1Padded: array(H1_PLANES * H1_PADDED_SIDE * H1_PADDED_SIDE).fill(PAD_VALUE),
    h2Sum: array(h2Units),
    h2: array(h2Units),
    h3Sum: array(H3_UNITS),
    h3: array(H3_UNITS),
    outSum: array(OUTPUT_UNITS),
    output: array(OUTPUT_UNITS),
    outputGrad: array(OUTPUT_UNITS),
    outSumGrad: array(OUTPUT_UNITS),
    h3Grad: array(H3_UNITS),
    h3SumGrad: array(H3_UNITS),
    h2Grad: array(h2Units),
    h2SumGrad: array(h2Units),
    h1PaddedGrad: array(H1_PLANES * H1_PADDED_SIDE * H1_PADDED_SIDE),
    h1Grad: array(h1Units),
    h1SumGrad: array(h1Units),
  };
}

/** Runs image `index` of `images` (count × 256, as a Split holds them) through the network into `net.output`. */
export function forward<A extends FloatArray>(net: Network<A>, images: Float32Array, index: number): void {
  const { param } = net;
  padForward(images, index * INPUT_PIXELS, 1, INPUT_SIDE, net.inputPadded);
  convForward(H1_GEOMETRY, net.inputPadded, param.H1w, param.H1b, net.h1Sum);
  tanhForward(net.h1Sum, net.h1);
  padForward(net.h1, 0, H1_PLANES, H1_SIDE, net.h1Padded);
  convForward(H2_GEOMETRY, net.h1Padded, param.H2w, param.H2b, net.h2Sum);
  tanhForward(net.h2Sum, net.h2);
  linearForward(net.h2, param.H3w, param.H3b, net.h3Sum);
  tanhForward(net.h3Sum, net.h3);
  linearForward(net.h3, param.outw, param.outb, net.outSum);
  tanhForward(net.outSum, net.output);
}

/** From `net.outputGrad` (set by the loss) back to every parameter's gradient in `net.gradients`. */
export function backward<A extends FloatArray>(net: Network<A>): void {
  const { param, grad } = net;
  tanhBackward(net.output, net.outputGrad, net.outSumGrad);
  linearBackward(net.h3, param.outw, net.outSumGrad, grad.outw, grad.outb, net.h3Grad);
  tanhBackward(net.h3, net.h3Grad, net.h3SumGrad);
  linearBackward(net.h2, param.H3w, net.h3SumGrad, grad.H3w, grad.H3b, net.h2Grad);
  tanhBackward(net.h2, net.h2Grad, net.h2SumGrad);
  convBackwardParameters(H2_GEOMETRY, net.h1Padded, net.h2SumGrad, grad.H2w, grad.H2b);
  convBackwardInput(H2_GEOMETRY, param.H2w, net.h2SumGrad, net.h1PaddedGrad);
  padBackward(net.h1PaddedGrad, H1_PLANES, H1_SIDE, net.h1Grad);
  tanhBackward(net.h1, net.h1Grad, net.h1SumGrad);
  convBackwardParameters(H1_GEOMETRY, net.inputPadded, net.h1SumGrad, grad.H1w, grad.H1b);
}

/** Index of the largest output, the first on ties (as torch.argmax). */
export function argmax(values: FloatArray): number {
  let best = 0;
  for (let j = 1; j < values.length; j++) if (values[j]! > values[best]!) best = j;
  return best;
}
