// The constructive rest position, drawn inline (side view) so it ships with the app and
// takes its colours from the theme.
export const POSITION_SVG = `
<svg viewBox="0 0 360 170" role="img" aria-labelledby="pos-title pos-desc">
  <title id="pos-title">The constructive rest position, seen from the side</title>
  <desc id="pos-desc">A person lies on their back on a mat, knees bent and pointing up, feet flat on the floor with the heels a forearm's length from the buttocks. One arm rests with the elbow on the floor and the hand on the belly.</desc>
  <rect class="fig-mat" x="18" y="122" width="324" height="8" rx="4"/>
  <line class="fig-floor" x1="8" y1="131" x2="352" y2="131"/>
  <circle class="fig-head" cx="48" cy="105" r="16"/>
  <path class="fig-body" stroke-width="26" d="M76 109 L186 109"/>
  <path class="fig-body" stroke-width="21" d="M190 108 L246 56"/>
  <path class="fig-body" stroke-width="15" d="M248 56 L287 112"/>
  <path class="fig-body" stroke-width="9" d="M284 117 L313 118"/>
  <path class="fig-arm-halo" d="M92 102 L126 116 L168 95"/>
  <path class="fig-arm" d="M92 102 L126 116 L168 95"/>
  <path class="fig-measure" d="M200 148 L286 148 M200 142 V154 M286 142 V154"/>
  <text class="fig-note" x="243" y="166" text-anchor="middle">30–40 cm</text>
  <text class="fig-note" x="246" y="30" text-anchor="middle">knees up, resting</text>
  <text class="fig-note" x="326" y="104" text-anchor="middle">feet flat</text>
  <text class="fig-note" x="120" y="80" text-anchor="middle">back heavy, not pressed</text>
</svg>`;
