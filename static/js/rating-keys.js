/* evalsite — rating page: the keyboard map (the keys are listed in rating.js's header
   and in the help dialog, templates/scoring/_shortcuts.html). Keys are ignored while
   typing in a text field, during IME composition and while a dialog is open.
   One of the rating-*.js parts; see rating.js. */
(() => {
  "use strict";

  const ns = (window.evalsite = window.evalsite || {});
  const R = (ns.rating = ns.rating || {});
  const { $ } = R;

  const TYPING = "textarea, select, input[type=text], input[type=number], input[type=search], input[type=email], input:not([type]), [contenteditable=''], [contenteditable='true']";

  R.listenKeys = function listenKeys(page, { formState, drafts, submitter, panels }) {
    const { isPair, media, comment } = page;
    const { submit } = submitter;

    document.addEventListener("keydown", (event) => {
      if (event.defaultPrevented || event.isComposing || event.keyCode === 229) return;
      if ($("dialog[open]")) return; // dialogs handle their own keys (Esc closes)
      const t = event.target instanceof Element ? event.target : document.body;
      const key = event.key;
      if (event.ctrlKey || event.metaKey) {
        if (key === "Enter" && t === comment) {
          event.preventDefault();
          submit();
        }
        return;
      }
      if (event.altKey) return;
      if (t.matches(TYPING)) {
        if (key === "Escape") t.blur();
        return;
      }
      const handled = handleKey(key, t);
      if (handled) event.preventDefault();
    });

    function handleKey(key, t) {
      if (key === "?") { panels.openHelp(); return true; }
      if (key === "Enter") {
        if (t.matches("button, a, summary, [role=button]")) return false;
        submit();
        return true;
      }
      if (/^[0-9]$/.test(key) && !isPair && formState.scoreDigit(Number(key))) return true;
      if ((key === "+" || key === "=") && media.hasImages) { media.zoom(1); return true; }
      if ((key === "-" || key === "_") && media.hasImages) { media.zoom(-1); return true; }
      if (key === "0" && media.hasImages) { media.reset(); return true; }
      if (!isPair && (key === "ArrowDown" || key === "ArrowUp")) {
        formState.moveCurrent(key === "ArrowDown" ? 1 : -1);
        return true;
      }
      if (!isPair && (key === "n" || key === "N")) return formState.toggleNa();
      if (isPair) {
        const row = t.closest?.("[data-preference]");
        const side = { ArrowLeft: "left", ArrowRight: "right", t: "tie", T: "tie" }[key];
        if (row && side) { formState.choosePreference(row, side); return true; }
        if (key === "ArrowLeft") { formState.choose("left"); return true; }
        if (key === "ArrowRight") { formState.choose("right"); return true; }
        if (key === "t" || key === "T") { formState.choose("tie"); return true; }
        if (key === "b" || key === "B") { formState.choose("both_poor"); return true; }
      }
      if (key === " " && media.hasVideos && !t.matches("button, a, input, summary, video, label")) {
        media.togglePlay();
        return true;
      }
      if (media.hasVideos && (key === "," || key === ".")) { media.step(key === "," ? -1 : 1); return true; }
      if (media.hasVideos && (key === "l" || key === "L")) { media.toggleLoop(); return true; }
      if (key === "f" || key === "F") { media.fullscreen?.(); return true; }
      if (key === "e" || key === "E") { panels.togglePrompt(); return true; }
      if ((key === "c" || key === "C") && comment && !comment.disabled) { comment.focus(); return true; }
      if (key === "r" || key === "R") { panels.openProblem(); return panels.canReportProblem; }
      if (key === "[" && $("#prev-item")) { drafts.flushDraft({ keepalive: true }); $("#prev-item").click(); return true; }
      if (key === "]" && $("#next-item")) { drafts.flushDraft({ keepalive: true }); $("#next-item").click(); return true; }
      return false;
    }
  };
})();
