/* evalsite — rating page: what sits beside the form. The anchor texts shown or hidden
   (remembered across items), the English prompt, the help dialog and the problem
   report dialog.
   One of the rating-*.js parts; see rating.js. */
(() => {
  "use strict";

  const ns = (window.evalsite = window.evalsite || {});
  const R = (ns.rating = ns.rating || {});
  const { $, fmt } = R;

  R.createPanels = function createPanels(page, { net }) {
    const { form, data, S } = page;

    // anchors shown or hidden, remembered across items
    const anchorsToggle = $("#anchors-toggle");
    if (anchorsToggle) {
      try { anchorsToggle.checked = localStorage.getItem("evalsite:anchors") !== "hide"; } catch { /* default */ }
      const apply = () => form.classList.toggle("hide-anchors", !anchorsToggle.checked);
      anchorsToggle.addEventListener("change", () => {
        apply();
        try { localStorage.setItem("evalsite:anchors", anchorsToggle.checked ? "show" : "hide"); } catch { /* */ }
      });
      apply();
    }

    const promptToggle = $("#prompt-en-toggle");
    function togglePrompt() {
      const en = $("#prompt-en");
      if (!en) return;
      en.hidden = !en.hidden;
      promptToggle?.setAttribute("aria-expanded", String(!en.hidden));
    }
    promptToggle?.addEventListener("click", togglePrompt);

    const help = $("#help-dialog");
    const openHelp = () => { if (help && !help.open) help.showModal(); };
    $("#help-open")?.addEventListener("click", openHelp);

    const problem = $("#problem-dialog");
    const problemText = $("#problem-text");
    const problemStatus = $("#problem-status");
    function openProblem() {
      if (!problem || problem.open) return;
      problemStatus.textContent = "";
      problem.showModal();
      problemText.focus();
    }
    $("#problem-open")?.addEventListener("click", openProblem);
    $("#problem-cancel")?.addEventListener("click", () => problem.close());
    $("#problem-send")?.addEventListener("click", async () => {
      const text = problemText.value.trim();
      if (!text) {
        problemStatus.textContent = S.problemEmpty;
        return;
      }
      const button = $("#problem-send");
      button.disabled = true;
      try {
        const response = await net.postJSON(data.urls.problem, { text });
        const body = await response.json().catch(() => null);
        if (response.ok && body?.ok) {
          problemStatus.textContent = S.problemSent;
          problemText.value = "";
          setTimeout(() => problem.close(), 1200);
        } else if (response.status === 400 && body?.errors) {
          problemStatus.textContent = Object.values(body.errors).flat().join(" ");
        } else {
          problemStatus.textContent = response.status === 401 ? S.login : S.forbidden;
        }
      } catch {
        problemStatus.textContent = fmt(S.retrying, { s: "—", n: 1 });
      } finally {
        button.disabled = false;
      }
    });

    return { togglePrompt, openHelp, openProblem, canReportProblem: Boolean(problem) };
  };
})();
