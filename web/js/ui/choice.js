// The session the person has chosen on Home, remembered for the one-tap start.
import { getSetting, setSetting } from '../store.js';

export const PREP_OPTIONS = [0, 15, 20, 30, 60, 120];
const clamp = (n, lo, hi) => Math.min(hi, Math.max(lo, n));

export function defaultChoice(routine) {
  return {
    routine_id: routine.id,
    minutes: routine.defaults.minutes,
    cue_density: routine.defaults.cues,
    prep_s: routine.defaults.prep_s,
  };
}

// Fits a remembered choice to the routines the server offers now (ranges can change).
export function fitChoice(choice, routines) {
  const routine = routines.find((r) => r.id === choice?.routine_id)
    ?? routines.find((r) => r.id === 'classic') ?? routines[0];
  const base = defaultChoice(routine);
  if (!choice || choice.routine_id !== routine.id) return base;
  return {
    routine_id: routine.id,
    minutes: clamp(Number(choice.minutes) || base.minutes, routine.minutes.min, routine.minutes.max),
    cue_density: routine.cue_densities.includes(choice.cue_density) ? choice.cue_density : base.cue_density,
    prep_s: Number.isInteger(choice.prep_s) ? clamp(choice.prep_s, 0, 300) : base.prep_s,
  };
}

export async function loadChoice(routines) {
  return fitChoice(await getSetting('choice').catch(() => undefined), routines);
}

export const saveChoice = (choice) => setSetting('choice', choice).catch(() => {});
