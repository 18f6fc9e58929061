import { defineStore } from 'pinia';
import { ref } from 'vue';

export interface Question {
  title: string;
  message: string;
  confirmLabel: string;
  /** A destructive action gets a warning-coloured button. */
  danger: boolean;
}

/** The one modal question the app may be asking; ConfirmDialog shows it and answers through `answer`. */
export const useDialogsStore = defineStore('dialogs', () => {
  const question = ref<Question | null>(null);
  let settle: ((confirmed: boolean) => void) | null = null;

  function confirm(asked: Omit<Question, 'danger'> & { danger?: boolean }): Promise<boolean> {
    // A new question replaces one left open: the earlier asker hears "no".
    settle?.(false);
    question.value = { danger: false, ...asked };
    return new Promise((resolve) => {
      settle = resolve;
    });
  }

  function answer(confirmed: boolean): void {
    const resolve = settle;
    settle = null;
    question.value = null;
    resolve?.(confirmed);
  }

  return { question, confirm, answer };
});
