import type { AppApi } from '../../core/app-api';
import { fromBridgedError } from '../../core/bridged-error';
import { createBrowserApi } from './browser';

declare global {
  interface Window {
    /** Set by the Electron preload (contextBridge); absent in a browser. */
    readonly lecun1989?: AppApi;
  }
}

/** The methods that subscribe and answer at once with an unsubscribe function, rather than a promise. */
const SUBSCRIPTIONS = new Set(['onEvent', 'onMenuCommand']);

/**
 * Electron's contextBridge keeps only the message of a rejected Error; the preload puts the error code into it.
 * This turns such rejections back into EngineErrors, so that stores see the same errors in both hosts.
 */
export function withEngineErrors(bridged: AppApi): AppApi {
  const api: Record<string, unknown> = {};
  for (const [name, member] of Object.entries(bridged)) {
    if (typeof member !== 'function' || SUBSCRIPTIONS.has(name)) {
      api[name] = member;
      continue;
    }
    api[name] = async (...args: unknown[]) => {
      try {
        return await (member as (...args: unknown[]) => Promise<unknown>)(...args);
      } catch (error) {
        throw fromBridgedError(error);
      }
    };
  }
  return api as unknown as AppApi;
}

/** Electron's preload API when the page runs in the app, else the WebSocket client of browser mode. */
export function chooseApi(window: Window): AppApi {
  return window.lecun1989 !== undefined ? withEngineErrors(window.lecun1989) : createBrowserApi(window.location);
}
