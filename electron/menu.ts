/**
 * The application menu. Its file items only tell the renderer which command was chosen: the renderer knows the
 * context (which checkpoint is selected for export, whether an import is already running) and calls the host's
 * dialog methods itself.
 */
import { Menu, type MenuItemConstructorOptions } from 'electron';
import type { MenuCommand } from '../core/app-api';

export function applicationMenu(send: (command: MenuCommand) => void, platform: NodeJS.Platform = process.platform): Menu {
  const item = (label: string, command: MenuCommand, accelerator?: string): MenuItemConstructorOptions => ({
    label,
    click: () => send(command),
    ...(accelerator === undefined ? {} : { accelerator }),
  });
  const template: MenuItemConstructorOptions[] = [
    ...(platform === 'darwin' ? [{ role: 'appMenu' } as const] : []),
    {
      label: 'File',
      submenu: [
        item('Load MNIST files…', 'load-mnist', 'CmdOrCtrl+O'),
        item('Load USPS files…', 'load-usps', 'CmdOrCtrl+Shift+O'),
        { type: 'separator' },
        item('Import weights…', 'import-weights', 'CmdOrCtrl+I'),
        item('Export weights…', 'export-weights', 'CmdOrCtrl+E'),
        item('Export ONNX model…', 'export-onnx', 'CmdOrCtrl+Shift+E'),
        { type: 'separator' },
        { role: 'quit' },
      ],
    },
    { role: 'editMenu' },
    { role: 'viewMenu' },
    { label: 'Help', submenu: [item('About lecun1989', 'about')] },
  ];
  return Menu.buildFromTemplate(template);
}
