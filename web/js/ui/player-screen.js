// The player: a dark, quiet screen. Everything shown is read from the audio position.
import { getRoutines, getSessionScript } from '../api.js';
import { activeRest, RestSession } from '../player.js';
import { worthKeeping } from '../rests.js';
import { loadChoice } from './choice.js';
import { clock, esc } from './dom.js';
import { wakeLockToggle } from './wake-lock.js';

export const title = 'Resting';

const RING = 2 * Math.PI * 54;
const ICONS = {
  pause: '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false"><rect x="6" y="5" width="4" height="14" rx="1"/><rect x="14" y="5" width="4" height="14" rx="1"/></svg>',
  play: '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path d="M8 5.5v13a1 1 0 0 0 1.5.9l10-6.5a1 1 0 0 0 0-1.7l-10-6.5A1 1 0 0 0 8 5.5z"/></svg>',
  stop: '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false"><rect x="5" y="5" width="14" height="14" rx="2"/></svg>',
};

async function findOrStartSession(ctx) {
  const running = activeRest();
  if (running) return running;
  // Opened directly (a reload or a shortcut): start the remembered session.
  const routines = ctx.state.routines ?? await getRoutines();
  ctx.state.choice ??= await loadChoice(routines);
  ctx.state.script ??= await getSessionScript(ctx.state.choice);
  // Left (Back) while the session was being prepared: nothing starts playing unseen.
  if (!ctx.isCurrent()) return null;
  const session = new RestSession(ctx.state.script, { before_rating: ctx.state.before_rating ?? null });
  session.start();
  return session;
}

export async function render(root, ctx) {
  document.body.classList.add('immersive');
  root.innerHTML = `
  <section class="player" aria-labelledby="player-phase">
    <div class="player-top">
      <p class="player-routine" id="player-routine">Constructive rest</p>
      <h1 class="player-phase" id="player-phase" tabindex="-1">Getting ready</h1>
    </div>
    <div class="dial">
      <svg viewBox="0 0 120 120" aria-hidden="true" focusable="false">
        <circle class="dial-track" cx="60" cy="60" r="54"/>
        <circle class="dial-progress" cx="60" cy="60" r="54" stroke-dasharray="${RING}" stroke-dashoffset="${RING}"/>
      </svg>
      <div class="dial-time">
        <span class="dial-elapsed" id="elapsed">0:00</span><span class="visually-hidden">elapsed</span>
        <span class="dial-remaining" id="remaining"></span>
      </div>
    </div>
    <p class="caption" id="caption"></p>
    <div class="player-controls">
      <button type="button" class="round-btn end" id="end">${ICONS.stop}<span>End rest</span></button>
      <button type="button" class="round-btn" id="toggle">${ICONS.pause}<span>Pause</span></button>
    </div>
    <div class="player-bottom" id="wake-lock-slot"></div>
  </section>`;
  const $ = (sel) => root.querySelector(sel);

  let session;
  try {
    session = await findOrStartSession(ctx);
  } catch (error) {
    $('#caption').classList.add('player-message');
    $('#caption').innerHTML = `${esc(error.message)}<br><a href="/">Back to Home</a>`;
    $('.player-controls').hidden = true;
    return undefined;
  }
  if (!session || !ctx.isCurrent()) return undefined;

  const { script } = session;
  const progress = $('.dial-progress');
  const caption = $('#caption');
  const toggle = $('#toggle');
  $('#player-routine').textContent = script.title;
  if (script.voice === null) {
    // Bells-only track: the captions are the guide, so they are larger and announced.
    caption.classList.add('prominent');
    caption.setAttribute('aria-live', 'polite');
  }

  let shownCue;
  let shownPhase;
  function onTime({ detail: { t, phase, cue } }) {
    const total = script.duration_s;
    $('#elapsed').textContent = clock(t);
    $('#remaining').textContent = `${clock(Math.ceil(total - Math.min(t, total)))} left`;
    progress.setAttribute('stroke-dashoffset', String(RING * (1 - Math.min(1, t / total))));
    if (phase && phase !== shownPhase) {
      shownPhase = phase;
      $('#player-phase').textContent = phase.title;
    }
    if (cue !== shownCue) {
      shownCue = cue;
      if (cue) caption.textContent = cue.text;
      caption.classList.toggle('faded', !cue);
    }
  }
  function onState() {
    const playing = session.playing;
    toggle.innerHTML = `${playing ? ICONS.pause : ICONS.play}<span>${playing ? 'Pause' : 'Resume'}</span>`;
  }
  function onEnd({ detail: rest }) {
    ctx.state.before_rating = null;
    if (!worthKeeping(rest)) {
      // Ended before a second had played: not a rest, so nothing to check in.
      ctx.navigate('/', { replace: true });
      return;
    }
    ctx.state.lastRest = rest;
    ctx.navigate('/after', { replace: true });
  }
  function onError() {
    caption.classList.remove('faded');
    caption.textContent = 'The audio could not be played. You can end the rest, or try again later.';
  }

  session.addEventListener('time', onTime);
  session.addEventListener('state', onState);
  session.addEventListener('end', onEnd);
  session.addEventListener('error', onError);
  toggle.addEventListener('click', () => session.toggle());
  $('#end').addEventListener('click', () => session.end());
  const dropWakeLock = wakeLockToggle($('#wake-lock-slot'));
  onState();
  session.tick();

  return () => {
    session.removeEventListener('time', onTime);
    session.removeEventListener('state', onState);
    session.removeEventListener('end', onEnd);
    session.removeEventListener('error', onError);
    dropWakeLock();
    // Leaving the player (Back) ends the rest; what was lain through is kept as a partial rest.
    if (!session.ended) session.end();
  };
}
