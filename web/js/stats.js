// Figures for the history screen: local days, minutes per week and month, totals, streaks.
// Pure functions over rest records, so they are easy to reason about and to test.

export const deviceZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone;

const dayFormats = new Map();
function dayFormat(timeZone) {
  if (!dayFormats.has(timeZone)) {
    let format;
    try {
      format = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
    } catch {
      format = null; // an unknown zone (from an older device): fall back to this device's
    }
    dayFormats.set(timeZone, format);
  }
  return dayFormats.get(timeZone) ?? dayFormat(deviceZone());
}

// '2026-11-23': the calendar day of a moment in a time zone.
export function dayKey(moment, timeZone = deviceZone()) {
  const parts = Object.fromEntries(dayFormat(timeZone).formatToParts(new Date(moment)).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day}`;
}

// A rest belongs to the day it started on where the person was at the time.
export const restDay = (rest) => dayKey(rest.started_at, rest.time_zone || deviceZone());

// Day keys as dates at UTC midnight: plain day arithmetic, no daylight-saving surprises.
const keyToUtc = (key) => Date.UTC(Number(key.slice(0, 4)), Number(key.slice(5, 7)) - 1, Number(key.slice(8, 10)));
const utcToKey = (ms) => new Date(ms).toISOString().slice(0, 10);
export const addDays = (key, days) => utcToKey(keyToUtc(key) + days * 86_400_000);
export const weekday = (key) => new Date(keyToUtc(key)).getUTCDay() || 7; // 1 = Monday ... 7 = Sunday

// The first day of the week in the person's locale (1 = Monday, 7 = Sunday); Monday if unknown.
export function firstDayOfWeek(locale = navigator.language) {
  try {
    const info = new Intl.Locale(locale);
    return (info.getWeekInfo?.() ?? info.weekInfo)?.firstDay ?? 1;
  } catch {
    return 1;
  }
}

export function weekStart(key, firstDay = firstDayOfWeek()) {
  return addDays(key, -((weekday(key) - firstDay + 7) % 7));
}

// Whole minutes; any time at all shows as at least 1 (a 20-second rest is not "0 min").
export const wholeMinutes = (seconds) => (seconds > 0 ? Math.max(1, Math.round(seconds / 60)) : 0);
const minutesOf = (rests) => wholeMinutes(rests.reduce((sum, r) => sum + (r.actual_s || 0), 0));
const rated = (r) => Number.isInteger(r.before_rating) && Number.isInteger(r.after_rating);

// Current streak: consecutive days with a rest, ending today (or yesterday, while today is open).
function streaks(days, today) {
  let current = 0;
  let day = days.has(today) ? today : addDays(today, -1);
  while (days.has(day)) {
    current += 1;
    day = addDays(day, -1);
  }
  let best = 0;
  let run = 0;
  let previous = null;
  for (const key of [...days].sort()) {
    run = previous && addDays(previous, 1) === key ? run + 1 : 1;
    best = Math.max(best, run);
    previous = key;
  }
  return { current, best };
}

export function summarize(rests, { now = new Date(), firstDay = firstDayOfWeek() } = {}) {
  const today = dayKey(now);
  const week = weekStart(today, firstDay);
  const month = today.slice(0, 7);
  const byDay = new Map();
  for (const rest of rests) {
    const key = restDay(rest);
    const entry = byDay.get(key) ?? { count: 0, seconds: 0 };
    entry.count += 1;
    entry.seconds += rest.actual_s || 0;
    byDay.set(key, entry);
  }
  const inWeek = rests.filter((r) => { const k = restDay(r); return k >= week && k <= today; });
  const inMonth = rests.filter((r) => restDay(r).startsWith(month));
  const withRatings = rests.filter(rated);
  const averageChange = withRatings.length
    ? withRatings.reduce((sum, r) => sum + (r.after_rating - r.before_rating), 0) / withRatings.length
    : null;
  return {
    today,
    count: rests.length,
    minutes: minutesOf(rests),
    weekMinutes: minutesOf(inWeek),
    monthMinutes: minutesOf(inMonth),
    ratedCount: withRatings.length,
    averageChange,
    byDay,
    streak: streaks(new Set(byDay.keys()), today),
  };
}

// Rests with both ratings, oldest first: the points of the trend chart.
export const ratedSeries = (rests) => rests.filter(rated)
  .sort((a, b) => a.started_at.localeCompare(b.started_at));
