// One rest at a time: plays the session's single audio track and derives everything the
// screen shows (time, phase, caption) from audio.currentTime, so it cannot drift from the cues.
import { pickAudio } from './offline.js';
import { setRestPlaying } from './sw-client.js';
import { finishRest, newRest, saveEndedRest, worthKeeping } from './rests.js';

const VOICE_LINGER_S = 6; // a spoken cue stays on screen this long after it ends
const ARTWORK = [
  { src: '/icons/icon-192.png', sizes: '192x192', type: 'image/png' },
  { src: '/icons/icon-512.png', sizes: '512x512', type: 'image/png' },
];

export function phaseAt(script, t) {
  const phases = script.phases;
  return phases.find((p) => t >= p.start_s && t < p.end_s) ?? (t >= (phases.at(-1)?.end_s ?? 0) ? phases.at(-1) : phases[0]);
}

// The caption for time t: the latest spoken cue that has started and not yet faded.
// Without a voice the captions are the guide, so each stays until the next one.
export function cueAt(script, t) {
  const spoken = script.cues.filter((c) => c.text && c.at_s <= t);
  const cue = spoken.at(-1);
  if (!cue) return null;
  if (script.voice === null) return cue;
  return t < cue.end_s + VOICE_LINGER_S ? cue : null;
}

let audioElement;
// One element for the app's lifetime, outside the screens, so navigation never cuts the sound
// and play() can run inside the tap that starts the rest (iOS needs that).
export function audio() {
  if (!audioElement) {
    audioElement = document.createElement('audio');
    audioElement.crossOrigin = 'anonymous';
    audioElement.preload = 'auto';
    document.body.append(audioElement);
  }
  return audioElement;
}

let active = null;
export const activeRest = () => active;

export class RestSession extends EventTarget {
  constructor(script, { before_rating = null } = {}) {
    super();
    this.script = script;
    this.rest = newRest(script, { before_rating });
    this.audio = audio();
    this.ended = false;
    this.lastCue = null;
    this.speak = script.voice === null && 'speechSynthesis' in window;
    this.listeners = {
      timeupdate: () => this.tick(),
      playing: () => this.changed('playing'),
      pause: () => { if (!this.ended) this.changed('paused'); },
      ended: () => this.finish(true),
      error: () => this.dispatchEvent(new CustomEvent('error', { detail: this.audio.error })),
    };
    this.onPageHide = () => this.finish(false);
  }

  get playing() { return !this.audio.paused && !this.ended; }
  get time() { return this.audio.currentTime || 0; }
  get duration() { return this.script.duration_s; }

  // Call from the tap that starts the rest.
  start() {
    active = this;
    for (const [type, fn] of Object.entries(this.listeners)) this.audio.addEventListener(type, fn);
    addEventListener('pagehide', this.onPageHide);
    this.audio.src = pickAudio(this.script).url;
    this.audio.playbackRate = 1;
    this.setUpMediaSession();
    setRestPlaying(true);
    return this.resume();
  }

  async resume() {
    try {
      await this.audio.play();
    } catch (error) {
      // Autoplay refused (no tap yet): the screen offers Resume instead.
      this.changed('paused');
      if (error.name !== 'NotAllowedError' && error.name !== 'AbortError') {
        this.dispatchEvent(new CustomEvent('error', { detail: error }));
      }
    }
  }

  pause() { this.audio.pause(); }
  toggle() { return this.playing ? this.pause() : this.resume(); }
  end() { return this.finish(false); }

  tick() {
    const t = this.time;
    const cue = cueAt(this.script, t);
    if (cue && cue !== this.lastCue && this.speak && this.playing) {
      speechSynthesis.speak(Object.assign(new SpeechSynthesisUtterance(cue.text), { rate: 0.9 }));
    }
    this.lastCue = cue;
    this.dispatchEvent(new CustomEvent('time', { detail: { t, phase: phaseAt(this.script, t), cue } }));
  }

  changed(state) {
    if ('mediaSession' in navigator) {
      navigator.mediaSession.playbackState = state === 'playing' ? 'playing' : 'paused';
      this.updatePosition();
    }
    this.dispatchEvent(new CustomEvent('state', { detail: state }));
  }

  async finish(completed) {
    if (this.ended) return this.rest;
    this.ended = true;
    const played = completed ? (this.audio.duration || this.time) : this.time;
    this.audio.pause();
    for (const [type, fn] of Object.entries(this.listeners)) this.audio.removeEventListener(type, fn);
    removeEventListener('pagehide', this.onPageHide);
    this.audio.removeAttribute('src');
    this.audio.load(); // releases the track and the decoder
    if (this.speak) speechSynthesis.cancel();
    this.clearMediaSession();
    setRestPlaying(false);
    if (active === this) active = null;
    this.rest = finishRest(this.rest, { actual_s: played, completed });
    try {
      if (worthKeeping(this.rest)) await saveEndedRest(this.rest);
    } finally {
      this.dispatchEvent(new CustomEvent('end', { detail: this.rest }));
    }
    return this.rest;
  }

  setUpMediaSession() {
    if (!('mediaSession' in navigator)) return;
    const ms = navigator.mediaSession;
    ms.metadata = new MediaMetadata({ title: this.script.title, artist: 'Constructive Rest Guide', artwork: ARTWORK });
    const handlers = { play: () => this.resume(), pause: () => this.pause(), stop: () => this.end() };
    for (const [action, fn] of Object.entries(handlers)) {
      try { ms.setActionHandler(action, fn); } catch { /* action not supported here */ }
    }
  }

  updatePosition() {
    const duration = this.audio.duration;
    if (!navigator.mediaSession?.setPositionState || !Number.isFinite(duration)) return;
    try {
      navigator.mediaSession.setPositionState({ duration, position: Math.min(this.time, duration), playbackRate: this.audio.playbackRate || 1 });
    } catch { /* some browsers reject odd states; the lock screen simply shows less */ }
  }

  // No stale lock-screen player after the rest.
  clearMediaSession() {
    if (!('mediaSession' in navigator)) return;
    const ms = navigator.mediaSession;
    for (const action of ['play', 'pause', 'stop']) {
      try { ms.setActionHandler(action, null); } catch { /* not supported */ }
    }
    ms.metadata = null;
    ms.playbackState = 'none';
    try { ms.setPositionState?.(); } catch { /* nothing to clear */ }
  }
}
