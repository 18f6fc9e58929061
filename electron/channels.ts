/**
 * The IPC channels between the preload and the main process: one per engine request (so each has its own
 * ipcMain.handle and nothing else), one per host action, and two that only the main process sends on.
 */
import type { Method, ProtocolError } from '../core/protocol';

export function engineChannel(method: Method): string {
  return `lecun1989:engine:${method}`;
}

export const HOST_CHANNELS = {
  importMnistWithDialog: 'lecun1989:host:import-mnist-with-dialog',
  importUspsWithDialog: 'lecun1989:host:import-usps-with-dialog',
  importWeightsWithDialog: 'lecun1989:host:import-weights-with-dialog',
  exportWeightsWithDialog: 'lecun1989:host:export-weights-with-dialog',
  about: 'lecun1989:host:about',
} as const;

/** Main -> renderer: every engine event, including the supervisor's serviceError after a crash. */
export const EVENT_CHANNEL = 'lecun1989:event';
/** Main -> renderer: a command from the application menu. */
export const MENU_COMMAND_CHANNEL = 'lecun1989:menu-command';

/**
 * What an invoke answers. Errors travel as values, not as rejections, because Electron reduces a rejected
 * handler to a generic "Error invoking remote method" message and loses the protocol's error code.
 */
export type IpcOutcome<T = unknown> = { ok: true; result: T } | { ok: false; error: ProtocolError };
