/**
 * What the renderer needs to know about the two kinds of dataset: MNIST, from which the 1989-style subset is drawn
 * anew for each seed, and USPS, the paper's own digits, whose published split no seed changes.
 */
import { USPS_SUBSET_SEED, type DatasetInfo, type DatasetKind } from '../core/protocol';
import { DEFAULT_SEED } from '../core/subset';

export const KIND_LABELS: Record<DatasetKind, string> = { mnist: 'MNIST', usps: 'USPS' };

/** A dataset in a list of choices: its name and kind, since a name need not say which it is. */
export function datasetLabel(dataset: Pick<DatasetInfo, 'name' | 'kind'>): string {
  return `${dataset.name} · ${KIND_LABELS[dataset.kind]}`;
}

/** The seed of the split shown in previews and used for imported models: MNIST's default draw, USPS's one split. */
export function splitSeed(kind: DatasetKind): number {
  return kind === 'usps' ? USPS_SUBSET_SEED : DEFAULT_SEED;
}

/**
 * USPS's published file names (core/usps.ts reads them; it cannot be imported here, it needs Node): zip.train and
 * zip.test, or LIBSVM's usps and usps.t, each possibly gzipped.
 */
const USPS_FILE_NAME = /^(?:zip\.(?:train|test)|usps(?:\.t)?)(?:\.gz)?$/i;

/** Files dropped on the page are USPS when every one bears a USPS name; anything else is taken for MNIST. */
export function kindOfFiles(names: readonly string[]): DatasetKind {
  return names.length > 0 && names.every((name) => USPS_FILE_NAME.test(name)) ? 'usps' : 'mnist';
}
