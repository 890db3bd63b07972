// Home: the one-tap start with the remembered session, and the choices behind it.
import { findSaved, getRoutines } from '../api.js';
import { getSetting } from '../store.js';
import { loadChoice, PREP_OPTIONS, saveChoice } from './choice.js';
import { CUE_LABELS, esc, prepLabel, sessionSummary } from './dom.js';
import { isSaving, progressOf, saveChoiceForOffline, saving, sessionKey } from './save-tracker.js';

export const title = 'Home';

function formHtml(routines, choice) {
  const routine = routines.find((r) => r.id === choice.routine_id);
  return `
  <h2 class="section-title">Choose your rest</h2>
  <fieldset>
    <legend>Routine</legend>
    <div class="choices">
      ${routines.map((r) => `
      <label class="choice">
        <input type="radio" name="routine" value="${esc(r.id)}"${r.id === routine.id ? ' checked' : ''}>
        <span class="choice-title">${esc(r.title)}</span>
        <span class="choice-text">${esc(r.summary)}</span>
      </label>`).join('')}
    </div>
  </fieldset>
  <div class="field">
    <div class="range-head">
      <label class="label" for="minutes">Length</label>
      <output class="range-value" for="minutes" id="minutes-out">${choice.minutes} min</output>
    </div>
    <input type="range" id="minutes" step="1" aria-describedby="minutes-hint">
    <span class="hint" id="minutes-hint"></span>
  </div>
  <fieldset>
    <legend>Voice cues</legend>
    <div class="choices choices-row" id="cue-choices"></div>
  </fieldset>
  <div class="field">
    <label class="label" for="prep">Time to get down to the floor</label>
    <select id="prep">
      ${PREP_OPTIONS.map((s) => `<option value="${s}">${s ? prepLabel(s).replace(' to settle', '') : 'None'}</option>`).join('')}
    </select>
  </div>
  <a class="link-row" href="/downloads">Saved sessions and storage</a>`;
}

export async function render(root, ctx) {
  root.innerHTML = `
  <h1 tabindex="-1">Time for a rest</h1>
  <p class="lead">Lie down, bend your knees, and let the floor carry you.</p>
  <div id="home-body"><p class="muted">Loading your sessions…</p></div>`;
  const body = root.querySelector('#home-body');
  let routines;
  try {
    routines = ctx.state.routines = await getRoutines();
  } catch (error) {
    body.innerHTML = `<p class="notice" role="alert">${esc(error.offline
      ? 'You are offline, and no sessions have been saved on this device yet. Connect once to get started.'
      : `The sessions could not be loaded. ${error.message}`)}</p>`;
    return undefined;
  }
  if (!ctx.isCurrent()) return undefined;
  const choice = ctx.state.choice = ctx.state.choice ?? await loadChoice(routines);

  body.innerHTML = `
  <section class="card card-hero" aria-labelledby="rest-title">
    <h2 class="card-title" id="rest-title"></h2>
    <p class="choice-summary" id="rest-summary"></p>
    <div class="status-line" id="offline-status" aria-live="polite"></div>
    <button type="button" class="btn btn-primary btn-block" id="start">Start rest</button>
  </section>
  ${formHtml(routines, choice)}`;

  const $ = (sel) => body.querySelector(sel);
  const minutes = $('#minutes');
  const status = $('#offline-status');
  const start = $('#start');

  const routineOf = () => routines.find((r) => r.id === choice.routine_id);

  function fitControls() {
    const r = routineOf();
    Object.assign(minutes, { min: r.minutes.min, max: r.minutes.max, value: choice.minutes });
    $('#minutes-out').textContent = `${choice.minutes} min`;
    $('#minutes-hint').textContent = `${r.minutes.min}–${r.minutes.max} min. Recommended: ${r.minutes.recommended_min}–${r.minutes.recommended_max} min.`;
    $('#cue-choices').innerHTML = r.cue_densities.map((c) => `
      <label class="choice"><input type="radio" name="cues" value="${esc(c)}"${c === choice.cue_density ? ' checked' : ''}>${esc(CUE_LABELS[c] ?? c)}</label>`).join('');
    const prep = $('#prep');
    if (![...prep.options].some((o) => Number(o.value) === choice.prep_s)) {
      prep.add(new Option(prepLabel(choice.prep_s).replace(' to settle', ''), choice.prep_s));
    }
    prep.value = String(choice.prep_s);
  }

  let saveError = null;
  let statusToken = 0;
  async function refresh() {
    $('#rest-title').textContent = routineOf().title;
    $('#rest-summary').textContent = sessionSummary(choice);
    const token = ++statusToken;
    const saved = await findSaved(choice);
    if (token !== statusToken || !ctx.isCurrent()) return;
    start.disabled = false;
    if (saved) {
      status.innerHTML = '<span class="pill pill-ready">Ready offline</span>';
    } else if (isSaving(choice)) {
      const fraction = progressOf(choice);
      status.innerHTML = fraction === null
        ? '<span class="pill">Preparing the download…</span>'
        : `<span class="pill">Saving for offline</span><progress max="1" value="${fraction}" aria-label="Saving for offline"></progress>`;
    } else if (!navigator.onLine) {
      status.innerHTML = '<span class="pill">Not saved on this device</span><span class="small muted">Connect to start this session, or choose a saved one.</span>';
      start.disabled = true;
    } else {
      status.innerHTML = `<span class="pill">Not saved for offline</span><button type="button" class="btn btn-small" id="save-offline">Save for offline</button>
        ${saveError ? `<span class="small muted" role="alert">Saving failed: ${esc(saveError)}</span>` : ''}`;
    }
  }

  function changed() {
    saveError = null;
    saveChoice(choice);
    refresh();
  }

  body.addEventListener('change', (event) => {
    const { name, id, value } = event.target;
    if (name === 'routine') {
      const r = routines.find((x) => x.id === value);
      Object.assign(choice, {
        routine_id: r.id,
        minutes: r.defaults.minutes,
        cue_density: r.cue_densities.includes(choice.cue_density) ? choice.cue_density : r.defaults.cues,
      });
      fitControls();
    } else if (name === 'cues') choice.cue_density = value;
    else if (id === 'prep') choice.prep_s = Number(value);
    else if (id === 'minutes') choice.minutes = Number(value);
    else return;
    changed();
  });
  minutes.addEventListener('input', () => {
    choice.minutes = Number(minutes.value);
    $('#minutes-out').textContent = `${choice.minutes} min`;
    $('#rest-summary').textContent = sessionSummary(choice);
  });

  status.addEventListener('click', (event) => {
    if (event.target.id !== 'save-offline') return;
    saveError = null;
    saveChoiceForOffline({ ...choice }).catch((error) => { saveError = error.message; refresh(); });
    refresh();
  });

  start.addEventListener('click', async () => {
    ctx.state.choice = choice;
    ctx.state.script = null;
    saveChoice(choice);
    ctx.navigate((await getSetting('skipGuide', false)) ? '/play' : '/setup');
  });

  const onSaving = (event) => { if (event.detail.key === sessionKey(choice)) refresh(); };
  for (const type of ['change', 'saved', 'failed']) saving.addEventListener(type, onSaving);
  addEventListener('online', refresh);
  addEventListener('offline', refresh);

  fitControls();
  await refresh();
  return () => {
    for (const type of ['change', 'saved', 'failed']) saving.removeEventListener(type, onSaving);
    removeEventListener('online', refresh);
    removeEventListener('offline', refresh);
  };
}
