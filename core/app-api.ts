/**
 * The one API object the renderer talks to: the engine's requests and events, plus the few things only the host
 * can do with files. The Electron preload and the browser-mode client both provide exactly this interface, so no
 * component or store knows which host it runs in.
 *
 * File picking lives in the host, not in a request, because the renderer is untrusted: it never names a path.
 * In Electron the main process shows the native dialog and reads the chosen files itself; in a browser the
 * host shows a file input and sends the bytes.
 */
import type { EngineApi, ExportFormat, Result } from './protocol';

export type HostKind = 'electron' | 'browser';

/** Commands the host's application menu sends to the renderer. */
export const MENU_COMMANDS = ['load-mnist', 'load-usps', 'import-weights', 'export-weights', 'export-onnx', 'about'] as const;
export type MenuCommand = (typeof MENU_COMMANDS)[number];

export interface AboutInfo {
  appVersion: string;
  engineVersion: string;
  /** Present in Electron only. */
  electronVersion: string | null;
  nodeVersion: string | null;
  chromeVersion: string | null;
}

export interface AppApi extends EngineApi {
  readonly host: HostKind;
  /** Lets the user choose the four MNIST files (raw or .gz) and imports them; null if the user cancelled. */
  importMnistWithDialog(): Promise<Result<'importMnist'> | null>;
  /**
   * Lets the user choose the two USPS files (zip.train and zip.test, raw or .gz, or LIBSVM's usps and usps.t) and
   * imports them; null if the user cancelled.
   */
  importUspsWithDialog(): Promise<Result<'importUsps'> | null>;
  /** Lets the user choose a safetensors file and imports it as a new model; null if the user cancelled. */
  importWeightsWithDialog(): Promise<Result<'importWeights'> | null>;
  /**
   * Exports a checkpoint in `format` (safetensors weights, or an ONNX model) and lets the user choose where to save
   * it; false if the user cancelled.
   */
  exportWeightsWithDialog(checkpointId: number, format: ExportFormat): Promise<boolean>;
  /** Commands from the application menu; returns the function that unsubscribes. */
  onMenuCommand(listener: (command: MenuCommand) => void): () => void;
  about(): Promise<AboutInfo>;
}
