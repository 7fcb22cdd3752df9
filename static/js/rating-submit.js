/* evalsite — rating page: the idempotent submit. One submission key per judgment,
   retried with backoff (and a countdown in #net-banner) until it lands; a lost login
   or CSRF token is reported rather than retried blindly.
   One of the rating-*.js parts; see rating.js. */
(() => {
  "use strict";

  const ns = (window.evalsite = window.evalsite || {});
  const R = (ns.rating = ns.rating || {});
  const { $, fmt } = R;

  R.createSubmitter = function createSubmitter(page, { formState, net, timer, drafts }) {
    const { form, data, S, mode, fields, submitButton, setStatus } = page;
    let submitting = false;
    let requestActive = false;
    let pendingKey = null;
    let snapshot = null;
    let attempt = 0;
    let retryTimer = null;
    let countdown = null;
    let csrfRefreshed = false;

    function setBusy(busy) {
      submitting = busy;
      if (submitButton) submitButton.disabled = busy;
      form.setAttribute("aria-busy", String(busy));
      if (fields && mode !== "readonly") fields.disabled = busy;
      if (busy && pendingKey) form.dataset.submissionKey = pendingKey;
      else delete form.dataset.submissionKey;
    }

    function showNet(kind, text) {
      const banner = $("#net-banner");
      if (!banner) return;
      banner.dataset.net = kind;
      $("#net-message").textContent = text;
      banner.hidden = false;
    }

    function hideNet() {
      const banner = $("#net-banner");
      if (banner) { banner.hidden = true; banner.dataset.net = ""; }
      clearInterval(countdown);
    }

    function submit() {
      if (submitting || mode === "readonly") return; // a double click does nothing
      const state = formState.readState();
      const errors = formState.clientErrors(state);
      if (Object.keys(errors).length) {
        formState.showErrors(errors);
        setStatus("error", S.fixErrors);
        return;
      }
      formState.clearErrors();
      if (mode === "practice") {
        setStatus("practice", S.practiceDone);
        return;
      }
      drafts.cancelPending();
      timer.tick();
      pendingKey = pendingKey || R.newKey();
      const payload = { submission_key: pendingKey, time_on_task_ms: timer.elapsedMs(), problem: "" };
      for (const name of ["tags", "comment", "scores", "na", "choice", "dimension_choices"]) {
        if (name in state) payload[name] = state[name];
      }
      snapshot = payload;
      attempt = 0;
      csrfRefreshed = false;
      setBusy(true);
      send();
    }

    async function send() {
      if (requestActive) return;
      requestActive = true;
      clearTimeout(retryTimer);
      form.dataset.state = attempt ? "retrying" : "submitting";
      setStatus("submitting", attempt ? S.retryingNow : S.submitting);
      let response;
      try {
        response = await net.postJSON(data.urls.submit, snapshot);
      } catch {
        requestActive = false;
        scheduleRetry();
        return;
      }
      requestActive = false;
      if (response.status >= 500 || response.status === 429 || response.status === 408) {
        scheduleRetry();
        return;
      }
      if (response.status === 401) {
        form.dataset.state = "retrying";
        showNet("login", S.login);
        return;
      }
      if (response.status === 403) {
        if (!csrfRefreshed && (await net.refreshCsrf())) {
          csrfRefreshed = true;
          send();
          return;
        }
        form.dataset.state = "retrying";
        showNet("forbidden", S.forbidden);
        return;
      }
      const body = await response.json().catch(() => null);
      if (response.ok && body?.ok) {
        succeeded(body);
        return;
      }
      hideNet();
      setBusy(false);
      form.dataset.state = "error";
      pendingKey = null; // nothing was stored under it
      if (response.status === 400) {
        formState.showErrors(body?.errors);
        setStatus("error", S.fixErrors);
      } else {
        const message = response.status === 404 ? S.notFound : body?.message || S.closed;
        formState.showErrors({ __all__: [message] });
        setStatus("error", message);
      }
    }

    function scheduleRetry() {
      attempt += 1;
      const delay = Math.min(30000, 1000 * 2 ** (attempt - 1)) * (0.85 + Math.random() * 0.3);
      const due = Date.now() + delay;
      form.dataset.state = "retrying";
      setStatus("retrying", "");
      const render = () => {
        const seconds = Math.max(0, Math.ceil((due - Date.now()) / 1000));
        showNet("retrying", fmt(S.retrying, { s: seconds, n: attempt }));
      };
      render();
      clearInterval(countdown);
      countdown = setInterval(render, 1000);
      retryTimer = setTimeout(() => { clearInterval(countdown); send(); }, delay);
    }

    function succeeded(body) {
      hideNet();
      drafts.forget();
      pendingKey = null;
      data.revision = body.revision;
      form.dataset.revision = String(body.revision);
      form.dataset.state = "submitted";
      setStatus("submitted", S.submitted);
      submitting = false;
      if (submitButton) submitButton.disabled = true;
      delete form.dataset.submissionKey;
      // a first judgment goes on to the next unfinished item; a revision to the next in order
      const next = !body.created && $("#next-item") ? $("#next-item").href : body.next_url;
      setTimeout(() => location.assign(next), 250);
    }

    $("#net-retry")?.addEventListener("click", async () => {
      if (!submitting) return;
      clearTimeout(retryTimer);
      clearInterval(countdown);
      if ($("#net-banner").dataset.net !== "retrying") await net.refreshCsrf();
      send();
    });
    window.addEventListener("online", () => {
      if (submitting && !requestActive) send();
      else drafts.flushDraft();
    });
    window.addEventListener("beforeunload", (event) => {
      if (submitting) {
        event.preventDefault();
        event.returnValue = S.leaveWarning;
      }
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      submit();
    });

    return { submit, isSubmitting: () => submitting };
  };
})();
