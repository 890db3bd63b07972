// Settings: theme, the set-up guide, storage, and the place where the account will live.
import { getSetting, setSetting } from '../store.js';
import { esc } from './dom.js';
import { currentTheme, setTheme } from './theme.js';

export const title = 'Settings';

const THEMES = [['dark', 'Dark'], ['light', 'Light'], ['system', 'Match device']];

export async function render(root, ctx) {
  const skipGuide = await getSetting('skipGuide', false);
  if (!ctx.isCurrent()) return;
  const theme = currentTheme();
  root.innerHTML = `
  <h1 tabindex="-1">Settings</h1>
  <section aria-labelledby="appearance">
    <h2 id="appearance">Appearance</h2>
    <fieldset>
      <legend>Theme</legend>
      <div class="choices choices-row">
        ${THEMES.map(([value, label]) => `<label class="choice"><input type="radio" name="theme" value="${value}"${value === theme ? ' checked' : ''}>${label}</label>`).join('')}
      </div>
    </fieldset>
    <p class="small muted">The player is always dark, to be easy on the eyes in a dim room.</p>
  </section>
  <section aria-labelledby="resting">
    <h2 id="resting">Resting</h2>
    <label class="toggle"><input type="checkbox" id="show-guide"${skipGuide ? '' : ' checked'}> Show the set-up guide before each rest</label>
    <a class="link-row" href="/downloads">Saved sessions and storage</a>
    <a class="link-row" href="/learn#safety">Safety</a>
  </section>
  <section aria-labelledby="account" id="account-section">
    <h2 id="account">Account</h2>
    <div id="account-slot">
      <p class="muted">Your rests are kept on this device. Signing in, to keep your history on all your devices, is coming soon.</p>
    </div>
  </section>
  <section aria-labelledby="about">
    <h2 id="about">About</h2>
    <p class="small muted">Constructive Rest Guide, version ${esc(document.documentElement.dataset.version)}. Relaxation and information, not medical advice.</p>
  </section>`;

  root.addEventListener('change', (event) => {
    if (event.target.name === 'theme') setTheme(event.target.value);
    if (event.target.id === 'show-guide') setSetting('skipGuide', !event.target.checked);
  });
}
