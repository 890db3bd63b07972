// The trend of low-back tension before and after each rest: a small SVG drawn here, no
// library. The picture is one image for assistive technology, with a summary as its name.
import { ratedSeries } from '../stats.js';
import { esc } from './dom.js';

const MAX_POINTS = 30;
const W = 320;
const H = 170;
const PAD = { left: 30, right: 10, top: 12, bottom: 26 };

const shortDate = (iso) => new Date(iso).toLocaleDateString(undefined, { day: 'numeric', month: 'short' });
const one = (n) => n.toFixed(1);

function describe(points) {
  const mean = (key) => points.reduce((sum, r) => sum + r[key], 0) / points.length;
  const span = points.length === 1
    ? `your one rated rest, on ${shortDate(points[0].started_at)}`
    : `your last ${points.length} rated rests, ${shortDate(points[0].started_at)} to ${shortDate(points.at(-1).started_at)}`;
  return `Low back tension before and after ${span}: on average ${one(mean('before_rating'))} before and ${one(mean('after_rating'))} after, on a scale from 0 (at ease) to 10 (very tense).`;
}

function line(points, key, x, y) {
  return points.map((r, i) => `${x(i).toFixed(1)},${y(r[key]).toFixed(1)}`).join(' ');
}

export function chartHtml(rests) {
  const points = ratedSeries(rests).slice(-MAX_POINTS);
  if (!points.length) {
    return '<p class="small muted">Rate your low back before and after a rest, and the trend appears here.</p>';
  }
  const width = W - PAD.left - PAD.right;
  const height = H - PAD.top - PAD.bottom;
  const x = (i) => PAD.left + (points.length === 1 ? width / 2 : (i * width) / (points.length - 1));
  const y = (v) => PAD.top + ((10 - v) / 10) * height;
  const grid = [0, 5, 10].map((v) => `
    <line class="chart-grid" x1="${PAD.left}" x2="${W - PAD.right}" y1="${y(v)}" y2="${y(v)}" />
    <text class="chart-axis" x="${PAD.left - 8}" y="${y(v) + 4}" text-anchor="end">${v}</text>`).join('');
  const dots = (key, cls) => points.map((r, i) => `<circle class="${cls}" cx="${x(i).toFixed(1)}" cy="${y(r[key]).toFixed(1)}" r="3.5" />`).join('');
  const dates = points.length > 1
    ? `<text class="chart-axis" x="${PAD.left}" y="${H - 6}">${esc(shortDate(points[0].started_at))}</text>
       <text class="chart-axis" x="${W - PAD.right}" y="${H - 6}" text-anchor="end">${esc(shortDate(points.at(-1).started_at))}</text>`
    : `<text class="chart-axis" x="${x(0)}" y="${H - 6}" text-anchor="middle">${esc(shortDate(points[0].started_at))}</text>`;
  return `
  <figure class="chart">
    <svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(describe(points))}" focusable="false">
      ${grid}
      ${dates}
      <polyline class="chart-before" points="${line(points, 'before_rating', x, y)}" />
      <polyline class="chart-after" points="${line(points, 'after_rating', x, y)}" />
      ${dots('before_rating', 'chart-dot-before')}
      ${dots('after_rating', 'chart-dot-after')}
    </svg>
    <figcaption class="chart-legend" aria-hidden="true">
      <span class="legend legend-before">Before</span>
      <span class="legend legend-after">After</span>
      <span class="muted">0 at ease · 10 very tense</span>
    </figcaption>
  </figure>`;
}
