// Add to home screen: Chromium offers an install prompt through `beforeinstallprompt`,
// which we keep and show as a quiet "Install app" button; iOS Safari has no prompt, so
// people there get a short, dismissible hint instead.
import { appleMobile, standalone } from '../device.js';
import { getSetting, setSetting } from '../store.js';

let deferredPrompt = null;
const changes = new EventTarget();

function iosSafari() {
  const ua = navigator.userAgent;
  return appleMobile() && /Safari/.test(ua) && !/CriOS|FxiOS|EdgiOS|OPiOS/.test(ua);
}

// Call once at start-up: the event fires early, usually before Settings is open.
export function listenForInstall() {
  addEventListener('beforeinstallprompt', (event) => {
    event.preventDefault(); // no browser banner; the app offers the button where it fits
    deferredPrompt = event;
    changes.dispatchEvent(new Event('change'));
  });
  addEventListener('appinstalled', () => {
    deferredPrompt = null;
    changes.dispatchEvent(new Event('change'));
  });
}

async function draw(slot) {
  if (deferredPrompt) {
    slot.innerHTML = `
      <h2 id="install">Install</h2>
      <p class="small muted">Keep the app on your home screen; it opens full screen and works offline.</p>
      <button type="button" class="btn btn-block" id="install-app">Install app</button>`;
    slot.hidden = false;
    return;
  }
  if (iosSafari() && !standalone() && !(await getSetting('installHintDismissed', false))) {
    slot.innerHTML = `
      <h2 id="install">Install</h2>
      <div class="notice install-hint">
        <p>To keep the app on your home screen: tap Share, then Add to Home Screen.</p>
        <button type="button" class="btn btn-small" id="dismiss-install-hint">Got it</button>
      </div>`;
    slot.hidden = false;
    return;
  }
  slot.replaceChildren();
  slot.hidden = true;
}

// Renders into `slot` (a section of Settings) and keeps it current; returns a cleanup.
export function mountInstall(slot) {
  const redraw = () => draw(slot);
  slot.addEventListener('click', async (event) => {
    if (event.target.id === 'install-app' && deferredPrompt) {
      const prompt = deferredPrompt;
      deferredPrompt = null; // a prompt can be shown once
      await prompt.prompt();
      await prompt.userChoice?.catch(() => null);
      redraw();
    } else if (event.target.id === 'dismiss-install-hint') {
      await setSetting('installHintDismissed', true);
      redraw();
    }
  });
  changes.addEventListener('change', redraw);
  redraw();
  return () => changes.removeEventListener('change', redraw);
}
