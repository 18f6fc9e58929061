import { describe, expect, it } from 'vitest';
import { IMAGE_SIDE, INPUT_PIXELS } from '../../core/subset';
import { BOX_SIDE, fitAndCentre, InkGrid, normaliseDrawing, PAD_SIDE } from '../../renderer/drawing';

type Point = [number, number];

/** Draws a polyline given in unit coordinates (0–1), placed at (left, top) and scaled by size, brush scaled alike. */
function draw(strokes: Point[][], left: number, top: number, size: number): InkGrid {
  const grid = new InkGrid(PAD_SIDE);
  const radius = size * 0.05;
  for (const stroke of strokes) {
    for (let i = 1; i < stroke.length; i++) {
      const [x0, y0] = stroke[i - 1]!;
      const [x1, y1] = stroke[i]!;
      grid.stroke(left + x0 * size, top + y0 * size, left + x1 * size, top + y1 * size, radius);
    }
  }
  return grid;
}

const SEVEN: Point[][] = [[[0.15, 0.1], [0.85, 0.1], [0.4, 0.95]]];
/** An L: most of its mass sits low and left of its bounding box's middle. */
const ELL: Point[][] = [[[0.1, 0.0], [0.1, 0.9], [0.9, 0.9]]];
const DASH: Point[][] = [[[0.0, 0.5], [1.0, 0.5]]];

function centreOfMass(field: Float32Array): { x: number; y: number } {
  let mass = 0;
  let x = 0;
  let y = 0;
  for (let row = 0; row < IMAGE_SIDE; row++) {
    for (let column = 0; column < IMAGE_SIDE; column++) {
      const value = field[row * IMAGE_SIDE + column]!;
      mass += value;
      x += value * (column + 0.5);
      y += value * (row + 0.5);
    }
  }
  return { x: x / mass, y: y / mass };
}

function inkBox(field: Float32Array): { width: number; height: number } {
  let left = IMAGE_SIDE;
  let right = -1;
  let top = IMAGE_SIDE;
  let bottom = -1;
  field.forEach((value, at) => {
    if (value <= 0) return;
    const row = Math.floor(at / IMAGE_SIDE);
    const column = at % IMAGE_SIDE;
    left = Math.min(left, column);
    right = Math.max(right, column);
    top = Math.min(top, row);
    bottom = Math.max(bottom, row);
  });
  return { width: right - left + 1, height: bottom - top + 1 };
}

describe('InkGrid', () => {
  it('inks the stroke fully, fades over one pixel at its edge, and leaves the rest blank', () => {
    const grid = new InkGrid(32);
    grid.stroke(8, 16.5, 24, 16.5, 2);
    const at = (x: number, y: number) => grid.ink[y * 32 + x]!;
    expect(at(16, 16)).toBe(1);
    expect(at(16, 18)).toBeCloseTo(0.5, 5); // pixel centre 18.5 lies 2 from the line: half covered
    expect(at(16, 20)).toBe(0);
    expect(at(2, 16)).toBe(0);
    expect(grid.isEmpty()).toBe(false);
    grid.clear();
    expect(grid.isEmpty()).toBe(true);
  });
});

describe('the drawing normalised as MNIST digits were', () => {
  for (const [name, strokes] of [['a seven', SEVEN], ['an L', ELL], ['a flat dash', DASH]] as const) {
    it(`fits ${name} into a 20×20 box with its centre of mass at the centre of 28×28`, () => {
      const field = fitAndCentre(draw(strokes, 10, 12, 60).ink, PAD_SIDE)!;
      expect(field).toHaveLength(IMAGE_SIDE * IMAGE_SIDE);
      const box = inkBox(field);
      expect(Math.max(box.width, box.height)).toBe(BOX_SIDE);
      expect(Math.min(box.width, box.height)).toBeLessThanOrEqual(BOX_SIDE);
      const centre = centreOfMass(field);
      // Whole-pixel moves put the centre of mass within half a pixel of the field's centre.
      expect(Math.abs(centre.x - IMAGE_SIDE / 2)).toBeLessThanOrEqual(0.5);
      expect(Math.abs(centre.y - IMAGE_SIDE / 2)).toBeLessThanOrEqual(0.5);
      expect(Math.min(...field)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...field)).toBeLessThanOrEqual(1);
    });
  }

  it('centres by mass, not by bounding box', () => {
    const field = fitAndCentre(draw(ELL, 20, 20, 70).ink, PAD_SIDE)!;
    let left = IMAGE_SIDE;
    let right = -1;
    field.forEach((value, at) => {
      if (value > 0) {
        left = Math.min(left, at % IMAGE_SIDE);
        right = Math.max(right, at % IMAGE_SIDE);
      }
    });
    // The L's mass leans left, so its box sits right of the middle.
    expect((left + right + 1) / 2).toBeGreaterThan(IMAGE_SIDE / 2 + 1);
  });

  it('gives the network a 16×16 input in [-1, 1] with a blank background', () => {
    const input = normaliseDrawing(draw(SEVEN, 30, 30, 50).ink, PAD_SIDE)!;
    expect(input).toBeInstanceOf(Float32Array);
    expect(input).toHaveLength(INPUT_PIXELS);
    expect(Math.min(...input)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...input)).toBeLessThanOrEqual(1);
    expect(Math.max(...input)).toBeGreaterThan(0.5);
    for (const corner of [0, 15, 240, 255]) expect(input[corner]).toBe(-1);
  });

  it('reads a digit drawn small in a corner and large in the middle alike', () => {
    const small = normaliseDrawing(draw(SEVEN, 4, 6, 30).ink, PAD_SIDE)!;
    const large = normaliseDrawing(draw(SEVEN, 12, 8, 90).ink, PAD_SIDE)!;
    const meanDifference = small.reduce((sum, value, i) => sum + Math.abs(value - large[i]!), 0) / INPUT_PIXELS;
    const inked = large.filter((value) => value > 0).length;
    expect(inked).toBeGreaterThan(10);
    expect(meanDifference).toBeLessThan(0.1);
    // ...while another digit at the same size differs several times more.
    const ell = normaliseDrawing(draw(ELL, 12, 8, 90).ink, PAD_SIDE)!;
    const otherDifference = ell.reduce((sum, value, i) => sum + Math.abs(value - large[i]!), 0) / INPUT_PIXELS;
    expect(otherDifference).toBeGreaterThan(3 * meanDifference);
  });

  it('has nothing to give for an empty pad', () => {
    const empty = new InkGrid(PAD_SIDE);
    expect(fitAndCentre(empty.ink, PAD_SIDE)).toBeNull();
    expect(normaliseDrawing(empty.ink, PAD_SIDE)).toBeNull();
  });
});
