import { describe, expect, it } from 'vitest';
import {
  backwardSecondDerivatives,
  createSecondDerivatives,
  OUTPUT_SECOND_DERIVATIVE,
  squareParameters,
} from '../core/hessian';
import {
  createNetwork,
  createReferenceNetwork,
  forward,
  H2_INPUT_PLANES,
  initializeParameters,
  PARAMETER_COUNT,
  PARAMETER_LAYOUT,
  type ParameterName,
} from '../core/network';
import { MT19937 } from '../core/rng';

function syntheticImage(): Float32Array {
  return Float32Array.from({ length: 256 }, (_, i) => ((i * 7) % 17) / 8 - 1);
}

function jitteredNetwork(seed: number) {
  const net = createReferenceNetwork(Float64Array);
  initializeParameters(net.parameters, seed);
  const jitter = new MT19937(seed + 1);
  for (let i = 0; i < PARAMETER_COUNT; i++) net.parameters[i] = net.parameters[i]! + 0.1 * (jitter.nextFloat24() - 0.5);
  return net;
}

/**
 * The explicit Gauss–Newton diagonal (Jᵀ·H_y·J)_kk = Σ_j (2/10)·(∂y_j/∂w_k)², each ∂y_j/∂w_k by central differences
 * of the network's outputs: computed without any second-derivative back-propagation.
 */
function finiteDifferenceGaussNewton(net: ReturnType<typeof jitteredNetwork>, image: Float32Array): Float64Array {
  const step = 1e-6;
  const diagonal = new Float64Array(PARAMETER_COUNT);
  for (let k = 0; k < PARAMETER_COUNT; k++) {
    const saved = net.parameters[k]!;
    net.parameters[k] = saved + step;
    forward(net, image, 0);
    const up = Float64Array.from(net.output);
    net.parameters[k] = saved - step;
    forward(net, image, 0);
    net.parameters[k] = saved;
    let sum = 0;
    for (let j = 0; j < 10; j++) sum += OUTPUT_SECOND_DERIVATIVE * ((up[j]! - net.output[j]!) / (2 * step)) ** 2;
    diagonal[k] = sum;
  }
  return diagonal;
}

function backpropagated(net: ReturnType<typeof jitteredNetwork>, image: Float32Array): Float64Array {
  const sd = createSecondDerivatives(Float64Array, net);
  squareParameters(net, sd);
  forward(net, image, 0);
  backwardSecondDerivatives(net, sd);
  return Float64Array.from(sd.parameterSecond);
}

/** Per parameter group: the largest |difference| relative to the group's largest value, which must be non-trivial. */
function worstRelativeError(analytic: Float64Array, numeric: Float64Array, names: readonly ParameterName[]) {
  const worst: Partial<Record<ParameterName, number>> = {};
  for (const { name, offset, length } of PARAMETER_LAYOUT.filter((slot) => names.includes(slot.name))) {
    let scale = 0;
    let error = 0;
    for (let k = offset; k < offset + length; k++) {
      scale = Math.max(scale, numeric[k]!);
      error = Math.max(error, Math.abs(analytic[k]! - numeric[k]!));
    }
    expect(scale, `${name} has a non-trivial second derivative`).toBeGreaterThan(1e-6);
    worst[name] = error / scale;
  }
  return worst;
}

describe('second-derivative back-propagation (Gauss–Newton diagonal)', () => {
  it('is exact for the output and H3 layers of any network, against finite differences of the outputs', () => {
    // Above H3 the Gauss–Newton matrix over the output units is diagonal (H_y = (2/10)·I), so neglecting cross terms
    // loses nothing for the weights of the last two layers: the back-propagated value must be the true diagonal.
    const net = jitteredNetwork(1337);
    const image = syntheticImage();
    const numeric = finiteDifferenceGaussNewton(net, image);
    const analytic = backpropagated(net, image);
    const worst = worstRelativeError(analytic, numeric, ['H3w', 'H3b', 'outw', 'outb']);
    for (const [name, error] of Object.entries(worst)) expect(error, name).toBeLessThan(1e-6);
    // Below H3 the diagonal approximation drops cross terms: all it promises is a positive value.
    expect(analytic.every((h) => h >= 0)).toBe(true);
  });

  it('is exact for every parameter of a network with one path from each live unit to its own output', () => {
    // Zero weights so that ten chains H1 unit → H2 unit → H3 unit → output j run apart: then the Gauss–Newton
    // matrix is diagonal over the units of every layer, weight sharing included (shared connections reach different
    // outputs), and the back-propagated diagonal must equal the explicit one for all 9,760 parameters, conv layers,
    // padding and weight sharing included.
    const net = jitteredNetwork(7);
    const { outw, H3w, H2w } = net.param;
    outw.fill(0);
    H3w.fill(0);
    H2w.fill(0);
    const jitter = new MT19937(3);
    for (let j = 0; j < 10; j++) {
      const [y, x] = [j % 4, Math.floor(j / 4)];
      const h2Unit = j * 16 + y * 4 + x;
      outw[j * 10 + j] = 0.5 + jitter.nextFloat24();
      H3w[h2Unit * 30 + j] = 0.5 + jitter.nextFloat24();
      // Slot 0, the kernel's centre tap: H2 unit (j, y, x) reads H1 unit (H2_INPUT_PLANES[j][0], 2y, 2x) alone, and no
      // two live H2 units read the same H1 unit.
      H2w[(j * 8 + 0) * 25 + 2 * 5 + 2] = 0.5 + jitter.nextFloat24();
    }
    const readH1 = Array.from({ length: 10 }, (_, j) => `${H2_INPUT_PLANES[j]![0]},${j % 4},${Math.floor(j / 4)}`);
    expect(new Set(readH1).size).toBe(10);
    const image = syntheticImage();
    const numeric = finiteDifferenceGaussNewton(net, image);
    const analytic = backpropagated(net, image);
    const worst = worstRelativeError(analytic, numeric, ['H1w', 'H1b', 'H2w', 'H2b', 'H3w', 'H3b', 'outw', 'outb']);
    for (const [name, error] of Object.entries(worst)) expect(error, name).toBeLessThan(1e-6);
  });

  it('runs on the SIMD network’s forward buffers in float32, to float32 precision', () => {
    const reference = jitteredNetwork(21);
    const simd = createNetwork();
    simd.parameters.set(reference.parameters);
    const image = syntheticImage();
    const expected = backpropagated(reference, image);
    const sd = createSecondDerivatives(Float32Array, simd);
    squareParameters(simd, sd);
    forward(simd, image, 0);
    backwardSecondDerivatives(simd, sd);
    const scale = expected.reduce((max, h) => Math.max(max, h), 0);
    for (let k = 0; k < PARAMETER_COUNT; k++) {
      expect(Math.abs(sd.parameterSecond[k]! - expected[k]!) / scale).toBeLessThan(1e-5);
    }
  });
});
