// Dark by default; light or the device's choice on request. A localStorage mirror of the
// setting lets the page paint in the right theme before IndexedDB has answered.
import { setSetting } from '../store.js';

const KEY = 'crg-theme';
const systemLight = matchMedia('(prefers-color-scheme: light)');

export const currentTheme = () => localStorage.getItem(KEY) || 'dark';

function paint(theme) {
  const resolved = theme === 'system' ? (systemLight.matches ? 'light' : 'dark') : theme;
  document.documentElement.dataset.theme = resolved;
  const meta = document.querySelector('meta[name="theme-color"]');
  if (meta) meta.content = getComputedStyle(document.body).backgroundColor;
}

export function applyStoredTheme() {
  paint(currentTheme());
  systemLight.addEventListener('change', () => paint(currentTheme()));
}

export async function setTheme(theme) {
  localStorage.setItem(KEY, theme);
  paint(theme);
  await setSetting('theme', theme).catch(() => {});
}
