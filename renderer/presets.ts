import type { RunConfig } from '../core/protocol';

/**
 * Training presets: a name stored with each run and the config it starts from. Data, not code, so that the presets
 * of #5 (the paper's diagonal Newton, the modern variant) are one entry each.
 */
export interface Preset {
  name: string;
  label: string;
  description: string;
  config: RunConfig;
}

export const PRESETS: readonly Preset[] = [
  {
    name: 'sgd-1989',
    label: 'public reproduction (SGD 0.03)',
    description:
      'Plain SGD, one example per step, learning rate 0.03, MSE on tanh outputs, 23 passes: as karpathy/lecun1989-repro trains it.',
    config: { seed: 1337, passes: 23, learningRate: 0.03, trainLimit: null },
  },
];

/** How a stored preset name reads; runs from the CLI or an older version may carry names this app lacks. */
export function presetLabel(name: string): string {
  if (name === 'imported') return 'imported weights';
  return PRESETS.find((preset) => preset.name === name)?.label ?? name;
}
