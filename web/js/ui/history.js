// History: figures, a calendar, the trend, and every rest kept on this device, editable.
import { deleteRest, listRests, onRestsChanged, updateRest } from '../rests.js';
import { summarize } from '../stats.js';
import { exportHistory } from '../export.js';
import { getSetting } from '../store.js';
import { clock, dateTime, esc, plural, toast } from './dom.js';
import { ratingField, wireRating } from './rating.js';
import { confirmDialog } from './confirm.js';
import { mountCalendar } from './history-calendar.js';
import { chartHtml } from './history-chart.js';

export const title = 'History';

function duration(minutes) {
  if (minutes < 60) return `${minutes} min`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

function change(value) {
  if (value === null) return '–';
  const rounded = Math.abs(value) < 0.05 ? 0 : value;
  return `${rounded > 0 ? '+' : rounded < 0 ? '−' : ''}${Math.abs(rounded).toFixed(1)}`;
}

function figuresHtml(stats, showStreaks) {
  const figure = (label, value, id) => `<div class="figure-cell"><dt>${esc(label)}</dt><dd id="${id}">${esc(value)}</dd></div>`;
  return `
  <dl class="figures">
    ${figure('This week', duration(stats.weekMinutes), 'week-minutes')}
    ${figure('This month', duration(stats.monthMinutes), 'month-minutes')}
    ${figure('Rests', String(stats.count), 'rest-count')}
    ${figure('Time resting', duration(stats.minutes), 'total-minutes')}
    ${figure('Average change', change(stats.averageChange), 'average-change')}
    ${showStreaks ? figure('Streak', `${plural(stats.streak.current, 'day', 'days')} (best ${stats.streak.best})`, 'streak') : ''}
  </dl>
  <p class="small muted">Average change is after minus before, on the 0–10 scale${stats.ratedCount ? `, over ${plural(stats.ratedCount, 'rated rest', 'rated rests')}` : ''}: below zero means easier after the rest.</p>`;
}

function restItem(rest) {
  const ratings = [rest.before_rating, rest.after_rating].map((r) => (Number.isInteger(r) ? r : '–'));
  const rated = ratings.some((r) => r !== '–');
  const when = dateTime(rest.started_at);
  return `
  <li class="list-item rest-item" data-id="${esc(rest.id)}">
    <div class="rest-row">
      <div class="list-item-main">
        <p class="list-item-title">${esc(rest.title)}</p>
        <p class="list-item-meta"><time datetime="${esc(rest.started_at)}">${esc(when)}</time> · ${esc(clock(rest.actual_s))} of ${esc(rest.minutes)} min</p>
        ${rated ? `<p class="list-item-meta">Low back: ${ratings[0]} before → ${ratings[1]} after</p>` : ''}
        ${rest.note ? `<p class="list-item-note">${esc(rest.note)}</p>` : ''}
        ${rest.sync_error ? `<p class="list-item-meta">Not synced: ${esc(rest.sync_error)}</p>` : ''}
      </div>
      <div class="rest-side">
        <span class="tag${rest.completed ? ' tag-done' : ''}">${rest.completed ? 'Completed' : 'Partial'}</span>
        <button type="button" class="btn btn-small btn-quiet" data-action="edit" aria-expanded="false"
          aria-label="Edit rest of ${esc(when)}">Edit</button>
      </div>
    </div>
  </li>`;
}

function editForm(rest) {
  const key = rest.id.slice(0, 8);
  return `
  <form class="rest-edit" novalidate>
    ${ratingField(`before-${key}`, 'Before the rest', rest.before_rating)}
    ${ratingField(`after-${key}`, 'After the rest', rest.after_rating)}
    <div class="field">
      <label class="label" for="note-${key}">Note</label>
      <textarea id="note-${key}" maxlength="1000">${esc(rest.note)}</textarea>
    </div>
    <div class="btn-row">
      <button type="submit" class="btn btn-accent">Save changes</button>
      <button type="button" class="btn" data-action="cancel">Cancel</button>
    </div>
    <button type="button" class="btn btn-quiet btn-danger-text btn-block" data-action="delete">Delete this rest</button>
    <p class="form-error" role="alert" hidden></p>
  </form>`;
}

function pageHtml(rests, stats, showStreaks) {
  if (!rests.length) {
    return `<p class="notice">No rests yet. Your first one will appear here.</p>
      <a class="btn btn-primary btn-block" href="/">Start a rest</a>`;
  }
  return `
  <section aria-labelledby="h-figures">
    <h2 id="h-figures" class="visually-hidden">Figures</h2>
    ${figuresHtml(stats, showStreaks)}
  </section>
  <section aria-labelledby="h-calendar">
    <h2 id="h-calendar">Rest days</h2>
    <div class="card" id="calendar"></div>
  </section>
  <section aria-labelledby="h-trend">
    <h2 id="h-trend">Before and after</h2>
    <div class="card">${chartHtml(rests)}</div>
  </section>
  <section aria-labelledby="h-rests">
    <h2 id="h-rests">Your rests</h2>
    <ul class="list" id="history-list">${rests.map(restItem).join('')}</ul>
  </section>
  <section aria-labelledby="h-export">
    <h2 id="h-export">Export</h2>
    <p class="small muted">A file of every rest kept on this device, made right here (no connection needed).</p>
    <div class="btn-row">
      <button type="button" class="btn" data-export="csv">Export CSV</button>
      <button type="button" class="btn" data-export="json">Export JSON</button>
    </div>
  </section>`;
}

export async function render(root, ctx) {
  root.innerHTML = `<h1 tabindex="-1">History</h1>
    <p class="lead">Your rests, kept on this device.</p>
    <div id="history-body"><p class="muted">Loading…</p></div>`;
  const body = root.querySelector('#history-body');
  let rests = [];
  let editing = null; // the id whose form is open: a sync redraw must not throw away typing
  let changedWhileEditing = false; // drawn when the form closes

  const itemOf = (id) => body.querySelector(`.rest-item[data-id="${id}"]`);

  async function draw() {
    changedWhileEditing = false;
    const [list, showStreaks] = await Promise.all([listRests().catch(() => []), getSetting('showStreaks', false)]);
    if (!ctx.isCurrent()) return;
    rests = list;
    const stats = summarize(rests);
    body.innerHTML = pageHtml(rests, stats, showStreaks);
    const calendar = body.querySelector('#calendar');
    if (calendar) mountCalendar(calendar, stats);
  }

  // Resolves the rest's item (null if a change drawn now removed it).
  async function closeEditor() {
    const open = body.querySelector('.rest-edit');
    const item = open?.closest('.rest-item');
    open?.remove();
    item?.querySelector('[data-action="edit"]').setAttribute('aria-expanded', 'false');
    editing = null;
    if (!changedWhileEditing) return item;
    await draw();
    return item && itemOf(item.dataset.id);
  }

  async function openEditor(id) {
    await closeEditor();
    const rest = rests.find((r) => r.id === id);
    const item = itemOf(id);
    if (!rest || !item) return;
    editing = rest.id;
    item.querySelector('[data-action="edit"]').setAttribute('aria-expanded', 'true');
    item.insertAdjacentHTML('beforeend', editForm(rest));
    const form = item.querySelector('.rest-edit');
    const key = rest.id.slice(0, 8);
    const readBefore = wireRating(form, `before-${key}`);
    const readAfter = wireRating(form, `after-${key}`);
    form.querySelector('input').focus();
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      try {
        await updateRest(rest.id, {
          before_rating: readBefore(),
          after_rating: readAfter(),
          note: form.querySelector('textarea').value.trim(),
        });
        editing = null;
        await draw();
        toast('Saved.');
      } catch (error) {
        const message = form.querySelector('.form-error');
        message.textContent = `Could not save: ${error.message}`;
        message.hidden = false;
      }
    });
  }

  async function confirmDelete(id) {
    const rest = rests.find((r) => r.id === id);
    if (!rest) return;
    const deleted = await confirmDialog({
      title: 'Delete this rest?',
      bodyHtml: `<p>${esc(rest.title)}, ${esc(dateTime(rest.started_at))}.</p>
        <p class="small muted">It is removed from this device and, if you are signed in, from your account and your other devices. This cannot be undone.</p>`,
      confirmLabel: 'Delete rest',
      cancelLabel: 'Keep it',
      onConfirm: () => deleteRest(id),
    });
    if (!deleted) return;
    editing = null;
    await draw();
    root.querySelector('h1').focus();
    toast('Rest deleted.');
  }

  body.addEventListener('click', (event) => {
    const button = event.target.closest('button');
    if (!button) return;
    const item = button.closest('.rest-item');
    const action = button.dataset.action;
    // Read afresh: the list shown is stale while a form is open.
    if (button.dataset.export) listRests().then((list) => exportHistory(list, button.dataset.export));
    else if (action === 'edit') {
      if (button.getAttribute('aria-expanded') === 'true') closeEditor();
      else openEditor(item.dataset.id);
    } else if (action === 'cancel') {
      closeEditor().then((closed) => (closed?.querySelector('[data-action="edit"]') ?? root.querySelector('h1')).focus());
    } else if (action === 'delete') confirmDelete(item.dataset.id);
  });

  // Rests arriving from another device show up without a reload (once a form closes).
  const stop = onRestsChanged(() => { if (editing) changedWhileEditing = true; else draw(); });
  await draw();
  return stop;
}
