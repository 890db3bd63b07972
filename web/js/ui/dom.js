// Small DOM helpers shared by the screens: escaping, formatting, announcements.

const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export const esc = (value) => String(value ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c]);

export const $ = (root, selector) => root.querySelector(selector);

// 1 -> "1 rest", 3 -> "3 rests".
export const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

// 754 -> "12:34"; used for the player's clock and durations.
export function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(h ? 2 : 1, '0');
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

export function bytes(n) {
  if (!Number.isFinite(n)) return '';
  if (n <= 0) return '0 KB';
  if (n < 1024 * 1024) return `${Math.max(1, Math.round(n / 1024))} KB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(1)} GB`;
}

export const CUE_LABELS = { guided: 'Guided', sparse: 'Sparse', bells: 'Bells only' };

export function prepLabel(s) {
  if (!s) return 'no set-up time';
  return s < 60 ? `${s} s to settle` : `${s / 60} min to settle`;
}

export function sessionSummary({ minutes, cue_density: cues, prep_s: prep }) {
  return `${minutes} min · ${CUE_LABELS[cues] ?? cues} · ${prepLabel(prep)}`;
}

export function dateTime(iso) {
  return new Date(iso).toLocaleString(undefined, {
    weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit',
  });
}

let toastTimer;
// A short, polite message that does not steal focus.
export function toast(message) {
  let el = document.querySelector('.toast');
  if (!el) {
    el = document.createElement('div');
    el.className = 'toast';
    el.setAttribute('role', 'status');
    document.body.append(el);
  }
  el.textContent = message;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, 3500);
}
