import { describe, expect, it } from 'vitest';
import {
  SafetensorsError,
  type Tensor,
  checkTensorShapes,
  decodeSafetensors,
  encodeSafetensors,
} from '../core/safetensors';

/** A file laid out by hand from the format's definition: u64 LE header length, header, data. */
function file(header: unknown, data: Uint8Array | number = 0, headerText = JSON.stringify(header)): Uint8Array {
  const json = new TextEncoder().encode(headerText);
  const buffer = typeof data === 'number' ? new Uint8Array(data) : data;
  const bytes = new Uint8Array(8 + json.length + buffer.length);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(json.length), true);
  bytes.set(json, 8);
  bytes.set(buffer, 8 + json.length);
  return bytes;
}

const f32 = (shape: number[], begin: number, end: number) => ({ dtype: 'F32', shape, data_offsets: [begin, end] });

/** Decoding `bytes` must fail with a SafetensorsError whose message is `source: problem`. */
function problemOf(bytes: Uint8Array): string {
  try {
    decodeSafetensors(bytes, 'weights.safetensors');
  } catch (error) {
    expect(error).toBeInstanceOf(SafetensorsError);
    const message = (error as Error).message;
    expect(message.startsWith('weights.safetensors: ')).toBe(true);
    return message.slice('weights.safetensors: '.length);
  }
  throw new Error('expected a SafetensorsError, but the file decoded');
}

describe('encodeSafetensors', () => {
  it('lays out the exact bytes the format defines: sorted names, F32 little-endian, header padded to 8', () => {
    const bytes = encodeSafetensors({ b: { shape: [1], data: Float32Array.of(-2) }, a: { shape: [2], data: Float32Array.of(1, 0.5) } });
    const header = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}';
    const padded = header.padEnd(Math.ceil(header.length / 8) * 8, ' ');
    const view = new DataView(bytes.buffer);
    expect(view.getBigUint64(0, true)).toBe(BigInt(padded.length));
    expect(new TextDecoder().decode(bytes.subarray(8, 8 + padded.length))).toBe(padded);
    expect([...bytes.subarray(8 + padded.length)]).toEqual([0, 0, 0x80, 0x3f, 0, 0, 0, 0x3f, 0, 0, 0, 0xc0]);
  });

  it('writes metadata under "__metadata__"', () => {
    const bytes = encodeSafetensors({}, { format: 'pt', seed: '1337' });
    const length = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(length % 8).toBe(0);
    expect(JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)))).toEqual({
      __metadata__: { format: 'pt', seed: '1337' },
    });
  });

  it('refuses a tensor whose data does not fill its shape, a reserved name, or non-string metadata', () => {
    expect(() => encodeSafetensors({ w: { shape: [2, 3], data: new Float32Array(5) } })).toThrow(
      new SafetensorsError('encode: tensor "w" has shape [2,3] (6 values) but 5 values'),
    );
    expect(() => encodeSafetensors({ w: { shape: [-1], data: new Float32Array(0) } })).toThrow(SafetensorsError);
    expect(() => encodeSafetensors({ __metadata__: { shape: [0], data: new Float32Array(0) } })).toThrow(SafetensorsError);
    expect(() => encodeSafetensors({}, { seed: 1337 as unknown as string })).toThrow(
      'encode: metadata "seed" must be a string, got number',
    );
  });
});

describe('decodeSafetensors', () => {
  it('round-trips tensors, metadata, scalars and empty tensors bit for bit', () => {
    const values = Float32Array.of(0, -0, 1.5, -3.25e-8, 3.4028234663852886e38, Number.MIN_VALUE, NaN, Infinity);
    const tensors: Record<string, Tensor> = {
      H1w: { shape: [2, 1, 2, 2], data: values },
      outb: { shape: [10], data: new Float32Array(10).fill(-1) },
      scalar: { shape: [], data: Float32Array.of(42) },
      empty: { shape: [0, 3], data: new Float32Array(0) },
      'ünïcode name': { shape: [1], data: Float32Array.of(7) },
    };
    const { tensors: back, metadata } = decodeSafetensors(encodeSafetensors(tensors, { note: 'x' }), 'mem');
    expect(metadata).toEqual({ note: 'x' });
    expect(Object.keys(back).sort()).toEqual(Object.keys(tensors).sort());
    for (const [name, tensor] of Object.entries(tensors)) {
      expect(back[name]!.shape).toEqual(tensor.shape);
      expect(new Uint32Array(back[name]!.data.buffer)).toEqual(new Uint32Array(tensor.data.slice().buffer));
    }
  });

  it('reads tensors at any byte offset of any buffer into aligned arrays of their own', () => {
    const bytes = encodeSafetensors({ w: { shape: [3], data: Float32Array.of(1, 2, 3) } });
    const shifted = new Uint8Array(bytes.length + 3);
    shifted.set(bytes, 3);
    const { tensors } = decodeSafetensors(shifted.subarray(3), 'shifted');
    expect([...tensors.w!.data]).toEqual([1, 2, 3]);
    shifted.fill(0);
    expect([...tensors.w!.data]).toEqual([1, 2, 3]);
  });

  it('reads a file written in a different tensor order, with an unpadded header', () => {
    const data = new Uint8Array(new Float32Array([5, 6, 7]).buffer);
    const { tensors } = decodeSafetensors(file({ z: f32([1], 0, 4), a: f32([2], 4, 12) }, data), 'ordered');
    expect([...tensors.z!.data]).toEqual([5]);
    expect([...tensors.a!.data]).toEqual([6, 7]);
  });

  it('keeps a tensor named "__proto__" as a tensor', () => {
    const { tensors } = decodeSafetensors(file(JSON.parse('{"__proto__":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'), 4), 'p');
    expect(Object.keys(tensors)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(tensors)).toBe(Object.prototype);
  });

  describe('refuses a corrupt file with a message naming the problem', () => {
    it('too short for the header length', () => {
      expect(problemOf(new Uint8Array(5))).toBe('5 bytes is too short for a safetensors file (the header length alone is 8)');
    });

    it('header length past the end of the file, or absurd', () => {
      const bytes = file({}, 0);
      new DataView(bytes.buffer).setBigUint64(0, 3n, true);
      expect(problemOf(bytes)).toBe('header length 3 runs past the end of the 10-byte file');
      new DataView(bytes.buffer).setBigUint64(0, 2n ** 63n, true);
      expect(problemOf(bytes)).toBe('header length 9223372036854775808 is absurd (limit 100000000)');
    });

    it('header that is not UTF-8, not JSON, or not an object', () => {
      expect(problemOf(file(null, 0, '{"\xff"}').map((b, i) => (i === 10 ? 0xff : b)))).toBe('header is not valid UTF-8');
      expect(problemOf(file(null, 0, '{"w": {'))).toMatch(/^header is not valid JSON \(/);
      expect(problemOf(file([1, 2]))).toBe('header is not a JSON object');
      expect(problemOf(file(null))).toBe('header is not a JSON object');
    });

    it('dtype other than F32, naming the tensor and the dtype', () => {
      expect(problemOf(file({ H1w: { ...f32([2], 0, 4), dtype: 'F16' } }, 4))).toBe(
        'tensor "H1w" has dtype F16; only F32 (float32) is supported',
      );
      expect(problemOf(file({ H1w: { shape: [1], data_offsets: [0, 4] } }, 4))).toBe('tensor "H1w" has no dtype');
    });

    it('entry that is not an object, or has unknown fields', () => {
      expect(problemOf(file({ w: [1] }))).toBe('tensor "w" is not an object');
      expect(problemOf(file({ w: { ...f32([1], 0, 4), strides: [1] } }, 4))).toBe('tensor "w" has an unknown field "strides"');
    });

    it('shape that is missing or not of non-negative integers', () => {
      expect(problemOf(file({ w: { dtype: 'F32', data_offsets: [0, 4] } }, 4))).toBe('tensor "w" has no shape array');
      expect(problemOf(file({ w: f32([-1], 0, 4) }, 4))).toBe(
        'tensor "w" has shape [-1]; dimensions must be non-negative integers',
      );
      expect(problemOf(file({ w: f32([1.5], 0, 4) }, 4))).toMatch(/shape \[1.5\]/);
      expect(problemOf(file({ w: f32(['2'] as unknown as number[], 0, 8) }, 8))).toMatch(/shape \["2"\]/);
      expect(problemOf(file({ w: f32([2 ** 30, 2 ** 30], 0, 4) }, 4))).toMatch(/is too large/);
    });

    it('offsets malformed or outside the data buffer', () => {
      expect(problemOf(file({ w: { dtype: 'F32', shape: [1], data_offsets: [0] } }, 4))).toBe(
        'tensor "w" has data_offsets [0]; expected [begin, end] as non-negative integers',
      );
      expect(problemOf(file({ w: f32([1], 4, 8) }, 4))).toBe(
        'tensor "w" has data_offsets [4, 8] outside the 4-byte data buffer',
      );
      expect(problemOf(file({ w: f32([0], 4, 0) }, 4))).toBe('tensor "w" has data_offsets [4, 0] outside the 4-byte data buffer');
    });

    it('byte length that does not match the shape', () => {
      expect(problemOf(file({ w: f32([2], 0, 4) }, 4))).toBe('tensor "w" spans 4 bytes but shape [2] in F32 needs 8');
    });

    it('tensors that overlap, leave a gap, or leave bytes unclaimed', () => {
      expect(problemOf(file({ a: f32([2], 0, 8), b: f32([2], 4, 12) }, 12))).toBe(
        'tensor "b" overlaps another tensor\'s bytes at offset 4',
      );
      expect(problemOf(file({ a: f32([1], 0, 4), b: f32([1], 8, 12) }, 12))).toBe(
        '4 unclaimed bytes in the data buffer before tensor "b"',
      );
      expect(problemOf(file({ a: f32([1], 0, 4) }, 6))).toBe('2 unclaimed bytes at the end of the data buffer');
    });

    it('metadata that is not an object of strings', () => {
      expect(problemOf(file({ __metadata__: [] }))).toBe('"__metadata__" is not an object');
      expect(problemOf(file({ __metadata__: { seed: 1337 } }))).toBe('metadata "seed" is not a string');
    });

    it('any truncation of a valid file', () => {
      const bytes = encodeSafetensors({ a: { shape: [3], data: Float32Array.of(1, 2, 3) } }, { k: 'v' });
      for (let length = 0; length < bytes.length; length++) {
        expect(() => decodeSafetensors(bytes.subarray(0, length), 'cut')).toThrow(SafetensorsError);
      }
    });
  });
});

describe('checkTensorShapes', () => {
  const tensors: Record<string, Tensor> = {
    Xtr: { shape: [5, 1, 16, 16], data: new Float32Array(5 * 256) },
    Ytr: { shape: [5, 10], data: new Float32Array(50) },
  };

  it('accepts exactly the expected names and shapes, with null matching any size', () => {
    expect(() => checkTensorShapes(tensors, { Xtr: [null, 1, 16, 16], Ytr: [null, 10] }, 'd')).not.toThrow();
  });

  it('names a missing tensor, a wrong shape, and unexpected tensors', () => {
    expect(() => checkTensorShapes(tensors, { Xtr: [null, 1, 16, 16], Ytr: [null, 10], Xte: [null, 1, 16, 16] }, 'd')).toThrow(
      new SafetensorsError('d: tensor "Xte" [n,1,16,16] is missing'),
    );
    expect(() => checkTensorShapes(tensors, { Xtr: [null, 1, 28, 28], Ytr: [null, 10] }, 'd')).toThrow(
      new SafetensorsError('d: tensor "Xtr" has shape [5,1,16,16], expected [n,1,28,28]'),
    );
    expect(() => checkTensorShapes(tensors, { Xtr: [null, 1, 16, 16], Ytr: [5] }, 'd')).toThrow(
      'd: tensor "Ytr" has shape [5,10], expected [5]',
    );
    expect(() => checkTensorShapes(tensors, { Xtr: [null, 1, 16, 16] }, 'd')).toThrow('d: unexpected tensor(s) "Ytr"');
  });
});
