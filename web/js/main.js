// The app's entry: one shell page, screens swapped by path with the History API.
import { getSetting, setSetting } from './store.js';
import { applyUpdate, registerServiceWorker } from './sw-client.js';
import { findSaved, getRoutines } from './api.js';
import { activeRest } from './player.js';
import { saveLeftOverRest } from './rests.js';
import { startAutoSync } from './sync.js';
import { applyStoredTheme } from './ui/theme.js';
import { defaultChoice } from './ui/choice.js';
import { saveChoiceForOffline } from './ui/save-tracker.js';
import * as home from './ui/home.js';
import * as setup from './ui/setup-guide.js';
import * as play from './ui/player-screen.js';
import * as after from './ui/after.js';
import * as learn from './ui/learn.js';
import * as downloads from './ui/downloads.js';
import * as historyScreen from './ui/history.js';
import * as settings from './ui/settings.js';
import { listenForInstall } from './ui/install.js';

applyStoredTheme();
listenForInstall(); // before anything async: the browser may offer the prompt right away

const ROUTES = {
  '/': home, '/setup': setup, '/play': play, '/after': after,
  '/learn': learn, '/downloads': downloads, '/history': historyScreen, '/settings': settings,
};
const root = document.getElementById('main');
const state = {}; // shared between screens: routines, choice, script, before_rating, lastRest
let cleanup = null;
let renderId = 0;

function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  show({ focus: true });
}

async function show({ focus = false } = {}) {
  const id = ++renderId;
  const path = location.pathname.replace(/\/+$/, '') || '/';
  const screen = ROUTES[path] ?? home;
  try { cleanup?.(); } catch (error) { console.error(error); }
  cleanup = null;
  document.body.classList.remove('immersive');
  for (const tab of document.querySelectorAll('.tabbar a')) {
    if (tab.dataset.tab === path) tab.setAttribute('aria-current', 'page');
    else tab.removeAttribute('aria-current');
  }
  document.title = screen.title === 'Home' ? 'Constructive Rest Guide' : `${screen.title} · Constructive Rest Guide`;
  root.replaceChildren();
  const ctx = { state, navigate, isCurrent: () => id === renderId };
  const done = screen.render(root, ctx);
  const target = location.hash && document.getElementById(location.hash.slice(1));
  if (target) target.scrollIntoView();
  else scrollTo(0, 0);
  // Move focus to the new heading so screen readers hear the change of screen.
  if (focus) root.querySelector('h1')?.focus({ preventScroll: Boolean(target) });
  const result = await Promise.resolve(done).catch((error) => { console.error(error); });
  if (id === renderId) cleanup = typeof result === 'function' ? result : null;
  else if (typeof result === 'function') result();
}

document.addEventListener('click', (event) => {
  const link = event.target.closest('a[href]');
  if (!link || event.defaultPrevented || event.button !== 0 || link.target || link.hasAttribute('download')
      || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const url = new URL(link.href);
  if (url.origin !== location.origin || !(url.pathname in ROUTES)) return;
  if (url.pathname === location.pathname && url.hash) return; // an anchor on this page
  event.preventDefault();
  navigate(url.pathname + url.hash);
});
addEventListener('popstate', () => show({ focus: true }));

// Online/offline shown quietly in the top bar.
const offlinePill = document.getElementById('offline-pill');
const markOnline = () => { offlinePill.hidden = navigator.onLine; };
addEventListener('online', markOnline);
addEventListener('offline', markOnline);
markOnline();

// A new version waits until no rest is in progress; the person chooses when to reload.
const updateButton = document.getElementById('update-button');
updateButton.addEventListener('click', () => { if (!activeRest()) applyUpdate(); });
try {
  registerServiceWorker()?.addEventListener('update-ready', () => { updateButton.hidden = false; });
} catch (error) {
  console.warn('Service worker unavailable', error);
}

// On the first visit the default session is saved for offline, so the app works on the floor
// even if the person never visits the downloads screen.
async function saveDefaultOnce() {
  if (!navigator.onLine || await getSetting('defaultSaved')) return;
  const routines = await getRoutines();
  const routine = routines.find((r) => r.id === 'classic') ?? routines[0];
  const choice = defaultChoice(routine);
  if (!(await findSaved(choice))) await saveChoiceForOffline(choice);
  await setSetting('defaultSaved', true);
}

show();
saveLeftOverRest().catch((error) => console.warn('Could not save the last rest', error));
// History sync: now, when back online, when the app is visible again, after each change
// to a rest (recordChange schedules it), and every few minutes while open.
startAutoSync();
saveDefaultOnce().catch((error) => console.warn('Could not save the default session', error));
// Loaded after the first screen, off the path to an interactive Home.
import('./reminders.js').then((reminders) => reminders.keepReminderCurrent())
  .catch((error) => console.warn('Could not bring the reminder up to date', error));
