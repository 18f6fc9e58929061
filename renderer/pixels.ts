/**
 * Values to colours for every grid the app draws: digits, feature maps and kernels. Drawn as dark ink on white
 * (the stylesheet inverts the canvases in the dark theme), so one mapping serves both themes.
 */

/** 'ink': the dataset's range, -1 background (white) to +1 ink (black). 'signed': 0 white, negative blue, positive red. */
export type Palette = 'ink' | 'signed';

const NEGATIVE = [33, 102, 172] as const;
const POSITIVE = [178, 24, 43] as const;

/**
 * RGBA bytes for `values`; `range` is the magnitude drawn at full colour in the signed palette (values past it are
 * clamped), so that maps of one layer can share a scale.
 */
export function valuesToRgba(values: ArrayLike<number>, palette: Palette, range = 1): Uint8ClampedArray {
  const rgba = new Uint8ClampedArray(values.length * 4);
  for (let i = 0; i < values.length; i++) {
    const value = values[i]!;
    let rgb: readonly [number, number, number];
    if (palette === 'ink') {
      const grey = 255 * (1 - (Math.min(1, Math.max(-1, value)) + 1) / 2);
      rgb = [grey, grey, grey];
    } else {
      const strength = range > 0 ? Math.min(1, Math.abs(value) / range) : 0;
      const full = value < 0 ? NEGATIVE : POSITIVE;
      rgb = [255 + (full[0] - 255) * strength, 255 + (full[1] - 255) * strength, 255 + (full[2] - 255) * strength];
    }
    rgba.set([rgb[0], rgb[1], rgb[2], 255], i * 4);
  }
  return rgba;
}

/** The largest magnitude in `values`: the scale at which a signed map shows its strongest value at full colour. */
export function maxMagnitude(values: ArrayLike<number>): number {
  let largest = 0;
  for (let i = 0; i < values.length; i++) largest = Math.max(largest, Math.abs(values[i]!));
  return largest;
}
