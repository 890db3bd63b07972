// "Keep screen on" for getting into position. Absent where the Screen Wake Lock API is missing.
export function wakeLockToggle(container) {
  if (!('wakeLock' in navigator)) return () => {};
  container.innerHTML = `
    <label class="toggle"><input type="checkbox" id="wake-lock"> Keep screen on</label>
    <span class="small" id="wake-lock-note" aria-live="polite"></span>`;
  const box = container.querySelector('#wake-lock');
  const note = container.querySelector('#wake-lock-note');
  let sentinel = null;

  async function acquire() {
    try {
      sentinel = await navigator.wakeLock.request('screen');
      sentinel.addEventListener('release', () => { sentinel = null; });
      note.textContent = '';
    } catch {
      box.checked = false;
      note.textContent = 'The screen can’t be kept on right now.';
    }
  }
  const release = () => { sentinel?.release().catch(() => {}); sentinel = null; };
  // The browser drops the lock when the page is hidden; take it again on return.
  const onVisible = () => { if (box.checked && !sentinel && document.visibilityState === 'visible') acquire(); };

  box.addEventListener('change', () => (box.checked ? acquire() : release()));
  document.addEventListener('visibilitychange', onVisible);
  return () => {
    document.removeEventListener('visibilitychange', onVisible);
    release();
  };
}
