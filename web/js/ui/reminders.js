// The reminder, inside Settings: on or off, a time of day and the weekdays.
import {
  clearReminder, DEFAULT_TIME, EVERY_DAY, reminderSupport, savedReminder, setReminder,
} from '../reminders.js';
import { problemText } from './account.js';

const DAYS = [[1, 'Mon', 'Monday'], [2, 'Tue', 'Tuesday'], [3, 'Wed', 'Wednesday'],
  [4, 'Thu', 'Thursday'], [5, 'Fri', 'Friday'], [6, 'Sat', 'Saturday'], [7, 'Sun', 'Sunday']];

const WHY_NOT = {
  install: 'On iPhone and iPad, reminders work once the app is on your home screen: tap Share, then Add to Home Screen, and open it from there.',
  unsupported: 'This browser cannot show reminders. Most phone browsers can, once the app is installed.',
  blocked: 'Notifications are blocked for this app. Allow them in your browser’s site settings to get reminders.',
};

function nextText(saved) {
  if (!saved?.next_at) return '';
  const next = new Date(saved.next_at);
  const day = next.toLocaleDateString(undefined, { weekday: 'long' });
  const time = next.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  const today = next.toDateString() === new Date().toDateString();
  return `Next reminder ${today ? 'today' : `on ${day}`} at ${time}.`;
}

const html = (saved, support) => `
  <h2 id="reminders">Reminders</h2>
  <p class="small muted">A gentle nudge at the time you choose, even when the app is closed.</p>
  ${support === 'ok' ? '' : `<p class="notice" id="reminder-unavailable">${WHY_NOT[support]}</p>`}
  <label class="toggle"><input type="checkbox" id="reminder-on"${saved ? ' checked' : ''}${support === 'ok' ? '' : ' disabled'}> Remind me to rest</label>
  <div id="reminder-options"${saved ? '' : ' hidden'}>
    <div class="field">
      <label class="label" for="reminder-time">Time</label>
      <input class="input input-time" type="time" id="reminder-time" value="${saved?.time ?? DEFAULT_TIME}" required>
    </div>
    <fieldset>
      <legend>Days</legend>
      <div class="choices days">
        ${DAYS.map(([day, short, long]) => `<label class="choice day"><input type="checkbox" name="reminder-day" value="${day}"${(saved?.weekdays ?? EVERY_DAY).includes(day) ? ' checked' : ''}><span aria-hidden="true">${short}</span><span class="visually-hidden">${long}</span></label>`).join('')}
      </div>
    </fieldset>
  </div>
  <p class="small sync-status" id="reminder-status" role="status">${nextText(saved)}</p>
  <p class="form-error" role="alert" id="reminder-error" hidden></p>`;

// Renders into `slot` (a section of Settings) and handles its changes.
export async function mountReminders(slot) {
  const support = reminderSupport();
  slot.innerHTML = html(await savedReminder(), support);
  const toggle = slot.querySelector('#reminder-on');
  const options = slot.querySelector('#reminder-options');
  const status = slot.querySelector('#reminder-status');
  const errorLine = slot.querySelector('#reminder-error');
  let busy = Promise.resolve();

  const chosen = () => ({
    time: slot.querySelector('#reminder-time').value || DEFAULT_TIME,
    weekdays: [...slot.querySelectorAll('input[name="reminder-day"]:checked')].map((box) => Number(box.value)),
  });
  const showError = (message) => {
    errorLine.textContent = message;
    errorLine.hidden = !message;
  };

  // What is saved, shown again after a change that could not be saved.
  const showSaved = (saved) => {
    toggle.checked = Boolean(saved);
    options.hidden = !saved;
    status.textContent = saved ? nextText(saved) : '';
    if (!saved) return;
    slot.querySelector('#reminder-time').value = saved.time;
    for (const box of slot.querySelectorAll('input[name="reminder-day"]')) {
      box.checked = saved.weekdays.includes(Number(box.value));
    }
  };

  // One change at a time, in order: a quick on-off-on must end as the last one says.
  const apply = () => {
    busy = busy.catch(() => {}).then(async () => {
      showError('');
      const on = toggle.checked;
      options.hidden = !on;
      try {
        if (!on) {
          await clearReminder();
          status.textContent = 'Reminders are off.';
          return;
        }
        const { time, weekdays } = chosen();
        if (!weekdays.length) {
          showError('Choose at least one day.');
          return;
        }
        status.textContent = 'Saving…';
        status.textContent = nextText(await setReminder({ time, weekdays }));
      } catch (error) {
        showError(problemText(error));
        showSaved(await savedReminder().catch(() => null));
      }
    });
    return busy;
  };

  slot.addEventListener('change', (event) => {
    if (event.target === toggle || (toggle.checked && options.contains(event.target))) apply();
  });
}
