/**
 * Files in a browser: reading the ones the user gave (file input, drag and drop), asking for some, and saving bytes
 * as a download. Nothing here names a path; the browser only ever hands over contents.
 */
import { bytesToBase64 } from '../../core/protocol';

/** What a File offers that the app needs, so tests can pass plain objects. */
export interface NamedFile {
  readonly name: string;
  readonly size: number;
  arrayBuffer(): Promise<ArrayBuffer>;
}

export async function readAsBase64(file: NamedFile): Promise<{ name: string; base64: string }> {
  return { name: file.name, base64: bytesToBase64(new Uint8Array(await file.arrayBuffer())) };
}

/** Opens the browser's file chooser; null when the user cancels it. */
export function pickFiles(options: { multiple: boolean; accept?: string }): Promise<File[] | null> {
  return new Promise((resolve) => {
    const input = document.createElement('input');
    input.type = 'file';
    input.multiple = options.multiple;
    if (options.accept !== undefined) input.accept = options.accept;
    input.addEventListener('change', () => resolve(input.files !== null && input.files.length > 0 ? [...input.files] : null), { once: true });
    input.addEventListener('cancel', () => resolve(null), { once: true });
    input.click();
  });
}

/** Hands `bytes` to the browser as a download named `fileName`. */
export function downloadBytes(fileName: string, bytes: Uint8Array, type = 'application/octet-stream'): void {
  const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type }));
  const link = document.createElement('a');
  link.href = url;
  link.download = fileName;
  link.click();
  // Revoking at once can cancel a download the browser has not started reading yet.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
