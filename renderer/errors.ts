import type { Ref } from 'vue';
import { EngineError, type ErrorCode } from '../core/protocol';

/** What each failure means to the person at the screen; the service's own message says which file or field. */
const MEANING: Record<ErrorCode, string> = {
  bad_message: 'The engine could not read the request',
  version_mismatch: 'The app and the engine service are different versions',
  unknown_method: 'The engine service does not know this request',
  invalid_params: 'The engine refused the request',
  not_found: 'Not found',
  dataset_in_use: 'The dataset is used by runs',
  invalid_state: 'Not possible right now',
  bad_file: 'The file was not accepted',
  internal: 'The engine failed',
  disconnected: 'Lost the connection to the engine service',
};

/** One readable sentence for anything thrown by an API call. */
export function describeError(error: unknown): string {
  if (error instanceof EngineError) return `${MEANING[error.code]}: ${error.message}`;
  if (error instanceof Error) return error.message;
  return String(error);
}

/**
 * Runs one API call for a store: its result, or undefined with the readable failure left in `error` (cleared again
 * by the next call that succeeds), so a failed call never throws into a component and never clears what is shown.
 */
export async function attempt<T>(error: Ref<string | null>, call: () => Promise<T>): Promise<T | undefined> {
  try {
    const result = await call();
    error.value = null;
    return result;
  } catch (caught) {
    error.value = describeError(caught);
    return undefined;
  }
}
