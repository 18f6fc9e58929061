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
 * use the same layout. Every layer is a forward and a backward function over flat arrays, written twice:
 *  - the reference layer functions, plain TypeScript over Float32Array or Float64Array with double arithmetic, which
 *    read like the paper; in float64 they make the finite-difference gradient check meaningful;
 *  - the same layers as WebAssembly SIMD kernels in float32, as torch computes them (end of this file), which
 *    training runs (some 30 times faster than the reference). Tests hold them to the reference buffer by buffer.
 * createNetwork() gives a network on the kernels, createReferenceNetwork(Float64Array) one on the reference.
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
 * planes 0–3 read H1 planes 0–7, planes 4–7 read 4–11, planes 8–11 read 0–3 and 8–11, in that order (the
 * order fixes which kernel slice of H2w meets which plane).
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
 * torch-compatible initialisation: one MT19937 seeded like `torch.manual_seed(seed)` draws torch.rand for H1w,
 * H2w, H3w, outw in turn, and each weight is `(u − 0.5) · 2 · 2.4 / √fan_in`, every torch operation rounded to
 * float32.
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
 * Where a strided 5×5 convolution reads its padded input, precomputed once so that no loop does index arithmetic.
 * Output planes that read the same input planes form a group (H1: all 12; H2: three groups of 4) and share one
 * table: for each output position, the fanIn offsets into the padded input in the order of the weights.
 */
export interface ConvGeometry {
  outputPlanes: number;
  /** Output units per plane. */
  positions: number;
  /** Input lines per unit: planes read × 25. */
  fanIn: number;
  planesPerGroup: number;
  /** Per group: positions × fanIn offsets into the padded input. */
  groupReads: readonly Int32Array[];
}

function convGeometry(
  inputPaddedSide: number,
  outputSide: number,
  inputPlanesOf: readonly (readonly number[])[],
): ConvGeometry {
  const outputPlanes = inputPlanesOf.length;
  const positions = outputSide * outputSide;
  const fanIn = inputPlanesOf[0]!.length * KERNEL_TAPS;
  const firstOfSecondGroup = inputPlanesOf.findIndex((planes) => planes.join() !== inputPlanesOf[0]!.join());
  const planesPerGroup = firstOfSecondGroup < 0 ? outputPlanes : firstOfSecondGroup;
  const groupReads: Int32Array[] = [];
  for (let first = 0; first < outputPlanes; first += planesPerGroup) {
    const planes = inputPlanesOf[first]!;
    if (!inputPlanesOf.slice(first, first + planesPerGroup).every((other) => other.join() === planes.join())) {
      throw new Error(`conv: planes from ${first} must come in groups of ${planesPerGroup} reading the same planes`);
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
    groupReads.push(reads);
  }
  return { outputPlanes, positions, fanIn, planesPerGroup, groupReads };
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
  const { outputPlanes, positions, fanIn, planesPerGroup, groupReads } = geometry;
  for (let o = 0; o < outputPlanes; o++) {
    const reads = groupReads[Math.floor(o / planesPerGroup)]!;
    for (let pos = 0; pos < positions; pos++) {
      let sum = 0;
      for (let k = 0; k < fanIn; k++) sum += weights[o * fanIn + k]! * input[reads[pos * fanIn + k]!]!;
      output[o * positions + pos] = sum + biases[o * positions + pos]!;
    }
  }
}

/** ∂L/∂weights[o, k] = Σ_pos outputGrad[o, pos] · input[reads(o, pos, k)]; ∂L/∂bias = outputGrad, per unit. */
export function convBackwardParameters(
  geometry: ConvGeometry,
  input: FloatArray,
  outputGrad: FloatArray,
  weightGrad: FloatArray,
  biasGrad: FloatArray,
) {
  const { outputPlanes, positions, fanIn, planesPerGroup, groupReads } = geometry;
  for (let o = 0; o < outputPlanes; o++) {
    const reads = groupReads[Math.floor(o / planesPerGroup)]!;
    for (let k = 0; k < fanIn; k++) {
      let sum = 0;
      for (let pos = 0; pos < positions; pos++) {
        sum += outputGrad[o * positions + pos]! * input[reads[pos * fanIn + k]!]!;
      }
      weightGrad[o * fanIn + k] = sum;
    }
  }
  for (let i = 0; i < outputPlanes * positions; i++) biasGrad[i] = outputGrad[i]!;
}

/**
 * ∂L/∂input[j] = Σ over the (o, pos, k) that read j of weights[o, k] · outputGrad[o, pos], scattered over the
 * padded input (padding cells included: padBackward drops them).
 */
export function convBackwardInput(
  geometry: ConvGeometry,
  weights: FloatArray,
  outputGrad: FloatArray,
  inputGrad: FloatArray,
) {
  const { outputPlanes, positions, fanIn, planesPerGroup, groupReads } = geometry;
  inputGrad.fill(0);
  for (let o = 0; o < outputPlanes; o++) {
    const reads = groupReads[Math.floor(o / planesPerGroup)]!;
    for (let pos = 0; pos < positions; pos++) {
      const g = outputGrad[o * positions + pos]!;
      for (let k = 0; k < fanIn; k++) {
        const at = reads[pos * fanIn + k]!;
        inputGrad[at] = inputGrad[at]! + weights[o * fanIn + k]! * g;
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

/** Mean squared error over the outputs, without the ½ (as the reproduction); returns it, writes ∂L/∂output. */
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
// Networks: every buffer allocated once.

const H1_UNITS = H1_PLANES * H1_SIDE * H1_SIDE;
const H2_UNITS = H2_PLANES * H2_SIDE * H2_SIDE;
const INPUT_PADDED_UNITS = INPUT_PADDED_SIDE * INPUT_PADDED_SIDE;
const H1_PADDED_UNITS = H1_PLANES * H1_PADDED_SIDE * H1_PADDED_SIDE;

/** The buffers of a network and their lengths; a `…Grad` buffer holds ∂L/∂ of the buffer of the same name. */
const NETWORK_BUFFERS = {
  parameters: PARAMETER_COUNT,
  gradients: PARAMETER_COUNT,
  /** The input padded to 20×20; the border stays −1 for the network's life. */
  inputPadded: INPUT_PADDED_UNITS,
  h1Sum: H1_UNITS,
  h1: H1_UNITS,
  /** H1 padded to 12 × 12×12; the border stays −1. */
  h1Padded: H1_PADDED_UNITS,
  h2Sum: H2_UNITS,
  h2: H2_UNITS,
  h3Sum: H3_UNITS,
  h3: H3_UNITS,
  outSum: OUTPUT_UNITS,
  /** The 10 outputs after tanh. */
  output: OUTPUT_UNITS,
  outputGrad: OUTPUT_UNITS,
  outSumGrad: OUTPUT_UNITS,
  h3Grad: H3_UNITS,
  h3SumGrad: H3_UNITS,
  h2Grad: H2_UNITS,
  h2SumGrad: H2_UNITS,
  h1PaddedGrad: H1_PADDED_UNITS,
  h1Grad: H1_UNITS,
  h1SumGrad: H1_UNITS,
} as const;
type BufferName = keyof typeof NETWORK_BUFFERS;

export type Network<A extends FloatArray = Float32Array> = Record<BufferName, A> & {
  param: ParameterViews<A>;
  grad: ParameterViews<A>;
  /** The float32 SIMD kernels working on these buffers, or null for a reference network (the layer functions). */
  kernels: NetworkKernels | null;
};

export interface NetworkKernels {
  /** forward() after the input is in `inputPadded`. */
  forward(): void;
  /** backward() from `outputGrad`. */
  backward(): void;
  /** parameters ← parameters − rate · gradients, in float32 as torch.optim.SGD does. */
  sgdStep(rate: number): void;
}

function paddedBorders<A extends FloatArray>(net: Network<A>): Network<A> {
  net.inputPadded.fill(PAD_VALUE);
  net.h1Padded.fill(PAD_VALUE);
  return net;
}

/**
 * A network computed by the layer functions above, in float64 (for finite differences) or float32: the readable
 * reference the SIMD kernels are tested against.
 */
export function createReferenceNetwork<A extends FloatArray>(ArrayType: { new (length: number): A }): Network<A> {
  const buffers = {} as Record<BufferName, A>;
  for (const [name, length] of Object.entries(NETWORK_BUFFERS)) buffers[name as BufferName] = new ArrayType(length);
  return paddedBorders({
    ...buffers,
    param: parameterViews(buffers.parameters),
    grad: parameterViews(buffers.gradients),
    kernels: null,
  });
}

/** The network training uses: float32 buffers in WebAssembly memory, computed by the SIMD kernels. */
export function createNetwork(): Network<Float32Array> {
  const memory = new WebAssemblyApi.Memory({ initial: WASM_LAYOUT.pages, maximum: WASM_LAYOUT.pages });
  const instance = new WebAssemblyApi.Instance(kernelModule(), { env: { memory } });
  const view = (name: WasmBufferName) =>
    new Float32Array(memory.buffer, WASM_LAYOUT.offsets[name], WASM_LAYOUT_LENGTHS[name]);
  const reads = (name: 'h1Reads' | 'h2Reads', geometry: ConvGeometry) => {
    const table = new Int32Array(memory.buffer, WASM_LAYOUT.offsets[name], WASM_LAYOUT_LENGTHS[name]);
    // Byte offsets, so the kernels add them to the input's address as they are.
    geometry.groupReads.forEach((group, g) => group.forEach((at, i) => (table[g * group.length + i] = at * 4)));
  };
  reads('h1Reads', H1_GEOMETRY);
  reads('h2Reads', H2_GEOMETRY);
  const buffers = {} as Record<BufferName, Float32Array>;
  for (const name of Object.keys(NETWORK_BUFFERS) as BufferName[]) buffers[name] = view(name);
  return paddedBorders({
    ...buffers,
    param: parameterViews(buffers.parameters),
    grad: parameterViews(buffers.gradients),
    kernels: instance.exports as unknown as NetworkKernels,
  });
}

/** Runs image `index` of `images` (count × 256, as a Split holds them) through the network into `net.output`. */
export function forward<A extends FloatArray>(net: Network<A>, images: Float32Array, index: number): void {
  padForward(images, index * INPUT_PIXELS, 1, INPUT_SIDE, net.inputPadded);
  if (net.kernels !== null) {
    net.kernels.forward();
    return;
  }
  const { param } = net;
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
  if (net.kernels !== null) {
    net.kernels.backward();
    return;
  }
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

// ---------------------------------------------------------------------------------------------------------------
// The SIMD kernels: the layers above in float32, four lanes at a time, as WebAssembly (SIMD is standard in Node
// and Electron). Each kernel is written below in the WebAssembly instructions it compiles to, one helper per
// instruction named after it (i32Add is i32.add), and assembled into a module once, at first use. WebAssembly
// arithmetic is IEEE with no fused multiply-add, so a run gives bit-identical results on every machine.
//
// The convolutions keep the output planes of a group (H1: 12, H2: 4) in vector lanes: the weights are interleaved
// to [group][k][plane], so one load gives four planes' weights for input line k, multiplied by one input value
// splatted across the lanes. The rest (fully connected layers, tanh, SGD) runs along contiguous rows.

type Code = number[];
const I32 = 0x7f;
const F32 = 0x7d;
const V128 = 0x7b;

function unsignedLeb(value: number): Code {
  const bytes: Code = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    bytes.push(byte);
  } while (value !== 0);
  return bytes;
}

function signedLeb(value: number): Code {
  const bytes: Code = [];
  for (;;) {
    const byte = value & 0x7f;
    value >>= 7;
    if ((value === 0 && (byte & 0x40) === 0) || (value === -1 && (byte & 0x40) !== 0)) {
      bytes.push(byte);
      return bytes;
    }
    bytes.push(byte | 0x80);
  }
}

/** local.get and local.set, the instructions every kernel is mostly made of. */
const get = (local: number): Code => [0x20, ...unsignedLeb(local)];
const set = (local: number, value: Code): Code => [...value, 0x21, ...unsignedLeb(local)];
const i32Const = (value: number): Code => [0x41, ...signedLeb(value)];
const f32Const = (value: number): Code => {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setFloat32(0, value, true); // WebAssembly is little-endian whatever the host
  return [0x43, ...bytes];
};
const binary = (opcode: number) => (a: Code, b: Code): Code => [...a, ...b, opcode];
const i32Add = binary(0x6a);
const i32Sub = binary(0x6b);
const i32Mul = binary(0x6c);
const i32Shl = binary(0x74);
const f32Add = binary(0x92);
const f32Mul = binary(0x94);
/** memarg: log2 of the alignment hint, then the constant offset. Unaligned addresses are valid, only slower. */
const i32Load = (address: Code, offset = 0): Code => [...address, 0x28, 2, ...unsignedLeb(offset)];
const f32Load = (address: Code, offset = 0): Code => [...address, 0x2a, 2, ...unsignedLeb(offset)];
const f32Store = (address: Code, value: Code, offset = 0): Code => [
  ...address,
  ...value,
  ...[0x38, 2, ...unsignedLeb(offset)],
];
const simd = (opcode: number, ...immediates: number[]): Code => [0xfd, ...unsignedLeb(opcode), ...immediates];
const v128Load = (address: Code, offset = 0): Code => [...address, ...simd(0x00, 4, ...unsignedLeb(offset))];
const v128Load32Splat = (address: Code): Code => [...address, ...simd(0x09, 2, 0)];
const v128Store = (address: Code, value: Code, offset = 0): Code => [
  ...address,
  ...value,
  ...simd(0x0b, 4, ...unsignedLeb(offset)),
];
const f32x4Splat = (value: Code): Code => [...value, ...simd(0x13)];
const f32x4Const = (value: number): Code => f32x4Splat(f32Const(value));
const v128Zero: Code = simd(0x0c, ...new Array<number>(16).fill(0));
const f32x4ExtractLane = (vector: Code, lane: number): Code => [...vector, ...simd(0x1f, lane)];
const simdBinary = (opcode: number) => (a: Code, b: Code): Code => [...a, ...b, ...simd(opcode)];
const f32x4Lt = simdBinary(0x43);
const v128And = simdBinary(0x4e);
const v128Or = simdBinary(0x50);
const v128Bitselect = (ifSet: Code, ifClear: Code, mask: Code): Code => [...ifSet, ...ifClear, ...mask, ...simd(0x52)];
const f32x4Nearest = (a: Code): Code => [...a, ...simd(0x6a)];
const i32x4Shl = (a: Code, bits: Code): Code => [...a, ...bits, ...simd(0xab)];
const i32x4Add = simdBinary(0xae);
const f32x4Abs = (a: Code): Code => [...a, ...simd(0xe0)];
const f32x4Add = simdBinary(0xe4);
const f32x4Sub = simdBinary(0xe5);
const f32x4Mul = simdBinary(0xe6);
const f32x4Div = simdBinary(0xe7);
const f32x4Min = simdBinary(0xe8);
const i32x4TruncSatF32x4S = (a: Code): Code => [...a, ...simd(0xf8)];
const i32x4Const = (value: number): Code => [...i32Const(value), ...simd(0x11)];
const memoryCopy = (target: Code, source: Code, bytes: Code): Code => [...target, ...source, ...bytes, 0xfc, 10, 0, 0];
const memoryFill = (target: Code, byte: Code, bytes: Code): Code => [...target, ...byte, ...bytes, 0xfc, 11, 0];

/** for (counter = from; counter < end; counter += step) body — `end` is re-evaluated before every iteration. */
function forLoop(counter: number, from: Code, end: Code, step: number, body: Code[]): Code {
  return [
    ...set(counter, from),
    ...[0x02, 0x40, 0x03, 0x40], // block, loop
    ...get(counter),
    ...end,
    ...[0x4e, 0x0d, 1], // i32.ge_s, br_if to the block's end
    ...body.flat(),
    ...set(counter, i32Add(get(counter), i32Const(step))),
    ...[0x0c, 0, 0x0b, 0x0b], // br to the loop's start; end loop; end block
  ];
}

/** Every function of the module, in index order (call() refers to them by name). */
const FUNCTION_NAMES = [
  'h1LanesFromRows',
  'h1RowsFromLanes',
  'h2LanesFromRows',
  'h2RowsFromLanes',
  'pad',
  'unpad',
  'h1ConvForward',
  'h2ConvForward',
  'h1ConvBackwardParameters',
  'h2ConvBackwardParameters',
  'h2ConvBackwardInput',
  'linearForward',
  'linearBackward',
  'tanhForward',
  'tanhBackward',
  'sgd',
  'forward',
  'backward',
  'sgdStep',
] as const;
type FunctionName = (typeof FUNCTION_NAMES)[number];
/** The functions JavaScript calls; the others are internal. */
const EXPORTED: readonly FunctionName[] = ['forward', 'backward', 'sgdStep'];

function call(name: FunctionName, ...args: Code[]): Code {
  return [...args.flat(), 0x10, ...unsignedLeb(FUNCTION_NAMES.indexOf(name))];
}

interface WasmFunction {
  name: FunctionName;
  params: number[];
  locals: number[];
  body: Code;
}

/**
 * A function whose parameters and locals are referred to by name: `build` gets each name's local index, and
 * `local(type)` for locals counted at generation time (one accumulator per vector of a group).
 */
function wasmFunction<P extends string, L extends string>(
  name: FunctionName,
  params: Record<P, number>,
  locals: Record<L, number>,
  build: (v: Record<P | L, number>, local: (type: number) => number) => Code[],
): WasmFunction {
  const names = [...Object.keys(params), ...Object.keys(locals)] as (P | L)[];
  const index = Object.fromEntries(names.map((n, i) => [n, i])) as Record<P | L, number>;
  const localTypes = Object.values<number>(locals);
  const paramTypes = Object.values<number>(params);
  const local = (type: number) => paramTypes.length + localTypes.push(type) - 1;
  const body = build(index, local).flat();
  return { name, params: paramTypes, locals: localTypes, body };
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** In a kernel's parameters, everything is an i32 (an address or a count) unless said otherwise. */
function i32Params<P extends string>(...names: P[]): Record<P, number> {
  return Object.fromEntries(names.map((n) => [n, I32])) as Record<P, number>;
}

const bump = (local: number, bytes: number | Code): Code =>
  set(local, i32Add(get(local), typeof bytes === 'number' ? i32Const(bytes) : bytes));
const floatsToBytes = (count: Code): Code => i32Shl(count, i32Const(2));

/**
 * The SIMD convolutions keep a group's output planes in vector lanes, so they read the weights lane-interleaved:
 * [group][k][plane in group]; one vector load then gives four planes' weights for input line k. This converts the
 * [plane][k] rows (the parameters' layout) to that layout or back (for the weight gradients).
 */
function reorderWeights(name: FunctionName, geometry: ConvGeometry, toLanes: boolean): WasmFunction {
  const { fanIn, planesPerGroup, groupReads } = geometry;
  return wasmFunction(
    name,
    i32Params('from', 'to'),
    { group: I32, plane: I32, k: I32, rowAt: I32, laneAt: I32 },
    (v) => {
      const [rows, lanes] = toLanes ? [v.from, v.to] : [v.to, v.from];
      return [
        set(v.rowAt, get(rows)),
        forLoop(v.group, i32Const(0), i32Const(groupReads.length), 1, [
          forLoop(v.plane, i32Const(0), i32Const(planesPerGroup), 1, [
            set(
              v.laneAt,
              i32Add(
                get(lanes),
                floatsToBytes(i32Add(i32Mul(get(v.group), i32Const(fanIn * planesPerGroup)), get(v.plane))),
              ),
            ),
            forLoop(v.k, i32Const(0), i32Const(fanIn), 1, [
              toLanes
                ? f32Store(get(v.laneAt), f32Load(get(v.rowAt)))
                : f32Store(get(v.rowAt), f32Load(get(v.laneAt))),
              bump(v.rowAt, 4),
              bump(v.laneAt, 4 * planesPerGroup),
            ]),
          ]),
        ]),
      ];
    },
  );
}

/** Planes to and from the interiors of padded planes (PAD cells each side), side/4 vectors per row. */
function padKernel(name: FunctionName, intoPadded: boolean): WasmFunction {
  return wasmFunction(
    name,
    i32Params('plain', 'padded', 'planes', 'side'),
    { plane: I32, row: I32, x: I32, plainAt: I32, paddedAt: I32, paddedRowBytes: I32 },
    (v) => [
      set(v.paddedRowBytes, floatsToBytes(i32Add(get(v.side), i32Const(2 * PAD)))),
      set(v.plainAt, get(v.plain)),
      forLoop(v.plane, i32Const(0), get(v.planes), 1, [
        set(
          v.paddedAt,
          i32Add(
            get(v.padded),
            i32Add(
              i32Mul(
                get(v.paddedRowBytes),
                i32Add(i32Mul(get(v.plane), i32Add(get(v.side), i32Const(2 * PAD))), i32Const(PAD)),
              ),
              i32Const(PAD * 4),
            ),
          ),
        ),
        forLoop(v.row, i32Const(0), get(v.side), 1, [
          forLoop(v.x, i32Const(0), floatsToBytes(get(v.side)), 16, [
            intoPadded
              ? v128Store(i32Add(get(v.paddedAt), get(v.x)), v128Load(i32Add(get(v.plainAt), get(v.x))))
              : v128Store(i32Add(get(v.plainAt), get(v.x)), v128Load(i32Add(get(v.paddedAt), get(v.x)))),
          ]),
          bump(v.plainAt, floatsToBytes(get(v.side))),
          bump(v.paddedAt, get(v.paddedRowBytes)),
        ]),
      ]),
    ],
  );
}

/** Vectors of four planes in a group; the SIMD convolutions need whole vectors. */
function vectorsPerGroup({ planesPerGroup }: ConvGeometry): number {
  if (planesPerGroup % 4 !== 0) throw new Error(`SIMD conv: ${planesPerGroup} planes per group is not a multiple of 4`);
  return planesPerGroup / 4;
}

/**
 * How many output positions convForward computes at once and how many input lines convBackwardParameters takes at
 * once: enough accumulators (4–6 vectors) to hide the add latency and to share each load among several of them.
 */
function unrolling(geometry: ConvGeometry) {
  const vectors = vectorsPerGroup(geometry);
  const positionsAtOnce = vectors === 1 ? 4 : 2;
  const linesAtOnce = vectors === 1 ? 4 : 1;
  if (geometry.positions % positionsAtOnce !== 0 || geometry.fanIn % linesAtOnce !== 0) {
    throw new Error(`SIMD conv: ${geometry.positions} positions × ${geometry.fanIn} lines do not unroll evenly`);
  }
  return { vectors, positionsAtOnce, linesAtOnce };
}

/**
 * convForward, all planes of a group at once (one accumulator vector per four planes) for several output positions
 * at once, so that each weight load serves every position and each input load the whole group.
 */
function convForwardKernel(name: FunctionName, geometry: ConvGeometry): WasmFunction {
  const { positions, fanIn, planesPerGroup, groupReads } = geometry;
  const { vectors, positionsAtOnce } = unrolling(geometry);
  const rowBytes = fanIn * 4;
  return wasmFunction(
    name,
    i32Params('input', 'reads', 'weightLanes', 'biases', 'output'),
    { group: I32, position: I32, k: I32, read: I32, weight: I32, at: I32, w: V128 },
    (v, local) => {
      const inputs = range(positionsAtOnce).map(() => local(V128));
      const sums = range(positionsAtOnce).map(() => range(vectors).map(() => local(V128)));
      return [
        set(v.read, get(v.reads)),
        forLoop(v.group, i32Const(0), i32Const(groupReads.length), 1, [
          forLoop(v.position, i32Const(0), i32Const(positions), positionsAtOnce, [
            ...sums.flat().map((sum) => set(sum, v128Zero)),
            set(v.weight, i32Add(get(v.weightLanes), i32Mul(get(v.group), i32Const(fanIn * planesPerGroup * 4)))),
            forLoop(v.k, i32Const(0), i32Const(fanIn), 1, [
              // Input line k of each position: the rows of the read table follow one another.
              ...inputs.map((x, u) =>
                set(x, v128Load32Splat(i32Add(get(v.input), i32Load(get(v.read), u * rowBytes)))),
              ),
              ...range(vectors).flatMap((g) => [
                set(v.w, v128Load(get(v.weight), 16 * g)),
                ...inputs.map((x, u) => set(sums[u]![g]!, f32x4Add(get(sums[u]![g]!), f32x4Mul(get(v.w), get(x))))),
              ]),
              bump(v.weight, planesPerGroup * 4),
              bump(v.read, 4),
            ]),
            bump(v.read, (positionsAtOnce - 1) * rowBytes), // past the other positions' rows too
            // Unit (plane, position) sits at the same index in the biases and the output.
            set(
              v.at,
              floatsToBytes(i32Add(i32Mul(get(v.group), i32Const(planesPerGroup * positions)), get(v.position))),
            ),
            ...range(planesPerGroup).flatMap((plane) =>
              sums.map((sumsOfPosition, u) => {
                const offset = (plane * positions + u) * 4;
                const sum = f32x4ExtractLane(get(sumsOfPosition[plane >> 2]!), plane & 3);
                return f32Store(
                  i32Add(get(v.output), get(v.at)),
                  f32Add(sum, f32Load(i32Add(get(v.biases), get(v.at)), offset)),
                  offset,
                );
              }),
            ),
          ]),
        ]),
      ];
    },
  );
}

/**
 * convBackwardParameters: the output gradient transposed to [group][position][plane in group], then for one or
 * more input lines at once all of a group's weight gradients; back to [plane][k] rows, and the biases' gradients
 * copied.
 */
function convBackwardParametersKernel(
  name: FunctionName,
  geometry: ConvGeometry,
  rowsFromLanes: FunctionName,
): WasmFunction {
  const { outputPlanes, positions, fanIn, planesPerGroup, groupReads } = geometry;
  const { vectors, linesAtOnce } = unrolling(geometry);
  return wasmFunction(
    name,
    i32Params('input', 'reads', 'outputGrad', 'gradLanes', 'weightGradLanes', 'weightGrad', 'biasGrad'),
    { group: I32, position: I32, k: I32, target: I32, read: I32, grads: I32 },
    (v, local) => {
      const inputs = range(linesAtOnce).map(() => local(V128));
      const gradVectors = range(vectors).map(() => local(V128));
      const sums = range(linesAtOnce).map(() => range(vectors).map(() => local(V128)));
      return [
        set(v.target, get(v.gradLanes)),
        forLoop(v.group, i32Const(0), i32Const(groupReads.length), 1, [
          forLoop(v.position, i32Const(0), i32Const(positions), 1, [
            ...range(planesPerGroup).map((plane) =>
              f32Store(
                get(v.target),
                f32Load(
                  i32Add(
                    get(v.outputGrad),
                    floatsToBytes(i32Add(i32Mul(get(v.group), i32Const(planesPerGroup * positions)), get(v.position))),
                  ),
                  plane * positions * 4,
                ),
                plane * 4,
              ),
            ),
            bump(v.target, planesPerGroup * 4),
          ]),
        ]),
        set(v.target, get(v.weightGradLanes)),
        forLoop(v.group, i32Const(0), i32Const(groupReads.length), 1, [
          forLoop(v.k, i32Const(0), i32Const(fanIn), linesAtOnce, [
            ...sums.flat().map((sum) => set(sum, v128Zero)),
            set(
              v.read,
              i32Add(get(v.reads), floatsToBytes(i32Add(i32Mul(get(v.group), i32Const(positions * fanIn)), get(v.k)))),
            ),
            set(v.grads, i32Add(get(v.gradLanes), i32Mul(get(v.group), i32Const(positions * planesPerGroup * 4)))),
            forLoop(v.position, i32Const(0), i32Const(positions), 1, [
              ...inputs.map((x, l) => set(x, v128Load32Splat(i32Add(get(v.input), i32Load(get(v.read), 4 * l))))),
              ...gradVectors.flatMap((gradient, g) => [
                set(gradient, v128Load(get(v.grads), 16 * g)),
                ...inputs.map((x, l) =>
                  set(sums[l]![g]!, f32x4Add(get(sums[l]![g]!), f32x4Mul(get(x), get(gradient)))),
                ),
              ]),
              bump(v.read, fanIn * 4),
              bump(v.grads, planesPerGroup * 4),
            ]),
            ...sums.flatMap((sumsOfLine, l) =>
              sumsOfLine.map((sum, g) => v128Store(get(v.target), get(sum), (l * planesPerGroup + 4 * g) * 4)),
            ),
            bump(v.target, linesAtOnce * planesPerGroup * 4),
          ]),
        ]),
        call(rowsFromLanes, get(v.weightGradLanes), get(v.weightGrad)),
        memoryCopy(get(v.biasGrad), get(v.outputGrad), i32Const(outputPlanes * positions * 4)),
      ];
    },
  );
}

/**
 * convBackwardInput, four planes at a time: per position, the four planes' weight rows times their output
 * gradients, four input lines at a time (fanIn is a multiple of 4), each lane scattered onto the padded input cell
 * it reads.
 */
function convBackwardInputKernel(name: FunctionName, geometry: ConvGeometry, inputCount: number): WasmFunction {
  const { positions, fanIn, planesPerGroup, groupReads } = geometry;
  if (fanIn % 4 !== 0) throw new Error(`SIMD conv input gradient: fan-in ${fanIn} is not a multiple of 4`);
  return wasmFunction(
    name,
    i32Params('weights', 'outputGrad', 'inputGrad', 'reads'),
    {
      ...i32Params('group', 'block', 'firstPlane', 'position', 'k', 'read', 'row', 'gradAt', 'cell'),
      sum: V128,
    },
    (v, local) => {
      const gradients = range(4).map(() => local(V128));
      return [
        memoryFill(get(v.inputGrad), i32Const(0), i32Const(inputCount * 4)),
        forLoop(v.group, i32Const(0), i32Const(groupReads.length), 1, [
          forLoop(v.block, i32Const(0), i32Const(planesPerGroup / 4), 1, [
            set(
              v.firstPlane,
              i32Add(i32Mul(get(v.group), i32Const(planesPerGroup)), i32Shl(get(v.block), i32Const(2))),
            ),
            set(v.read, i32Add(get(v.reads), i32Mul(get(v.group), i32Const(positions * fanIn * 4)))),
            forLoop(v.position, i32Const(0), i32Const(positions), 1, [
              set(
                v.gradAt,
                i32Add(
                  get(v.outputGrad),
                  floatsToBytes(i32Add(i32Mul(get(v.firstPlane), i32Const(positions)), get(v.position))),
                ),
              ),
              ...gradients.map((g, plane) => set(g, f32x4Splat(f32Load(get(v.gradAt), plane * positions * 4)))),
              set(v.row, i32Add(get(v.weights), i32Mul(get(v.firstPlane), i32Const(fanIn * 4)))),
              forLoop(v.k, i32Const(0), i32Const(fanIn), 4, [
                set(v.sum, f32x4Mul(v128Load(get(v.row)), get(gradients[0]!))),
                ...[1, 2, 3].map((plane) =>
                  set(
                    v.sum,
                    f32x4Add(get(v.sum), f32x4Mul(v128Load(get(v.row), plane * fanIn * 4), get(gradients[plane]!))),
                  ),
                ),
                ...range(4).flatMap((lane) => [
                  set(v.cell, i32Add(get(v.inputGrad), i32Load(get(v.read), lane * 4))),
                  f32Store(get(v.cell), f32Add(f32Load(get(v.cell)), f32x4ExtractLane(get(v.sum), lane))),
                ]),
                bump(v.row, 16),
                bump(v.read, 16),
              ]),
            ]),
          ]),
        ]),
      ];
    },
  );
}

/** linearForward: four outputs per vector along the weight rows, the last outputs % 4 one by one. */
const linearForwardKernel = () =>
  wasmFunction(
    'linearForward',
    i32Params('input', 'weights', 'biases', 'output', 'inputs', 'outputs'),
    { j: I32, i: I32, x: I32, w: I32, rowBytes: I32, sum: V128, scalarSum: F32 },
    (v) => [
      set(v.rowBytes, floatsToBytes(get(v.outputs))),
      forLoop(v.j, i32Const(0), i32Sub(get(v.outputs), i32Const(3)), 4, [
        set(v.sum, v128Load(i32Add(get(v.biases), floatsToBytes(get(v.j))))),
        set(v.x, get(v.input)),
        set(v.w, i32Add(get(v.weights), floatsToBytes(get(v.j)))),
        forLoop(v.i, i32Const(0), get(v.inputs), 1, [
          set(v.sum, f32x4Add(get(v.sum), f32x4Mul(v128Load32Splat(get(v.x)), v128Load(get(v.w))))),
          bump(v.x, 4),
          bump(v.w, get(v.rowBytes)),
        ]),
        v128Store(i32Add(get(v.output), floatsToBytes(get(v.j))), get(v.sum)),
      ]),
      forLoop(v.j, get(v.j), get(v.outputs), 1, [
        set(v.scalarSum, f32Load(i32Add(get(v.biases), floatsToBytes(get(v.j))))),
        set(v.x, get(v.input)),
        set(v.w, i32Add(get(v.weights), floatsToBytes(get(v.j)))),
        forLoop(v.i, i32Const(0), get(v.inputs), 1, [
          set(v.scalarSum, f32Add(get(v.scalarSum), f32Mul(f32Load(get(v.x)), f32Load(get(v.w))))),
          bump(v.x, 4),
          bump(v.w, get(v.rowBytes)),
        ]),
        f32Store(i32Add(get(v.output), floatsToBytes(get(v.j))), get(v.scalarSum)),
      ]),
    ],
  );

/** linearBackward, row by row of the weights: the row's gradient and the input's gradient in one sweep. */
const linearBackwardKernel = () =>
  wasmFunction(
    'linearBackward',
    i32Params('input', 'weights', 'outputGrad', 'weightGrad', 'biasGrad', 'inputGrad', 'inputs', 'outputs'),
    {
      i: I32, j: I32, w: I32, wGrad: I32, rowBytes: I32, x: F32, scalarSum: F32, g: F32,
      xs: V128, sum: V128, gs: V128,
    },
    (v) => [
      forLoop(v.j, i32Const(0), get(v.outputs), 1, [
        f32Store(
          i32Add(get(v.biasGrad), floatsToBytes(get(v.j))),
          f32Load(i32Add(get(v.outputGrad), floatsToBytes(get(v.j)))),
        ),
      ]),
      set(v.rowBytes, floatsToBytes(get(v.outputs))),
      set(v.w, get(v.weights)),
      set(v.wGrad, get(v.weightGrad)),
      forLoop(v.i, i32Const(0), get(v.inputs), 1, [
        set(v.x, f32Load(i32Add(get(v.input), floatsToBytes(get(v.i))))),
        set(v.xs, f32x4Splat(get(v.x))),
        set(v.sum, v128Zero),
        set(v.scalarSum, f32Const(0)),
        forLoop(v.j, i32Const(0), i32Sub(get(v.outputs), i32Const(3)), 4, [
          set(v.gs, v128Load(i32Add(get(v.outputGrad), floatsToBytes(get(v.j))))),
          v128Store(i32Add(get(v.wGrad), floatsToBytes(get(v.j))), f32x4Mul(get(v.xs), get(v.gs))),
          set(v.sum, f32x4Add(get(v.sum), f32x4Mul(v128Load(i32Add(get(v.w), floatsToBytes(get(v.j)))), get(v.gs)))),
        ]),
        forLoop(v.j, get(v.j), get(v.outputs), 1, [
          set(v.g, f32Load(i32Add(get(v.outputGrad), floatsToBytes(get(v.j))))),
          f32Store(i32Add(get(v.wGrad), floatsToBytes(get(v.j))), f32Mul(get(v.x), get(v.g))),
          set(
            v.scalarSum,
            f32Add(get(v.scalarSum), f32Mul(f32Load(i32Add(get(v.w), floatsToBytes(get(v.j)))), get(v.g))),
          ),
        ]),
        f32Store(
          i32Add(get(v.inputGrad), floatsToBytes(get(v.i))),
          f32Add(
            f32Add(
              f32Add(f32x4ExtractLane(get(v.sum), 0), f32x4ExtractLane(get(v.sum), 1)),
              f32Add(f32x4ExtractLane(get(v.sum), 2), f32x4ExtractLane(get(v.sum), 3)),
            ),
            get(v.scalarSum),
          ),
        ),
        bump(v.w, get(v.rowBytes)),
        bump(v.wGrad, get(v.rowBytes)),
      ]),
    ],
  );

/**
 * tanh in float32 to within 1.3 units in the last place (torch's vectorised tanh is within 1): below |x| = 0.625,
 * tanh x = x + x³·P(x²), P a degree-5 least-squares fit; above, 1 − 2/(e^{2|x|} + 1) with e^y = 2ⁿ·Q(r),
 * y = n·ln 2 + r, Q the degree-7 Taylor polynomial. Both are computed for all four lanes, then selected.
 */
const TANH_SMALL_LIMIT = 0.625;
const TANH_SMALL_COEFFICIENTS = [
  -0.3333333134651184, 0.13333211839199066, -0.05394743010401726, 0.021703893318772316, -0.008184430189430714,
  0.002148794010281563,
];
const EXP_TAYLOR = [1, 1, 1 / 2, 1 / 6, 1 / 24, 1 / 120, 1 / 720, 1 / 5040];
/** Past 2|x| = 40, tanh x rounds to ±1 in float32; the clamp keeps 2ⁿ finite. */
const TANH_DOUBLED_CLAMP = 40;
const LN2_HIGH = 0.693145751953125; // ln 2 in two parts, the first exact in float32 with room to spare
const LN2_LOW = 1.428606765330187e-6;

const tanhKernel = () =>
  wasmFunction(
    'tanhForward',
    i32Params('input', 'output', 'count'),
    { i: I32, x: V128, a: V128, a2: V128, poly: V128, y: V128, n: V128, r: V128, e: V128, small: V128, large: V128 },
    (v) => {
      const horner = (coefficients: number[], at: number): Code[] => [
        set(v.poly, f32x4Const(coefficients.at(-1)!)),
        ...coefficients
          .slice(0, -1)
          .reverse()
          .map((c) => set(v.poly, f32x4Add(f32x4Mul(get(v.poly), get(at)), f32x4Const(c)))),
      ];
      return [
        forLoop(v.i, i32Const(0), floatsToBytes(get(v.count)), 16, [
          set(v.x, v128Load(i32Add(get(v.input), get(v.i)))),
          set(v.a, f32x4Abs(get(v.x))),
          set(v.a2, f32x4Mul(get(v.a), get(v.a))),
          ...horner(TANH_SMALL_COEFFICIENTS, v.a2),
          set(v.small, f32x4Add(get(v.a), f32x4Mul(f32x4Mul(get(v.a), get(v.a2)), get(v.poly)))),
          set(v.y, f32x4Min(f32x4Add(get(v.a), get(v.a)), f32x4Const(TANH_DOUBLED_CLAMP))),
          set(v.n, f32x4Nearest(f32x4Mul(get(v.y), f32x4Const(Math.LOG2E)))),
          set(
            v.r,
            f32x4Sub(
              f32x4Sub(get(v.y), f32x4Mul(get(v.n), f32x4Const(LN2_HIGH))),
              f32x4Mul(get(v.n), f32x4Const(LN2_LOW)),
            ),
          ),
          ...horner(EXP_TAYLOR, v.r),
          // 2ⁿ built from its bits: exponent field n + 127.
          set(
            v.e,
            f32x4Mul(get(v.poly), i32x4Shl(i32x4Add(i32x4TruncSatF32x4S(get(v.n)), i32x4Const(127)), i32Const(23))),
          ),
          set(
            v.large,
            f32x4Sub(f32x4Const(1), f32x4Div(f32x4Const(2), f32x4Add(get(v.e), f32x4Const(1)))),
          ),
          v128Store(
            i32Add(get(v.output), get(v.i)),
            // |tanh| from the right branch, then the sign of x.
            v128Or(
              v128Bitselect(get(v.small), get(v.large), f32x4Lt(get(v.a), f32x4Const(TANH_SMALL_LIMIT))),
              v128And(get(v.x), i32x4Const(-0x80000000)),
            ),
          ),
        ]),
      ];
    },
  );

const tanhBackwardKernel = () =>
  wasmFunction(
    'tanhBackward',
    i32Params('output', 'outputGrad', 'inputGrad', 'count'),
    { i: I32, y: V128 },
    (v) => [
      forLoop(v.i, i32Const(0), floatsToBytes(get(v.count)), 16, [
        set(v.y, v128Load(i32Add(get(v.output), get(v.i)))),
        v128Store(
          i32Add(get(v.inputGrad), get(v.i)),
          f32x4Mul(
            v128Load(i32Add(get(v.outputGrad), get(v.i))),
            f32x4Sub(f32x4Const(1), f32x4Mul(get(v.y), get(v.y))),
          ),
        ),
      ]),
    ],
  );

const sgdKernel = () =>
  wasmFunction(
    'sgd',
    { parameters: I32, gradients: I32, rate: F32, count: I32 },
    { i: I32, rates: V128 },
    (v) => [
      set(v.rates, f32x4Splat(get(v.rate))),
      forLoop(v.i, i32Const(0), floatsToBytes(get(v.count)), 16, [
        v128Store(
          i32Add(get(v.parameters), get(v.i)),
          f32x4Sub(
            v128Load(i32Add(get(v.parameters), get(v.i))),
            f32x4Mul(get(v.rates), v128Load(i32Add(get(v.gradients), get(v.i)))),
          ),
        ),
      ]),
    ],
  );

/**
 * Where every buffer lives in a network's WebAssembly memory: the network's buffers, the kernels' scratch, and the
 * convolutions' read tables. Each starts 16-byte aligned; elementwise kernels run whole vectors, so lengths are
 * rounded up to 4 floats and the spare lanes hold harmless values.
 */
const WASM_LAYOUT_LENGTHS = {
  ...NETWORK_BUFFERS,
  h1WeightLanes: H1_PLANES * H1_GEOMETRY.fanIn,
  h2WeightLanes: H2_PLANES * H2_GEOMETRY.fanIn,
  weightGradLanes: Math.max(H1_PLANES * H1_GEOMETRY.fanIn, H2_PLANES * H2_GEOMETRY.fanIn),
  outputGradLanes: Math.max(H1_UNITS, H2_UNITS),
  h1Reads: H1_GEOMETRY.groupReads.length * H1_GEOMETRY.positions * H1_GEOMETRY.fanIn,
  h2Reads: H2_GEOMETRY.groupReads.length * H2_GEOMETRY.positions * H2_GEOMETRY.fanIn,
};
type WasmBufferName = keyof typeof WASM_LAYOUT_LENGTHS;
const vectorsOf = (floats: number) => Math.ceil(floats / 4) * 4;

const WASM_LAYOUT = (() => {
  const offsets = {} as Record<WasmBufferName, number>;
  let bytes = 0;
  for (const [name, length] of Object.entries(WASM_LAYOUT_LENGTHS)) {
    offsets[name as WasmBufferName] = bytes;
    bytes += vectorsOf(length) * 4;
  }
  return { offsets, pages: Math.ceil(bytes / 65536) };
})();

const at = (name: WasmBufferName): Code => i32Const(WASM_LAYOUT.offsets[name]);
const parameterAt = (name: ParameterName): Code => i32Const(WASM_LAYOUT.offsets.parameters + slotOf(name).offset * 4);
const gradientAt = (name: ParameterName): Code => i32Const(WASM_LAYOUT.offsets.gradients + slotOf(name).offset * 4);
const vectorCount = (floats: number): Code => i32Const(vectorsOf(floats));

/** Every function of the module, generated at first use. */
function kernelFunctions(): WasmFunction[] {
  /**
   * The forward pass, layer by layer as forward() runs the reference, on this module's fixed layout. The conv weights
   * are laid out for the lanes afresh every time, so whatever was written to `parameters` takes effect at once.
   */
  const forwardFunction = wasmFunction('forward', {}, {}, () => [
    call('h1LanesFromRows', parameterAt('H1w'), at('h1WeightLanes')),
    call('h2LanesFromRows', parameterAt('H2w'), at('h2WeightLanes')),
    call('h1ConvForward', at('inputPadded'), at('h1Reads'), at('h1WeightLanes'), parameterAt('H1b'), at('h1Sum')),
    call('tanhForward', at('h1Sum'), at('h1'), vectorCount(H1_UNITS)),
    call('pad', at('h1'), at('h1Padded'), i32Const(H1_PLANES), i32Const(H1_SIDE)),
    call('h2ConvForward', at('h1Padded'), at('h2Reads'), at('h2WeightLanes'), parameterAt('H2b'), at('h2Sum')),
    call('tanhForward', at('h2Sum'), at('h2'), vectorCount(H2_UNITS)),
    call(
      'linearForward',
      ...[at('h2'), parameterAt('H3w'), parameterAt('H3b'), at('h3Sum')],
      ...[i32Const(H2_UNITS), i32Const(H3_UNITS)],
    ),
    call('tanhForward', at('h3Sum'), at('h3'), vectorCount(H3_UNITS)),
    call(
      'linearForward',
      ...[at('h3'), parameterAt('outw'), parameterAt('outb'), at('outSum')],
      ...[i32Const(H3_UNITS), i32Const(OUTPUT_UNITS)],
    ),
    call('tanhForward', at('outSum'), at('output'), vectorCount(OUTPUT_UNITS)),
  ]);

  /** The backward pass, as backward() runs the reference; H1 gets no input gradient (nothing upstream learns). */
  const backwardFunction = wasmFunction('backward', {}, {}, () => [
    call('tanhBackward', at('output'), at('outputGrad'), at('outSumGrad'), vectorCount(OUTPUT_UNITS)),
    call(
      'linearBackward',
      ...[at('h3'), parameterAt('outw'), at('outSumGrad')],
      ...[gradientAt('outw'), gradientAt('outb'), at('h3Grad')],
      ...[i32Const(H3_UNITS), i32Const(OUTPUT_UNITS)],
    ),
    call('tanhBackward', at('h3'), at('h3Grad'), at('h3SumGrad'), vectorCount(H3_UNITS)),
    call(
      'linearBackward',
      ...[at('h2'), parameterAt('H3w'), at('h3SumGrad')],
      ...[gradientAt('H3w'), gradientAt('H3b'), at('h2Grad')],
      ...[i32Const(H2_UNITS), i32Const(H3_UNITS)],
    ),
    call('tanhBackward', at('h2'), at('h2Grad'), at('h2SumGrad'), vectorCount(H2_UNITS)),
    call(
      'h2ConvBackwardParameters',
      ...[at('h1Padded'), at('h2Reads'), at('h2SumGrad'), at('outputGradLanes'), at('weightGradLanes')],
      ...[gradientAt('H2w'), gradientAt('H2b')],
    ),
    call('h2ConvBackwardInput', parameterAt('H2w'), at('h2SumGrad'), at('h1PaddedGrad'), at('h2Reads')),
    call('unpad', at('h1Grad'), at('h1PaddedGrad'), i32Const(H1_PLANES), i32Const(H1_SIDE)),
    call('tanhBackward', at('h1'), at('h1Grad'), at('h1SumGrad'), vectorCount(H1_UNITS)),
    call(
      'h1ConvBackwardParameters',
      ...[at('inputPadded'), at('h1Reads'), at('h1SumGrad'), at('outputGradLanes'), at('weightGradLanes')],
      ...[gradientAt('H1w'), gradientAt('H1b')],
    ),
  ]);

  const sgdStepFunction = wasmFunction('sgdStep', { rate: F32 }, {}, (v) => [
    call('sgd', at('parameters'), at('gradients'), get(v.rate), i32Const(PARAMETER_COUNT)),
  ]);

  return [
    reorderWeights('h1LanesFromRows', H1_GEOMETRY, true),
    reorderWeights('h1RowsFromLanes', H1_GEOMETRY, false),
    reorderWeights('h2LanesFromRows', H2_GEOMETRY, true),
    reorderWeights('h2RowsFromLanes', H2_GEOMETRY, false),
    padKernel('pad', true),
    padKernel('unpad', false),
    convForwardKernel('h1ConvForward', H1_GEOMETRY),
    convForwardKernel('h2ConvForward', H2_GEOMETRY),
    convBackwardParametersKernel('h1ConvBackwardParameters', H1_GEOMETRY, 'h1RowsFromLanes'),
    convBackwardParametersKernel('h2ConvBackwardParameters', H2_GEOMETRY, 'h2RowsFromLanes'),
    convBackwardInputKernel('h2ConvBackwardInput', H2_GEOMETRY, H1_PADDED_UNITS),
    linearForwardKernel(),
    linearBackwardKernel(),
    tanhKernel(),
    tanhBackwardKernel(),
    sgdKernel(),
    forwardFunction,
    backwardFunction,
    sgdStepFunction,
  ];
}

/** The binary module: types, the imported memory, functions, exports, code. */
function assemble(functions: readonly WasmFunction[], pages: number): Uint8Array {
  functions.forEach((f, i) => {
    if (f.name !== FUNCTION_NAMES[i]) throw new Error(`kernel ${f.name} out of order (expected ${FUNCTION_NAMES[i]})`);
  });
  const vector = (items: Code[]): Code => [...unsignedLeb(items.length), ...items.flat()];
  const text = (value: string): Code => vector([...new TextEncoder().encode(value)].map((byte) => [byte]));
  const section = (id: number, content: Code): Code => [id, ...unsignedLeb(content.length), ...content];
  const types = functions.map((f) => [0x60, ...vector(f.params.map((type) => [type])), ...vector([])]);
  const bodies = functions.map((f) => {
    const body = [...vector(f.locals.map((type) => [1, type])), ...f.body, 0x0b];
    return [...unsignedLeb(body.length), ...body];
  });
  const exported = functions.flatMap((f, i) =>
    EXPORTED.includes(f.name) ? [[...text(f.name), 0x00, ...unsignedLeb(i)]] : [],
  );
  const memoryImport = [...text('env'), ...text('memory'), 0x02, 0x01, ...unsignedLeb(pages), ...unsignedLeb(pages)];
  return Uint8Array.from([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // "\0asm", version 1
    ...section(1, vector(types)),
    ...section(2, vector([memoryImport])),
    ...section(3, vector(functions.map((_, i) => unsignedLeb(i)))),
    ...section(7, vector(exported)),
    ...section(10, vector(bodies)),
  ]);
}

/**
 * The slice of the WebAssembly JavaScript API used here: the project's TypeScript libraries (ES2022, no DOM) declare
 * the global only as a namespace of types.
 */
interface WebAssemblyJsApi {
  Memory: new (descriptor: { initial: number; maximum: number }) => { buffer: ArrayBuffer };
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}
const WebAssemblyApi = (globalThis as unknown as { WebAssembly: WebAssemblyJsApi }).WebAssembly;

let compiledModule: object | null = null;

function kernelModule(): object {
  compiledModule ??= new WebAssemblyApi.Module(assemble(kernelFunctions(), WASM_LAYOUT.pages));
  return compiledModule;
}
