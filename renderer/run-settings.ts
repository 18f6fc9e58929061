/**
 * How a run's config reads: the names of the fields a sweep can vary, and the settings a preset fixes that the Train
 * form does not edit (optimizer, model, schedule), so the form and a run's detail say alike what will run or ran.
 */
import { DEFAULT_DAMPING } from '../core/optimizers';
import type { RunConfig, SweepParameter } from '../core/protocol';

export const PARAMETER_LABELS: Record<SweepParameter, string> = {
  learningRate: 'learning rate',
  passes: 'passes',
  seed: 'seed',
  trainLimit: 'training examples',
};

type Optimizer = NonNullable<RunConfig['optimizer']>;
type Model = NonNullable<RunConfig['model']>;

const OPTIMIZER_LABELS: Record<Optimizer, string> = { sgd: 'SGD', 'diag-newton': 'diagonal Newton', adamw: 'AdamW' };
const MODEL_LABELS: Record<Model, string> = {
  'tanh-mse-1989': '1989 (tanh, MSE)',
  modern: 'modern (ReLU, softmax cross-entropy)',
};

export interface Setting {
  name: string;
  value: string;
}

/** The preset-fixed settings of `config`, absent fields read as the engine's defaults they stand for. */
export function presetSettings(config: RunConfig): Setting[] {
  const optimizer = config.optimizer ?? 'sgd';
  // Under diagonal Newton the learning rate is ε of the step ε/(μ + h_kk): μ is half of what the step means.
  const damping = optimizer === 'diag-newton' ? `, μ ${config.damping ?? DEFAULT_DAMPING}` : '';
  const schedule =
    config.finalLearningRate === undefined ? 'constant' : `${config.learningRate} to ${config.finalLearningRate}, linearly over the passes`;
  return [
    { name: 'optimizer', value: `${OPTIMIZER_LABELS[optimizer]}${damping}` },
    { name: 'model', value: MODEL_LABELS[config.model ?? 'tanh-mse-1989'] },
    { name: 'learning rate schedule', value: schedule },
  ];
}
