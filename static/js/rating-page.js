/* evalsite — rating page: the shared namespace, DOM helpers and the page context
   (the assignment's data, the UI strings, the mode, the status line).
   One of the rating-*.js parts; rating.js (loaded last) wires them together and
   documents the page's contract. Each part only defines functions on
   window.evalsite.rating when it loads; nothing runs until rating.js calls it. */
(() => {
  "use strict";

  const ns = (window.evalsite = window.evalsite || {});
  const R = (ns.rating = ns.rating || {});

  const $ = (selector, root = document) => root.querySelector(selector);
  const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];
  const fmt = (text, values) => String(text).replace(/%\((\w+)\)s/g, (_, k) => values[k] ?? "");

  R.$ = $;
  R.$$ = $$;
  R.fmt = fmt;

  // The page as every part sees it; null when this is not a judgment page.
  R.readPage = function readPage() {
    const form = $("#judgment");
    if (!form) return null;
    const data = JSON.parse($("#assignment-data").textContent);
    const mode = data.mode; // live | practice | readonly
    const saveStatus = $("#save-status");
    return {
      form,
      data,
      S: JSON.parse($("#ui-strings").textContent),
      media: window.evalsiteMedia || {},
      isPair: data.kind === "pair",
      mode,
      live: mode === "live",
      fields: $("#judgment-fields"),
      submitButton: $("#submit-button"),
      comment: $("#comment"),
      dimensions: () => $$(".dimension", form),
      setStatus(status, text) {
        if (!saveStatus) return;
        saveStatus.dataset.status = status;
        saveStatus.textContent = text || "";
      },
    };
  };
})();
