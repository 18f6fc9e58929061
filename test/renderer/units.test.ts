// @vitest-environment happy-dom
import { describe, expect, it } from 'vitest';
import { EngineError } from '../../core/protocol';
import { datasetLabel, kindOfFiles, splitSeed } from '../../renderer/dataset-kinds';
import { describeError } from '../../renderer/errors';
import { formatDuration, formatLoss, formatPercent } from '../../renderer/format';
import { maxMagnitude, valuesToRgba } from '../../renderer/pixels';
import { PRESETS, presetLabel } from '../../core/presets';
import { RunConfigSchema } from '../../core/protocol';

describe('dataset kinds', () => {
  it('takes files for USPS only when every one bears a published USPS name, gzipped or not', () => {
    expect(kindOfFiles(['zip.train', 'zip.test'])).toBe('usps');
    expect(kindOfFiles(['ZIP.TRAIN.GZ', 'zip.test.gz'])).toBe('usps');
    expect(kindOfFiles(['usps', 'usps.t'])).toBe('usps');
    expect(kindOfFiles(['usps.t.gz'])).toBe('usps');
    expect(kindOfFiles(['zip.train', 'train-images-idx3-ubyte'])).toBe('mnist');
    expect(kindOfFiles(['my-zip.train'])).toBe('mnist');
    expect(kindOfFiles(['usps.tar'])).toBe('mnist');
    expect(kindOfFiles([])).toBe('mnist');
  });

  it('reads a USPS set on its one split and MNIST on the default draw, and names the kind in choices', () => {
    expect([splitSeed('usps'), splitSeed('mnist')]).toEqual([0, 1337]);
    expect(datasetLabel({ name: 'zip digits', kind: 'usps' })).toBe('zip digits · USPS');
  });
});

describe('pixels', () => {
  it('draws the dataset’s -1 background white and +1 ink black, opaque', () => {
    expect(Array.from(valuesToRgba([-1, 0, 1], 'ink'))).toEqual([255, 255, 255, 255, 128, 128, 128, 255, 0, 0, 0, 255]);
  });

  it('draws signed values white at zero, red when positive, blue when negative, clamped at the range', () => {
    const [zero, positive, negative, beyond] = [0, 2, -2, 10].map((value) => Array.from(valuesToRgba([value], 'signed', 2)));
    expect(zero).toEqual([255, 255, 255, 255]);
    expect(positive).toEqual([178, 24, 43, 255]);
    expect(negative).toEqual([33, 102, 172, 255]);
    expect(beyond).toEqual(positive);
    expect(maxMagnitude([0.5, -3, 2])).toBe(3);
  });
});

describe('readable numbers and errors', () => {
  it('formats losses, percentages and durations for tables', () => {
    expect(formatLoss(2.5e-3)).toBe('2.50e-3');
    expect(formatPercent(5)).toBe('5.00');
    expect(formatDuration(0.42)).toBe('0.4 s');
    expect(formatDuration(42)).toBe('42 s');
    expect(formatDuration(3725)).toBe('1 h 02 min');
    expect(formatDuration(Number.POSITIVE_INFINITY)).toBe('–');
  });

  it('says what an engine error means, then what the service said', () => {
    expect(describeError(new EngineError('dataset_in_use', 'dataset 2 is used by 3 runs'))).toBe('The dataset is used by runs: dataset 2 is used by 3 runs');
    expect(describeError(new Error('plain'))).toBe('plain');
  });
});

describe('presets', () => {
  it('are valid run configs, with readable names for stored runs', () => {
    for (const preset of PRESETS) expect(RunConfigSchema.parse(preset.config)).toEqual(preset.config);
    expect(presetLabel('sgd-1989')).toBe('public reproduction (SGD 0.03)');
    expect(presetLabel('from-the-future')).toBe('from-the-future');
  });
});
