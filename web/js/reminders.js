// Daily reminders: this device's push subscription, sent to the server with the local
// time and weekdays asked for. The server only learns when to knock; the notification
// itself is shown by the service worker (sw.js), whether or not the app is open.
import { appleMobile, standalone } from './device.js';
import { ApiError, requestJson } from './http.js';
import { getSetting, setSetting } from './store.js';

const KEY = 'reminder'; // {time, weekdays, time_zone, endpoint, next_at} as last saved
export const DEFAULT_TIME = '21:00';
export const EVERY_DAY = [1, 2, 3, 4, 5, 6, 7]; // ISO weekdays: 1 = Monday

const timeZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone;

// 'ok', or why this browser cannot show reminders: 'install' (iPhone and iPad: only
// from the home screen), 'unsupported', 'blocked' (the person refused notifications).
export function reminderSupport() {
  const capable = 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
  if (!capable) return appleMobile() && !standalone() ? 'install' : 'unsupported';
  if (Notification.permission === 'denied') return 'blocked';
  return 'ok';
}

export const savedReminder = () => getSetting(KEY, null);

function keyBytes(base64url) {
  const text = atob(base64url.replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

const sameKey = (buffer, base64url) => buffer !== null && buffer !== undefined
  && keyBytes(base64url).join() === new Uint8Array(buffer).join();

const serverKey = async () => (await requestJson('/api/reminders/key')).public_key;

async function subscription(publicKey) {
  const registration = await navigator.serviceWorker.ready;
  let current = await registration.pushManager.getSubscription();
  if (current && !sameKey(current.options.applicationServerKey, publicKey)) {
    await current.unsubscribe(); // made for another server key: it would never deliver
    current = null;
  }
  return current ?? registration.pushManager.subscribe({
    userVisibleOnly: true, applicationServerKey: keyBytes(publicKey),
  });
}

// Ask for notifications (once), subscribe, and save the schedule. Returns what was saved.
// `publicKey`: the server's key, when the caller has just fetched it.
export async function setReminder({ time, weekdays }, publicKey = null) {
  if (!navigator.onLine) {
    throw new ApiError('OFFLINE', 'Connect to the internet to set a reminder.', { offline: true });
  }
  if ((await Notification.requestPermission()) !== 'granted') {
    throw new ApiError('NOTIFICATIONS_BLOCKED', 'Reminders need notifications. Allow them for this app in your browser’s settings, then try again.');
  }
  let pushSubscription;
  try {
    pushSubscription = await subscription(publicKey ?? await serverKey());
  } catch (error) {
    if (error instanceof ApiError) throw error;
    throw new ApiError('PUSH_UNAVAILABLE', 'This browser could not sign up for reminders right now. Try again later.');
  }
  const saved = await requestJson('/api/reminders', {
    method: 'PUT',
    body: { subscription: pushSubscription.toJSON(), time, weekdays, time_zone: timeZone() },
  });
  const record = { ...saved, endpoint: pushSubscription.endpoint };
  await setSetting(KEY, record);
  return record;
}

// Stop reminders on this device: on the server, and the browser's subscription too.
export async function clearReminder() {
  const saved = await savedReminder();
  const registration = await navigator.serviceWorker.ready;
  const current = await registration.pushManager.getSubscription();
  const endpoint = current?.endpoint ?? saved?.endpoint;
  if (endpoint) {
    try {
      await requestJson('/api/reminders', { method: 'DELETE', body: { endpoint } });
    } catch (error) {
      if (error.status !== 404) throw error; // 404: already gone, which is what we want
    }
  }
  await current?.unsubscribe();
  await setSetting(KEY, null);
}

// At start: after travel the reminder keeps its local time (saved again in the new time
// zone), a subscription the browser renewed or dropped is sent again, and so is one made
// for a server key the server no longer signs with (its pushes would never arrive).
// Never asks for permission here: that needs the person's tap.
export async function keepReminderCurrent() {
  const saved = await savedReminder();
  if (!saved || !navigator.onLine || reminderSupport() !== 'ok') return;
  if (Notification.permission !== 'granted') return;
  const registration = await navigator.serviceWorker.ready;
  const current = await registration.pushManager.getSubscription();
  const publicKey = await serverKey();
  if (saved.time_zone === timeZone() && current?.endpoint === saved.endpoint
      && sameKey(current.options.applicationServerKey, publicKey)) return;
  await setReminder({ time: saved.time, weekdays: saved.weekdays }, publicKey);
}
