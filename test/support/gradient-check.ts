// Central finite differences against the analytic gradient, for every parameter group of the 1989 layout.
import { PARAMETER_LAYOUT, type FloatArray, type ParameterName } from '../../core/network';

export interface GroupCheck {
  /** The largest |∂L/∂w| in the group, measured: the check means nothing if it is zero. */
  largestGradient: number;
  /** The largest |numeric − analytic| in the group, relative to largestGradient. */
  relativeError: number;
}

/**
 * Perturbs each parameter by ±step, re-evaluating `loss` (which must read `parameters`), and compares with `analytic`
 * (the gradient at the unperturbed parameters).
 */
export function gradientCheck(parameters: FloatArray, analytic: ArrayLike<number>, loss: () => number, step = 1e-6): Record<ParameterName, GroupCheck> {
  const groups = {} as Record<ParameterName, GroupCheck>;
  for (const slot of PARAMETER_LAYOUT) {
    let largestGradient = 0;
    let largestError = 0;
    for (let i = slot.offset; i < slot.offset + slot.length; i++) {
      const saved = parameters[i]!;
      parameters[i] = saved + step;
      const up = loss();
      parameters[i] = saved - step;
      const down = loss();
      parameters[i] = saved;
      const numeric = (up - down) / (2 * step);
      largestGradient = Math.max(largestGradient, Math.abs(numeric));
      largestError = Math.max(largestError, Math.abs(numeric - analytic[i]!));
    }
    groups[slot.name] = { largestGradient, relativeError: largestError / largestGradient };
  }
  return groups;
}
