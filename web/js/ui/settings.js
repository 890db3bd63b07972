// Settings: theme, the set-up guide, history options, storage, reminders, install, and
// the account.
import { getSetting, setSetting } from '../store.js';
import { mountAccount } from './account.js';
import { esc } from './dom.js';
import { mountInstall } from './install.js';
import { currentTheme, setTheme } from './theme.js';

export const title = 'Settings';

const THEMES = [['dark', 'Dark'], ['light', 'Light'], ['system', 'Match device']];

export async function render(root, ctx) {
  const [skipGuide, showStreaks] = await Promise.all([
    getSetting('skipGuide', false), getSetting('showStreaks', false),
  ]);
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
    <label class="toggle"><input type="checkbox" id="show-streaks"${showStreaks ? ' checked' : ''}> Show streaks in History</label>
    <a class="link-row" href="/downloads">Saved sessions and storage</a>
    <a class="link-row" href="/learn#safety">Safety</a>
  </section>
  <section aria-labelledby="reminders" id="reminders-slot"></section>
  <section aria-labelledby="account" id="account-section">
    <h2 id="account">Account</h2>
    <div id="account-slot">
      <p class="muted">Your rests are kept on this device.</p>
    </div>
  </section>
  <section aria-labelledby="install" id="install-slot" hidden></section>
  <section aria-labelledby="about">
    <h2 id="about">About</h2>
    <p class="small muted">Constructive Rest Guide, version ${esc(document.documentElement.dataset.version)}. Relaxation and information, not medical advice.</p>
  </section>`;

  root.addEventListener('change', (event) => {
    if (event.target.name === 'theme') setTheme(event.target.value);
    if (event.target.id === 'show-guide') setSetting('skipGuide', !event.target.checked);
    if (event.target.id === 'show-streaks') setSetting('showStreaks', event.target.checked);
  });

  const stopInstall = mountInstall(root.querySelector('#install-slot'));
  // Its module loads with Settings, not with every start of the app.
  const { mountReminders } = await import('./reminders.js');
  await mountReminders(root.querySelector('#reminders-slot'));
  const stopAccount = await mountAccount(root.querySelector('#account-slot'), ctx);
  return () => { stopInstall(); stopAccount(); };
}
