import { inject, type InjectionKey } from 'vue';
import type { AppApi } from '../../core/app-api';

/** The one AppApi of the app, provided once at app creation (main.ts) and injected by the stores only. */
export const API_KEY: InjectionKey<AppApi> = Symbol('AppApi');

/** For Pinia setup stores: Pinia runs them inside the app's context, where the provided api is visible. */
export function useApi(): AppApi {
  const api = inject(API_KEY, null);
  if (api === null) throw new Error('no AppApi was provided: the app must provide(API_KEY, api) before a store is used');
  return api;
}
