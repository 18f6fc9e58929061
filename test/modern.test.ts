import { describe, expect, it } from 'vitest';
import { gradientCheck } from './support/gradient-check';
import {
  createModernScratch,
  crossEntropyLoss,
  DROPOUT_PROBABILITY,
  initializeModernParameters,
  modernBackward,
  modernForward,
  rollImage,
} from '../core/modern';
import { createReferenceNetwork, initializeParameters, PARAMETER_COUNT, PARAMETER_LAYOUT } from '../core/network';
import { MT19937 } from '../core/rng';

function syntheticImage(): Float32Array {
  return Float32Array.from({ length: 256 }, (_, i) => ((i * 7) % 17) / 8 - 1);
}

describe('the modern variant’s layers', () => {
  it('rolls images as torch.roll(x, (rows, columns), (2, 3)), wrapping around', () => {
    const images = Float32Array.from({ length: 2 * 256 }, (_, i) => i);
    const target = new Float32Array(256);
    rollImage(images, 1, 1, -1, target);
    // out[y][x] = in[(y − 1) mod 16][(x + 1) mod 16], in image 1.
    expect(target[0]).toBe(256 + 15 * 16 + 1);
    expect(target[16 + 15]).toBe(256 + 0 * 16 + 0);
    expect(target[5 * 16 + 7]).toBe(256 + 4 * 16 + 8);
    rollImage(images, 0, 0, 0, target);
    expect(Array.from(target)).toEqual(Array.from(images.subarray(0, 256)));
  });

  it('computes softmax cross-entropy and its gradient, stably for large logits', () => {
    const logits = Float64Array.from([1, 2, 3, 0.5, -1, 0, 0, 0, 0, 4]);
    const grad = new Float64Array(10);
    const loss = crossEntropyLoss(logits, 2, grad);
    const total = logits.reduce((sum, z) => sum + Math.exp(z), 0);
    expect(loss).toBeCloseTo(-Math.log(Math.exp(3) / total), 12);
    expect(grad.reduce((a, b) => a + b, 0)).toBeCloseTo(0, 12);
    expect(grad[2]).toBeCloseTo(Math.exp(3) / total - 1, 12);
    const shifted = logits.map((z) => z + 1000);
    expect(crossEntropyLoss(shifted, 2, grad)).toBeCloseTo(loss, 9);
  });

  it('starts from the 1989 weights with the output biases at 0', () => {
    const modern = new Float32Array(PARAMETER_COUNT);
    const paper = new Float32Array(PARAMETER_COUNT);
    initializeModernParameters(modern, 1337);
    initializeParameters(paper, 1337);
    const outb = PARAMETER_LAYOUT.find((slot) => slot.name === 'outb')!;
    expect(Array.from(modern.subarray(0, outb.offset))).toEqual(Array.from(paper.subarray(0, outb.offset)));
    expect(Array.from(modern.subarray(outb.offset))).toEqual(Array(10).fill(0));
  });

  it('drops a quarter of the H2 units while training, scaling the rest by 4/3, and none when evaluating', () => {
    const net = createReferenceNetwork(Float32Array);
    const scratch = createModernScratch();
    initializeModernParameters(net.parameters, 3);
    const training = new MT19937(5);
    let dropped = 0;
    const steps = 50;
    for (let step = 0; step < steps; step++) {
      modernForward(net, scratch, syntheticImage(), 0, training);
      for (const keep of scratch.mask) {
        expect([0, Math.fround(4 / 3)]).toContain(keep);
        if (keep === 0) dropped++;
      }
    }
    const rate = dropped / (steps * 192);
    expect(Math.abs(rate - DROPOUT_PROBABILITY)).toBeLessThan(0.02);
    modernForward(net, scratch, syntheticImage(), 0, null);
    const evaluated = Array.from(net.output);
    modernForward(net, scratch, syntheticImage(), 0, null);
    expect(Array.from(net.output)).toEqual(evaluated);
    const h2 = Array.from(net.h2);
    expect(h2).toEqual(Array.from(net.h2Sum, (a) => Math.max(a, 0)));
  });
});

describe('modern backward', () => {
  it('agrees with finite differences for every parameter group, through shift, ReLU and dropout', () => {
    const net = createReferenceNetwork(Float64Array);
    const scratch = createModernScratch();
    initializeModernParameters(net.parameters, 1337);
    const jitter = new MT19937(99);
    for (let i = 0; i < PARAMETER_COUNT; i++) net.parameters[i] = net.parameters[i]! + 0.1 * (jitter.nextFloat24() - 0.5);
    const image = syntheticImage();
    // The same generator seed each time: the same shift and dropout mask for every evaluation of the loss.
    const loss = () => {
      modernForward(net, scratch, image, 0, new MT19937(11));
      return crossEntropyLoss(net.output, 3, net.outputGrad);
    };
    loss();
    expect(scratch.mask.some((keep) => keep === 0)).toBe(true);
    modernBackward(net, scratch);
    const analytic = Float64Array.from(net.gradients);
    for (const [name, { largestGradient, relativeError }] of Object.entries(gradientCheck(net.parameters, analytic, loss))) {
      expect(largestGradient, `${name} has a non-trivial gradient`).toBeGreaterThan(1e-4);
      expect(relativeError, name).toBeLessThan(1e-5);
    }
  });
});
