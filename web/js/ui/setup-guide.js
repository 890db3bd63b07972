// The set-up guide: how to lie, a drawing, other ways, safety, and the before check-in.
import { getRoutines, getSessionScript } from '../api.js';
import { RestSession } from '../player.js';
import { getSetting, setSetting } from '../store.js';
import { POSITION_SVG } from '../content/position.js';
import { SAFETY_DETAILS, SAFETY_NOTE } from '../content/safety.js';
import { loadChoice } from './choice.js';
import { esc, sessionSummary } from './dom.js';
import { ratingField, wireRating } from './rating.js';

export const title = 'Set up';

export async function render(root, ctx) {
  const [safetySeen, skipGuide] = await Promise.all([getSetting('safetySeen', false), getSetting('skipGuide', false)]);
  if (!ctx.isCurrent()) return undefined;
  root.innerHTML = `
  <h1 tabindex="-1">Get into position</h1>
  <p class="lead" id="setup-session">Take your time. The rest begins when you are lying down.</p>
  ${safetySeen ? '' : SAFETY_NOTE}
  <figure class="figure">
    ${POSITION_SVG}
    <figcaption>Knees bent, feet flat, back resting on the floor.</figcaption>
  </figure>
  <ol class="steps">
    <li>Lie on your back on a firm, comfortable surface: a mat or a carpet.</li>
    <li>Bend your knees. Feet flat and parallel, hip-width apart.</li>
    <li>Heels about 30–40 cm from your buttocks, roughly a forearm's length.</li>
    <li>Arms below shoulder height: by your sides, folded over your ribs, or hands on your pelvis.</li>
    <li>If your chin tilts up, rest your head on a small pillow or folded towel.</li>
    <li>Don't press your back into the floor or tuck your pelvis. Just rest.</li>
  </ol>
  <details>
    <summary>Other ways to lie</summary>
    <ul>
      <li><strong>On a bed</strong> if getting down to the floor is hard.</li>
      <li><strong>Calves on a chair seat</strong> if bent knees don't feel settled.</li>
      <li><strong>On your side</strong>, a pillow between your knees, late in pregnancy or whenever lying on your back is uncomfortable.</li>
    </ul>
  </details>
  ${safetySeen ? SAFETY_DETAILS : ''}
  <section class="card" aria-label="Check-in before the rest">
    ${ratingField('before-rating', 'How does your low back feel right now?', ctx.state.before_rating ?? null)}
    <p class="small muted">Optional. You'll be asked again afterwards, to notice the change.</p>
  </section>
  <label class="toggle"><input type="checkbox" id="skip-guide"${skipGuide ? ' checked' : ''}> Skip this guide next time</label>
  <div class="sticky-actions">
    <p class="small muted" id="prepare-status" aria-live="polite">Preparing your session…</p>
    <button type="button" class="btn btn-primary btn-block" id="start" disabled>Start rest</button>
  </div>`;

  const readBefore = wireRating(root, 'before-rating');
  const start = root.querySelector('#start');
  const status = root.querySelector('#prepare-status');

  async function prepare() {
    start.disabled = true;
    status.textContent = 'Preparing your session…';
    try {
      const routines = ctx.state.routines ?? await getRoutines();
      const choice = ctx.state.choice ?? await loadChoice(routines);
      ctx.state.choice = choice;
      const script = ctx.state.script ?? await getSessionScript(choice);
      if (!ctx.isCurrent()) return;
      ctx.state.script = script;
      root.querySelector('#setup-session').textContent = `${script.title} · ${sessionSummary(script)}`;
      status.textContent = '';
      status.hidden = true;
      start.disabled = false;
    } catch (error) {
      if (!ctx.isCurrent()) return;
      status.innerHTML = `${esc(error.message)} <button type="button" class="btn btn-small" id="retry">Try again</button>`;
    }
  }

  status.addEventListener('click', (event) => { if (event.target.id === 'retry') prepare(); });
  root.querySelector('#skip-guide').addEventListener('change', (event) => setSetting('skipGuide', event.target.checked));

  start.addEventListener('click', () => {
    const before = readBefore();
    ctx.state.before_rating = before;
    // play() runs inside this tap so mobile browsers allow the sound.
    new RestSession(ctx.state.script, { before_rating: before }).start();
    setSetting('safetySeen', true);
    ctx.navigate('/play');
  });

  prepare();
  return undefined;
}
