/* evalsite — rating page: time on task, counted only while the page is visible and
   the expert is not idle (or a video plays); shown in form[data-time-ms].
   One of the rating-*.js parts; see rating.js. */
(() => {
  "use strict";

  const ns = (window.evalsite = window.evalsite || {});
  const R = (ns.rating = ns.rating || {});

  const IDLE_MS = 2 * 60 * 1000;

  // onHidden runs when the page is hidden, after the time so far is counted
  R.createTimer = function createTimer(page, { onHidden }) {
    const { form, media } = page;
    const timer = { elapsed: 0, last: performance.now(), lastInput: performance.now() };

    function tick() {
      const now = performance.now();
      const delta = Math.min(now - timer.last, 5000); // a sleeping laptop adds nothing
      timer.last = now;
      const active = now - timer.lastInput < IDLE_MS || media.anyPlaying?.();
      if (document.visibilityState === "visible" && active) timer.elapsed += delta;
      form.dataset.timeMs = String(Math.round(timer.elapsed));
    }

    const touch = () => { timer.lastInput = performance.now(); };
    for (const type of ["keydown", "pointerdown", "pointermove", "wheel", "scroll", "input", "touchstart"]) {
      window.addEventListener(type, touch, { passive: true, capture: true });
    }
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "hidden") {
        tick();
        onHidden();
      } else {
        timer.last = performance.now();
        touch();
      }
    });
    setInterval(tick, 1000);

    return {
      tick,
      elapsedMs: () => Math.round(timer.elapsed),
      // a restored draft carries on from the time it had
      resume(ms) { timer.elapsed = ms; },
    };
  };
})();
