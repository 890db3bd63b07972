// A month calendar of rest days. Days are local days (see stats.js); the grid is a table,
// so screen readers announce weekday and date, and each rest day says how long it was.
import { addDays, firstDayOfWeek, weekday, wholeMinutes } from '../stats.js';
import { esc, plural } from './dom.js';

const monthTitle = (month) => new Date(`${month}-01T12:00:00Z`)
  .toLocaleDateString(undefined, { month: 'long', year: 'numeric', timeZone: 'UTC' });
const monthName = (month) => new Date(`${month}-01T12:00:00Z`)
  .toLocaleDateString(undefined, { month: 'long', timeZone: 'UTC' });
const fullDate = (key) => new Date(`${key}T12:00:00Z`)
  .toLocaleDateString(undefined, { weekday: 'long', day: 'numeric', month: 'long', timeZone: 'UTC' });

export function shiftMonth(month, delta) {
  const date = new Date(`${month}-01T12:00:00Z`);
  date.setUTCMonth(date.getUTCMonth() + delta);
  return date.toISOString().slice(0, 7);
}

function weekdayHeads(firstDay) {
  // 2024-01-01 was a Monday: walk one week from the locale's first day.
  return Array.from({ length: 7 }, (_, i) => {
    const date = new Date(Date.UTC(2024, 0, ((firstDay - 1 + i) % 7) + 1, 12));
    const long = date.toLocaleDateString(undefined, { weekday: 'long', timeZone: 'UTC' });
    const narrow = date.toLocaleDateString(undefined, { weekday: 'narrow', timeZone: 'UTC' });
    return `<th scope="col"><abbr title="${esc(long)}">${esc(narrow)}</abbr></th>`;
  }).join('');
}

function dayCell(key, byDay, today) {
  const day = byDay.get(key);
  const minutes = day ? wholeMinutes(day.seconds) : 0;
  const label = day ? `${fullDate(key)}: ${plural(day.count, 'rest', 'rests')}, ${minutes} min` : fullDate(key);
  const classes = ['cal-day', day ? 'cal-rested' : '', key === today ? 'cal-today' : ''].filter(Boolean).join(' ');
  return `<td class="${classes}"${key === today ? ' aria-current="date"' : ''}>
    <span aria-hidden="true">${Number(key.slice(8))}</span><span class="visually-hidden">${esc(label)}</span></td>`;
}

// The month's table: blank cells before the first day, whole weeks after.
function grid(month, byDay, today, firstDay) {
  const first = `${month}-01`;
  let key = addDays(first, -((weekday(first) - firstDay + 7) % 7));
  const rows = [];
  do {
    const cells = [];
    for (let i = 0; i < 7; i += 1, key = addDays(key, 1)) {
      cells.push(key.startsWith(month) ? dayCell(key, byDay, today) : '<td class="cal-blank"></td>');
    }
    rows.push(`<tr>${cells.join('')}</tr>`);
  } while (key.startsWith(month));
  return rows.join('');
}

function summary(month, byDay) {
  const days = [...byDay.entries()].filter(([key]) => key.startsWith(month));
  if (!days.length) return `No rests in ${monthName(month)}.`;
  const minutes = wholeMinutes(days.reduce((sum, [, d]) => sum + d.seconds, 0));
  return `You rested on ${plural(days.length, 'day', 'days')} in ${monthName(month)}, ${minutes} min in all.`;
}

// Draws the calendar into `container` and wires its month buttons; returns nothing to clean up.
export function mountCalendar(container, { byDay, today }) {
  const firstDay = firstDayOfWeek();
  const current = today.slice(0, 7);
  const earliest = [...byDay.keys()].sort()[0]?.slice(0, 7) ?? current;
  let month = current;

  function draw() {
    container.innerHTML = `
    <div class="cal-head">
      <button type="button" class="btn btn-quiet cal-nav" data-step="-1" aria-label="Previous month"${month <= earliest ? ' disabled' : ''}>‹</button>
      <h3 class="cal-title" id="cal-title">${esc(monthTitle(month))}</h3>
      <button type="button" class="btn btn-quiet cal-nav" data-step="1" aria-label="Next month"${month >= current ? ' disabled' : ''}>›</button>
    </div>
    <table class="calendar" aria-labelledby="cal-title">
      <thead><tr>${weekdayHeads(firstDay)}</tr></thead>
      <tbody>${grid(month, byDay, today, firstDay)}</tbody>
    </table>
    <p class="small muted cal-summary" id="cal-summary" aria-live="polite">${esc(summary(month, byDay))}</p>`;
  }

  container.addEventListener('click', (event) => {
    const button = event.target.closest('.cal-nav');
    if (!button || button.disabled) return;
    month = shiftMonth(month, Number(button.dataset.step));
    draw();
    const again = container.querySelector(`.cal-nav[data-step="${button.dataset.step}"]`);
    (again.disabled ? container.querySelector('.cal-nav:not([disabled])') : again)?.focus();
  });
  draw();
}
