/**
 * The published figures every run is read against: what the 1989 paper reported after 23 passes, and the final
 * values the public PyTorch reproduction published. One definition for the CLI's table and the app's.
 */
export interface ReferenceSplit {
  loss: number;
  errorPercent: number;
  misses: number;
}

export interface ReferenceResult {
  label: string;
  passes: number;
  train: ReferenceSplit;
  test: ReferenceSplit;
}

/** LeCun et al. 1989, on the USPS digits: 7,291 training and 2,007 test examples. */
export const PAPER_1989: ReferenceResult = {
  label: '1989 paper',
  passes: 23,
  train: { loss: 2.5e-3, errorPercent: 0.14, misses: 10 },
  test: { loss: 1.8e-2, errorPercent: 5.0, misses: 102 },
};

/** The public PyTorch reproduction (SGD 0.03, MSE, tanh) on its own draw of MNIST, as its README prints pass 23. */
export const PUBLIC_REPRODUCTION: ReferenceResult = {
  label: 'public PyTorch reproduction',
  passes: 23,
  train: { loss: 4.073383e-3, errorPercent: 0.62, misses: 45 },
  test: { loss: 2.838382e-2, errorPercent: 4.09, misses: 82 },
};

export const REFERENCE_RESULTS: readonly ReferenceResult[] = [PAPER_1989, PUBLIC_REPRODUCTION];
