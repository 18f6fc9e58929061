/**
 * Wiring for the renderer's tests: a Pinia with the fake engine provided as the app's one AppApi, exactly as
 * main.ts provides the real one, and mount options that give a component the same.
 */
import { flushPromises, mount } from '@vue/test-utils';
import { createPinia, setActivePinia, type Pinia } from 'pinia';
import { createApp, type Component } from 'vue';
import { API_KEY } from '../../renderer/api/key';
import { FakeEngine } from './fake-engine';

export interface Harness {
  engine: FakeEngine;
  pinia: Pinia;
  /** Mounts `component` in an app with this harness's Pinia and api. */
  mount<C extends Component>(component: C, props?: Record<string, unknown>): ReturnType<typeof mount>;
}

export function createHarness(engine = new FakeEngine()): Harness {
  const pinia = createPinia();
  // Stores inject the api from the app Pinia is installed in; a bare app stands in until a component mounts.
  const app = createApp({});
  app.provide(API_KEY, engine.api);
  app.use(pinia);
  setActivePinia(pinia);
  return {
    engine,
    pinia,
    mount: (component, props) =>
      mount(component as Component, { props, global: { plugins: [pinia], provide: { [API_KEY as symbol]: engine.api } } }),
  };
}

export { flushPromises };
