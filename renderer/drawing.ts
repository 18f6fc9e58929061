/**
 * The draw pad's ink, and its normalisation into the network's input the way MNIST's digits were made (LeCun,
 * Cortes, Burges: "size normalized to fit in a 20x20 pixel box while preserving their aspect ratio ... centered in a
 * 28x28 image by computing the center of mass of the pixels"), followed by the very 28→16 bilinear resize that made
 * the 1989-style dataset. A digit drawn small in a corner and the same digit drawn large in the middle should reach
 * the network as nearly the same 16×16 input, as they would have in the dataset.
 */
import { IMAGE_PIXELS, IMAGE_SIDE, INPUT_PIXELS, resize28to16 } from '../core/subset';

/** Side of the ink grid the pad draws into: fine enough that scaling it down to 20 pixels anti-aliases the strokes. */
export const PAD_SIDE = 112;
/** MNIST's size-normalisation box. */
export const BOX_SIDE = 20;
/** About MNIST's stroke width relative to a digit's height, once a digit fills most of the pad. */
export const BRUSH_RADIUS = 4.5;

/** Coverage in [0, 1] per pixel of a square grid; strokes are round-capped segments, anti-aliased at the edge. */
export class InkGrid {
  readonly ink: Float32Array;

  constructor(readonly side: number = PAD_SIDE) {
    this.ink = new Float32Array(side * side);
  }

  clear(): void {
    this.ink.fill(0);
  }

  isEmpty(): boolean {
    return !this.ink.some((value) => value > 0);
  }

  /** From (x0, y0) to (x1, y1) in grid units; a pixel's coverage falls off over one pixel past `radius`. */
  stroke(x0: number, y0: number, x1: number, y1: number, radius: number = BRUSH_RADIUS): void {
    const side = this.side;
    const left = Math.max(0, Math.floor(Math.min(x0, x1) - radius - 1));
    const right = Math.min(side - 1, Math.ceil(Math.max(x0, x1) + radius + 1));
    const top = Math.max(0, Math.floor(Math.min(y0, y1) - radius - 1));
    const bottom = Math.min(side - 1, Math.ceil(Math.max(y0, y1) + radius + 1));
    const dx = x1 - x0;
    const dy = y1 - y0;
    const lengthSquared = dx * dx + dy * dy;
    for (let y = top; y <= bottom; y++) {
      for (let x = left; x <= right; x++) {
        const px = x + 0.5;
        const py = y + 0.5;
        const along = lengthSquared === 0 ? 0 : Math.min(1, Math.max(0, ((px - x0) * dx + (py - y0) * dy) / lengthSquared));
        const distance = Math.hypot(px - (x0 + along * dx), py - (y0 + along * dy));
        const coverage = Math.min(1, Math.max(0, radius + 0.5 - distance));
        const at = y * side + x;
        if (coverage > this.ink[at]!) this.ink[at] = coverage;
      }
    }
  }
}

/**
 * For each of `outputLength` cells spanning `sourceLength` source pixels, the source pixels it overlaps and by how
 * much (weights summing to 1): an exact box filter, so a thin stroke shrinks into a grey line instead of vanishing.
 */
function areaWeights(sourceLength: number, outputLength: number): { index: number; weight: number }[][] {
  const step = sourceLength / outputLength;
  return Array.from({ length: outputLength }, (_, cell) => {
    const begin = cell * step;
    const end = begin + step;
    const taps: { index: number; weight: number }[] = [];
    for (let index = Math.floor(begin); index < Math.min(sourceLength, Math.ceil(end)); index++) {
      const overlap = Math.min(end, index + 1) - Math.max(begin, index);
      if (overlap > 0) taps.push({ index, weight: overlap / step });
    }
    return taps;
  });
}

/**
 * The ink's bounding box scaled (aspect kept) so its longer side is 20 pixels, then moved by whole pixels so that its
 * centre of mass lies at the centre of a 28×28 field, as close as whole pixels allow. Coverage in [0, 1], row-major;
 * null when there is no ink.
 */
export function fitAndCentre(ink: Float32Array, side: number): Float32Array | null {
  let left = side;
  let right = -1;
  let top = side;
  let bottom = -1;
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      if (ink[y * side + x]! > 0) {
        left = Math.min(left, x);
        right = Math.max(right, x);
        top = Math.min(top, y);
        bottom = Math.max(bottom, y);
      }
    }
  }
  if (right < 0) return null;
  const boxWidth = right - left + 1;
  const boxHeight = bottom - top + 1;
  const scale = BOX_SIDE / Math.max(boxWidth, boxHeight);
  const width = Math.max(1, Math.round(boxWidth * scale));
  const height = Math.max(1, Math.round(boxHeight * scale));
  const columns = areaWeights(boxWidth, width);
  const rows = areaWeights(boxHeight, height);

  const scaled = new Float32Array(width * height);
  let mass = 0;
  let momentX = 0;
  let momentY = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let value = 0;
      for (const row of rows[y]!) {
        for (const column of columns[x]!) value += ink[(top + row.index) * side + left + column.index]! * row.weight * column.weight;
      }
      scaled[y * width + x] = value;
      mass += value;
      momentX += value * (x + 0.5);
      momentY += value * (y + 0.5);
    }
  }

  // Whole-pixel moves keep the box exactly 20 pixels and its grey levels untouched; clamping keeps every stroke in
  // the field when the mass sits far off the box's middle.
  const centre = IMAGE_SIDE / 2;
  const offsetX = Math.min(IMAGE_SIDE - width, Math.max(0, Math.round(centre - momentX / mass)));
  const offsetY = Math.min(IMAGE_SIDE - height, Math.max(0, Math.round(centre - momentY / mass)));
  const field = new Float32Array(IMAGE_PIXELS);
  for (let y = 0; y < height; y++) field.set(scaled.subarray(y * width, (y + 1) * width), (offsetY + y) * IMAGE_SIDE + offsetX);
  return field;
}

/**
 * The network's 16×16 input (-1 background, +1 ink) for the pad's ink, through the dataset's own pixel mapping and
 * resize; null when nothing has been drawn.
 */
export function normaliseDrawing(ink: Float32Array, side: number): Float32Array | null {
  const field = fitAndCentre(ink, side);
  if (field === null) return null;
  // The dataset maps byte b to b/127.5 − 1; coverage c stands for byte 255·c.
  const image = field.map((coverage) => coverage * 2 - 1);
  const input = new Float32Array(INPUT_PIXELS);
  resize28to16(image, 0, input, 0);
  return input;
}
