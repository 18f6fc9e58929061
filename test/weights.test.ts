import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PARAMETER_COUNT, parameterViews } from '../core/network';
import { decodeSafetensors, encodeSafetensors, SafetensorsError, type Tensor } from '../core/safetensors';
import { initialParameters } from '../core/train';
import { decodeWeights, encodeWeights, readWeightsFile, WeightsFileError, writeWeightsFile } from '../core/weights';

const REPRODUCTION_SHAPES = {
  H1w: [12, 1, 5, 5],
  H1b: [12, 8, 8],
  H2w: [12, 8, 5, 5],
  H2b: [12, 4, 4],
  H3w: [192, 30],
  H3b: [30],
  outw: [30, 10],
  outb: [10],
};

/** The weights file's tensors, editable, for building hostile variants. */
function tensorsOf(parameters: Float32Array): Record<string, Tensor> {
  return decodeSafetensors(encodeWeights(parameters), 'fixture').tensors;
}

describe('weights as safetensors', () => {
  it('writes exactly the reproduction’s names and shapes, in float32, values in place', () => {
    const parameters = initialParameters(1337);
    const { tensors, metadata } = decodeSafetensors(encodeWeights(parameters, { pass: '3' }), 'written');
    const shapes = Object.fromEntries(Object.entries(tensors).map(([name, t]) => [name, t.shape]));
    expect(shapes).toEqual(REPRODUCTION_SHAPES);
    const views = parameterViews(parameters);
    for (const [name, tensor] of Object.entries(tensors)) {
      expect(Array.from(tensor.data)).toEqual(Array.from(views[name as keyof typeof views]));
    }
    expect(metadata).toEqual({ pass: '3' });
  });

  it('reads back bit-identical parameters', () => {
    const parameters = initialParameters(42);
    parameters[9759] = -0.123456789;
    const back = decodeWeights(encodeWeights(parameters), 'round trip').parameters;
    expect(back).toEqual(parameters);
    expect(back).not.toBe(parameters);
  });

  it('refuses a missing, misshapen or unexpected tensor, naming the file and the tensor', () => {
    const base = tensorsOf(initialParameters(1));
    const missing = { ...base };
    delete missing.H2b;
    expect(() => decodeWeights(encodeSafetensors(missing), 'missing.safetensors')).toThrow(
      /missing\.safetensors: tensor "H2b" \[12,4,4\] is missing/,
    );
    const transposed = { ...base, H3w: { shape: [30, 192], data: base.H3w!.data } };
    expect(() => decodeWeights(encodeSafetensors(transposed), 'transposed.safetensors')).toThrow(
      /transposed\.safetensors: tensor "H3w" has shape \[30,192\], expected \[192,30\]/,
    );
    const extra = { ...base, H4w: { shape: [1], data: new Float32Array(1) } };
    expect(() => decodeWeights(encodeSafetensors(extra), 'extra.safetensors')).toThrow(/"H4w"/);
    expect(() => decodeWeights(encodeSafetensors(extra), 'extra.safetensors')).toThrow(SafetensorsError);
  });

  it('refuses non-finite weights and corrupt bytes', () => {
    const base = tensorsOf(initialParameters(1));
    const nan = { ...base, outb: { shape: [10], data: new Float32Array(10).fill(Number.NaN) } };
    expect(() => decodeWeights(encodeSafetensors(nan), 'nan.safetensors')).toThrow(/"outb" holds NaN at index 0/);
    const bytes = encodeWeights(initialParameters(1));
    expect(() => decodeWeights(bytes.subarray(0, bytes.length - 4), 'short.safetensors')).toThrow(/short\.safetensors/);
    expect(() => encodeWeights(new Float32Array(PARAMETER_COUNT - 1))).toThrow(/9760/);
  });

  it('reads and writes files, with errors that name the path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'weights-'));
    const path = join(dir, 'w.safetensors');
    const parameters = initialParameters(7);
    writeWeightsFile(path, parameters, { seed: '7' });
    expect(readWeightsFile(path)).toEqual({ parameters, metadata: { seed: '7' } });
    expect(() => readWeightsFile(join(dir, 'absent.safetensors'))).toThrow(WeightsFileError);
    expect(() => readWeightsFile(join(dir, 'absent.safetensors'))).toThrow(/absent\.safetensors: cannot read/);
    const huge = join(dir, 'huge.safetensors');
    writeFileSync(huge, new Uint8Array(17 * 1024 * 1024));
    expect(() => readWeightsFile(huge)).toThrow(/huge\.safetensors: cannot read weights \(17825792 bytes/);
    expect(() => writeWeightsFile(join(dir, 'no', 'such', 'dir.safetensors'), parameters)).toThrow(/cannot write/);
  });
});
