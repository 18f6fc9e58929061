/**
 * The AppApi in browser mode: the engine protocol over a WebSocket to the server that served this page (`npm run
 * serve`), and the host's file dialogs done the browser's way (a file chooser that sends contents, a download).
 */
import type { AboutInfo, AppApi } from '../../core/app-api';
import { base64ToBytes, createEngineClient, type EngineEvent, type Transport } from '../../core/protocol';
import { version as appVersion } from '../../package.json';
import { downloadBytes, pickFiles, readAsBase64 } from './files';

/** The socket of the server that served the page, with the token its URL carries; null without a token. */
export function engineSocketUrl(location: { protocol: string; host: string; search: string }): string | null {
  const token = new URLSearchParams(location.search).get('token');
  if (token === null || token === '') return null;
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/api?token=${encodeURIComponent(token)}`;
}

/** The part of the DOM WebSocket this module uses, so tests can pass a fake. */
export interface SocketLike {
  readonly readyState: number;
  send(data: string): void;
  addEventListener(type: 'open' | 'close' | 'error', listener: () => void): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
}

const OPEN = 1;
const CONNECTING = 0;

/**
 * Sends JSON text; requests made before the socket opens wait for it, which lets the app issue its first calls
 * at once. A closed socket refuses to send, and the client turns that into a 'disconnected' error.
 */
export function socketTransport(socket: SocketLike, onClosed: () => void): Transport {
  const waiting: string[] = [];
  socket.addEventListener('open', () => {
    for (const text of waiting.splice(0)) socket.send(text);
  });
  socket.addEventListener('close', onClosed);
  return {
    send(message) {
      const text = JSON.stringify(message);
      if (socket.readyState === OPEN) socket.send(text);
      else if (socket.readyState === CONNECTING) waiting.push(text);
      else throw new Error('the connection to the server is closed');
    },
    onMessage(handler) {
      let attached = true;
      socket.addEventListener('message', (event) => {
        if (!attached || typeof event.data !== 'string') return;
        let message: unknown;
        try {
          message = JSON.parse(event.data);
        } catch {
          console.warn('engine server sent text that is not JSON; ignored');
          return;
        }
        handler(message);
      });
      return () => {
        attached = false;
      };
    },
  };
}

/** The browser's file chooser, with the chosen files' contents ready to send; null when the user cancels it. */
async function chooseFiles(options: { multiple: boolean; accept?: string }): Promise<{ name: string; base64: string }[] | null> {
  const files = await pickFiles(options);
  return files === null ? null : Promise.all(files.map(readAsBase64));
}

const NO_TOKEN =
  'this page was opened without its access token: open the address that `npm run serve` printed (it ends in ?token=…)';
const CLOSED =
  'the connection to the engine server closed: if `npm run serve` stopped, start it again and open the address it prints';

export function createBrowserApi(
  location: { protocol: string; host: string; search: string },
  openSocket: (url: string) => SocketLike = (url) => new WebSocket(url),
): AppApi {
  const url = engineSocketUrl(location);
  // Events the page itself raises: the server going away cannot be reported by the server.
  const localListeners = new Set<(event: EngineEvent) => void>();
  const raise = (message: string) => {
    for (const listener of localListeners) listener({ event: 'serviceError', data: { code: 'disconnected', message } });
  };

  const closedTransport: Transport = {
    send: () => {
      throw new Error(NO_TOKEN);
    },
    onMessage: () => () => {},
  };
  let transport = closedTransport;
  if (url !== null) {
    transport = socketTransport(openSocket(url), () => {
      client.close(CLOSED);
      raise(CLOSED);
    });
  }
  const client = createEngineClient(transport, { onProtocolError: (problem) => console.warn(`engine protocol: ${problem}`) });

  const api: AppApi = {
    ...client,
    host: 'browser',
    onEvent(listener) {
      localListeners.add(listener);
      const unsubscribe = client.onEvent(listener);
      return () => {
        localListeners.delete(listener);
        unsubscribe();
      };
    },
    async importMnistWithDialog() {
      const files = await chooseFiles({ multiple: true });
      return files === null ? null : client.importMnist({ from: 'bytes', files });
    },
    async importUspsWithDialog() {
      const files = await chooseFiles({ multiple: true });
      return files === null ? null : client.importUsps({ from: 'bytes', files });
    },
    async importWeightsWithDialog() {
      const file = (await chooseFiles({ multiple: false, accept: '.safetensors' }))?.[0];
      return file === undefined ? null : client.importWeights(file);
    },
    async exportWeightsWithDialog(checkpointId, format) {
      // The service names the file after the run and pass, ending in the format's extension.
      const exported = await client.exportWeights({ checkpointId, format });
      downloadBytes(exported.fileName, base64ToBytes(exported.base64));
      return true;
    },
    // A browser page has no application menu.
    onMenuCommand: () => () => {},
    async about(): Promise<AboutInfo> {
      // The page is built from the same package.json that Electron's app.getVersion() reads, so both hosts show
      // the same version; the named import puts only that one field of package.json into the bundle.
      const info = await client.getServiceInfo();
      return { appVersion, engineVersion: info.engineVersion, electronVersion: null, nodeVersion: null, chromeVersion: null };
    },
  };
  return api;
}
