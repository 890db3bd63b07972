// Downloads: the sessions saved on this device, the space they take, and removing one.
import { listSaved, removeSaved, storageEstimate } from '../offline.js';
import { bytes, dateTime, esc, plural, sessionSummary, toast } from './dom.js';

export const title = 'Saved sessions';

function item(record) {
  return `
  <li class="list-item">
    <div class="list-item-main">
      <p class="list-item-title">${esc(record.title)}</p>
      <p class="list-item-meta">${esc(sessionSummary(record))}</p>
      <p class="list-item-meta">${esc(bytes(record.bytes))} · saved ${esc(dateTime(record.saved_at))}</p>
    </div>
    <button type="button" class="btn btn-small" data-remove="${esc(record.version)}">Remove<span class="visually-hidden"> ${esc(record.title)}, ${esc(record.minutes)} min</span></button>
  </li>`;
}

async function persistenceText() {
  if (!navigator.storage?.persisted) return '';
  return (await navigator.storage.persisted())
    ? 'Saved sessions are kept until you remove them.'
    : 'The browser may clear saved sessions if the device runs low on space.';
}

export async function render(root, ctx) {
  root.innerHTML = `
  <h1 tabindex="-1">Saved sessions</h1>
  <p class="lead">Sessions saved here play with no connection, in airplane mode too.</p>
  <div class="meter" id="usage" aria-live="polite"></div>
  <div id="saved-list"><p class="muted">Loading…</p></div>
  <a class="link-row" href="/">Save another session from Home</a>`;

  async function refresh() {
    const [saved, estimate, persisted] = await Promise.all([
      listSaved().catch(() => []),
      storageEstimate().catch(() => null),
      persistenceText().catch(() => ''),
    ]);
    if (!ctx.isCurrent()) return;
    const total = saved.reduce((sum, r) => sum + (r.bytes || 0), 0);
    const usage = root.querySelector('#usage');
    usage.innerHTML = `
      <p class="list-item-title">${plural(saved.length, 'saved session', 'saved sessions')} · ${esc(bytes(total))}</p>
      ${estimate?.quota ? `<progress max="${estimate.quota}" value="${estimate.usage}" aria-label="Storage used"></progress>
      <p class="small muted">This app uses ${esc(bytes(estimate.usage))} of the ${esc(bytes(estimate.quota))} the browser allows.</p>` : ''}
      ${persisted ? `<p class="small muted">${esc(persisted)}</p>` : ''}`;
    root.querySelector('#saved-list').innerHTML = saved.length
      ? `<ul class="list">${saved.sort((a, b) => String(b.saved_at).localeCompare(String(a.saved_at))).map(item).join('')}</ul>`
      : '<p class="notice">Nothing saved yet. Choose a session on Home and tap “Save for offline”.</p>';
  }

  root.addEventListener('click', async (event) => {
    const button = event.target.closest('[data-remove]');
    if (!button) return;
    button.disabled = true;
    try {
      await removeSaved(button.dataset.remove);
      toast('Removed from this device');
    } catch (error) {
      toast(`Could not remove: ${error.message}`);
    }
    await refresh();
    root.querySelector('h1').focus();
  });
  await refresh();
}
