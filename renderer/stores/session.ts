import { defineStore } from 'pinia';
import { ref } from 'vue';
import type { AboutInfo, MenuCommand } from '../../core/app-api';
import type { ExportFormat, Result } from '../../core/protocol';
import { useApi } from '../api/key';
import { describeError } from '../errors';
import { useDatasetsStore } from './datasets';
import { useInspectStore } from './inspect';
import { useRunsStore } from './runs';
import { useSweepsStore } from './sweeps';
import { useTrainingStore } from './training';

export const VIEWS = ['data', 'train', 'sweeps', 'runs', 'inspect'] as const;
export type View = (typeof VIEWS)[number];

export interface Notice {
  id: number;
  kind: 'error' | 'info';
  text: string;
}

/**
 * The app as a whole: which view is open, the engine service's state and what it reported, the host's menu. It
 * starts the other stores and refreshes them when the service comes back after a restart.
 */
export const useSessionStore = defineStore('session', () => {
  const api = useApi();
  const datasets = useDatasetsStore();
  const runs = useRunsStore();
  const training = useTrainingStore();
  const inspect = useInspectStore();
  const sweeps = useSweepsStore();

  const host = api.host;
  const view = ref<View>('data');
  const info = ref<Result<'getServiceInfo'> | null>(null);
  const notices = ref<Notice[]>([]);
  const about = ref<AboutInfo | null>(null);
  let nextNoticeId = 1;
  let started = false;

  function notify(kind: Notice['kind'], text: string): void {
    notices.value = [...notices.value, { id: nextNoticeId++, kind, text }];
  }

  function dismiss(id: number): void {
    notices.value = notices.value.filter((notice) => notice.id !== id);
  }

  /** Everything the views show, read afresh from the service. */
  async function refreshAll(): Promise<void> {
    try {
      info.value = await api.getServiceInfo();
    } catch (error) {
      notify('error', describeError(error));
    }
    await Promise.all([datasets.refresh(), runs.refresh(), sweeps.refresh()]);
    const watched = info.value?.activeRunId ?? training.runId ?? runs.runs[0]?.id ?? null;
    if (watched !== null) await training.watch(watched);
  }

  async function onMenuCommand(command: MenuCommand): Promise<void> {
    switch (command) {
      case 'load-mnist':
      case 'load-usps':
        view.value = 'data';
        await datasets.importWithDialog(command === 'load-usps' ? 'usps' : 'mnist');
        return;
      case 'import-weights': {
        view.value = 'runs';
        const imported = await runs.importWeightsWithDialog();
        if (imported !== null) inspect.setModel({ id: imported.checkpointId, runId: imported.run.id, pass: 0 });
        return;
      }
      case 'export-weights':
        await exportCurrentModel('safetensors');
        return;
      case 'export-onnx':
        await exportCurrentModel('onnx');
        return;
      case 'about':
        await showAbout();
        return;
    }
  }

  /**
   * The menu's "Export weights…" and "Export ONNX model…": the model being inspected, else the newest checkpoint of
   * the selected run.
   */
  async function exportCurrentModel(format: ExportFormat): Promise<void> {
    const model = inspect.model;
    if (model !== null) {
      await runs.exportCheckpoint({ id: model.checkpointId, runId: model.runId, pass: model.pass }, format);
      return;
    }
    const runId = runs.selectedId ?? training.runId;
    const last = runId === null ? undefined : (await runs.loadCheckpoints(runId))?.at(-1);
    view.value = 'runs';
    if (last === undefined) notify('info', 'Choose a run with a checkpoint to export, on the Runs view.');
    else await runs.exportCheckpoint(last, format);
  }

  async function showAbout(): Promise<void> {
    try {
      about.value = await api.about();
    } catch (error) {
      notify('error', describeError(error));
    }
  }

  /** Subscribes to the service and the menu, then loads everything; call once, when the app mounts. */
  async function start(): Promise<void> {
    if (started) return;
    started = true;
    api.onEvent((event) => {
      if (event.event === 'serviceError') {
        notify('error', `The engine service reported a problem (${event.data.code}): ${event.data.message}`);
      } else if (event.event === 'ready') {
        // The first 'ready' may just be the service starting with the app; a later one follows a crash.
        if (info.value !== null) notify('info', 'The engine service restarted.');
        const interrupted = event.data.interruptedRunIds;
        if (interrupted.length > 0) {
          const which = interrupted.map((id) => `#${id}`).join(', ');
          notify('info', `Interrupted: run ${which}. Resume it on the Train or Runs view; it continues from its last finished pass.`);
        }
        void refreshAll();
      }
    });
    api.onMenuCommand((command) => void onMenuCommand(command));
    await refreshAll();
    view.value = datasets.datasets.length === 0 ? 'data' : 'train';
  }

  return { host, view, info, notices, about, notify, dismiss, refreshAll, start, showAbout, onMenuCommand };
});
