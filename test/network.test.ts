import { describe, expect, it } from 'vitest';
import { gradientCheck } from './support/gradient-check';
import {
  CONNECTION_COUNT,
  FORWARD_MACS,
  H2_GEOMETRY,
  H2_INPUT_PLANES,
  LAYERS,
  PARAMETER_COUNT,
  PARAMETER_LAYOUT,
  PARAMETER_NAMES,
  TRAINING_STEP_MACS,
  UNIT_COUNT,
  backward,
  convForward,
  createNetwork,
  createReferenceNetwork,
  forward,
  initializeParameters,
  layerConnections,
  layerUnits,
  mseLoss,
  parameterViews,
  type FloatArray,
  type Network,
} from '../core/network';
import { MT19937 } from '../core/rng';
import { writeTargets } from '../core/subset';

/** Pixel i of the 16×16 image is ((i·7) mod 17)/8 − 1, as test/crosscheck/network_golden.py builds it for torch. */
function syntheticImage(): Float32Array {
  return Float32Array.from({ length: 256 }, (_, i) => ((i * 7) % 17) / 8 - 1);
}

describe('the paper’s counts', () => {
  it('has 9,760 parameters, 1,256 units and 64,660 connections', () => {
    expect(PARAMETER_COUNT).toBe(9760);
    expect(UNIT_COUNT).toBe(1256);
    expect(CONNECTION_COUNT).toBe(64660);
  });

  it('counts each layer as the paper does', () => {
    const byLayer = Object.fromEntries(
      LAYERS.map((layer) => [layer.name, { units: layerUnits(layer), connections: layerConnections(layer) }]),
    );
    expect(byLayer).toEqual({
      H1: { units: 768, connections: 768 * 26 },
      H2: { units: 192, connections: 192 * 201 },
      H3: { units: 30, connections: 30 * 193 },
      out: { units: 10, connections: 10 * 31 },
    });
    expect(768 * 26 + 192 * 201 + 30 * 193 + 10 * 31).toBe(64660);
  });

  it('does 63,660 multiply-accumulates forward and about 172,000 per training step', () => {
    expect(FORWARD_MACS).toBe(63660);
    expect(TRAINING_STEP_MACS).toBe(63660 * 2 + 38400 + 5760 + 300);
  });

  it('lays the parameters out contiguously in the reproduction’s state_dict order', () => {
    expect(PARAMETER_NAMES).toEqual(['H1w', 'H1b', 'H2w', 'H2b', 'H3w', 'H3b', 'outw', 'outb']);
    expect(PARAMETER_LAYOUT.map((slot) => [slot.name, slot.shape, slot.offset])).toEqual([
      ['H1w', [12, 1, 5, 5], 0],
      ['H1b', [12, 8, 8], 300],
      ['H2w', [12, 8, 5, 5], 1068],
      ['H2b', [12, 4, 4], 3468],
      ['H3w', [192, 30], 3660],
      ['H3b', [30], 9420],
      ['outw', [30, 10], 9450],
      ['outb', [10], 9750],
    ]);
    const flat = new Float32Array(PARAMETER_COUNT);
    const views = parameterViews(flat);
    views.H2b[0] = 7;
    expect(flat[3468]).toBe(7);
    expect(() => parameterViews(new Float32Array(10))).toThrow(/9760/);
  });
});

describe('initialisation', () => {
  it('draws torch’s uniforms from MT19937 (golden values for seed 1337)', () => {
    const rng = new MT19937(1337);
    const u = [rng.nextFloat24(), rng.nextFloat24(), rng.nextFloat24(), rng.nextFloat24()];
    expect(u.map((v) => v.toFixed(8))).toEqual(['0.07831711', '0.49561673', '0.62309813', '0.42243814']);
  });

  it('gives the weights torch gives, bit for bit (golden values from network_golden.py)', () => {
    const net = createNetwork();
    initializeParameters(net.parameters, 1337);
    const { H1w, H1b, H2w, H3w, H3b, outw, outb, H2b } = net.param;
    expect(Array.from(H1w.subarray(0, 4))).toEqual([
      -0.40481558442115784, -0.0042079356499016285, 0.11817421764135361, -0.07445938885211945,
    ]);
    expect(Array.from(H2w.subarray(0, 2))).toEqual([-0.04396912828087807, 0.07245618104934692]);
    expect(Array.from(H3w.subarray(0, 2))).toEqual([-0.1690501868724823, 0.13919612765312195]);
    expect(Array.from(outw.subarray(298))).toEqual([-0.0743069052696228, -0.31404516100883484]);
    expect([...H1b, ...H2b, ...H3b].every((b) => b === 0)).toBe(true);
    expect([...outb]).toEqual(Array(10).fill(-1));
  });

  it('keeps every weight inside ±2.4/√fan_in', () => {
    const net = createNetwork();
    initializeParameters(net.parameters, 7);
    for (const layer of LAYERS) {
      const weights = net.param[layer.weights];
      const bound = 2.4 / Math.sqrt(layer.fanIn);
      const largest = weights.reduce((max, w) => Math.max(max, Math.abs(w)), 0);
      expect(largest).toBeLessThanOrEqual(bound);
      expect(largest).toBeGreaterThan(0.9 * bound);
    }
  });
});

describe('forward', () => {
  it('matches the PyTorch reproduction’s outputs on a fixed input (network_golden.py), SIMD and reference', () => {
    const torchOutput = [
      0.11093404144048691, -0.951528787612915, -0.6088765859603882, -0.0645638182759285, -0.7843758463859558,
      -0.6322271227836609, -0.9697670936584473, -0.7906960844993591, -0.8250901103019714, -0.07312335819005966,
    ];
    const nets: Network<FloatArray>[] = [
      createNetwork(),
      createReferenceNetwork(Float64Array),
      createReferenceNetwork(Float32Array),
    ];
    for (const net of nets) {
      initializeParameters(net.parameters, 1337);
      forward(net, syntheticImage(), 0);
      for (let j = 0; j < 10; j++) expect(Math.abs(net.output[j]! - torchOutput[j]!)).toBeLessThan(1e-6);
    }
  });

  it('reads image `index` of a packed split', () => {
    const net = createNetwork();
    initializeParameters(net.parameters, 1337);
    const image = syntheticImage();
    forward(net, image, 0);
    const alone = Array.from(net.output);
    const packed = new Float32Array(3 * 256).fill(0.5);
    packed.set(image, 2 * 256);
    forward(net, packed, 2);
    expect(Array.from(net.output)).toEqual(alone);
  });

  it('computes tanh within 1.3 units in the last place of float32 (probed through H1 with zero weights)', () => {
    const net = createNetwork();
    const probes = [0, 1e-30, 1e-7, 3e-4, 0.1, 0.624, 0.625, 0.626, 1, 2.5, 8.9, 9.1, 19.9, 20.1, 88, 1e30];
    let largest = 0;
    for (let batch = 0; batch < 40; batch++) {
      net.parameters.fill(0);
      const x = net.param.H1b;
      for (let i = 0; i < x.length; i++) {
        const probe = probes[i];
        const sweep = ((batch * x.length + i) / (40 * x.length)) * 24 - 12;
        x[i] = (i % 2 === 0 ? 1 : -1) * (batch === 0 && probe !== undefined ? probe : Math.abs(sweep));
      }
      forward(net, syntheticImage(), 0);
      for (let i = 0; i < x.length; i++) {
        const exact = Math.tanh(x[i]!);
        const ulp = Math.max(2 ** (Math.floor(Math.log2(Math.abs(Math.fround(exact)) || 2 ** -126)) - 23), 2 ** -149);
        largest = Math.max(largest, Math.abs(net.h1[i]! - exact) / ulp);
        expect(Math.sign(net.h1[i]!)).toBe(Math.sign(Math.fround(exact)));
      }
    }
    expect(largest).toBeLessThan(1.3);
    expect(largest).toBeGreaterThan(0.5); // the probe reached the approximation's error, not only exact cases
  });

  it('connects each H2 plane to exactly the H1 planes the reproduction names', () => {
    expect(H2_INPUT_PLANES.map((planes) => planes.join(','))).toEqual([
      ...Array(4).fill('0,1,2,3,4,5,6,7'),
      ...Array(4).fill('4,5,6,7,8,9,10,11'),
      ...Array(4).fill('0,1,2,3,8,9,10,11'),
    ]);
    const net = createReferenceNetwork(Float64Array);
    initializeParameters(net.parameters, 1337);
    forward(net, syntheticImage(), 0);
    const naive = h2AsTheReproductionSlicesIt(net);
    for (let i = 0; i < 192; i++) expect(Math.abs(net.h2Sum[i]! - naive[i]!)).toBeLessThan(1e-12);

    // Disturb one H1 plane at a time: exactly the H2 planes that read it move.
    for (let h1Plane = 0; h1Plane < 12; h1Plane++) {
      const disturbed = Float64Array.from(net.h1Padded);
      for (let y = 2; y < 10; y++) {
        for (let x = 2; x < 10; x++) {
          const cell = (h1Plane * 12 + y) * 12 + x;
          disturbed[cell] = disturbed[cell]! + 0.25;
        }
      }
      const h2Sum = new Float64Array(192);
      convForward(H2_GEOMETRY, disturbed, net.param.H2w, net.param.H2b, h2Sum);
      const moved = [];
      for (let h2Plane = 0; h2Plane < 12; h2Plane++) {
        if (h2Sum.subarray(h2Plane * 16, h2Plane * 16 + 16).some((v, i) => v !== net.h2Sum[h2Plane * 16 + i])) {
          moved.push(h2Plane);
        }
      }
      const readers = H2_INPUT_PLANES.flatMap((planes, h2Plane) => (planes.includes(h1Plane) ? [h2Plane] : []));
      expect(moved).toEqual(readers);
    }
  });
});

/**
 * H2's sums from the padded H1 buffer as repro.py writes them: three convolutions over the slices x[:, 0:8],
 * x[:, 4:12] and cat(x[:, 0:4], x[:, 8:12]), with H2w[0:4], H2w[4:8] and H2w[8:12].
 */
function h2AsTheReproductionSlicesIt(net: Network<Float64Array>): Float64Array {
  const slices = [
    [0, 1, 2, 3, 4, 5, 6, 7],
    [4, 5, 6, 7, 8, 9, 10, 11],
    [0, 1, 2, 3, 8, 9, 10, 11],
  ];
  const { H2w, H2b } = net.param;
  const sums = new Float64Array(192);
  for (let o = 0; o < 12; o++) {
    for (let y = 0; y < 4; y++) {
      for (let x = 0; x < 4; x++) {
        let sum = H2b[(o * 4 + y) * 4 + x]!;
        slices[Math.floor(o / 4)]!.forEach((plane, slot) => {
          for (let ky = 0; ky < 5; ky++) {
            for (let kx = 0; kx < 5; kx++) {
              const weight = H2w[((o * 8 + slot) * 5 + ky) * 5 + kx]!;
              sum += weight * net.h1Padded[(plane * 12 + 2 * y + ky) * 12 + 2 * x + kx]!;
            }
          }
        });
        sums[(o * 4 + y) * 4 + x] = sum;
      }
    }
  }
  return sums;
}

describe('backward', () => {
  /**
   * Central differences in float64 on every one of the 9,760 parameters. The initial weights are pushed off their
   * seeded values and the biases made non-zero, so that no gradient is trivially zero or symmetric.
   */
  it('agrees with finite differences for every parameter group', () => {
    const net = createReferenceNetwork(Float64Array);
    initializeParameters(net.parameters, 1337);
    const jitter = new MT19937(99);
    for (let i = 0; i < PARAMETER_COUNT; i++) {
      net.parameters[i] = net.parameters[i]! + 0.1 * (jitter.nextFloat24() - 0.5);
    }
    const image = syntheticImage();
    const target = new Float32Array(10);
    writeTargets(3, target);
    const loss = () => {
      forward(net, image, 0);
      return mseLoss(net.output, target, net.outputGrad);
    };
    loss();
    backward(net);
    const analytic = Float64Array.from(net.gradients);

    const groups = gradientCheck(net.parameters, analytic, loss);
    for (const name of PARAMETER_NAMES) {
      expect(groups[name].largestGradient, `${name} has a non-trivial gradient`).toBeGreaterThan(1e-4);
      expect(groups[name].relativeError, name).toBeLessThan(1e-6);
    }
  });

  it('SIMD kernels agree with the float64 reference layers in every buffer, to float32 precision', () => {
    const simd = createNetwork();
    const reference = createReferenceNetwork(Float64Array);
    initializeParameters(simd.parameters, 5);
    const jitter = new MT19937(17);
    for (let i = 0; i < PARAMETER_COUNT; i++) {
      simd.parameters[i] = simd.parameters[i]! + 0.1 * (jitter.nextFloat24() - 0.5);
    }
    reference.parameters.set(simd.parameters);
    const target = new Float32Array(10);
    writeTargets(7, target);
    for (const net of [simd, reference] as Network<FloatArray>[]) {
      forward(net, syntheticImage(), 0);
      mseLoss(net.output, target, net.outputGrad);
      backward(net);
    }
    const buffers = [
      'inputPadded', 'h1Sum', 'h1', 'h1Padded', 'h2Sum', 'h2', 'h3Sum', 'h3', 'outSum', 'output', 'outputGrad',
      'outSumGrad', 'h3Grad', 'h3SumGrad', 'h2Grad', 'h2SumGrad', 'h1Grad', 'h1SumGrad', 'gradients',
    ] as const;
    const relativeError = (a: FloatArray, b: FloatArray) => {
      let scale = 0;
      let error = 0;
      for (let i = 0; i < b.length; i++) {
        scale = Math.max(scale, Math.abs(b[i]!));
        error = Math.max(error, Math.abs(a[i]! - b[i]!));
      }
      expect(scale).toBeGreaterThan(0);
      return error / scale;
    };
    for (const name of buffers) expect(relativeError(simd[name], reference[name]), name).toBeLessThan(2e-6);
    for (const { name, offset, length } of PARAMETER_LAYOUT) {
      const slice = (net: Network<FloatArray>) => net.gradients.subarray(offset, offset + length);
      expect(relativeError(slice(simd), slice(reference)), name).toBeLessThan(2e-6);
    }
  });

  it('SIMD network uses parameters written between calls, in a memory of its own', () => {
    const [changed, untouched] = [createNetwork(), createNetwork()];
    const reference = createReferenceNetwork(Float64Array);
    for (const net of [changed, untouched]) initializeParameters(net.parameters, 3);
    for (const net of [changed, untouched]) forward(net, syntheticImage(), 0);
    expect(Array.from(changed.output)).toEqual(Array.from(untouched.output));
    changed.param.H1w[0] = changed.param.H1w[0]! - 0.5;
    changed.param.H2w[5] = changed.param.H2w[5]! + 0.5;
    reference.parameters.set(changed.parameters);
    for (const net of [changed, untouched, reference] as Network<FloatArray>[]) forward(net, syntheticImage(), 0);
    for (let j = 0; j < 10; j++) expect(Math.abs(changed.output[j]! - reference.output[j]!)).toBeLessThan(1e-6);
    expect(Array.from(changed.output)).not.toEqual(Array.from(untouched.output));
  });

  it('SIMD SGD step is torch’s float32 update', () => {
    const net = createNetwork();
    initializeParameters(net.parameters, 5);
    forward(net, syntheticImage(), 0);
    const target = new Float32Array(10);
    writeTargets(1, target);
    mseLoss(net.output, target, net.outputGrad);
    backward(net);
    const before = net.parameters.slice();
    net.kernels!.sgdStep(0.03);
    const rate = Math.fround(0.03);
    for (let i = 0; i < PARAMETER_COUNT; i++) {
      expect(net.parameters[i]).toBe(Math.fround(before[i]! - Math.fround(rate * net.gradients[i]!)));
    }
  });
});
