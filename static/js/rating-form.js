/* evalsite — rating page: the form's state. Reading and writing the scores, N/A,
   choices, tags and comment; the current dimension (where digits go); the
   validation shown before a submit and the errors the server sends back; the form's
   own events (N/A clears a score, slider and number box agree).
   One of the rating-*.js parts; see rating.js. */
(() => {
  "use strict";

  const ns = (window.evalsite = window.evalsite || {});
  const R = (ns.rating = ns.rating || {});
  const { $, $$ } = R;

  R.createForm = function createForm(page) {
    const { form, data, S, isPair, mode, comment, submitButton, dimensions } = page;

    // --- reading and writing the form ------------------------------------------------------

    function scoreOf(dim) {
      if (dim.dataset.input === "slider") {
        const raw = $("[data-number]", dim).value.trim();
        return raw === "" ? null : Number.parseInt(raw, 10);
      }
      const checked = $("input[data-score]:checked", dim);
      return checked ? Number.parseInt(checked.value, 10) : null;
    }

    function readState() {
      const state = {
        v: 1,
        tags: $$("input[data-tag]:checked", form).map((i) => i.value),
        comment: comment ? comment.value : "",
      };
      if (isPair) {
        state.choice = $("input[data-choice]:checked", form)?.value || "";
        state.dimension_choices = {};
        for (const row of $$("[data-preference]", form)) {
          const picked = $("input[data-pref]:checked", row);
          if (picked) state.dimension_choices[row.dataset.preference] = picked.value;
        }
      } else {
        state.scores = {};
        state.na = [];
        for (const dim of dimensions()) {
          const code = dim.dataset.dimension;
          if ($("[data-na]", dim)?.checked) state.na.push(code);
          else {
            const value = scoreOf(dim);
            if (value !== null && !Number.isNaN(value)) state.scores[code] = value;
          }
        }
      }
      return state;
    }

    function applyState(state) {
      const tags = new Set(state.tags || []);
      $$("input[data-tag]", form).forEach((i) => { i.checked = tags.has(i.value); });
      if (comment) comment.value = state.comment || "";
      if (isPair) {
        $$("input[data-choice]", form).forEach((i) => { i.checked = i.value === state.choice; });
        const prefs = state.dimension_choices || {};
        for (const row of $$("[data-preference]", form)) {
          const want = prefs[row.dataset.preference];
          $$("input[data-pref]", row).forEach((i) => { i.checked = i.value === want; });
        }
      } else {
        const scores = state.scores || {};
        const na = new Set(state.na || []);
        for (const dim of dimensions()) {
          const code = dim.dataset.dimension;
          const value = scores[code];
          const box = $("[data-na]", dim);
          if (box) box.checked = na.has(code);
          if (dim.dataset.input === "slider") {
            $("[data-number]", dim).value = value ?? "";
            if (value !== undefined && value !== null) $("[data-slider]", dim).value = value;
          } else {
            $$("input[data-score]", dim).forEach((i) => { i.checked = Number(i.value) === value; });
          }
        }
      }
      refresh();
    }

    // the stored judgment (or nothing) in the shape of a draft
    function judgmentState() {
      const j = data.judgment;
      if (!j) return { v: 1 };
      return isPair
        ? { v: 1, choice: j.choice, dimension_choices: j.dimensionChoices, tags: j.tags, comment: j.comment }
        : { v: 1, scores: j.scores, na: j.na, tags: j.tags, comment: j.comment };
    }

    function refresh() {
      if (isPair) {
        const group = $("#choice-group");
        if (group) group.dataset.answered = String(Boolean($("input[data-choice]:checked", form)));
        return;
      }
      for (const dim of dimensions()) {
        const na = Boolean($("[data-na]", dim)?.checked);
        const value = scoreOf(dim);
        dim.dataset.na = String(na);
        dim.dataset.answered = String(na || (value !== null && !Number.isNaN(value)));
        const anchors = $$("[data-anchor]", dim);
        let nearest = null;
        if (!na && value !== null) {
          for (const a of anchors) {
            const d = Math.abs(Number(a.dataset.anchor) - value);
            if (!nearest || d < nearest.d) nearest = { a, d };
          }
        }
        anchors.forEach((a) => a.classList.toggle("near", nearest?.a === a));
      }
    }

    // --- the current dimension (where digits go) ---------------------------------------------

    const current = () => $('.dimension[data-current="true"]', form);

    function setCurrent(dim, { focus = false } = {}) {
      if (!dim) return;
      dimensions().forEach((d) => { if (d !== dim) delete d.dataset.current; });
      dim.dataset.current = "true";
      if (focus) {
        const target = $("input[data-score]:checked", dim) || $("input[data-score]", dim)
          || $("[data-number]", dim);
        target?.focus({ preventScroll: true });
        dim.scrollIntoView({ block: "nearest", behavior: "smooth" });
      }
    }

    function nextUnanswered(after) {
      const all = dimensions();
      const start = after ? all.indexOf(after) + 1 : 0;
      const ordered = [...all.slice(start), ...all.slice(0, start)];
      return ordered.find((d) => d.dataset.answered !== "true") || null;
    }

    function moveCurrent(step) {
      const all = dimensions();
      const index = Math.max(0, all.indexOf(current()));
      setCurrent(all[Math.min(all.length - 1, Math.max(0, index + step))], { focus: true });
    }

    function scoreDigit(digit) {
      const dim = current() || nextUnanswered(null);
      if (!dim || mode === "readonly") return false;
      if (dim.dataset.input === "slider") {
        const box = $("[data-number]", dim);
        box.focus();
        box.value = String(digit);
        box.dispatchEvent(new Event("input", { bubbles: true }));
        return true;
      }
      const radio = $(`input[data-score="${digit}"]`, dim);
      if (!radio) return false;
      radio.checked = true;
      const na = $("[data-na]", dim);
      if (na) na.checked = false;
      radio.dispatchEvent(new Event("change", { bubbles: true }));
      const next = nextUnanswered(dim);
      if (next) setCurrent(next, { focus: true });
      else {
        setCurrent(dim);
        submitButton?.focus();
      }
      return true;
    }

    function toggleNa() {
      const box = current() && $("[data-na]", current());
      if (!box || mode === "readonly") return false;
      box.checked = !box.checked;
      box.dispatchEvent(new Event("change", { bubbles: true }));
      return true;
    }

    function choose(value) {
      const radio = $(`input[data-choice="${value}"]`, form);
      if (!radio || mode === "readonly") return;
      radio.checked = true;
      radio.dispatchEvent(new Event("change", { bubbles: true }));
    }

    function choosePreference(row, value) {
      const radio = $(`input[data-pref="${value}"]`, row);
      if (!radio || mode === "readonly") return;
      radio.checked = true;
      radio.dispatchEvent(new Event("change", { bubbles: true }));
    }

    // --- errors -----------------------------------------------------------------------------------

    function clearErrors() {
      $$("[data-error-for]", form).concat($$('[data-error-for="__all__"]')).forEach((node) => {
        node.hidden = true;
        node.textContent = "";
      });
      $$("[data-invalid]", form).forEach((node) => { delete node.dataset.invalid; });
    }

    function showErrors(errors) {
      clearErrors();
      let first = null;
      for (const [field, messages] of Object.entries(errors || {})) {
        const node = form.querySelector(`[data-error-for="${CSS.escape(field)}"]`)
          || $('[data-error-for="__all__"]');
        node.textContent = [node.textContent, ...[].concat(messages)].filter(Boolean).join(" ");
        node.hidden = false;
        const group = node.closest("fieldset");
        if (group) {
          group.dataset.invalid = "true";
          first = first || group;
        }
      }
      if (first?.classList.contains("dimension")) setCurrent(first, { focus: true });
      else first?.scrollIntoView({ block: "center", behavior: "smooth" });
    }

    function clientErrors(state) {
      const errors = {};
      if (isPair) {
        if (!state.choice) errors.choice = [S.missingChoice];
        return errors;
      }
      const missing = dimensions().filter((d) => d.dataset.answered !== "true");
      for (const dim of missing) errors[dim.dataset.dimension] = [S.missingScore];
      if (missing.length) errors.__all__ = [R.fmt(S.missingScores, { n: missing.length })];
      return errors;
    }

    // --- form events: every edit ends in changed() ---------------------------------------------

    function listen(changed) {
      form.addEventListener("change", (event) => {
        const t = event.target;
        const dim = t.closest(".dimension");
        if (dim) {
          if (t.matches("[data-na]") && t.checked) {
            $$("input[data-score]", dim).forEach((i) => { i.checked = false; });
            const number = $("[data-number]", dim);
            if (number) number.value = "";
          } else if (t.matches("input[data-score]")) {
            const na = $("[data-na]", dim);
            if (na) na.checked = false;
          }
          delete dim.dataset.invalid;
          const error = $("[data-error-for]", dim);
          if (error) error.hidden = true;
        }
        if (t.matches("[data-choice]")) {
          delete $("#choice-group").dataset.invalid;
          $('[data-error-for="choice"]').hidden = true;
        }
        changed();
      });
      form.addEventListener("input", (event) => {
        const t = event.target;
        const dim = t.closest(".dimension");
        if (dim && t.matches("[data-slider]")) $("[data-number]", dim).value = t.value;
        if (dim && t.matches("[data-number]") && t.value !== "") $("[data-slider]", dim).value = t.value;
        if (dim && (t.matches("[data-slider]") || t.matches("[data-number]"))) {
          const na = $("[data-na]", dim);
          if (na) na.checked = false;
        }
        if (t.matches("textarea, [data-slider], [data-number]")) changed();
      });
      form.addEventListener("focusin", (event) => {
        const dim = event.target.closest(".dimension");
        if (dim) setCurrent(dim);
      });
      form.addEventListener("click", (event) => {
        const clear = event.target.closest("[data-pref-clear]");
        if (!clear) return;
        $$("input[data-pref]", clear.closest("[data-preference]")).forEach((i) => { i.checked = false; });
        changed();
      });
    }

    return {
      readState, applyState, judgmentState, refresh,
      setCurrent, nextUnanswered, moveCurrent, scoreDigit, toggleNa, choose, choosePreference,
      clearErrors, showErrors, clientErrors,
      listen,
    };
  };
})();
