// A modal confirmation (<dialog>): for the few actions that cannot be undone.
// onConfirm may throw; its message is shown in the dialog, which stays open to try again.
import { esc } from './dom.js';

let counter = 0;

export const confirmDialog = async (options) => (await askDialog(options)) === 'confirm';

// The same dialog as a choice between its two buttons: resolves 'confirm', 'cancel', or null
// when dismissed (Escape), for questions where backing out is an answer of its own.
// describedBy: the id of the body's text, read out with the title.
export function askDialog({ title, bodyHtml = '', confirmLabel, cancelLabel = 'Cancel', describedBy, onConfirm = async () => {} }) {
  const id = `dialog-${++counter}`;
  const dialog = document.createElement('dialog');
  dialog.className = 'dialog';
  dialog.setAttribute('aria-labelledby', `${id}-title`);
  if (describedBy) dialog.setAttribute('aria-describedby', describedBy);
  dialog.innerHTML = `
  <form method="dialog" class="dialog-form" novalidate>
    <h2 id="${id}-title" class="dialog-title">${esc(title)}</h2>
    ${bodyHtml}
    <p class="form-error" role="alert" hidden></p>
    <div class="btn-row">
      <button type="submit" class="btn btn-danger" value="confirm">${esc(confirmLabel)}</button>
      <button type="submit" class="btn" value="cancel" formnovalidate>${esc(cancelLabel)}</button>
    </div>
  </form>`;
  document.body.append(dialog);
  const error = dialog.querySelector('.form-error');

  return new Promise((resolve) => {
    let confirmed = false;
    dialog.querySelector('form').addEventListener('submit', async (event) => {
      if (event.submitter?.value !== 'confirm') return; // the dialog closes itself
      event.preventDefault();
      const buttons = dialog.querySelectorAll('button');
      buttons.forEach((b) => { b.disabled = true; });
      try {
        await onConfirm(dialog);
        confirmed = true;
        dialog.close();
      } catch (problem) {
        error.textContent = problem.message;
        error.hidden = false;
      } finally {
        buttons.forEach((b) => { b.disabled = false; });
      }
    });
    dialog.addEventListener('close', () => {
      dialog.remove();
      // A cancel button's form submission sets returnValue; Escape leaves it empty.
      resolve(confirmed ? 'confirm' : (dialog.returnValue === 'cancel' ? 'cancel' : null));
    });
    dialog.showModal();
  });
}
