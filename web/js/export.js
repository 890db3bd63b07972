// Export the device's history as CSV or JSON, made here on the phone (works offline).
// The columns match the server's account export, so both files read the same.
import { REST_FIELDS } from './sync.js';

function cellText(value) {
  if (value === null || value === undefined) return '';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  const text = String(value);
  // A note starting with = + - @ would run as a formula in a spreadsheet: keep it text.
  return /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
}

// RFC 4180: a cell with a comma, a quote or a line break is quoted, quotes doubled.
export function csvCell(value) {
  const text = cellText(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function toCsv(rests) {
  const rows = [REST_FIELDS, ...rests.map((rest) => REST_FIELDS.map((name) => rest[name]))];
  return `${rows.map((row) => row.map(csvCell).join(',')).join('\r\n')}\r\n`;
}

export function toJson(rests, now = new Date()) {
  const pick = (rest) => Object.fromEntries(REST_FIELDS.map((name) => [name, rest[name] ?? null]));
  return JSON.stringify({ exported_at: now.toISOString(), rests: rests.map(pick) }, null, 2);
}

// Hands a file to the browser's downloads, from memory: no server involved.
export function download(text, filename, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = Object.assign(document.createElement('a'), { href: url, download: filename });
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000); // after the browser has read it
}

export function exportHistory(rests, format, now = new Date()) {
  const day = now.toISOString().slice(0, 10);
  if (format === 'csv') download(toCsv(rests), `rest-history-${day}.csv`, 'text/csv;charset=utf-8');
  else download(toJson(rests, now), `rest-history-${day}.json`, 'application/json');
}
