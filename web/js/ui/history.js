// History (for now): the rests kept on this device, newest first.
import { listRests } from '../rests.js';
import { clock, dateTime, esc } from './dom.js';

export const title = 'History';

function restItem(rest) {
  const ratings = [rest.before_rating, rest.after_rating].map((r) => (Number.isInteger(r) ? r : '–'));
  const rated = ratings.some((r) => r !== '–');
  return `
  <li class="list-item">
    <div class="list-item-main">
      <p class="list-item-title">${esc(rest.title)}</p>
      <p class="list-item-meta"><time datetime="${esc(rest.started_at)}">${esc(dateTime(rest.started_at))}</time> · ${esc(clock(rest.actual_s))} of ${esc(rest.minutes)} min</p>
      ${rated ? `<p class="list-item-meta">Low back: ${ratings[0]} before → ${ratings[1]} after</p>` : ''}
      ${rest.note ? `<p class="list-item-note">${esc(rest.note)}</p>` : ''}
    </div>
    <span class="tag${rest.completed ? ' tag-done' : ''}">${rest.completed ? 'Completed' : 'Partial'}</span>
  </li>`;
}

export async function render(root, ctx) {
  root.innerHTML = '<h1 tabindex="-1">History</h1><p class="lead">Your rests, kept on this device.</p><div id="history-list"></div>';
  const rests = await listRests().catch(() => []);
  if (!ctx.isCurrent()) return;
  root.querySelector('#history-list').innerHTML = rests.length
    ? `<ul class="list">${rests.map(restItem).join('')}</ul>`
    : '<p class="notice">No rests yet. Your first one will appear here.</p><a class="btn btn-primary btn-block" href="/">Start a rest</a>';
}
