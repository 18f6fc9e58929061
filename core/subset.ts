/**
 * The 1989-style dataset drawn from MNIST exactly as the public PyTorch reproduction's prepro.py does:
 * 7,291 training and 2,007 test digits, each 16×16 in [-1, 1], targets +1 for the true class and -1 elsewhere.
 * The inputs match torch's bit for bit: each value is rounded to float32 exactly where torch rounds it.
 */
// Only types from './mnist': this module also runs in the renderer (the draw pad's resize), which has no Node.
import type { Mnist, MnistSplit } from './mnist';
import { MT19937, legacyPermutation } from './rng';
import type { Tensor } from './safetensors';

/** MNIST's digits are 28×28. */
export const IMAGE_SIDE = 28;
export const IMAGE_PIXELS = IMAGE_SIDE * IMAGE_SIDE;
export const TRAIN_SIZE = 7291;
export const TEST_SIZE = 2007;
export const DEFAULT_SEED = 1337;
export const INPUT_SIDE = 16;
export const INPUT_PIXELS = INPUT_SIDE * INPUT_SIDE;
export const CLASSES = 10;

export interface Split {
  count: number;
  /** count × 256 floats, each input 16×16 row-major in [-1, 1]. */
  inputs: Float32Array;
  labels: Uint8Array;
  /** Each example's index in its MNIST split. */
  sourceIndices: Uint32Array;
}

export interface Dataset1989 {
  seed: number;
  train: Split;
  test: Split;
}

/**
 * Where a split's MNIST images come from: the whole decoded file, or a file read image by image (see
 * core/mnist.ts readMnistSubsetSource), which draws the subset without holding the 47 MB training file.
 */
export interface ImageSource {
  count: number;
  labels: Uint8Array;
  /** Image `index`'s 784 bytes; valid until the next call. */
  image(index: number): Uint8Array;
}

export function imageSource(split: MnistSplit): ImageSource {
  return {
    count: split.count,
    labels: split.labels,
    image: (index) => split.images.subarray(index * IMAGE_PIXELS, (index + 1) * IMAGE_PIXELS),
  };
}

/**
 * One generator seeded like numpy's `np.random.seed(seed)` draws `permutation(train count)` and keeps its first
 * 7,291 indices, then `permutation(test count)` and its first 2,007.
 */
export function make1989Dataset(mnist: Mnist, seed = DEFAULT_SEED): Dataset1989 {
  return draw1989Dataset({ train: imageSource(mnist.train), test: imageSource(mnist.test) }, seed);
}

export function draw1989Dataset(sources: { train: ImageSource; test: ImageSource }, seed = DEFAULT_SEED): Dataset1989 {
  const rng = new MT19937(seed);
  const train = drawSplit(sources.train, legacyPermutation(rng, sources.train.count), TRAIN_SIZE, 'train');
  const test = drawSplit(sources.test, legacyPermutation(rng, sources.test.count), TEST_SIZE, 'test');
  return { seed, train, test };
}

/** prepro.py's `x / 127.5 - 1.0` on a float32 tensor, rounded to float32 after each operation, for every byte value. */
const PIXEL_TO_INPUT = Float32Array.from({ length: 256 }, (_, byte) => Math.fround(Math.fround(byte / 127.5) - 1));

function drawSplit(source: ImageSource, permutation: Uint32Array, size: number, name: string): Split {
  if (source.count < size) {
    throw new RangeError(`the MNIST ${name} split has ${source.count} images; the 1989 subset draws ${size}`);
  }
  const sourceIndices = permutation.slice(0, size);
  const inputs = new Float32Array(size * INPUT_PIXELS);
  const labels = new Uint8Array(size);
  const image = new Float32Array(IMAGE_PIXELS);
  for (let i = 0; i < size; i++) {
    const index = sourceIndices[i]!;
    const pixels = source.image(index);
    for (let p = 0; p < IMAGE_PIXELS; p++) image[p] = PIXEL_TO_INPUT[pixels[p]!]!;
    resize28to16(image, 0, inputs, i * INPUT_PIXELS);
    labels[i] = source.labels[index]!;
  }
  return { count: size, inputs, labels, sourceIndices };
}

/**
 * Where each of the 16 output rows (and, the image being square, columns) samples the 28 input rows, as torch's
 * compute_source_index_and_lambda has it for align_corners=False: source = max(scale·(dst + 0.5) − 0.5, 0) in
 * float32 with scale = 28/16, the lower neighbour at its floor, the upper one clamped to the last row.
 */
function bilinearTaps(inputSize: number, outputSize: number) {
  const scale = Math.fround(inputSize / outputSize);
  const lower = new Int32Array(outputSize);
  const upper = new Int32Array(outputSize);
  const lowerWeight = new Float32Array(outputSize);
  const upperWeight = new Float32Array(outputSize);
  for (let dst = 0; dst < outputSize; dst++) {
    const source = Math.max(Math.fround(Math.fround(scale * Math.fround(dst + 0.5)) - 0.5), 0);
    const index = Math.trunc(source);
    lower[dst] = index;
    upper[dst] = index < inputSize - 1 ? index + 1 : index;
    upperWeight[dst] = Math.min(Math.max(Math.fround(source - index), 0), 1);
    lowerWeight[dst] = Math.fround(1 - upperWeight[dst]!);
  }
  return { lower, upper, lowerWeight, upperWeight };
}

export const RESIZE_TAPS = bilinearTaps(IMAGE_SIDE, INPUT_SIDE);

/**
 * `F.interpolate(x, (16, 16), mode='bilinear')` (align_corners=False) on one 28×28 float32 image.
 * Measured against torch 1.13 on the CPU (test/crosscheck/): its float32 output is the bilinear sum rounded once,
 * not a chain of float32-rounded products and sums: every such chain tried, with or without fused multiply-adds,
 * differs from it in 7–9% of the subset's pixels (test/crosscheck/bilinear_rounding.py shows the same on noise).
 * Inputs on the pixel grid are multiples of 2⁻²⁴ in [-1, 1] and the weights multiples of 1/64, so every product
 * and partial sum below is exact in float64 and the single rounding on store reproduces torch bit for bit.
 */
export function resize28to16(src: Float32Array, srcOffset: number, dst: Float32Array, dstOffset: number): void {
  const { lower, upper, lowerWeight, upperWeight } = RESIZE_TAPS;
  for (let y = 0; y < INPUT_SIDE; y++) {
    const top = srcOffset + lower[y]! * IMAGE_SIDE;
    const bottom = srcOffset + upper[y]! * IMAGE_SIDE;
    const topWeight = lowerWeight[y]!;
    const bottomWeight = upperWeight[y]!;
    for (let x = 0; x < INPUT_SIDE; x++) {
      const left = lower[x]!;
      const right = upper[x]!;
      const alongTop = src[top + left]! * lowerWeight[x]! + src[top + right]! * upperWeight[x]!;
      const alongBottom = src[bottom + left]! * lowerWeight[x]! + src[bottom + right]! * upperWeight[x]!;
      dst[dstOffset + y * INPUT_SIDE + x] = alongTop * topWeight + alongBottom * bottomWeight;
    }
  }
}

/** The reproduction's targets: +1 for the true class, -1 for the other nine. */
export function writeTargets(label: number, out: Float32Array): void {
  if (out.length !== CLASSES) throw new RangeError(`targets need ${CLASSES} values, got an array of ${out.length}`);
  if (!Number.isInteger(label) || label < 0 || label >= CLASSES) throw new RangeError(`label ${label} is not 0–9`);
  out.fill(-1);
  out[label] = 1;
}

/**
 * The dataset as the reproduction's tensors: Xtr [n,1,16,16], Ytr [n,10], Xte, Yte. The X tensors share the
 * dataset's input arrays rather than copying them.
 */
export function datasetToTensors(d: Dataset1989): Record<string, Tensor> {
  const targets = (split: Split): Tensor => {
    const data = new Float32Array(split.count * CLASSES);
    for (let i = 0; i < split.count; i++) writeTargets(split.labels[i]!, data.subarray(i * CLASSES, (i + 1) * CLASSES));
    return { shape: [split.count, CLASSES], data };
  };
  const inputs = (split: Split): Tensor => ({ shape: [split.count, 1, INPUT_SIDE, INPUT_SIDE], data: split.inputs });
  return { Xtr: inputs(d.train), Ytr: targets(d.train), Xte: inputs(d.test), Yte: targets(d.test) };
}
