// Learn: background on the psoas and the practice; static, so it reads the same offline.
import { LEARN_HTML, LEARN_SECTIONS } from '../content/learn.js';

export const title = 'Learn';

export function render(root) {
  root.innerHTML = `
  <h1 tabindex="-1">Learn</h1>
  <p class="lead">Why lying on the floor with your knees bent can help your back let go.</p>
  <nav aria-label="On this page">
    <ul class="toc">${LEARN_SECTIONS.map(([id, label]) => `<li><a href="#${id}">${label}</a></li>`).join('')}</ul>
  </nav>
  <article class="prose">${LEARN_HTML}</article>`;
}
