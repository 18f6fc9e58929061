/**
 * safetensors, the format PyTorch users open with `safetensors.torch.load_file`:
 *   8 bytes   little-endian u64 N, the length of the JSON header
 *   N bytes   JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {string: string}}
 *   the rest  the tensors' bytes; offsets count from the start of this buffer
 * Only float32 ("F32") is written or read: the network and the 1989-style dataset are float32 throughout.
 */

export interface Tensor {
  shape: number[];
  data: Float32Array;
}

export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

const METADATA_KEY = '__metadata__';
const BYTES_PER_F32 = 4;
/** The reference implementation refuses headers past 100 MB; a header that long is an attack, not a model. */
const MAX_HEADER_BYTES = 100_000_000;
const TENSOR_ENTRY_KEYS = ['dtype', 'shape', 'data_offsets'];

export function encodeSafetensors(tensors: Record<string, Tensor>, metadata?: Record<string, string>): Uint8Array {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== 'string') {
        throw new SafetensorsError(`encode: metadata "${key}" must be a string, got ${typeof value}`);
      }
    }
    header[METADATA_KEY] = metadata;
  }
  let dataBytes = 0;
  for (const name of names) {
    if (name === METADATA_KEY || name === '') {
      throw new SafetensorsError(`encode: "${name}" cannot name a tensor`);
    }
    const tensor = tensors[name]!;
    const elements = elementCount(tensor.shape, `encode: tensor "${name}"`);
    if (tensor.data.length !== elements) {
      throw new SafetensorsError(
        `encode: tensor "${name}" has shape [${tensor.shape.join(',')}] (${elements} values) but ${tensor.data.length} values`,
      );
    }
    const begin = dataBytes;
    dataBytes += elements * BYTES_PER_F32;
    header[name] = { dtype: 'F32', shape: tensor.shape, data_offsets: [begin, dataBytes] };
  }

  const json = new TextEncoder().encode(JSON.stringify(header));
  // Padding the header to a multiple of 8 keeps every tensor 8-byte aligned in the file, as the reference writer does.
  const headerBytes = Math.ceil(json.length / 8) * 8;
  const file = new Uint8Array(8 + headerBytes + dataBytes);
  const view = new DataView(file.buffer);
  view.setBigUint64(0, BigInt(headerBytes), true);
  file.set(json, 8);
  file.fill(0x20, 8 + json.length, 8 + headerBytes);
  let at = 8 + headerBytes;
  for (const name of names) {
    const data = tensors[name]!.data;
    for (let i = 0; i < data.length; i++, at += BYTES_PER_F32) view.setFloat32(at, data[i]!, true);
  }
  return file;
}

export function decodeSafetensors(
  bytes: Uint8Array,
  source: string,
): { tensors: Record<string, Tensor>; metadata: Record<string, string> } {
  // Explicitly typed so that TypeScript narrows after each call.
  const fail: (problem: string) => never = (problem) => {
    throw new SafetensorsError(`${source}: ${problem}`);
  };
  if (bytes.length < 8) fail(`${bytes.length} bytes is too short for a safetensors file (the header length alone is 8)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(MAX_HEADER_BYTES)) fail(`header length ${headerLength} is absurd (limit ${MAX_HEADER_BYTES})`);
  const headerBytes = Number(headerLength);
  if (8 + headerBytes > bytes.length) {
    fail(`header length ${headerBytes} runs past the end of the ${bytes.length}-byte file`);
  }

  let headerText = '';
  try {
    headerText = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerBytes));
  } catch {
    fail('header is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(headerText);
  } catch (error) {
    fail(`header is not valid JSON (${(error as Error).message})`);
  }
  if (!isPlainObject(header)) fail('header is not a JSON object');

  const dataStart = 8 + headerBytes;
  const dataLength = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const entries: { name: string; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      if (!isPlainObject(entry)) fail(`"${METADATA_KEY}" is not an object`);
      for (const [key, value] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof value !== 'string') fail(`metadata "${key}" is not a string`);
        Object.defineProperty(metadata, key, { value, enumerable: true, writable: true, configurable: true });
      }
      continue;
    }
    const what = `tensor "${name}"`;
    if (!isPlainObject(entry)) fail(`${what} is not an object`);
    const fields = entry as Record<string, unknown>;
    const unknownKey = Object.keys(fields).find((key) => !TENSOR_ENTRY_KEYS.includes(key));
    if (unknownKey !== undefined) fail(`${what} has an unknown field "${unknownKey}"`);
    const { dtype, shape, data_offsets: offsets } = fields;
    if (typeof dtype !== 'string') fail(`${what} has no dtype`);
    if (dtype !== 'F32') fail(`${what} has dtype ${dtype}; only F32 (float32) is supported`);
    if (!Array.isArray(shape)) fail(`${what} has no shape array`);
    const dims = shape as unknown[];
    if (!dims.every(isCount)) fail(`${what} has shape ${JSON.stringify(shape)}; dimensions must be non-negative integers`);
    const elements = elementCount(dims as number[], `${source}: ${what}`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
      fail(`${what} has data_offsets ${JSON.stringify(offsets)}; expected [begin, end] as non-negative integers`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end || end > dataLength) {
      fail(`${what} has data_offsets [${begin}, ${end}] outside the ${dataLength}-byte data buffer`);
    }
    if (end - begin !== elements * BYTES_PER_F32) {
      fail(`${what} spans ${end - begin} bytes but shape [${dims.join(',')}] in F32 needs ${elements * BYTES_PER_F32}`);
    }
    entries.push({ name, shape: dims as number[], begin, end });
  }

  // The tensors must tile the data buffer exactly: an overlap aliases two tensors, a gap or tail hides bytes.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const entry of entries) {
    if (entry.begin < covered) fail(`tensor "${entry.name}" overlaps another tensor's bytes at offset ${entry.begin}`);
    if (entry.begin > covered) fail(`${entry.begin - covered} unclaimed bytes in the data buffer before tensor "${entry.name}"`);
    covered = entry.end;
  }
  if (covered !== dataLength) fail(`${dataLength - covered} unclaimed bytes at the end of the data buffer`);

  // Copying out gives each tensor its own aligned Float32Array whatever the file's alignment and the host's byte order.
  const tensors = Object.fromEntries(
    entries.map(({ name, shape, begin, end }) => {
      const data = new Float32Array((end - begin) / BYTES_PER_F32);
      for (let i = 0, at = dataStart + begin; i < data.length; i++, at += BYTES_PER_F32) {
        data[i] = view.getFloat32(at, true);
      }
      return [name, { shape, data }];
    }),
  ) as Record<string, Tensor>;
  return { tensors, metadata };
}

/**
 * Checks that a decoded file holds exactly the expected tensors with the expected shapes; `null` in an expected
 * shape accepts any size there (e.g. the number of examples in a dataset).
 */
export function checkTensorShapes(
  tensors: Record<string, Tensor>,
  expected: Record<string, readonly (number | null)[]>,
  source: string,
): void {
  const describe = (shape: readonly (number | null)[]) => `[${shape.map((d) => d ?? 'n').join(',')}]`;
  for (const [name, shape] of Object.entries(expected)) {
    const tensor = Object.hasOwn(tensors, name) ? tensors[name] : undefined;
    if (tensor === undefined) throw new SafetensorsError(`${source}: tensor "${name}" ${describe(shape)} is missing`);
    const matches =
      tensor.shape.length === shape.length && shape.every((dim, i) => dim === null || dim === tensor.shape[i]);
    if (!matches) {
      throw new SafetensorsError(
        `${source}: tensor "${name}" has shape ${describe(tensor.shape)}, expected ${describe(shape)}`,
      );
    }
  }
  const unexpected = Object.keys(tensors).filter((name) => !Object.hasOwn(expected, name));
  if (unexpected.length > 0) {
    throw new SafetensorsError(`${source}: unexpected tensor(s) ${unexpected.map((n) => `"${n}"`).join(', ')}`);
  }
}

function elementCount(shape: readonly number[], what: string): number {
  let count = 1;
  for (const dim of shape) {
    if (!isCount(dim)) throw new SafetensorsError(`${what}: shape [${shape.join(',')}] must hold non-negative integers`);
    count *= dim;
  }
  if (!Number.isSafeInteger(count * BYTES_PER_F32)) {
    throw new SafetensorsError(`${what}: shape [${shape.join(',')}] is too large`);
  }
  return count;
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
