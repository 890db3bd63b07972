// After the rest: a short check-in, saved on the device (the rest itself is already saved).
import { listRests, saveRest, withCheckIn } from '../rests.js';
import { clock, esc } from './dom.js';
import { ratingField, wireRating } from './rating.js';

export const title = 'Check-in';

export async function render(root, ctx) {
  const rest = ctx.state.lastRest ?? (await listRests().catch(() => []))[0];
  if (!ctx.isCurrent()) return;
  if (!rest) {
    root.innerHTML = `<h1 tabindex="-1">Check-in</h1>
      <p class="notice">There's no rest to check in yet.</p>
      <a class="btn btn-primary btn-block" href="/">Go to Home</a>`;
    return;
  }
  const hasBefore = Number.isInteger(rest.before_rating);
  root.innerHTML = `
  <h1 tabindex="-1">${rest.completed ? 'Welcome back' : 'Rest ended early'}</h1>
  <p class="lead">${esc(rest.title)} · you rested ${esc(clock(rest.actual_s))}${rest.completed ? '' : ` of ${esc(clock(rest.planned_s))}`}.</p>
  <p>Take your time getting up: roll onto one side first, then come up slowly.</p>
  <form class="card" id="check-in" novalidate>
    ${hasBefore ? '' : ratingField('before-rating', 'Before the rest, how did your low back feel?')}
    ${ratingField('after-rating', 'How does your low back feel now?', rest.after_rating)}
    ${hasBefore ? `<p class="small muted" id="before-shown">Before the rest: ${rest.before_rating}/10</p>` : ''}
    <div class="field">
      <label class="label" for="note">Anything you noticed? <span class="hint">Optional</span></label>
      <textarea id="note" maxlength="1000">${esc(rest.note)}</textarea>
    </div>
    <div class="btn-row">
      <button type="submit" class="btn btn-primary">Save</button>
      <a class="btn" href="/" id="done">Done</a>
    </div>
    <p class="small muted" id="save-status" role="status"></p>
  </form>`;

  const readBefore = hasBefore ? () => rest.before_rating : wireRating(root, 'before-rating');
  const readAfter = wireRating(root, 'after-rating');
  const form = root.querySelector('#check-in');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const updated = withCheckIn(rest, {
      before_rating: readBefore(),
      after_rating: readAfter(),
      note: form.querySelector('#note').value,
    });
    try {
      await saveRest(updated);
      ctx.state.lastRest = null;
      ctx.navigate('/history');
    } catch (error) {
      form.querySelector('#save-status').textContent = `Could not save: ${error.message}`;
    }
  });
}
