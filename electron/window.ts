/**
 * The app's one window and the rules every web page in the app lives under, following Electron's security
 * checklist (https://www.electronjs.org/docs/latest/tutorial/security): an isolated, sandboxed renderer without
 * Node; no navigation away from the app's own page, no new windows, no <webview>; no permission prompts; and no
 * request to the network at all, since everything the app shows is on disk.
 *
 * The Content-Security-Policy cannot come from here: Chromium reads no response headers for file:// pages, so it
 * is the <meta> tag in renderer/index.html (core/content-security-policy.ts has the policy).
 */
import { BrowserWindow, type Session, type WebContents, type WebPreferences } from 'electron';
import { pathToFileURL } from 'node:url';

export function securePreferences(preload: string): WebPreferences {
  return {
    preload,
    contextIsolation: true,
    sandbox: true,
    nodeIntegration: false,
    nodeIntegrationInWorker: false,
    nodeIntegrationInSubFrames: false,
    webSecurity: true,
    allowRunningInsecureContent: false,
    experimentalFeatures: false,
    webviewTag: false,
    // Dropping MNIST files onto the page is handled by the page; a drop anywhere else must not open the file.
    navigateOnDragDrop: false,
    spellcheck: false,
  };
}

/** The page's address without query or fragment: what a frame of ours must be showing. */
export function pageAddress(url: string): string {
  const parsed = new URL(url);
  parsed.search = '';
  parsed.hash = '';
  return parsed.href;
}

export function appPageUrl(indexHtml: string): string {
  return pathToFileURL(indexHtml).href;
}

/** Applies to every WebContents the app creates, so nothing escapes by opening a second one. */
export function confineWebContents(contents: WebContents, appUrl: string): void {
  const stayHome = (event: { preventDefault(): void }, url: string) => {
    if (pageAddress(url) !== appUrl) event.preventDefault();
  };
  contents.on('will-navigate', (event, url) => stayHome(event, url));
  contents.on('will-frame-navigate', (event) => stayHome(event, event.url));
  contents.on('will-redirect', (event) => event.preventDefault());
  contents.on('will-attach-webview', (event) => event.preventDefault());
  contents.setWindowOpenHandler(() => ({ action: 'deny' }));
}

const NETWORK_URLS = ['http://*/*', 'https://*/*', 'ws://*/*', 'wss://*/*', 'ftp://*/*'];

export function confineSession(session: Session): void {
  session.webRequest.onBeforeRequest({ urls: NETWORK_URLS }, (_details, callback) => callback({ cancel: true }));
  session.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
  session.setPermissionCheckHandler(() => false);
}

export function createMainWindow(options: { preload: string; indexHtml: string; title: string }): BrowserWindow {
  const window = new BrowserWindow({
    width: 1280,
    height: 860,
    minWidth: 900,
    minHeight: 600,
    title: options.title,
    show: false,
    webPreferences: securePreferences(options.preload),
  });
  window.once('ready-to-show', () => window.show());
  void window.loadFile(options.indexHtml);
  return window;
}
