// What kind of device and window the app runs in, for the hints that depend on it.

// Opened from the home screen (an installed app), not in a browser tab.
export const standalone = () => matchMedia('(display-mode: standalone)').matches
  || navigator.standalone === true;

// iPhone, iPad (which may say it is a Mac, but has a touch screen) or iPod.
export function appleMobile() {
  const ua = navigator.userAgent;
  return /iPhone|iPad|iPod/.test(ua) || (/Macintosh/.test(ua) && navigator.maxTouchPoints > 1);
}
