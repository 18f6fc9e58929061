/**
 * Either model (core/models.ts) as an ONNX model, for ONNX Runtime, Netron and anything else that reads ONNX: the same
 * maths as the engine's forward at evaluation, node by node, with the checkpoint's weights as initializers.
 *
 *   input [N,1,16,16] ─Pad 2 with −1─ Conv 5×5 /2 (H1w) ─Add H1b [12,8,8]─ Tanh
 *     ─Pad 2 with −1─ Conv 5×5 /2 (H2w over all 12 planes) ─Add H2b [12,4,4]─ Tanh
 *     ─Flatten─ MatMul H3w [192,30] ─Add H3b─ Tanh ─MatMul outw [30,10] ─Add outb─ Tanh ─▶ output [N,10]
 *
 * The modern variant (core/modern.ts) is the same graph with Relu for the three hidden Tanhs and no activation on the
 * output, whose ten values are then the logits. Its shifts and dropout act only while training, so they have no node.
 *
 * Opset 13 (ONNX 1.8, IR version 7) is the first whose Pad takes its pads and constant value as inputs, which is how
 * the −1 border is given. The batch dimension is symbolic, so one model scores one digit or a whole split.
 */
import onnxProto from 'onnx-proto';
import type { ModelName } from './models';
import { H2_INPUT_PLANES, PARAMETER_COUNT, PARAMETER_LAYOUT, PARAMETER_SHAPES, parameterViews } from './network';
import { CLASSES, INPUT_SIDE } from './subset';

// onnx-proto is CommonJS: Node's ESM loader only offers its exports as the default export.
const { onnx } = onnxProto;

export const ONNX_OPSET = 13;
/** The IR version of ONNX 1.8, the release that introduced opset 13. */
export const ONNX_IR_VERSION = 7;
export const ONNX_INPUT_NAME = 'input';
export const ONNX_OUTPUT_NAME = 'output';
/** The symbolic batch dimension of the input and output. */
export const ONNX_BATCH_DIMENSION = 'N';

// The geometry of core/network.ts (which keeps it private); the test against the engine's forward holds them equal.
const PAD = 2;
const PAD_VALUE = -1;
const STRIDE = 2;

const [H1_PLANES, , KERNEL_SIDE] = PARAMETER_SHAPES.H1w;
const [H2_PLANES, H2_PLANES_READ] = PARAMETER_SHAPES.H2w;

export interface OnnxExportOptions {
  /** The model's description, shown by Netron. */
  description?: string;
  /** Key–value metadata stored in the model (run id, pass, seed, …). */
  metadata?: Record<string, string>;
  /** The model the parameters belong to; the 1989 network if absent. */
  model?: ModelName;
}

/**
 * The network with these 9,760 parameters (state_dict order) as a serialized ONNX ModelProto. Initializers carry the
 * state_dict's names and shapes wherever a tensor maps 1:1; H2's weights are widened to all 12 planes (see below).
 */
export function encodeOnnxModel(parameters: Float32Array, options: OnnxExportOptions = {}): Uint8Array {
  if (parameters.length !== PARAMETER_COUNT) {
    throw new RangeError(`ONNX export: expected ${PARAMETER_COUNT} parameters, got ${parameters.length}`);
  }
  for (const { name, offset, length } of PARAMETER_LAYOUT) {
    for (let i = 0; i < length; i++) {
      if (!Number.isFinite(parameters[offset + i]!)) {
        throw new RangeError(`ONNX export: parameter ${name} holds ${parameters[offset + i]} at index ${i}`);
      }
    }
  }
  const modern = options.model === 'modern';
  const hiddenActivation = modern ? 'Relu' : 'Tanh';
  const param = parameterViews(parameters);
  const kernel = [KERNEL_SIDE, KERNEL_SIDE];
  const strides = [STRIDE, STRIDE];
  const pads = 'pads_2_around_each_plane';
  const padValue = 'pad_value';

  const initializer = [
    // Pad's pads: [begin of each axis…, end of each axis…] over N, C, H, W.
    int64Tensor(pads, [8], [0, 0, PAD, PAD, 0, 0, PAD, PAD]),
    floatTensor(padValue, [], Float32Array.of(PAD_VALUE), 'The background of the [-1, 1] inputs: both paddings use it.'),
    stateTensor('H1w', param.H1w),
    stateTensor('H1b', param.H1b),
    floatTensor(
      'H2w_all_planes',
      [H2_PLANES, H1_PLANES, KERNEL_SIDE, KERNEL_SIDE],
      widenH2Weights(param.H2w),
      'H2w [12,8,5,5] placed at the H1 planes each H2 plane reads; zero at the four it does not.',
    ),
    stateTensor('H2b', param.H2b),
    stateTensor('H3w', param.H3w),
    stateTensor('H3b', param.H3b),
    stateTensor('outw', param.outw),
    stateTensor('outb', param.outb),
  ];

  const node = [
    op('Pad', [ONNX_INPUT_NAME, pads, padValue], 'inputPadded', { mode: 'constant' }),
    op('Conv', ['inputPadded', 'H1w'], 'h1Conv', { kernel_shape: kernel, strides }),
    // One bias per unit, as the paper has it: [12,8,8] broadcast over the batch.
    op('Add', ['h1Conv', 'H1b'], 'h1Sum'),
    op(hiddenActivation, ['h1Sum'], 'h1'),
    op('Pad', ['h1', pads, padValue], 'h1Padded', { mode: 'constant' }),
    // The paper's H2 plane reads 8 of the 12 H1 planes. One convolution over all 12, with zero kernels on the four
    // planes a unit does not read, computes the same sums: each missing connection adds 0·x = 0, which leaves a
    // float sum unchanged. It is one node where grouped convolutions would need slices, three Convs and a Concat.
    op('Conv', ['h1Padded', 'H2w_all_planes'], 'h2Conv', { kernel_shape: kernel, strides }),
    op('Add', ['h2Conv', 'H2b'], 'h2Sum'),
    op(hiddenActivation, ['h2Sum'], 'h2'),
    // Plane-major, as the reproduction's x.view(-1, 12*4*4) and the rows of H3w.
    op('Flatten', ['h2'], 'h2Flat', { axis: 1 }),
    op('MatMul', ['h2Flat', 'H3w'], 'h3Product'),
    op('Add', ['h3Product', 'H3b'], 'h3Sum'),
    op(hiddenActivation, ['h3Sum'], 'h3'),
    op('MatMul', ['h3', 'outw'], 'outProduct'),
    ...(modern
      ? [op('Add', ['outProduct', 'outb'], ONNX_OUTPUT_NAME)]
      : [op('Add', ['outProduct', 'outb'], 'outSum'), op('Tanh', ['outSum'], ONNX_OUTPUT_NAME)]),
  ];

  const model = onnx.ModelProto.create({
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    producerName: 'lecun1989',
    docString:
      options.description ??
      (modern
        ? 'The modern variant of the public reproduction of LeCun et al. 1989 (ReLU hidden units): 16x16 inputs in ' +
          '[-1, 1] (background -1, ink +1), ten logits (softmax gives the probabilities), the predicted digit is the largest.'
        : 'LeCun et al. 1989, "Backpropagation Applied to Handwritten Zip Code Recognition": 16x16 inputs in [-1, 1] ' +
          '(background -1, ink +1), ten tanh outputs, the predicted digit is the largest.'),
    metadataProps: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value })),
    graph: {
      name: 'lecun1989',
      node,
      initializer,
      input: [floatValue(ONNX_INPUT_NAME, [ONNX_BATCH_DIMENSION, 1, INPUT_SIDE, INPUT_SIDE])],
      output: [floatValue(ONNX_OUTPUT_NAME, [ONNX_BATCH_DIMENSION, CLASSES])],
    },
  });
  return new Uint8Array(onnx.ModelProto.encode(model).finish());
}

/** H2w [12,8,5,5] spread over [12,12,5,5]: kernel slot s of plane o lands on the H1 plane H2_INPUT_PLANES[o][s]. */
function widenH2Weights(h2w: Float32Array): Float32Array {
  const taps = KERNEL_SIDE * KERNEL_SIDE;
  const wide = new Float32Array(H2_PLANES * H1_PLANES * taps);
  H2_INPUT_PLANES.forEach((planes, o) =>
    planes.forEach((plane, slot) => {
      const from = (o * H2_PLANES_READ + slot) * taps;
      wide.set(h2w.subarray(from, from + taps), (o * H1_PLANES + plane) * taps);
    }),
  );
  return wide;
}

type Attribute = number | number[] | string;

function op(opType: string, input: string[], output: string, attributes: Record<string, Attribute> = {}) {
  return onnx.NodeProto.create({
    name: output,
    opType,
    input,
    output: [output],
    attribute: Object.entries(attributes).map(([name, value]) => {
      if (typeof value === 'string') {
        return { name, type: onnx.AttributeProto.AttributeType.STRING, s: new TextEncoder().encode(value) };
      }
      if (typeof value === 'number') return { name, type: onnx.AttributeProto.AttributeType.INT, i: value };
      return { name, type: onnx.AttributeProto.AttributeType.INTS, ints: value };
    }),
  });
}

function stateTensor(name: keyof typeof PARAMETER_SHAPES, data: Float32Array) {
  return floatTensor(name, PARAMETER_SHAPES[name], data);
}

function floatTensor(name: string, dims: readonly number[], data: Float32Array, docString?: string) {
  return onnx.TensorProto.create({
    name,
    dims: [...dims],
    dataType: onnx.TensorProto.DataType.FLOAT,
    floatData: Array.from(data),
    ...(docString === undefined ? {} : { docString }),
  });
}

function int64Tensor(name: string, dims: number[], values: number[]) {
  return onnx.TensorProto.create({ name, dims, dataType: onnx.TensorProto.DataType.INT64, int64Data: values });
}

function floatValue(name: string, dims: (number | string)[]) {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: dims.map((dim) => (typeof dim === 'string' ? { dimParam: dim } : { dimValue: dim })) },
      },
    },
  });
}
