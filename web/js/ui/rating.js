// The 0-10 "how does your low back feel" scale. Untouched means "not rated" (null).
import { esc } from './dom.js';

export function ratingField(id, label, value = null) {
  const set = Number.isInteger(value);
  return `
  <div class="field rating${set ? '' : ' unset'}" data-rating="${esc(id)}">
    <div class="range-head">
      <label class="label" for="${esc(id)}">${esc(label)}</label>
      <output class="range-value" for="${esc(id)}">${set ? `${value}/10` : 'Not rated'}</output>
    </div>
    <input type="range" id="${esc(id)}" min="0" max="10" step="1" value="${set ? value : 5}"
      aria-valuetext="${set ? `${value} out of 10` : 'Not rated'}">
    <div class="range-scale" aria-hidden="true"><span>0 at ease</span><span>10 very tense</span></div>
  </div>`;
}

export function wireRating(root, id) {
  const field = root.querySelector(`[data-rating="${id}"]`);
  const input = field.querySelector('input');
  const output = field.querySelector('output');
  const mark = () => {
    field.classList.remove('unset');
    output.textContent = `${input.value}/10`;
    input.setAttribute('aria-valuetext', `${input.value} out of 10`);
  };
  input.addEventListener('input', mark);
  input.addEventListener('change', mark);
  return () => (field.classList.contains('unset') ? null : Number(input.value));
}
