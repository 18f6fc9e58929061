// A stand-in for the 'electron' module, for testing the main process and the preload in plain Node (vi.mock):
// the parts of Electron's API they use, recording what they were asked to do.
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { vi } from 'vitest';

export class FakeWebContents extends EventEmitter {
  readonly sent: [channel: string, value: unknown][] = [];
  windowOpenHandler: ((details: { url: string }) => { action: string }) | undefined;
  send(channel: string, value: unknown): void {
    this.sent.push([channel, value]);
  }
  setWindowOpenHandler(handler: (details: { url: string }) => { action: string }): void {
    this.windowOpenHandler = handler;
  }
}

export class FakeBrowserWindow extends EventEmitter {
  static readonly instances: FakeBrowserWindow[] = [];
  readonly webContents = new FakeWebContents();
  loadedFile: string | undefined;
  destroyed = false;
  constructor(readonly options: { webPreferences?: Record<string, unknown> } & Record<string, unknown>) {
    super();
    FakeBrowserWindow.instances.push(this);
    fakeApp.emit('web-contents-created', {}, this.webContents);
  }
  loadFile(file: string): Promise<void> {
    this.loadedFile = file;
    return Promise.resolve();
  }
  isDestroyed(): boolean {
    return this.destroyed;
  }
  isMinimized(): boolean {
    return false;
  }
  restore(): void {}
  focus(): void {}
  show(): void {}
}

/** A utilityProcess child: records what it is sent; the test answers for the service. */
export class FakeUtilityChild extends EventEmitter {
  static readonly instances: FakeUtilityChild[] = [];
  static nextPid = 1000;
  readonly pid = FakeUtilityChild.nextPid++;
  readonly received: unknown[] = [];
  readonly stderr = new PassThrough();
  killed = false;
  constructor(
    readonly entry: string,
    readonly args: string[],
    readonly options: Record<string, unknown>,
  ) {
    super();
    FakeUtilityChild.instances.push(this);
  }
  postMessage(message: unknown): void {
    this.received.push(message);
    this.emit('posted', message);
  }
  kill(): boolean {
    this.killed = true;
    queueMicrotask(() => this.emit('exit', 0));
    return true;
  }
}

const paths: Record<string, string> = {
  appData: '/fake/config',
  documents: '/fake/documents',
  userData: '/fake/config/Electron',
};

export const fakeApp = Object.assign(new EventEmitter(), {
  getAppPath: () => '/fake/app',
  getPath: (name: string) => paths[name] ?? `/fake/${name}`,
  setPath: (name: string, value: string) => {
    paths[name] = value;
  },
  getVersion: () => '0.1.0',
  requestSingleInstanceLock: vi.fn(() => true),
  whenReady: () => Promise.resolve(),
  quit: vi.fn(),
  isPackaged: false,
});

export const ipcMainHandlers = new Map<string, (event: unknown, ...args: unknown[]) => unknown>();

export const sessionRecord = {
  beforeRequest: [] as { filter: { urls: string[] }; listener: (details: { url: string }, callback: (response: { cancel?: boolean }) => void) => void }[],
  permissionRequest: undefined as ((contents: unknown, permission: string, callback: (granted: boolean) => void) => void) | undefined,
  permissionCheck: undefined as ((...args: unknown[]) => boolean) | undefined,
};

export const menuRecord = { applied: undefined as { template: unknown[] } | undefined };

export const dialogMocks = {
  showOpenDialog: vi.fn(),
  showSaveDialog: vi.fn(),
};

/** What the preload exposed, and the renderer side of its IPC. */
export const bridgeRecord = { exposed: new Map<string, unknown>() };
export const ipcRendererMock = Object.assign(new EventEmitter(), { invoke: vi.fn() });

export const electronModule = {
  app: fakeApp,
  BrowserWindow: FakeBrowserWindow,
  ipcMain: {
    handle: (channel: string, handler: (event: unknown, ...args: unknown[]) => unknown) => {
      if (ipcMainHandlers.has(channel)) throw new Error(`second handler for ${channel}`);
      ipcMainHandlers.set(channel, handler);
    },
  },
  Menu: {
    buildFromTemplate: (template: unknown[]) => ({ template }),
    setApplicationMenu: (menu: { template: unknown[] }) => {
      menuRecord.applied = menu;
    },
  },
  dialog: dialogMocks,
  session: {
    defaultSession: {
      webRequest: {
        onBeforeRequest: (filter: { urls: string[] }, listener: (typeof sessionRecord.beforeRequest)[number]['listener']) =>
          sessionRecord.beforeRequest.push({ filter, listener }),
      },
      setPermissionRequestHandler: (handler: typeof sessionRecord.permissionRequest) => {
        sessionRecord.permissionRequest = handler;
      },
      setPermissionCheckHandler: (handler: typeof sessionRecord.permissionCheck) => {
        sessionRecord.permissionCheck = handler;
      },
    },
  },
  utilityProcess: {
    fork: (entry: string, args: string[], options: Record<string, unknown>) => new FakeUtilityChild(entry, args, options),
  },
  contextBridge: {
    exposeInMainWorld: (key: string, api: unknown) => bridgeRecord.exposed.set(key, api),
  },
  ipcRenderer: ipcRendererMock,
};
