/* evalsite — rating page: drafts. Every edit goes to localStorage at once and to the
   server after a pause; on load the newest usable draft (server or local) is restored
   with a banner that can discard it.
   One of the rating-*.js parts; see rating.js. */
(() => {
  "use strict";

  const ns = (window.evalsite = window.evalsite || {});
  const R = (ns.rating = ns.rating || {});
  const { $ } = R;

  const SAVE_DELAY_MS = 1500;

  // isSubmitting() says whether a submit is in flight: no draft is saved meanwhile
  R.createDrafts = function createDrafts(page, { formState, net, timer, isSubmitting }) {
    const { data, S, mode, live, setStatus } = page;
    const LOCAL_KEY = `evalsite:draft:${data.publicId}`;
    let dirty = false;
    let saveTimer = null;

    function draftPayload() {
      return { ...formState.readState(), client_ts: Date.now(), base_revision: data.revision, time_ms: timer.elapsedMs() };
    }

    function writeLocal(draft) {
      try { localStorage.setItem(LOCAL_KEY, JSON.stringify(draft)); } catch { /* full or private */ }
    }

    function readLocal() {
      try { return JSON.parse(localStorage.getItem(LOCAL_KEY) || "null"); } catch { return null; }
    }

    function dropLocal() {
      try { localStorage.removeItem(LOCAL_KEY); } catch { /* nothing to drop */ }
    }

    async function saveDraft(draft = draftPayload(), { keepalive = false } = {}) {
      if (!live || isSubmitting()) return;
      dirty = false;
      setStatus("saving", S.saving);
      try {
        const response = await net.postJSON(data.urls.draft, { data: draft }, { timeout: 15000, keepalive });
        if (response.ok) setStatus("saved", S.saved);
        else {
          dirty = response.status !== 400 && response.status !== 409;
          setStatus("local", S.savedLocal);
        }
      } catch {
        dirty = true;
        setStatus("local", S.savedLocal);
      }
    }

    function flushDraft({ keepalive = false } = {}) {
      if (!live || !dirty || isSubmitting()) return;
      clearTimeout(saveTimer);
      saveDraft(draftPayload(), { keepalive });
    }

    function changed() {
      formState.refresh();
      if (!live) return;
      writeLocal(draftPayload());
      dirty = true;
      clearTimeout(saveTimer);
      saveTimer = setTimeout(() => saveDraft(), SAVE_DELAY_MS);
    }

    function restore() {
      if (mode === "practice") return;
      const local = readLocal();
      const usable = (d) => d && d.v === 1 && !d.discarded && (d.base_revision || 0) === data.revision;
      if (local && !usable(local)) dropLocal();
      const candidates = [data.draft, local].filter(usable);
      candidates.sort((a, b) => (b.client_ts || 0) - (a.client_ts || 0));
      const best = live ? candidates[0] : null;
      if (best) {
        formState.applyState(best);
        timer.resume(Number(best.time_ms) || 0);
        const banner = $("#draft-banner");
        if (banner) {
          $("#draft-message").textContent = S.draftRestored;
          banner.hidden = false;
        }
      } else {
        formState.applyState(formState.judgmentState());
      }
    }

    // a submit takes over: the pending save is cancelled ...
    function cancelPending() {
      clearTimeout(saveTimer);
    }

    // ... and once the judgment is stored, the draft is gone
    function forget() {
      dropLocal();
      dirty = false;
    }

    $("#draft-discard")?.addEventListener("click", () => {
      formState.applyState(formState.judgmentState());
      dropLocal();
      $("#draft-banner").hidden = true;
      if (live) saveDraft({ v: 1, discarded: true, client_ts: Date.now(), base_revision: data.revision });
    });
    window.addEventListener("pagehide", () => flushDraft({ keepalive: true }));

    return { changed, flushDraft, restore, cancelPending, forget };
  };
})();
