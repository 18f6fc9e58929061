/**
 * The network's weights as safetensors, with exactly the names and shapes of the PyTorch reproduction's state_dict,
 * so `safetensors.torch.load_file` followed by `model.load_state_dict` works on the other side.
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { PARAMETER_COUNT, PARAMETER_LAYOUT, PARAMETER_SHAPES } from './network';
import { checkTensorShapes, decodeSafetensors, encodeSafetensors, SafetensorsError } from './safetensors';
import type { Tensor } from './safetensors';

/** A weights file is about 39 KB; a header may add metadata, but nothing legitimate comes near this. */
const MAX_WEIGHTS_FILE_BYTES = 16 * 1024 * 1024;

export class WeightsFileError extends Error {
  override name = 'WeightsFileError';
}

/** The flat parameters as one safetensors file; the tensors are views, not copies, until encoded. */
export function encodeWeights(parameters: Float32Array, metadata?: Record<string, string>): Uint8Array {
  if (parameters.length !== PARAMETER_COUNT) {
    throw new RangeError(`weights: expected ${PARAMETER_COUNT} parameters, got ${parameters.length}`);
  }
  const tensors: Record<string, Tensor> = {};
  for (const { name, shape, offset, length } of PARAMETER_LAYOUT) {
    tensors[name] = { shape: [...shape], data: parameters.subarray(offset, offset + length) };
  }
  return encodeSafetensors(tensors, metadata);
}

/**
 * Reads a safetensors file holding exactly the eight tensors H1w … outb with their shapes and finite values;
 * anything else is a SafetensorsError naming `source` and the problem.
 */
export function decodeWeights(
  bytes: Uint8Array,
  source: string,
): { parameters: Float32Array; metadata: Record<string, string> } {
  const { tensors, metadata } = decodeSafetensors(bytes, source);
  checkTensorShapes(tensors, PARAMETER_SHAPES, source);
  const parameters = new Float32Array(PARAMETER_COUNT);
  for (const { name, offset } of PARAMETER_LAYOUT) {
    const data = tensors[name]!.data;
    const bad = data.findIndex((value) => !Number.isFinite(value));
    if (bad >= 0) throw new SafetensorsError(`${source}: tensor "${name}" holds ${data[bad]} at index ${bad}`);
    parameters.set(data, offset);
  }
  return { parameters, metadata };
}

export function writeWeightsFile(path: string, parameters: Float32Array, metadata?: Record<string, string>): void {
  const bytes = encodeWeights(parameters, metadata);
  try {
    writeFileSync(path, bytes);
  } catch (error) {
    throw new WeightsFileError(`${path}: cannot write weights (${(error as Error).message})`);
  }
}

export function readWeightsFile(path: string): { parameters: Float32Array; metadata: Record<string, string> } {
  let bytes: Uint8Array;
  try {
    const size = statSync(path).size;
    if (size > MAX_WEIGHTS_FILE_BYTES) {
      throw new Error(`${size} bytes; a weights file is about ${Math.ceil((PARAMETER_COUNT * 4) / 1024)} KB`);
    }
    bytes = readFileSync(path);
  } catch (error) {
    throw new WeightsFileError(`${path}: cannot read weights (${(error as Error).message})`);
  }
  return decodeWeights(bytes, path);
}
