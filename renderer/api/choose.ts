import type { AppApi } from '../../core/app-api';
import { createBrowserApi } from './browser';

declare global {
  interface Window {
    /** Set by the Electron preload (contextBridge); absent in a browser. */
    readonly lecun1989?: AppApi;
  }
}

/** Electron's preload API when the page runs in the app, else the WebSocket client of browser mode. */
export function chooseApi(window: Window): AppApi {
  return window.lecun1989 ?? createBrowserApi(window.location);
}
