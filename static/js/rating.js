/* evalsite — the rating and pairwise page: state, keyboard, autosave, idempotent
   submit with retry, visible-time-on-task. Plain modern JS, no libraries, no build step.

   WHERE EACH PART LIVES (classic deferred scripts, loaded in this order by
   templates/scoring/assignment.html; each part only defines functions on
   window.evalsite.rating, and this file — loaded last — calls them):
   rating-page.js    namespace, DOM helpers ($, $$, fmt), the page context (data, strings,
                     mode, #save-status)
   rating-net.js     postJSON (CSRF header, timeout, keepalive), CSRF refresh, submission keys
   rating-form.js    reading/writing the form, the current dimension, validation and errors,
                     the form's own events
   rating-timer.js   visible, non-idle time on task (data-time-ms)
   rating-drafts.js  drafts: localStorage at once, the server after a pause; restore; banner
   rating-submit.js  the idempotent submit: one key, retries with backoff, #net-banner
   rating-panels.js  anchors toggle, English prompt, help dialog, problem report
   rating-keys.js    the keyboard map
   rating.js         this contract, and the wiring
   Why not ES modules: ManifestStaticFilesStorage rewrites `import ... from "./x.js"` to
   hashed names only with support_js_module_import_aggregation (off here), and nginx
   caches everything under /static/ for a year as immutable, so an unhashed import could
   pair a new entry file with an old part. Each <script src="{% static %}"> gets its own
   hashed URL instead.

   STABLE HOOKS for the browser tests (ids and data- attributes; keep them):
   page data     #assignment-data (JSON: publicId, kind, mode, revision, judgment, draft,
                 dimensions [{code,min,max,allowNa}], urls {draft,submit,problem,dashboard,study}),
                 #ui-strings (JSON of messages), meta[name=csrf-token]
   form          form#judgment  data-kind="rating|pair"  data-mode="live|practice|readonly"
                 data-public-id  data-revision (of the stored judgment, 0 if none)
                 data-state="idle|submitting|retrying|submitted|error"
                 data-time-ms (visible, non-idle time on this page so far, updated every second)
                 data-submission-key (set while a submit is in flight or being retried)
   rating        fieldset.dimension[data-dimension=CODE]  data-scale-min  data-scale-max
                 data-allow-na="true|false"  data-input="radio|slider"  data-answered="true|false"
                 data-na="true|false"  data-current="true" (the dimension digits go to)
                 data-invalid="true" (after a refused submit)
                 input[type=radio][name=score-CODE][data-score=N]; input[type=checkbox][data-na];
                 sliders: input[type=range][data-slider] + input[type=number][data-number]
                 #anchors-toggle (show/hide anchor texts; remembered)
   pair          fieldset#choice-group; input[name=choice][data-choice="left|right|tie|both_poor"]
                 details#preferences > fieldset[data-preference=CODE] input[data-pref="left|tie|right"],
                 button[data-pref-clear]
   both          input[name=tags][data-tag=CODE] (chips), textarea#comment,
                 [data-error-for=FIELD] (per-field error, FIELD = dimension code, choice, tags,
                 comment or __all__), button#submit-button, a#prev-item, a#next-item,
                 #position ("12 / 120", data-position, data-total),
                 #save-status data-status="|saving|saved|local|submitting|retrying|submitted|error|practice",
                 #net-banner data-net="|retrying|login|forbidden" (+ #net-message, button#net-retry),
                 #draft-banner (+ button#draft-discard), #prompt-en-toggle / #prompt-en,
                 dialog#help-dialog, dialog#problem-dialog (#problem-text, #problem-send,
                 #problem-cancel, #problem-status), button#problem-open, button#help-open
   media         see media-viewer.js ([data-viewer], data-zoom, #video-sync)
   storage       localStorage "evalsite:draft:<publicId>" mirrors the draft (JSON with v, scores,
                 na, tags, comment, choice, dimension_choices, client_ts, base_revision, time_ms)
   keys          digits score the current dimension then move to the next unanswered one;
                 ↑/↓ move between dimensions (Tab too); n = N/A; ←/→ left/right on pairs
                 (inside a per-dimension row: that row), t = tie, b = both poor; Enter submits
                 (Ctrl+Enter from the comment); ? help; + − 0 zoom; space play/pause;
                 , . frame step; l loop; f full screen; e English prompt; c comment;
                 r report a problem; [ ] previous / next item. Keys are ignored while typing
                 in a text field and during IME composition.
   window.evalsiteRating = {readState(), elapsedMs(), submit()} for tests and debugging
                 (window.evalsite.rating holds the parts; it is not a contract).
*/
(() => {
  "use strict";

  const R = window.evalsite.rating; // the rating-*.js parts, loaded before this file
  const page = R.readPage();
  if (!page) return;

  // drafts and the submit need each other (no draft is saved while a submit is in
  // flight; a submit cancels the pending save), so each reaches the other lazily
  let drafts = null;
  let submitter = null;
  const net = R.createNet();
  const formState = R.createForm(page);
  const timer = R.createTimer(page, { onHidden: () => drafts.flushDraft({ keepalive: true }) });
  drafts = R.createDrafts(page, { formState, net, timer, isSubmitting: () => submitter.isSubmitting() });
  submitter = R.createSubmitter(page, { formState, net, timer, drafts });
  formState.listen(drafts.changed);
  const panels = R.createPanels(page, { net });
  R.listenKeys(page, { formState, drafts, submitter, panels });

  // --- start ------------------------------------------------------------------------------------------

  drafts.restore();
  if (!page.isPair) formState.setCurrent(formState.nextUnanswered(null) || page.dimensions()[0]);
  timer.tick();
  window.evalsiteRating = { readState: formState.readState, elapsedMs: timer.elapsedMs, submit: submitter.submit };
})();
