// On a shared phone, whose rests are these? The device remembers the account its history was
// last merged with (sync.js); signing in with another one asks first, so one person's rests
// never travel into someone else's account unasked. History made without an account, or the
// same account again, joins with no question.
import * as sync from '../sync.js';
import { askDialog } from './confirm.js';
import { esc, plural } from './dom.js';

function fateText({ owner, rests, unsynced }) {
  const them = rests === 1 ? 'It' : 'They';
  if (!unsynced) return `${them} ${rests === 1 ? 'stays' : 'stay'} in ${esc(owner)}'s account either way.`;
  const some = unsynced === rests ? `${them} ${rests === 1 ? 'has' : 'have'}` : `${unsynced} of them ${unsynced === 1 ? 'has' : 'have'}`;
  return `${some} not been synced to ${esc(owner)} and would be lost if removed.`;
}

// The question is focused first (not a button), so it is read out before anything is chosen.
const questionHtml = (held, email) => `
  <div id="other-account-text">
    <p tabindex="-1" autofocus>This phone holds ${plural(held.rests, 'rest', 'rests')} from another account (${esc(held.owner)}).
      Add them to ${esc(email)}, or remove them from this phone?</p>
    <p>${fateText(held)}</p>
  </div>`;

// Resolves 'kept' or 'removed' once the history may be merged with `email`'s account, or null
// when the person backed out of the question (nothing has changed).
export async function settleHistoryFor(email) {
  const held = await sync.historyOnDevice();
  if (!held.owner || held.owner === email) return 'kept';
  if (held.rests) {
    const answer = await askDialog({
      title: 'Rests from another account',
      bodyHtml: questionHtml(held, email),
      describedBy: 'other-account-text',
      confirmLabel: 'Remove them from this phone',
      cancelLabel: `Add them to ${email}`,
    });
    if (answer === null) return null;
    if (answer === 'cancel') return 'kept';
  }
  // Removed (or only the other account's deletions were left): none of it reaches this account.
  await sync.forgetAccount({ clearHistory: true });
  return held.rests ? 'removed' : 'kept';
}
