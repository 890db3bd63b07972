// The account, inside Settings: create / sign in / sign out / delete, and the sync status.
// History lives on the device first; an account adds a copy on the server and other devices.
import { requestJson } from '../http.js';
import { listRests } from '../rests.js';
import { getSetting, setSetting } from '../store.js';
import * as sync from '../sync.js';
import { confirmDialog } from './confirm.js';
import { esc, plural, toast } from './dom.js';

const { ACCOUNT_KEY } = sync; // shown while offline, when the server cannot be asked

function retryText(seconds) {
  if (!seconds) return '';
  const minutes = Math.ceil(seconds / 60);
  return seconds < 90 ? ` Try again in ${seconds} seconds.` : ` Try again in ${minutes} minutes.`;
}

// A sentence a person can act on, from the API's {"error", "detail"} envelope.
export function problemText(error) {
  if (error.offline) return 'You seem to be offline. Connect to the internet and try again.';
  if (error.code === 'RATE_LIMITED') return `Too many attempts.${retryText(error.retryAfter) || ' Try again later.'}`;
  if (error.code === 'VALIDATION_ERROR') {
    if (/password/i.test(error.message)) return 'The password needs at least 8 characters.';
    if (/email/i.test(error.message)) return 'That does not look like an email address.';
  }
  return error.message;
}

function when(iso) {
  const date = new Date(iso);
  const today = new Date().toDateString() === date.toDateString();
  return today
    ? `today at ${date.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })}`
    : date.toLocaleString(undefined, { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
}

async function statusText() {
  const [pending, last, kept] = await Promise.all([sync.pendingCount(), sync.lastSyncedAt(), listRests()]);
  // Refused rests leave the outbox, flagged (sync.js markRejected).
  const refused = kept.filter((rest) => rest.sync_error).length;
  const waiting = [
    pending ? `${plural(pending, 'rest', 'rests')} not yet synced.` : '',
    refused ? `${plural(refused, 'rest', 'rests')} could not be synced; History shows why.` : '',
  ].join(' ').trim() || 'All rests synced.';
  return `${waiting} ${last ? `Last synced ${when(last)}.` : 'Not synced yet.'}`;
}

const signedOutHtml = () => `
  <p class="muted">Your rests are kept on this device. With an account they are also kept safely on the server and on each device you sign in on.</p>
  <form class="account-form" id="account-form" novalidate>
    <div class="field">
      <label class="label" for="account-email">Email</label>
      <input class="input" type="email" id="account-email" name="email" autocomplete="username" inputmode="email" required>
    </div>
    <div class="field">
      <label class="label" for="account-password">Password</label>
      <input class="input" type="password" id="account-password" name="password" autocomplete="current-password" required aria-describedby="password-hint">
      <span class="hint" id="password-hint">At least 8 characters for a new account.</span>
    </div>
    <p class="form-error" role="alert" id="account-error" hidden></p>
    <div class="btn-row">
      <button type="submit" class="btn btn-accent" value="login">Sign in</button>
      <button type="submit" class="btn" value="register">Create account</button>
    </div>
  </form>`;

const signedInHtml = (email) => `
  <p>Signed in as <strong>${esc(email)}</strong>.</p>
  <p class="sync-status" id="sync-status" role="status">…</p>
  <p class="form-error" role="alert" id="account-error" hidden></p>
  <div class="btn-row">
    <button type="button" class="btn btn-accent" id="sync-now">Sync now</button>
    <button type="button" class="btn" id="sign-out">Sign out</button>
  </div>
  <p class="small muted">Your account's history as a file, from the server:
    <a href="/api/history/export.csv" download>CSV</a> · <a href="/api/history/export.json" download>JSON</a></p>
  <button type="button" class="btn btn-quiet btn-danger-text btn-block" id="delete-account">Delete account</button>`;

const deleteBodyHtml = () => `
  <p>This erases your account and every rest stored with it on the server, for real. It cannot be undone.</p>
  <p>This device keeps its own copy of your history unless you choose to clear it too.</p>
  <div class="field">
    <label class="label" for="delete-password">Password</label>
    <input class="input" type="password" id="delete-password" autocomplete="current-password" required>
  </div>
  <label class="toggle"><input type="checkbox" id="clear-device"> Also clear the history on this device</label>`;

// Who is signed in: the server's answer when online, the remembered email when not.
async function currentEmail() {
  try {
    const me = await requestJson('/api/auth/me');
    await setSetting(ACCOUNT_KEY, me.email);
    return me.email;
  } catch (error) {
    if (error.offline) return getSetting(ACCOUNT_KEY, null);
    if (error.status === 401) await setSetting(ACCOUNT_KEY, null);
    return null;
  }
}

export async function mountAccount(slot, { isCurrent }) {
  const showError = (text) => {
    const el = slot.querySelector('#account-error');
    if (!el) return;
    el.textContent = text;
    el.hidden = !text;
  };

  async function refreshStatus() {
    const el = slot.querySelector('#sync-status');
    if (el && isCurrent()) el.textContent = await statusText().catch(() => '');
  }

  async function draw(email) {
    if (!isCurrent()) return;
    slot.innerHTML = email ? signedInHtml(email) : signedOutHtml();
    if (email) await refreshStatus();
  }

  async function signIn(action, form) {
    const email = form.elements.email.value.trim();
    const password = form.elements.password.value;
    if (!email.includes('@')) return showError('Please enter your email address.');
    if (!password) return showError('Please enter your password.');
    if (action === 'register' && password.length < 8) return showError('The password needs at least 8 characters.');
    await sync.holdSyncs(); // nothing syncs under the new session before the history is settled
    const me = await requestJson(action === 'register' ? '/api/auth/register' : '/api/auth/login',
      { method: 'POST', body: { email, password } });
    await setSetting(ACCOUNT_KEY, me.email);
    // Loaded when someone signs in, off the path to an interactive first screen.
    const { settleHistoryFor } = await import('./history-owner.js');
    const settled = await settleHistoryFor(me.email); // asks if the rests are another account's
    if (!settled) {
      // Backed out of the question: back out of the sign-in too, leaving everything as it was.
      await requestJson('/api/auth/logout', { method: 'POST' });
      await setSetting(ACCOUNT_KEY, null);
      toast('Not signed in. The rests on this phone are as they were.');
      return undefined;
    }
    let mergeProblem = null;
    try {
      await sync.mergeAfterSignIn(me.email); // the union of this device's history and the account's
    } catch (error) {
      mergeProblem = error; // signed in all the same; auto sync finishes the merge later
    }
    await draw(me.email);
    if (mergeProblem) showError(`Signed in, but the first sync did not finish: ${problemText(mergeProblem)}`);
    const removed = settled === 'removed' ? ' The other account\'s rests were removed from this phone.' : '';
    toast(`${action === 'register' ? 'Account created.' : 'Signed in.'}${removed}`);
    return undefined;
  }

  async function deleteAccount() {
    let clear = false;
    const erased = await confirmDialog({
      title: 'Delete your account?',
      bodyHtml: deleteBodyHtml(),
      confirmLabel: 'Delete account',
      cancelLabel: 'Keep my account',
      onConfirm: async (dialog) => {
        const password = dialog.querySelector('#delete-password').value;
        if (!password) throw new Error('Please enter your password to confirm.');
        clear = dialog.querySelector('#clear-device').checked;
        try {
          await requestJson('/api/auth/account', { method: 'DELETE', body: { password } });
        } catch (error) {
          throw new Error(problemText(error));
        }
      },
    });
    if (!erased) return;
    await sync.forgetAccount({ clearHistory: clear });
    await setSetting(ACCOUNT_KEY, null);
    await draw(null);
    toast(clear ? 'Account deleted, and this device cleared.' : 'Account deleted. Your history stays on this device.');
  }

  slot.addEventListener('submit', async (event) => {
    if (event.target.id !== 'account-form') return;
    event.preventDefault();
    const buttons = event.target.querySelectorAll('button');
    buttons.forEach((b) => { b.disabled = true; });
    showError('');
    try {
      await signIn(event.submitter?.value ?? 'login', event.target);
    } catch (error) {
      showError(problemText(error));
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  });

  slot.addEventListener('click', async (event) => {
    const { id } = event.target;
    if (!['sync-now', 'sign-out', 'delete-account'].includes(id)) return;
    showError('');
    try {
      if (id === 'sync-now') {
        event.target.disabled = true;
        const result = await sync.syncNow();
        if (result?.skipped === 'offline') showError('You are offline. Your rests sync as soon as you are back online.');
        if (result?.skipped === 'signed-out') await draw(await currentEmail());
        await refreshStatus();
      } else if (id === 'sign-out') {
        await sync.syncNow().catch(() => null); // what is still waiting reaches the account first
        await requestJson('/api/auth/logout', { method: 'POST' });
        await sync.forgetAccount({ clearHistory: false });
        await setSetting(ACCOUNT_KEY, null);
        await draw(null);
        toast('Signed out. Your history stays on this device.');
      } else {
        await deleteAccount();
      }
    } catch (error) {
      showError(problemText(error));
    } finally {
      if (id === 'sync-now' && event.target.isConnected) event.target.disabled = false;
    }
  });

  // The status follows the sync engine: pushes, pulls and each new local change.
  addEventListener(sync.SYNC_EVENT, refreshStatus);
  await draw(await currentEmail());
  return () => removeEventListener(sync.SYNC_EVENT, refreshStatus);
}
