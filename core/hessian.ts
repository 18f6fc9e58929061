/**
 * Second derivatives by back-propagation (Becker & Le Cun 1988; LeCun, Bottou, Orr & Müller, "Efficient BackProp",
 * 1998, §9.1): the diagonal of the Gauss–Newton approximation of the Hessian of the 1989 network's loss, one example
 * at a time, for the paper's "special version of Newton's algorithm".
 *
 * With a the pre-activation of a unit, x its inputs and f = tanh, dropping f'' and the cross terms between units:
 *   output units   ∂²L/∂a² = f'(a)² · ∂²L/∂y² = f'(a)² · 2/10          (L = mean over 10 outputs of (y − t)²)
 *   hidden unit i  ∂²L/∂a_i² = f'(a_i)² · Σ_j w_ji² · ∂²L/∂a_j²
 *   weight k       ∂²L/∂w_k² = Σ over the connections c sharing w_k of x_c² · ∂²L/∂a_unit(c)²
 * These are the gradient's recursions with every coefficient squared (w → w², x → x², f' → f'²), so the gradient's own
 * layer functions compute them: linearBackward and the conv backward functions run on squared weights and squared
 * inputs, with their index geometry unchanged, and tanhBackward applied twice multiplies by f'². No loop is copied.
 */
import {
  convBackwardInput,
  convBackwardParameters,
  H1_GEOMETRY,
  H2_GEOMETRY,
  linearBackward,
  padBackward,
  PARAMETER_COUNT,
  PARAMETER_SHAPES,
  parameterViews,
  tanhBackward,
  type FloatArray,
  type Network,
  type ParameterViews,
} from './network';

/** ∂²L/∂y_j² of the mean squared error over the 10 outputs, (1/10)·Σ(y − t)²: the same for every output and target. */
export const OUTPUT_SECOND_DERIVATIVE = 2 / PARAMETER_SHAPES.outb[0];

const [H1_PLANES, H1_SIDE] = PARAMETER_SHAPES.H1b;

/**
 * Scratch of the second-derivative pass, allocated once: squared copies of what the gradient pass reads, and a
 * `…Second` buffer of ∂²L/∂(…)² beside each `…Grad` buffer of the network.
 */
export interface SecondDerivatives<A extends FloatArray> {
  /** The parameters squared; refresh with squareParameters() whenever the parameters change. */
  squaredParameters: A;
  squared: ParameterViews<A>;
  /** Per parameter, ∂²L/∂w² of the last example. */
  parameterSecond: A;
  second: ParameterViews<A>;
  inputPaddedSquared: A;
  h1PaddedSquared: A;
  h2Squared: A;
  h3Squared: A;
  outputSecond: A;
  outSumSecond: A;
  h3Second: A;
  h3SumSecond: A;
  h2Second: A;
  h2SumSecond: A;
  h1PaddedSecond: A;
  h1Second: A;
  h1SumSecond: A;
}

export function createSecondDerivatives<A extends FloatArray>(
  ArrayType: { new (length: number): A },
  net: Network<FloatArray>,
): SecondDerivatives<A> {
  const like = (buffer: FloatArray) => new ArrayType(buffer.length);
  const squaredParameters = new ArrayType(PARAMETER_COUNT);
  const parameterSecond = new ArrayType(PARAMETER_COUNT);
  return {
    squaredParameters,
    squared: parameterViews(squaredParameters),
    parameterSecond,
    second: parameterViews(parameterSecond),
    inputPaddedSquared: like(net.inputPadded),
    h1PaddedSquared: like(net.h1Padded),
    h2Squared: like(net.h2),
    h3Squared: like(net.h3),
    outputSecond: like(net.output).fill(OUTPUT_SECOND_DERIVATIVE) as A,
    outSumSecond: like(net.outSum),
    h3Second: like(net.h3),
    h3SumSecond: like(net.h3Sum),
    h2Second: like(net.h2),
    h2SumSecond: like(net.h2Sum),
    h1PaddedSecond: like(net.h1Padded),
    h1Second: like(net.h1),
    h1SumSecond: like(net.h1Sum),
  };
}

function square(source: FloatArray, target: FloatArray): void {
  for (let i = 0; i < source.length; i++) target[i] = source[i]! * source[i]!;
}

export function squareParameters<A extends FloatArray>(net: Network<FloatArray>, sd: SecondDerivatives<A>): void {
  square(net.parameters, sd.squaredParameters);
}

/** ∂²L/∂a² = f'(a)² · ∂²L/∂y²: tanhBackward's multiplication by f'(a) = 1 − y², twice (in place is safe). */
function tanhBackwardSecond(output: FloatArray, outputSecond: FloatArray, inputSecond: FloatArray): void {
  tanhBackward(output, outputSecond, inputSecond);
  tanhBackward(output, inputSecond, inputSecond);
}

/**
 * From the forward buffers of `net` (after forward() of one example) to the Gauss–Newton diagonal ∂²L/∂w² of every
 * parameter in `sd.parameterSecond`, in backward()'s order. `sd.squaredParameters` must hold the current parameters
 * squared. Nothing depends on the target: the Gauss–Newton approximation drops the residual.
 */
export function backwardSecondDerivatives<A extends FloatArray>(net: Network<FloatArray>, sd: SecondDerivatives<A>): void {
  const { squared, second } = sd;
  tanhBackwardSecond(net.output, sd.outputSecond, sd.outSumSecond);
  square(net.h3, sd.h3Squared);
  linearBackward(sd.h3Squared, squared.outw, sd.outSumSecond, second.outw, second.outb, sd.h3Second);
  tanhBackwardSecond(net.h3, sd.h3Second, sd.h3SumSecond);
  square(net.h2, sd.h2Squared);
  linearBackward(sd.h2Squared, squared.H3w, sd.h3SumSecond, second.H3w, second.H3b, sd.h2Second);
  tanhBackwardSecond(net.h2, sd.h2Second, sd.h2SumSecond);
  square(net.h1Padded, sd.h1PaddedSquared);
  convBackwardParameters(H2_GEOMETRY, sd.h1PaddedSquared, sd.h2SumSecond, second.H2w, second.H2b);
  convBackwardInput(H2_GEOMETRY, squared.H2w, sd.h2SumSecond, sd.h1PaddedSecond);
  padBackward(sd.h1PaddedSecond, H1_PLANES, H1_SIDE, sd.h1Second);
  tanhBackwardSecond(net.h1, sd.h1Second, sd.h1SumSecond);
  square(net.inputPadded, sd.inputPaddedSquared);
  convBackwardParameters(H1_GEOMETRY, sd.inputPaddedSquared, sd.h1SumSecond, second.H1w, second.H1b);
}
