// The safety note: shown in full before the first rest, and one tap away after that.
export const SAFETY_POINTS = `
<p>This guide is for relaxation and information, not diagnosis or treatment.</p>
<ul>
  <li>Stop, or change position, if anything hurts.</li>
  <li>See a health professional for severe, worsening or unexplained back pain, numbness, or pain spreading down a leg.</li>
  <li>Late in pregnancy, lie on your side instead of your back.</li>
</ul>`;

export const SAFETY_NOTE = `
<section class="safety" aria-labelledby="safety-title">
  <h2 id="safety-title">Before you begin: safety</h2>
  ${SAFETY_POINTS}
</section>`;

export const SAFETY_DETAILS = `
<details class="safety-details">
  <summary>Safety</summary>
  ${SAFETY_POINTS}
</details>`;
