/** Reading files a user named, which may be anything: their size is checked before any of them is read. */
import { readFileSync, statSync } from 'node:fs';

/**
 * The bytes of `path`, refused with `makeError(path, problem)` if it cannot be read or is larger than `maxBytes`:
 * the size is known from the file system before the file is read, so an oversized file is never loaded whole.
 */
export function readFileBounded(path: string, maxBytes: number, makeError: (file: string, problem: string) => Error): Buffer {
  let size: number;
  try {
    size = statSync(path).size;
  } catch (error) {
    throw makeError(path, `cannot read (${(error as Error).message})`);
  }
  if (size > maxBytes) throw makeError(path, `${size} bytes, more than the ${maxBytes} such a file can be`);
  try {
    return readFileSync(path);
  } catch (error) {
    throw makeError(path, `cannot read (${(error as Error).message})`);
  }
}
