/**
 * The Electron main process (bundled to dist/electron/main.cjs): one window on the built renderer, the engine
 * service in a supervised utilityProcess, the IPC handlers between them, and the application menu. It holds no
 * state worth testing beyond wiring; the service, the store and the renderer do the work.
 */
import { app, Menu, session, type BrowserWindow } from 'electron';
import { join } from 'node:path';
import { createEngineClient } from '../core/protocol';
import { superviseService } from '../core/service-supervisor';
import { EVENT_CHANNEL, MENU_COMMAND_CHANNEL } from './channels';
import { registerIpcHandlers } from './ipc';
import { applicationMenu } from './menu';
import { forkUtilityService } from './service-process';
import { appPageUrl, confineSession, confineWebContents, createMainWindow } from './window';

const APP_NAME = 'lecun1989';

// The same folder the CLI and browser mode use (core/store.ts, defaultDataDirectory), whatever product name an
// installer gives the app, so a run started in a terminal shows up here.
app.setPath('userData', join(app.getPath('appData'), APP_NAME));

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  const root = app.getAppPath();
  const preload = join(root, 'dist', 'electron', 'preload.cjs');
  const indexHtml = join(root, 'dist', 'renderer', 'index.html');
  const serviceEntry = join(root, 'dist', 'core', 'service.js');
  const databasePath = join(app.getPath('userData'), 'lecun1989.sqlite');
  const appUrl = appPageUrl(indexHtml);
  let window: BrowserWindow | null = null;

  const sendToPage = (channel: string, value: unknown) => {
    if (window !== null && !window.isDestroyed()) window.webContents.send(channel, value);
  };
  const openWindow = () => {
    window = createMainWindow({ preload, indexHtml, title: APP_NAME });
    window.on('closed', () => {
      window = null;
    });
  };

  app.on('web-contents-created', (_event, contents) => confineWebContents(contents, appUrl));
  app.on('second-instance', () => {
    if (window === null) return;
    if (window.isMinimized()) window.restore();
    window.focus();
  });
  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit();
  });

  void app.whenReady().then(() => {
    confineSession(session.defaultSession);
    const supervisor = superviseService({ spawn: () => forkUtilityService(serviceEntry, databasePath) });
    // Electron ends its child processes as soon as it quits, which would cut off the service while it records the
    // run in flight as interrupted and closes the database. So the first quit is held until the service has gone;
    // the quit that follows passes.
    let serviceStopping = false;
    let serviceStopped = false;
    app.on('before-quit', (event) => {
      if (serviceStopped) return;
      event.preventDefault();
      if (serviceStopping) return;
      serviceStopping = true;
      void supervisor.stop().then(() => {
        serviceStopped = true;
        app.quit();
      });
    });
    const engine = createEngineClient(supervisor, {
      onProtocolError: (problem) => process.stderr.write(`lecun1989: ${problem}\n`),
    });
    // Every event reaches the page, the supervisor's serviceError after a crash included.
    engine.onEvent((event) => sendToPage(EVENT_CHANNEL, event));

    registerIpcHandlers({
      engine,
      window: () => window,
      appUrl,
      documentsDir: () => app.getPath('documents'),
      about: async () => ({
        appVersion: app.getVersion(),
        engineVersion: await engine.getServiceInfo().then(
          (info) => info.engineVersion,
          () => 'unknown (the engine service is not running)',
        ),
        electronVersion: process.versions.electron ?? null,
        nodeVersion: process.versions.node,
        chromeVersion: process.versions.chrome ?? null,
      }),
    });
    Menu.setApplicationMenu(applicationMenu((command) => sendToPage(MENU_COMMAND_CHANNEL, command)));
    openWindow();
    app.on('activate', () => {
      if (window === null) openWindow();
    });
  });
}
