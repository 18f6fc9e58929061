import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { bundledMnistDir, readMnistDir } from '../core/mnist';
import {
  ONNX_BATCH_DIMENSION,
  ONNX_INPUT_NAME,
  ONNX_IR_VERSION,
  ONNX_OPSET,
  ONNX_OUTPUT_NAME,
  encodeOnnxModel,
} from '../core/onnx';
import { createModel, evaluateModel, type ModelName } from '../core/models';
import { argmax, createNetwork, H2_INPUT_PLANES, PARAMETER_COUNT, PARAMETER_LAYOUT, PARAMETER_SHAPES, parameterViews } from '../core/network';
import { make1989Dataset, type Dataset1989 } from '../core/subset';
import { evaluateSplit, initialParameters, runTraining, trainStep } from '../core/train';

const { onnx } = onnxProto;

interface DecodedTensor {
  name: string;
  dims: number[];
  dataType: number;
  floatData: number[];
  int64Data: number[];
}
interface DecodedValue {
  name: string;
  type: { tensorType: { elemType: number; shape: { dim: { dimValue?: number; dimParam?: string }[] } } };
}
interface DecodedModel {
  irVersion: number;
  opsetImport: { domain: string; version: number }[];
  producerName: string;
  metadataProps: { key: string; value: string }[];
  graph: {
    node: { opType: string; input: string[]; attribute: { name: string; ints: number[] }[] }[];
    initializer: DecodedTensor[];
    input: DecodedValue[];
    output: DecodedValue[];
  };
}

/** The exported bytes decoded back by the ONNX schema, int64s as numbers and absent fields as their defaults. */
function decode(bytes: Uint8Array): DecodedModel {
  const message = onnx.ModelProto.decode(bytes);
  return onnx.ModelProto.toObject(message, { longs: Number, defaults: true, arrays: true }) as DecodedModel;
}

/** Training steps before export: enough for a network that reads most digits, so the comparison runs on a working one. */
const TRAINING_STEPS = 500;
/** Reading MNIST and drawing the subset takes about a second; the default 10 s hook limit is tight on a busy machine. */
const SETUP_TIMEOUT_MS = 60_000;

let dataset: Dataset1989;
let parameters: Float32Array;
let model: Uint8Array;

beforeAll(() => {
  dataset = make1989Dataset(readMnistDir(bundledMnistDir()));
  const net = createNetwork();
  net.parameters.set(initialParameters(1337));
  const target = new Float32Array(10);
  for (let i = 0; i < TRAINING_STEPS; i++) trainStep(net, dataset.train, i, target, 0.03);
  parameters = net.parameters.slice();
  model = encodeOnnxModel(parameters, { metadata: { seed: '1337', steps: String(TRAINING_STEPS) } });
}, SETUP_TIMEOUT_MS);

/** The engine's ten outputs (as it evaluates: no shifts, no dropout) for every example of the test split, example-major. */
function engineOutputs(weights = parameters, name: ModelName = 'tanh-mse-1989'): Float32Array {
  const model = createModel(name);
  model.net.parameters.set(weights);
  const { test } = dataset;
  const outputs = new Float32Array(test.count * 10);
  for (let i = 0; i < test.count; i++) {
    model.forward(test.inputs, i, null);
    outputs.set(model.net.output, i * 10);
  }
  return outputs;
}

describe('encodeOnnxModel: the model as ONNX Runtime runs it', () => {
  it('matches the engine’s forward on the whole test split to 1e-5, with the same argmax for every digit', async () => {
    const session = await ort.InferenceSession.create(model);
    const { test } = dataset;
    const feeds = { [ONNX_INPUT_NAME]: new ort.Tensor('float32', test.inputs, [test.count, 1, 16, 16]) };
    const result = (await session.run(feeds))[ONNX_OUTPUT_NAME]!;
    expect(result.dims).toEqual([test.count, 10]);
    const onnxOutputs = result.data as Float32Array;
    const expected = engineOutputs();

    let maxAbsDiff = 0;
    let disagreements = 0;
    let onnxMisses = 0;
    for (let i = 0; i < test.count; i++) {
      const ours = expected.subarray(i * 10, (i + 1) * 10);
      const theirs = onnxOutputs.subarray(i * 10, (i + 1) * 10);
      for (let j = 0; j < 10; j++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(ours[j]! - theirs[j]!));
      if (argmax(ours) !== argmax(theirs)) disagreements++;
      if (argmax(theirs) !== test.labels[i]) onnxMisses++;
    }
    console.info(`ONNX Runtime vs engine on ${test.count} test digits: max |difference| ${maxAbsDiff.toExponential(2)}`);
    expect(maxAbsDiff).toBeLessThan(1e-5);
    expect(disagreements).toBe(0);

    const net = createNetwork();
    net.parameters.set(parameters);
    expect(onnxMisses).toBe(evaluateSplit(net, test).misses);
    // Trained a little, not at all, would leave ~90% wrong; this says the comparison ran on a working network.
    expect(onnxMisses).toBeLessThan(test.count / 2);
    await session.release();
  });

  it('takes any batch size, one digit included', async () => {
    const session = await ort.InferenceSession.create(model);
    const { test } = dataset;
    const expected = engineOutputs();
    for (const [first, count] of [[0, 1], [17, 3]] as const) {
      const inputs = test.inputs.slice(first * 256, (first + count) * 256);
      const result = (await session.run({ [ONNX_INPUT_NAME]: new ort.Tensor('float32', inputs, [count, 1, 16, 16]) }))[
        ONNX_OUTPUT_NAME
      ]!;
      expect(result.dims).toEqual([count, 10]);
      const data = result.data as Float32Array;
      for (let k = 0; k < count * 10; k++) expect(Math.abs(data[k]! - expected[first * 10 + k]!)).toBeLessThan(1e-5);
    }
    await session.release();
  });

  it('declares its input and output to ONNX Runtime with a symbolic batch dimension', async () => {
    const session = await ort.InferenceSession.create(model);
    expect(session.inputNames).toEqual([ONNX_INPUT_NAME]);
    expect(session.outputNames).toEqual([ONNX_OUTPUT_NAME]);
    const [input] = session.inputMetadata;
    const [output] = session.outputMetadata;
    expect(input).toMatchObject({ name: 'input', isTensor: true, type: 'float32', shape: [ONNX_BATCH_DIMENSION, 1, 16, 16] });
    expect(output).toMatchObject({ name: 'output', isTensor: true, type: 'float32', shape: [ONNX_BATCH_DIMENSION, 10] });
    await session.release();
  });
});

describe('encodeOnnxModel: the model’s structure', () => {
  it('is opset 13 at IR version 7, with the graph of the paper’s layers in order', () => {
    const decoded = decode(model);
    expect(ONNX_OPSET).toBe(13);
    expect(decoded.irVersion).toBe(ONNX_IR_VERSION);
    expect(decoded.opsetImport).toEqual([{ domain: '', version: 13 }]);
    expect(decoded.producerName).toBe('lecun1989');
    expect(decoded.metadataProps.map(({ key, value }) => [key, value])).toEqual([
      ['seed', '1337'],
      ['steps', String(TRAINING_STEPS)],
    ]);
    const graph = decoded.graph;
    expect(graph.node.map((node) => node.opType)).toEqual([
      'Pad', 'Conv', 'Add', 'Tanh',
      'Pad', 'Conv', 'Add', 'Tanh',
      'Flatten', 'MatMul', 'Add', 'Tanh',
      'MatMul', 'Add', 'Tanh',
    ]);
    const dims = (value: DecodedValue) => value.type.tensorType.shape.dim.map((dim) => dim.dimParam || dim.dimValue);
    expect(graph.input.map((value) => value.name)).toEqual(['input']);
    expect(graph.output.map((value) => value.name)).toEqual(['output']);
    expect(graph.input[0]!.type.tensorType.elemType).toBe(onnx.TensorProto.DataType.FLOAT);
    expect(dims(graph.input[0]!)).toEqual(['N', 1, 16, 16]);
    expect(dims(graph.output[0]!)).toEqual(['N', 10]);

    const convs = graph.node.filter((node) => node.opType === 'Conv');
    for (const conv of convs) {
      const attributes = Object.fromEntries(conv.attribute.map((a) => [a.name, a.ints]));
      expect(attributes).toEqual({ kernel_shape: [5, 5], strides: [2, 2] });
    }
  });

  it('pads with −1 by 2 on each side of each plane, the input and H1 alike', () => {
    const { graph } = decode(model);
    const initializer = (name: string) => graph.initializer.find((tensor) => tensor.name === name)!;
    const pads = graph.node.filter((node) => node.opType === 'Pad');
    expect(pads.map((node) => node.input[0])).toEqual(['input', 'h1']);
    for (const pad of pads) {
      expect(initializer(pad.input[1]!).int64Data).toEqual([0, 0, 2, 2, 0, 0, 2, 2]);
      expect(initializer(pad.input[2]!).floatData).toEqual([-1]);
      expect(initializer(pad.input[2]!).dims).toEqual([]);
    }
  });

  it('carries each state_dict tensor under its own name and shape, and H2w widened with zeros off its connections', () => {
    const { graph } = decode(model);
    const byName = new Map(graph.initializer.map((tensor) => [tensor.name, tensor]));
    const views = parameterViews(parameters);
    for (const { name, shape } of PARAMETER_LAYOUT) {
      if (name === 'H2w') continue;
      const tensor = byName.get(name)!;
      expect(tensor, name).toBeDefined();
      expect(tensor.dims).toEqual([...shape]);
      expect(tensor.dataType).toBe(onnx.TensorProto.DataType.FLOAT);
      expect(Float32Array.from(tensor.floatData)).toEqual(views[name]);
    }
    expect(byName.has('H2w')).toBe(false);

    const wide = byName.get('H2w_all_planes')!;
    expect(wide.dims).toEqual([12, 12, 5, 5]);
    const [, planesRead] = PARAMETER_SHAPES.H2w;
    let zeros = 0;
    for (let o = 0; o < 12; o++) {
      for (let plane = 0; plane < 12; plane++) {
        const kernel = wide.floatData.slice((o * 12 + plane) * 25, (o * 12 + plane + 1) * 25);
        const slot = H2_INPUT_PLANES[o]!.indexOf(plane);
        if (slot < 0) {
          expect(kernel.every((w) => w === 0)).toBe(true);
          zeros += 25;
        } else {
          expect(Float32Array.from(kernel)).toEqual(views.H2w.subarray((o * planesRead + slot) * 25, (o * planesRead + slot + 1) * 25));
        }
      }
    }
    expect(zeros).toBe(12 * 4 * 25);
  });
});

describe('encodeOnnxModel: the modern variant', () => {
  let modernParameters: Float32Array;
  let modernModel: Uint8Array;

  beforeAll(async () => {
    // One pass over the first 2,000 digits, with AdamW as the modern preset has it: a network that reads most digits.
    const config = { seed: 1337, passes: 1, learningRate: 3e-4, trainLimit: 2000, optimizer: 'adamw', model: 'modern' } as const;
    for await (const result of runTraining({ config, train: dataset.train, test: dataset.test, evaluation: 'in-thread' })) {
      modernParameters = result.parameters;
    }
    modernModel = encodeOnnxModel(modernParameters, { model: 'modern' });
  }, SETUP_TIMEOUT_MS);

  it('matches the engine’s modern forward (no shifts, no dropout) on the whole test split to 1e-5: the logits', async () => {
    const session = await ort.InferenceSession.create(modernModel);
    const { test } = dataset;
    const feeds = { [ONNX_INPUT_NAME]: new ort.Tensor('float32', test.inputs, [test.count, 1, 16, 16]) };
    const result = (await session.run(feeds))[ONNX_OUTPUT_NAME]!;
    expect(result.dims).toEqual([test.count, 10]);
    const onnxOutputs = result.data as Float32Array;
    const expected = engineOutputs(modernParameters, 'modern');

    let maxAbsDiff = 0;
    let largestLogit = 0;
    let onnxMisses = 0;
    for (let i = 0; i < test.count; i++) {
      const ours = expected.subarray(i * 10, (i + 1) * 10);
      const theirs = onnxOutputs.subarray(i * 10, (i + 1) * 10);
      for (let j = 0; j < 10; j++) {
        maxAbsDiff = Math.max(maxAbsDiff, Math.abs(ours[j]! - theirs[j]!));
        largestLogit = Math.max(largestLogit, Math.abs(ours[j]!));
      }
      expect(argmax(theirs)).toBe(argmax(ours));
      if (argmax(theirs) !== test.labels[i]) onnxMisses++;
    }
    console.info(`ONNX Runtime vs engine (modern) on ${test.count} test digits: max |difference| ${maxAbsDiff.toExponential(2)}`);
    expect(maxAbsDiff).toBeLessThan(1e-5);
    // Linear outputs: a tanh (or any squashing) left on the output would keep every value inside ±1.
    expect(largestLogit).toBeGreaterThan(1);

    const model = createModel('modern');
    model.net.parameters.set(modernParameters);
    expect(onnxMisses).toBe(evaluateModel(model, test).misses);
    expect(onnxMisses).toBeLessThan(test.count / 2);
    await session.release();
  });

  it('has Relu where the 1989 network has Tanh, no activation on the output, and the same −1 padding', () => {
    const { graph, docString } = decode(modernModel) as DecodedModel & { docString: string };
    expect(graph.node.map((node) => node.opType)).toEqual([
      'Pad', 'Conv', 'Add', 'Relu',
      'Pad', 'Conv', 'Add', 'Relu',
      'Flatten', 'MatMul', 'Add', 'Relu',
      'MatMul', 'Add',
    ]);
    const pads = graph.node.filter((node) => node.opType === 'Pad');
    expect(pads.map((node) => node.input[0])).toEqual(['input', 'h1']);
    expect(graph.initializer.find((tensor) => tensor.name === pads[1]!.input[2])!.floatData).toEqual([-1]);
    expect(docString).toMatch(/logits/);
    expect(decode(encodeOnnxModel(modernParameters, { model: 'tanh-mse-1989' })).graph.node.map((node) => node.opType)).toEqual(
      decode(encodeOnnxModel(modernParameters)).graph.node.map((node) => node.opType),
    );
  });
});

describe('encodeOnnxModel: bad parameters', () => {
  it('refuses an array of the wrong length', () => {
    expect(() => encodeOnnxModel(new Float32Array(PARAMETER_COUNT - 1))).toThrow(
      `ONNX export: expected ${PARAMETER_COUNT} parameters, got ${PARAMETER_COUNT - 1}`,
    );
  });

  it('refuses a non-finite weight, naming the tensor and the index', () => {
    const broken = parameters.slice();
    const h3b = PARAMETER_LAYOUT.find((slot) => slot.name === 'H3b')!;
    broken[h3b.offset + 7] = Number.NaN;
    expect(() => encodeOnnxModel(broken)).toThrow('ONNX export: parameter H3b holds NaN at index 7');
  });
});
