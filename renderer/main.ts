import { createPinia } from 'pinia';
import { createApp } from 'vue';
import { z } from 'zod';
import { API_KEY } from './api/key';
import { chooseApi } from './api/choose';
import App from './App.vue';
import './styles/main.css';

// zod would probe `new Function` for speed; the Content-Security-Policy forbids eval, so it is told not to try.
z.config({ jitless: true });

const app = createApp(App);
app.provide(API_KEY, chooseApi(window));
app.use(createPinia());
app.mount('#app');
