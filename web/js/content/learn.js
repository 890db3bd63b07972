// The Learn pages: static text shipped with the app, so they read the same offline.
import { POSITION_SVG } from './position.js';
import { SAFETY_POINTS } from './safety.js';

export const LEARN_SECTIONS = [
  ['psoas', 'The psoas'],
  ['position', 'The position'],
  ['release', 'Release, not stretch'],
  ['variation', 'One leg long'],
  ['getting-up', 'Getting up'],
  ['habits', 'Everyday habits'],
  ['safety', 'Safety'],
];

export const LEARN_HTML = `
<section aria-labelledby="psoas">
  <h2 id="psoas">The psoas</h2>
  <p>Deep inside the body, behind the organs of the belly, a long muscle runs on each side from the lower spine, down across the front of the hip socket, to the inside of the upper thigh. It is the psoas, and together with the iliacus it is often called the iliopsoas. It is the only muscle that links the spine to the legs.</p>
  <p>When you walk, it helps swing each leg forward. It flexes the hip and helps steady the curve of the low back. (How much more it does, for example whether it also arches the spine, is still argued about.)</p>
  <p>A healthy psoas is supple and quick to respond. It joins in when we are startled and tightens to guard the spine when something is hurt. Kept tight for a long time, it adds tension and takes away some freedom of movement.</p>
</section>

<section aria-labelledby="position">
  <h2 id="position">The position</h2>
  <figure class="figure">${POSITION_SVG}</figure>
  <ul>
    <li>Lie on your back on something firm but comfortable, like a mat or a carpet.</li>
    <li>Bend your knees. Feet flat and parallel, about as wide apart as the front of your hips.</li>
    <li>Heels roughly 30–40 cm (12–16 inches) from your buttocks.</li>
    <li>Arms below shoulder height: along your sides, folded over your ribs, or hands resting on your pelvis.</li>
    <li>If your chin tilts up, put a small pillow or folded towel under your head.</li>
    <li>Don't press your low back into the floor and don't tuck your pelvis. Simply rest.</li>
  </ul>
  <p>Stay 10 to 20 minutes. With the floor holding you, the muscles around the hips and spine have less to do. Many people find the pelvis settles, the back lengthens along the floor, and they feel calmer afterwards.</p>
  <p>Notice how your back meets the floor at the start, and again near the end. That change is what the practice is about, which is why the app asks how your low back feels before and after.</p>
  <h3>Other ways to lie</h3>
  <ul>
    <li><strong>On a bed</strong>, if getting down to the floor is hard. A firm mattress works best.</li>
    <li><strong>Calves on a chair seat</strong>, if bent knees don't feel settled: the seat carries your legs.</li>
    <li><strong>On your side</strong>, with a pillow between the knees, late in pregnancy or whenever lying on your back is uncomfortable.</li>
  </ul>
</section>

<section aria-labelledby="release">
  <h2 id="release">Release, not stretch</h2>
  <p>Your hips are bent, yet the muscles at the front of them have nothing to do: your feet and the floor hold your legs up. That is why this is a release and not a stretch.</p>
  <p>Pulling hard on a tight muscle can make it hold on even more. Letting it relax is how it finds its length again. Helpful thoughts while you lie there:</p>
  <ul>
    <li>Let the back of your body spread and widen on the floor.</li>
    <li>Let your knees lean gently toward each other, so your legs need no effort to stay up.</li>
    <li>Let your breathing be easy. There's nothing to do.</li>
  </ul>
</section>

<section aria-labelledby="variation">
  <h2 id="variation">One leg long</h2>
  <p>The "Leg slide" routine adds a slow change. Start with both knees bent. After a while, slide one leg out long along the floor and leave it there for several minutes (about six in the default 20-minute session; a longer session gives each leg more). Then bend it back, and lengthen the other leg for the same time. Each hip gets its own turn to let go.</p>
</section>

<section aria-labelledby="getting-up">
  <h2 id="getting-up">Getting up</h2>
  <p>Don't sit straight up. Roll onto one side first, rest there for a breath or two, then push yourself up slowly with your arms.</p>
</section>

<section aria-labelledby="habits">
  <h2 id="habits">Everyday habits</h2>
  <p>A few minutes a day of letting go adds up, and so does less strain the rest of the time.</p>
  <ul>
    <li><strong>Move easily.</strong> An unhurried walk, a warm bath, or lying with your feet up helps you unwind.</li>
    <li><strong>Your chair.</strong> Look for a seat where your bones carry you, so you don't have to hold yourself up.</li>
    <li><strong>Your car seat.</strong> Bucket seats tilt you back; a firm wedge cushion can level the seat.</li>
    <li><strong>Your shoes.</strong> Choose shoes that bend easily, cushion hard pavements, have no raised heel, leave room for your toes and spread your weight across the whole foot.</li>
  </ul>
</section>

<section aria-labelledby="safety">
  <h2 id="safety">Safety</h2>
  ${SAFETY_POINTS}
  <p>Getting up: roll onto your side first and come up slowly.</p>
</section>

<section aria-labelledby="reading">
  <h2 id="reading">Further reading</h2>
  <p>The position goes back to Lulu Sweigard's work on posture and movement. Others who have written about it include Mabel Todd, Eric Franklin, André Bernard and Liz Koch.</p>
</section>`;
